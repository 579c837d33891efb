"""Discord end to end: the app as the composition root builds it, its real discord.py client
talking to a local fake Discord (REST + gateway), real Redis and the OpenAI stand-in."""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import logging
import time

import pytest

import handlers.discord as discord_front_end
from bot.commands.language import USAGE
from bot.comparison.views import WITHDRAWN
from bot.conversation.chat import (
    ANSWER_FAILED_APOLOGY,
    EMPTY_MESSAGE_HINT,
    MODEL_ERROR_APOLOGY,
)
from bot.training.loss_chart import charts_available
from storage.schemas import MessageKey
from tests.conftest import free_port
from tests.e2e.conftest import discord_settings
from tests.e2e.harness import RunningBot
from tests.e2e.test_backends import LLAMA
from tests.e2e.test_core_loop import replies
from tests.e2e.test_curation import everything_stored
from tests.e2e.test_finetune import eventually
from tests.e2e.test_providers import providers_file
from tests.fakes.discord_api import FakeDiscord

ALICE, BOB, ADMIN = 4242, 4343, 4444
MANAGE_SERVER = 1 << 5


@pytest.fixture
async def on_discord(start_bot, discord_fake: FakeDiscord) -> RunningBot:
    bot = await start_bot(**discord_settings(discord_fake), discord_finetune_admins=str(ADMIN))
    await discord_fake.wait_connected()
    return bot


async def mention(fake: FakeDiscord, text: str, *, author: int = ALICE, **where) -> dict:
    return await fake.send_message(
        f"<@{fake.bot_user_id}> {text}", author_id=author, mention_bot=True, **where
    )


async def answer_to(fake: FakeDiscord, message: dict, timeout: float = 5.0):
    """The bot's (first) message replying to `message`."""
    return await fake.wait_for_bot_message(
        int(message["channel_id"]), lambda m: m.reply_to == int(message["id"]), timeout=timeout
    )


async def turn_of(bot: RunningBot, reply, timeout: float = 10.0):
    """The turn recorded for a bot reply, once the answer is complete."""
    key = MessageKey("discord", str(reply.channel_id), str(reply.id))
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if turn := await bot.services.turns.get(key):
            return turn
        await asyncio.sleep(0.02)
    return None


async def test_a_mention_is_answered_as_a_reply_that_streams_in(
    on_discord, discord_fake, openai_fake
):
    openai_fake.reply = "Arr, the deploy pipeline be green, and the crew be merry today."
    openai_fake.stream_piece_delay = 0.3

    asked = await mention(discord_fake, "how is the deploy?")
    reply = await answer_to(discord_fake, asked)
    turn = await turn_of(on_discord, reply)

    assert turn is not None, "the reply was recorded as a turn"
    assert discord_fake.get_message(reply.id).content == openai_fake.reply
    edits = discord_fake.edits_of(reply.id)
    assert len(edits) >= 2, "the answer appeared progressively"
    assert edits[0][1] != openai_fake.reply
    gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(edits)]
    assert min(gaps) >= 0.9, "edits come at most about once a second"
    assert any(call.channel_id == discord_fake.channel_id for call in discord_fake.typing_calls)
    assert turn.messages[-1] == {"role": "user", "content": "how is the deploy?"}
    assert turn.reply == openai_fake.reply and turn.platform == "discord"
    assert turn.team == str(discord_fake.guild_id)
    assert openai_fake.chat_requests[-1]["stream"] is True


async def command(fake: FakeDiscord, subcommand: str, options: dict | None = None, **who):
    """Run `/finetune <subcommand>`; return its ephemeral followup."""
    who.setdefault("user_id", ALICE)
    invocation = await fake.invoke_command("finetune", subcommand, options or {}, **who)
    [callback] = [c for c in await _callbacks(fake, invocation)]
    assert callback.type == 5 and callback.data.get("flags") == 64, "deferred, ephemerally"
    return await fake.wait_for_followup(invocation, timeout=15)


async def _callbacks(fake: FakeDiscord, invocation):
    await fake.wait_for_callback(invocation)
    return fake.callbacks_of(invocation)


def embed_text(followup) -> str:
    return followup.content + json.dumps(followup.embeds, ensure_ascii=False)


async def approved_reply(bot: RunningBot, fake: FakeDiscord, text: str, *, voter: int = BOB):
    asked = await mention(fake, text)
    reply = await answer_to(fake, asked)
    assert await turn_of(bot, reply)
    await fake.add_reaction(reply.id, "👍", user_id=voter)
    await eventually_examples(bot, at_least=1)
    return reply


async def eventually_examples(bot: RunningBot, *, at_least: int = 0, exactly: int | None = None):
    for _ in range(200):
        count = (await bot.services.examples.stats()).examples
        if (exactly is None and count >= at_least) or count == exactly:
            return count
        await asyncio.sleep(0.025)
    raise AssertionError(f"dataset has {count} examples")


async def exported(bot: RunningBot) -> list[dict]:
    content, _ = await bot.services.dataset.export_bytes()
    return [json.loads(line) for line in content.decode().splitlines()]


# ----- conversations -------------------------------------------------------------------------


async def test_replying_to_a_bot_message_continues_that_turn_so_branches_work(
    on_discord, discord_fake, openai_fake
):
    first = await answer_to(discord_fake, await mention(discord_fake, "name a ship"))
    await turn_of(on_discord, first)
    second = await answer_to(discord_fake, await mention(discord_fake, "name a parrot"))
    await turn_of(on_discord, second)
    assert len(openai_fake.chat_requests[-1]["messages"]) == 2, "a fresh mention starts anew"

    follow_up = await discord_fake.send_message(
        "and its captain?", author_id=ALICE, reply_to=first.id
    )
    branch = await answer_to(discord_fake, follow_up)
    turn = await turn_of(on_discord, branch)

    seen = [m["content"] for m in turn.messages[1:]]
    assert seen == ["name a ship", first.content, "and its captain?"]
    assert turn.thread_ts == (await turn_of(on_discord, first)).thread_ts


async def test_a_thread_is_one_conversation(on_discord, discord_fake, openai_fake):
    thread = discord_fake.thread_id
    first = await answer_to(discord_fake, await mention(discord_fake, "hello", channel_id=thread))
    await turn_of(on_discord, first)
    asked = await mention(discord_fake, "remember me?", channel_id=thread)
    turn = await turn_of(on_discord, await answer_to(discord_fake, asked))
    assert [m["content"] for m in turn.messages[1:]] == ["hello", first.content, "remember me?"]


async def test_direct_messages_are_answered_without_a_mention(on_discord, discord_fake):
    asked = await discord_fake.send_message("ahoy", author_id=ALICE, in_dm=True)
    reply = await answer_to(discord_fake, asked)
    turn = await turn_of(on_discord, reply)
    assert turn.team == "" and turn.channel == str(discord_fake.dm_channel_id(ALICE))


async def test_a_long_reply_is_split_and_a_reaction_on_any_part_votes_for_the_whole_turn(
    on_discord, discord_fake, openai_fake
):
    code = "```python\n" + "\n".join(f"print('line {n}')" for n in range(150)) + "\n```"
    openai_fake.reply = "Here be the plan.\n\n" + "word " * 300 + "\n\n" + code + "\n\nDone."
    openai_fake.stream_piece_chars = 400
    asked = await mention(discord_fake, "write a long script")
    first = await answer_to(discord_fake, asked)
    turn = await turn_of(on_discord, first)

    parts = [discord_fake.get_message(int(i)) for i in [turn.ts, *turn.part_ids]]
    assert len(parts) >= 3 and all(len(p.content) <= 2000 for p in parts)
    for part in parts:
        assert part.content.count("```") % 2 == 0, "a cut code block is closed and reopened"
    assert any(p.content.startswith("```python\n") for p in parts[1:])
    words = " ".join(p.content for p in parts).split()
    assert "word" in words and not any(w.startswith("wor") and w != "word" for w in words)

    await discord_fake.add_reaction(parts[-1].id, "👍", user_id=BOB)
    await eventually_examples(on_discord, exactly=1)
    [line] = await exported(on_discord)
    assert line["messages"][-1]["content"] == openai_fake.reply

    await discord_fake.remove_reaction(parts[1].id, "👍", user_id=BOB)
    await eventually_examples(on_discord, exactly=0)


async def test_a_model_failure_midway_ends_the_message_with_an_apology_and_records_nothing(
    on_discord, discord_fake, openai_fake
):
    openai_fake.reply = "Arr, this answer will never be finished, matey, for the sea be rough."
    openai_fake.stream_piece_delay = 0.05
    openai_fake.break_stream = "drop"
    asked = await mention(discord_fake, "tell me a tale")
    reply = await answer_to(discord_fake, asked)

    await discord_fake.wait_for(
        lambda: MODEL_ERROR_APOLOGY in discord_fake.get_message(reply.id).content
    )
    shown = discord_fake.get_message(reply.id).content
    assert shown.startswith("Arr, thi") and shown.endswith(f"*{MODEL_ERROR_APOLOGY}*")
    assert openai_fake.reply not in shown
    assert (
        await on_discord.services.turns.get(
            MessageKey("discord", str(reply.channel_id), str(reply.id))
        )
        is None
    )


async def test_a_rest_failure_while_answering_leaves_no_turn_and_a_429_is_waited_out(
    on_discord, discord_fake, openai_fake
):
    discord_fake.fail_next("POST", r"/channels/\d+/messages", 429, retry_after=0.2)
    asked = await mention(discord_fake, "first try")
    reply = await answer_to(discord_fake, asked)
    assert await turn_of(on_discord, reply), "discord.py waited out the rate limit"

    discord_fake.fail_next("POST", r"/channels/\d+/messages", 403)
    failed = await mention(discord_fake, "second try")
    apology = await answer_to(discord_fake, failed)
    assert apology.content == ANSWER_FAILED_APOLOGY
    assert len(await on_discord.services.redis.keys("*:turn:discord:*")) == 1


async def test_bad_input_gets_a_hint_or_is_ignored(on_discord, discord_fake, openai_fake):
    empty = await mention(discord_fake, "   ")
    hint = await answer_to(discord_fake, empty)
    assert hint.content == EMPTY_MESSAGE_HINT
    too_long = await mention(discord_fake, "x" * (on_discord.settings.max_message_chars + 1))
    refusal = await answer_to(discord_fake, too_long)
    assert "characters" in refusal.content

    await mention(discord_fake, "from a bot", author=5555, bot=True)
    await mention(discord_fake, "from a webhook", webhook_id=6666)
    await mention(discord_fake, "pinned", type=6)  # a system message
    await discord_fake.send_message("no mention here", author_id=ALICE)
    await asyncio.sleep(0.5)
    assert openai_fake.chat_requests == []
    assert len(discord_fake.bot_messages(discord_fake.channel_id)) == 2


# ----- curation ------------------------------------------------------------------------------


async def test_a_vote_and_its_removal_count_on_a_message_no_longer_cached(on_discord, discord_fake):
    reply = await answer_to(discord_fake, await mention(discord_fake, "tell me about sails"))
    await turn_of(on_discord, reply)

    async def no_wait() -> None:  # discord.py waits 5 s before identifying again
        pass

    on_discord.discord.before_identify_hook = lambda *_, **__: no_wait()
    await discord_fake.invalidate_session()
    assert on_discord.discord.get_partial_messageable(reply.channel_id) is not None
    # discord.py empties its cache when it reads the new READY, a moment after the fake sent it.
    client = on_discord.discord
    await eventually(lambda: not any(m.id == reply.id for m in client.cached_messages), timeout=5)

    await discord_fake.add_reaction(reply.id, "👍🏽", user_id=BOB)  # a skin tone is the same vote
    await eventually_examples(on_discord, exactly=1)
    await discord_fake.remove_reaction(reply.id, "👍🏽", user_id=BOB)
    await eventually_examples(on_discord, exactly=0)


async def test_reactions_that_are_not_votes_change_nothing(on_discord, discord_fake):
    reply = await answer_to(discord_fake, await mention(discord_fake, "hello"))
    await turn_of(on_discord, reply)
    person = await discord_fake.send_message("a person's message", author_id=BOB)

    await discord_fake.add_reaction(reply.id, "🎉", user_id=BOB)
    await discord_fake.add_reaction(person["id"] and int(person["id"]), "👍", user_id=ALICE)
    await discord_fake.add_reaction(reply.id, "👍", user_id=discord_fake.bot_user_id)
    await asyncio.sleep(0.3)
    assert (await on_discord.services.examples.stats()).examples == 0

    await discord_fake.add_reaction(reply.id, "goodbot", user_id=BOB, custom_emoji_id=777)
    await asyncio.sleep(0.3)
    assert (await on_discord.services.examples.stats()).examples == 0


async def test_a_custom_server_emoji_counts_by_name(start_bot, discord_fake):
    bot = await start_bot(**discord_settings(discord_fake), discord_curate_reactions=":goodbot:")
    await discord_fake.wait_connected()
    reply = await answer_to(discord_fake, await mention(discord_fake, "hello"))
    await turn_of(bot, reply)
    await discord_fake.add_reaction(reply.id, "goodbot", user_id=BOB, custom_emoji_id=777)
    await eventually_examples(bot, exactly=1)


async def test_redelivered_events_after_a_resume_change_nothing(
    on_discord, discord_fake, openai_fake
):
    reply = await approved_reply(on_discord, discord_fake, "one answer please")
    await discord_fake.remove_reaction(reply.id, "👍", user_id=BOB)
    await eventually_examples(on_discord, exactly=0)

    # RESUME redelivers the mention, the reaction and its removal with their sequence numbers.
    await discord_fake.force_resume(replay_last=8)
    await asyncio.sleep(0.5)
    assert len(discord_fake.redelivered) >= 3
    assert len(openai_fake.chat_requests) == 1
    assert (await on_discord.services.examples.stats()).examples == 0

    await discord_fake.add_reaction(reply.id, "👍", user_id=BOB)
    await eventually_examples(on_discord, exactly=1)


async def test_a_slack_approval_and_a_discord_approval_land_in_one_export(
    on_discord, discord_fake, slack
):
    await approved_reply(on_discord, discord_fake, "from discord")
    await on_discord.mention("from slack")
    [posted] = await replies(slack, 1)
    await on_discord.react(posted.ts)
    await eventually_examples(on_discord, exactly=2)
    asked = {line["messages"][-2]["content"] for line in await exported(on_discord)}
    assert asked == {"from discord", "from slack"}


# ----- /finetune -----------------------------------------------------------------------------


async def test_the_command_group_is_synced_to_the_guild(on_discord, discord_fake):
    [sync] = [s for s in discord_fake.command_syncs if s.guild_id == discord_fake.guild_id]
    [group] = [c for c in sync.commands if c["name"] == "finetune"]
    subcommands = {option["name"] for option in group["options"]}
    assert subcommands == set(USAGE)
    [improve] = [c for c in sync.commands if c["type"] == 3]  # a message command
    assert improve["name"] == "Improve this reply"


async def test_status_is_answered_ephemerally_with_the_dataset(on_discord, discord_fake):
    await approved_reply(on_discord, discord_fake, "count me")
    followup = await command(discord_fake, "status")
    assert followup.ephemeral
    assert "1 example, about" in embed_text(followup)


async def test_export_sends_the_file_to_the_person_who_asked(on_discord, discord_fake):
    await approved_reply(on_discord, discord_fake, "export me")
    followup = await command(discord_fake, "export", user_id=ADMIN)
    assert followup.ephemeral
    [(name, content)] = followup.files
    assert name.endswith(".jsonl")
    [line] = [json.loads(text) for text in content.decode().splitlines()]
    assert line["messages"][-2]["content"] == "export me"


async def test_a_bad_model_gets_the_reason_and_the_usage(on_discord, discord_fake, openai_fake):
    followup = await command(discord_fake, "validate", {"model": "gpt-99"})
    assert "not a model I can fine-tune" in embed_text(followup)
    assert "/finetune start" in embed_text(followup)


async def test_model_choices_are_offered_while_typing(on_discord, discord_fake):
    invocation = await discord_fake.autocomplete(
        "finetune", "start", {"model": "4o"}, "model", user_id=ALICE
    )
    callback = await discord_fake.wait_for_callback(invocation)
    names = [choice["value"] for choice in callback.data["choices"]]
    assert names and all("4o" in name for name in names)


async def test_a_non_admin_start_is_refused_and_spends_nothing(
    on_discord, discord_fake, openai_fake
):
    for n in range(10):
        await approved_reply(on_discord, discord_fake, f"question {n}")
    followup = await command(discord_fake, "start", user_id=BOB)
    assert "Only fine-tune admins" in followup.content
    assert openai_fake.files == {} and openai_fake.job_requests == []


async def test_an_admin_start_trains_reports_in_place_and_swaps_announced_in_the_channel(
    start_bot, discord_fake, openai_fake
):
    bot = await start_bot(**discord_settings(discord_fake), job_poll_seconds=0.1)
    await discord_fake.wait_connected()
    for n in range(10):
        await approved_reply(bot, discord_fake, f"question {n}")

    # Manage Server makes an admin, with no id in DISCORD_FINETUNE_ADMINS.
    answer = await command(
        discord_fake, "start", {"suffix": "pirate"}, user_id=ADMIN, permissions=MANAGE_SERVER
    )
    assert "Started fine-tuning job" in answer.content
    [request] = openai_fake.job_requests
    assert request["suffix"] == "pirate"
    job_id = openai_fake.latest_job()["id"]
    status = await discord_fake.wait_for_bot_message(
        discord_fake.channel_id,
        lambda m: any("Fine-tuning" in e.get("title", "") for e in m.embeds),
    )

    openai_fake.set_job(job_id, "running")
    for step in (1, 2):
        data = {"step": step, "total_steps": 2, "train_loss": 1.0 / step}
        openai_fake.add_job_event(job_id, f"Step {step}/2", type="metrics", data=data)
    await discord_fake.wait_for_bot_message(
        discord_fake.channel_id,
        lambda m: m.id == status.id and "100% (step 2 of 2)" in json.dumps(m.embeds),
    )
    openai_fake.set_job(job_id, "succeeded", trained_tokens=12345)
    tuned = openai_fake.latest_job()["fine_tuned_model"]
    announcement = await discord_fake.wait_for_bot_message(
        discord_fake.channel_id, lambda m: "Fine-tuning finished" in m.content, timeout=10
    )
    if charts_available():  # the [charts] extra (CI installs it)
        chart = await discord_fake.wait_for_bot_message(
            discord_fake.channel_id, lambda m: bool(m.attachments), timeout=10
        )
        [picture] = chart.attachments
        assert picture.filename == f"loss-{job_id}.png"
    assert tuned in announcement.content and "12,345" in announcement.content
    final = discord_fake.get_message(status.id)
    assert "succeeded" in json.dumps(final.embeds) and len(discord_fake.edits_of(status.id)) >= 2

    asked = await mention(discord_fake, "and now?")
    await turn_of(bot, await answer_to(discord_fake, asked))
    assert openai_fake.chat_requests[-1]["model"] == tuned


async def test_edits_do_not_answer_again(on_discord, discord_fake, openai_fake):
    asked = await mention(discord_fake, "first words")
    await turn_of(on_discord, await answer_to(discord_fake, asked))
    await discord_fake.edit_message(int(asked["id"]), f"<@{discord_fake.bot_user_id}> new words")
    await asyncio.sleep(0.5)
    assert len(openai_fake.chat_requests) == 1


PASTED_DISCORD_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789"


async def test_the_discord_token_and_pasted_tokens_stay_out_of_the_logs(
    start_bot, discord_fake, caplog
):
    caplog.set_level(logging.DEBUG)
    bot = await start_bot(**discord_settings(discord_fake))
    await discord_fake.wait_connected()
    asked = await mention(discord_fake, f"my token is {PASTED_DISCORD_TOKEN}")
    await turn_of(bot, await answer_to(discord_fake, asked))

    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "WebSocket Event" in logged  # discord.py did log the gateway traffic at DEBUG
    assert discord_fake.bot_token not in logged and PASTED_DISCORD_TOKEN not in logged
    assert "my token is" not in "\n".join(
        r.getMessage() for r in caplog.records if r.levelno >= logging.INFO
    )


async def test_a_thumbs_down_vetoes_and_deleting_a_message_removes_its_example(
    on_discord, discord_fake
):
    reply = await approved_reply(on_discord, discord_fake, "keep or drop?")
    await discord_fake.add_reaction(reply.id, "👎", user_id=ALICE)
    for _ in range(100):
        if not await exported(on_discord):
            break
        await asyncio.sleep(0.02)
    assert await exported(on_discord) == []
    await discord_fake.remove_reaction(reply.id, "👎", user_id=ALICE)
    await eventually_examples(on_discord, exactly=1)
    for _ in range(100):
        if await exported(on_discord):
            break
        await asyncio.sleep(0.02)
    assert len(await exported(on_discord)) == 1

    # The person deletes the message the bot answered: the example goes with it.
    [asked] = [
        m for m in discord_fake.messages_in(discord_fake.channel_id) if m.id == reply.reply_to
    ]
    await discord_fake.delete_message(asked.id)
    await eventually_examples(on_discord, exactly=0)


async def test_improve_this_reply_opens_a_modal_and_saves_an_example_and_a_pair(
    on_discord, discord_fake, openai_fake
):
    openai_fake.reply = "Deploys happen whenever."
    reply = await answer_to(discord_fake, await mention(discord_fake, "when do we deploy?"))
    await turn_of(on_discord, reply)

    opened = await discord_fake.invoke_message_command("Improve this reply", reply.id, user_id=BOB)
    modal = await discord_fake.wait_for_callback(opened)
    assert modal.type == 9, "answered with a modal"
    [row] = modal.data["components"]
    [field] = row["components"]
    assert field["value"] == "Deploys happen whenever."

    blank = await discord_fake.submit_modal(opened, {field["custom_id"]: "  "}, user_id=BOB)
    refusal = await discord_fake.wait_for_callback(blank)
    assert "blank" in refusal.data["content"] and refusal.data["flags"] == 64

    again = await discord_fake.invoke_message_command("Improve this reply", reply.id, user_id=BOB)
    await discord_fake.wait_for_callback(again)
    saved = await discord_fake.submit_modal(
        again, {field["custom_id"]: "We deploy on Tuesdays."}, user_id=BOB
    )
    answer = await discord_fake.wait_for_callback(saved)
    assert "correction is saved" in answer.data["content"]
    [line] = await exported(on_discord)
    assert line["messages"][-1]["content"] == "We deploy on Tuesdays."
    pairs, _ = await on_discord.services.dataset.export_bytes("dpo")
    pair = json.loads(pairs)
    assert pair["non_preferred_output"][0]["content"] == "Deploys happen whenever."


async def test_improve_on_a_persons_message_is_refused(on_discord, discord_fake):
    asked = await discord_fake.send_message("just chatting", author_id=ALICE)
    opened = await discord_fake.invoke_message_command(
        "Improve this reply", int(asked["id"]), user_id=BOB
    )
    answer = await discord_fake.wait_for_callback(opened)
    assert answer.type == 4 and "works on my replies" in answer.data["content"]


async def test_compare_posts_both_answers_with_buttons_and_a_press_is_a_pick(
    on_discord, discord_fake, openai_fake
):
    tuned = "ft:gpt-4.1-mini-2025-04-14:acme::tuned"
    openai_fake.reply = lambda body: f"Answer from {body['model']}"
    followup = await command(  # an admin: any model; others only models the bot knows
        discord_fake, "compare", {"prompt": "what's the tide?", "model": tuned}, user_id=ADMIN
    )
    assert "Both answers are posted" in followup.content
    posted = await discord_fake.wait_for_bot_message(
        discord_fake.channel_id, lambda m: bool(m.components)
    )
    answers = json.dumps(posted.embeds)
    assert f"Answer from {tuned}" in answers and "what's the tide?" in answers
    [row] = posted.components
    picks = [button["custom_id"] for button in row["components"]]
    assert [button["label"] for button in row["components"]] == [
        "A is better",
        "B is better",
        "Same",
        "Both bad",
    ]

    pressed = await discord_fake.press_button(posted.id, picks[1], user_id=BOB)
    [answer] = await _callbacks(discord_fake, pressed)
    assert "Your pick (B is better) is saved" in answer.data["content"]
    records = await on_discord.services.comparer.records()
    assert sum(record.wins for record in records.values()) == 1


async def test_providers_a_start_on_another_provider_and_a_migration_estimate_from_discord(
    start_bot, discord_fake, openai_fake, together, tmp_path, monkeypatch
):
    monkeypatch.setenv("OPENAI_API_KEY", openai_fake.api_key)
    monkeypatch.setenv("TOGETHER_API_KEY", together.api_key)
    bot = await start_bot(
        **discord_settings(discord_fake),
        discord_finetune_admins=str(ADMIN),
        providers_file=providers_file(tmp_path, openai_fake, together),
        migration_target=f"together:{LLAMA}",
    )
    await discord_fake.wait_connected()
    for n in range(10):
        await approved_reply(bot, discord_fake, f"question {n}")

    listing = embed_text(await command(discord_fake, "providers"))
    assert "`openai`" in listing and "`together`" in listing and "reachable" in listing

    estimate = embed_text(await command(discord_fake, "migrate", {"estimate": True}, user_id=ADMIN))
    assert f"Retraining 10 examples on `{LLAMA}` at Together AI" in estimate, estimate
    assert not together.job_requests

    started = await command(
        discord_fake, "start", {"provider": "together", "model": LLAMA}, user_id=ADMIN
    )
    assert "with Together AI" in embed_text(started)
    assert together.job_requests[0]["model"] == LLAMA and not openai_fake.job_requests


async def test_a_server_that_is_not_configured_gets_one_sentence_and_nothing_else(
    start_bot, discord_fake, openai_fake
):
    # Configured for another server: the stand-in's server is one that merely added the bot.
    bot = await start_bot(
        **{**discord_settings(discord_fake), "discord_guild_id": None},
        discord_guild_ids="999",
    )
    await discord_fake.wait_connected()
    assert discord_fake.commands(discord_fake.guild_id) == []  # no /finetune offered there

    asked = await mention(discord_fake, "train on me")
    answer = await answer_to(discord_fake, asked)
    assert "this is not one of them" in answer.content
    assert openai_fake.chat_requests == []
    assert await turn_of(bot, answer, timeout=0.5) is None
    await discord_fake.add_reaction(answer.id, "👍", user_id=BOB)

    # Its owner has Manage Server there, which makes nobody an admin here.
    invocation = await discord_fake.invoke_command(
        "finetune", "start", {}, user_id=BOB, permissions=MANAGE_SERVER
    )
    [callback] = await _callbacks(discord_fake, invocation)
    assert "this is not one of them" in callback.data["content"]
    assert callback.data.get("flags") == 64  # only to them
    assert openai_fake.files == {} and openai_fake.job_requests == []
    assert (await bot.services.examples.stats()).examples == 0

    # A DM from someone in none of the configured servers: the same sentence.
    dm = await discord_fake.send_message("hello?", author_id=ALICE, in_dm=True)
    assert "this is not one of them" in (await answer_to(discord_fake, dm)).content
    assert openai_fake.chat_requests == []


async def test_a_member_without_rights_cannot_export_what_others_said(on_discord, discord_fake):
    await approved_reply(on_discord, discord_fake, "a private question")
    followup = await command(discord_fake, "export", user_id=BOB)
    assert "Only fine-tune admins can export the dataset" in followup.content
    assert followup.files == []


async def test_nothing_the_bot_sends_can_ping(on_discord, discord_fake, openai_fake):
    openai_fake.reply = f"@everyone @here <@{BOB}> <@&{ADMIN}> look!"
    asked = await mention(discord_fake, "ping them all")
    await answer_to(discord_fake, asked)
    await command(discord_fake, "use", {"model": "@everyone"}, user_id=ADMIN)
    sent = [
        r
        for r in discord_fake.requests
        if r.method in ("POST", "PATCH") and isinstance(r.json, dict) and "content" in r.json
    ]
    assert sent
    for request in sent:
        allowed = request.json.get("allowed_mentions")
        assert allowed is not None, request.path
        assert not allowed.get("parse") and not allowed.get("users") and not allowed.get("roles")


async def test_forget_me_takes_down_a_posted_comparison_in_discord(
    on_discord, discord_fake, openai_fake
):
    tuned = "ft:gpt-4.1-mini-2025-04-14:acme::tuned"
    openai_fake.reply = lambda body: f"Answer from {body['model']}"
    prompt = {"prompt": "my locker code is 1188, is that safe?", "model": tuned}
    await command(discord_fake, "compare", prompt, user_id=ADMIN)
    posted = await discord_fake.wait_for_bot_message(
        discord_fake.channel_id, lambda m: bool(m.components)
    )
    followup = await command(discord_fake, "forget-me", user_id=ADMIN)
    assert "Done: I removed" in followup.content
    shown = discord_fake.get_message(posted.id)
    assert shown.content == WITHDRAWN and not shown.embeds and not shown.components
    assert "locker code" not in await everything_stored(on_discord.services.redis)


async def test_a_vote_while_saturated_is_journaled_then_applied_as_in_slack(
    on_discord, discord_fake
):
    reply = await answer_to(discord_fake, await mention(discord_fake, "a busy moment"))
    await turn_of(on_discord, reply)
    lag = asyncio.create_task(on_discord.services.lag.run())
    await asyncio.sleep(0.02)
    time.sleep(0.1)  # noqa: ASYNC251 (the loop stops for 100 ms, as in a saturated process)
    await asyncio.sleep(0.01)
    await discord_fake.add_reaction(reply.id, "👍", user_id=BOB)
    journal = on_discord.services.vote_journal
    try:
        await eventually(lambda: _waiting(journal, 1))
        assert (await on_discord.services.examples.stats()).examples == 0  # journaled, not yet
    finally:
        lag.cancel()
        await asyncio.gather(lag, return_exceptions=True)
    await journal.open()
    assert await on_discord.services.vote_applier.apply_some() == 1
    await eventually_examples(on_discord, exactly=1)


async def _waiting(journal, count: int) -> bool:
    return await journal.waiting() == count


async def test_an_unreachable_discord_is_retried_with_one_warning_each_and_no_leak(
    start_bot, discord_fake, caplog, monkeypatch
):
    monkeypatch.setattr(discord_front_end, "FIRST_RETRY_SECONDS", 0.05)
    caplog.set_level(logging.WARNING)
    dead = f"http://127.0.0.1:{free_port()}"
    settings = {**discord_settings(discord_fake), "discord_api_url": f"{dead}/api/v10"}
    await start_bot(**settings)
    await eventually(lambda: caplog.text.count("discord: can't reach Discord") >= 3)
    gc.collect()  # a leaked session says so when it is collected
    await asyncio.sleep(0.05)
    assert "Unclosed client session" not in caplog.text
