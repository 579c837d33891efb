"""Many teams on one deployment (TEAMS=many): two Slack workspaces installed from the link, each
its own team with its own dataset, model, admins and job, and every attempt of one to reach the
other's ids refused or harmless."""

from __future__ import annotations

import asyncio
import json
import time

import redis

from handlers.serving import TeamBackground
from storage.schemas import MessageKey
from tests.e2e.conftest import discord_settings
from tests.e2e.harness import SlackSender
from tests.e2e.test_cli import bot as run_cli
from tests.e2e.test_cli import cli_env  # noqa: F401  (a fixture)
from tests.e2e.test_core_loop import bot_replies, replies, settle
from tests.e2e.test_discord import ADMIN, BOB, MANAGE_SERVER, answer_to, embed_text, mention
from tests.e2e.test_finetune import eventually
from tests.e2e.test_slack_install import installed_from_a_link, tokens_used

ONE, TWO = "T1", "T2"
ADMIN_ONE, ADMIN_TWO = "UONE", "UTWO"  # each installed the app in their workspace


def in_workspace(bot, workspace: str) -> SlackSender:
    """A person's Slack client in `workspace`: its events and commands carry that team id."""
    sender = SlackSender(bot.url, bot.session)
    sender.team = workspace
    sender.next_ts = bot.next_ts  # one clock, so two workspaces' messages never share a ts
    sender.bot = bot
    return sender


async def command(sender: SlackSender, slack, text: str, user: str) -> str:
    name = f"cmd-{time.monotonic_ns()}"
    await sender.command(text, slack.response_url(name), user=user, channel=channel_of(sender))
    call = await slack.wait_for("response_url", lambda c: c.params.get("_name") == name, timeout=15)
    return call.params.get("text", "") + json.dumps(call.params.get("blocks", []))


def channel_of(sender: SlackSender) -> str:
    return f"C{sender.team}"  # the stand-in keeps no workspaces apart: channels do


async def curate(sender: SlackSender, slack, questions: list[str], voter: str) -> list:
    """Each question asked in the workspace's channel, and each answer approved."""
    before = len(bot_replies(slack))
    for question in questions:
        await sender.mention(question, channel=channel_of(sender), user=voter)
    answers = (await replies(slack, before + len(questions)))[before:]
    for answer in answers:
        key = MessageKey("slack", answer.channel, answer.ts)
        owner = await eventually(lambda key=key: _team_holding(sender.bot, key))
        count = (await owner.examples.stats()).examples
        await sender.react(answer.ts, user=voter, channel=channel_of(sender))
        await eventually(lambda owner=owner, count=count: _more_examples(owner, count))
    return answers


async def started(bot, slack, openai_fake) -> tuple:
    """Both workspaces installed, each by its own person."""
    for workspace, installer in ((ONE, ADMIN_ONE), (TWO, ADMIN_TWO)):
        state_status, page = await install_as(bot, slack, workspace, installer)
        assert state_status == 200, page
    return in_workspace(bot, ONE), in_workspace(bot, TWO)


async def install_as(bot, slack, workspace: str, installer: str):
    from tests.e2e.test_slack_install import begin_install, redirect

    state, cookie = await begin_install(bot)
    return await redirect(bot, slack.allow(workspace, installer), state, cookie)


def team(bot, workspace: str):
    return bot.teams.built[f"slack-{workspace}"]


def keys_in(url: str) -> list[str]:
    client = redis.Redis.from_url(url)
    try:
        return [key.decode() for key in client.keys("*")]
    finally:
        client.close()


async def test_two_workspaces_chat_curate_train_and_swap_each_with_its_own_model(
    start_bot, slack, openai_fake, redis_url
):
    bot = await start_bot(**installed_from_a_link(slack), job_poll_seconds=0.1)
    one, two = await started(bot, slack, openai_fake)
    asked = len(slack.calls_to("auth.test"))

    await curate(one, slack, [f"one's question {n}" for n in range(10)], ADMIN_ONE)
    await curate(two, slack, ["two's only question"], ADMIN_TWO)
    # Each event's workspace is authorized from its stored record: no round trip to Slack.
    assert len(slack.calls_to("auth.test")) == asked
    assert (await team(bot, ONE).examples.stats()).examples == 10
    assert (await team(bot, TWO).examples.stats()).examples == 1
    # The deployment's own keys hold no team's conversations.
    assert (await bot.services.examples.stats()).examples == 0

    # Each installer is an admin of their own team only.
    refused = await command(one, slack, "start", user=ADMIN_TWO)
    assert "Only fine-tune admins" in refused and openai_fake.job_requests == []
    answer = await command(one, slack, "start suffix=one", user=ADMIN_ONE)
    assert "Started fine-tuning job" in answer
    [request] = openai_fake.job_requests
    lines = openai_fake.files[request["training_file"]].content.decode()
    assert "one's question" in lines and "two's" not in lines
    assert request["metadata"]["bot"] == "finetune.slack-T1"
    # Team two has no job to see, and can't touch team one's.
    assert "Started" not in await command(two, slack, "status", user=ADMIN_TWO)
    assert "No fine-tuning job is running" in await command(two, slack, "cancel", user=ADMIN_TWO)

    job_id = openai_fake.latest_job()["id"]
    openai_fake.set_job(job_id, "succeeded")
    tuned = openai_fake.latest_job()["fine_tuned_model"]
    await eventually(lambda: _active(bot, ONE, tuned))
    # The job's progress and the announcement went to workspace one, with its own token.
    await eventually(
        lambda: any("Fine-tuning finished" in p.params["text"] for p in posts_in(slack))
    )
    posts = posts_in(slack)
    [token_one] = [t for t, w in slack.installed.items() if w == ONE]
    assert {c.headers["Authorization"] for c in posts} == {f"Bearer {token_one}"}

    # One answers with its new model; two still with the configured one.
    await one.mention("and now, one?", channel="CT1")
    await two.mention("and now, two?", channel="CT2")
    await replies(slack, 13)
    models = {r["messages"][-1]["content"]: r["model"] for r in openai_fake.chat_requests[-2:]}
    assert models == {"and now, one?": tuned, "and now, two?": bot.settings.chat_model}
    assert (await team(bot, TWO).models.active()) is None

    # Every key of a team carries its own hash tag (so a cluster spreads the teams).
    keys = keys_in(redis_url)
    assert any(key.startswith("bot:{finetune.slack-T1}:example:") for key in keys)
    assert any(key.startswith("bot:{finetune.slack-T2}:example:") for key in keys)
    assert not any(key.startswith("bot:{finetune}:example:") for key in keys)


def posts_in(slack, channel: str = "CT1") -> list:
    return [c for c in slack.calls_to("chat.postMessage") if c.params["channel"] == channel]


async def _active(bot, workspace: str, model: str) -> bool:
    active = await team(bot, workspace).models.active()
    return active is not None and active.model == model


async def test_one_workspaces_ids_aimed_at_the_others_are_refused_or_harmless(
    start_bot, slack, openai_fake
):
    bot = await start_bot(**installed_from_a_link(slack), job_poll_seconds=0.1)
    one, two = await started(bot, slack, openai_fake)
    [answer] = await curate(one, slack, ["a secret of team one"], ADMIN_ONE)

    # A reaction sent from workspace two naming team one's reply: no vote anywhere.
    await two.react(answer.ts, user=ADMIN_TWO, channel="CT1", reaction="white_check_mark")
    await two.react(answer.ts, user=ADMIN_TWO, channel="CT1", reaction="-1")
    await settle()
    assert (await team(bot, TWO).examples.stats()).examples == 0
    [example_id] = await team(bot, ONE).examples.all_ids()
    assert await team(bot, ONE).examples.voter_count(example_id) == 1

    # Two's admin exports two's dataset: nothing of one's.
    before = len(slack.uploads)
    await command(two, slack, "export", user=ADMIN_TWO)
    await eventually(lambda: len(slack.uploads) > before or slack.calls_to("response_url"))
    assert all(b"secret of team one" not in upload.content for upload in slack.uploads)

    # Team one's fine-tune can't be switched to, or compared with, from team two.
    await command(one, slack, "start", user=ADMIN_ONE)  # too few examples: refused, fine
    tuned = "ft:gpt-4.1-mini-2025-04-14:org:one:abc123"
    openai_fake.models.add(tuned)
    used = await command(two, slack, f"use {tuned}", user=ADMIN_TWO)
    assert "each team here has its own" in used
    compared = await command(two, slack, f"compare model={tuned} hello", user=ADMIN_TWO)
    assert "each team" in compared or "only compare" in compared
    assert (await team(bot, TWO).models.active()) is None

    # Forget-me in two reaches two only: one's example of the same person id stays.
    await command(two, slack, "forget-me", user=ADMIN_ONE)
    assert (await team(bot, ONE).examples.stats()).examples == 1

    # A comparison button or a pick naming ids that are not this team's does nothing.
    await two.press(answer.ts, "compare_pick_a", "cmp-of-team-one", user=ADMIN_TWO, channel="CT1")
    await two.press(answer.ts, "compare_promote", "cmp-of-team-one", user=ADMIN_TWO, channel="CT1")
    # "Improve this reply" on one's reply, from two: not a reply there, no form opens.
    opened = len(slack.calls_to("views.open"))
    await two.message_shortcut("improve_reply", answer.ts, slack.response_url("s"), channel="CT1")
    # A correction form submitted from two naming one's reply: refused inline, nothing saved.
    metadata = json.dumps({"channel": "CT1", "ts": answer.ts})
    errors = await two.submit_view(
        {"type": "modal", "callback_id": "improve_reply", "private_metadata": metadata},
        {"corrected": ("text", "a better answer, says team two")},
        user=ADMIN_TWO,
    )
    await settle()
    assert len(slack.calls_to("views.open")) == opened
    assert errors and errors.get("response_action") == "errors"
    assert (await team(bot, ONE).examples.stats()).examples == 1
    assert (await team(bot, TWO).examples.stats()).examples == 0
    content, _ = await team(bot, ONE).dataset.export_bytes("dpo")
    assert b"says team two" not in content


async def test_uninstall_stops_the_workspace_and_a_reinstall_finds_its_team_as_it_was(
    start_bot, slack, openai_fake
):
    bot = await start_bot(**installed_from_a_link(slack))
    one, two = await started(bot, slack, openai_fake)
    await curate(two, slack, ["kept across a reinstall"], ADMIN_TWO)

    slack.uninstall(TWO)
    await two.send_event({"type": "app_uninstalled", "event_ts": "1"})
    await settle()
    before = len(bot_replies(slack))
    await two.mention("anyone there?", channel="CT2")
    await one.mention("still answered?", channel="CT1")
    await replies(slack, before + 1)
    await settle()
    assert len(bot_replies(slack)) == before + 1  # one answered, two not
    record = await bot.teams.directory.record("slack-T2")
    assert record.uninstalled_at is not None

    status, _ = await install_as(bot, slack, TWO, "UNEWADMIN")
    assert status == 200
    record = await bot.teams.directory.record("slack-T2")
    assert record.uninstalled_at is None and set(record.admins) == {ADMIN_TWO, "UNEWADMIN"}
    assert (await team(bot, TWO).examples.stats()).examples == 1
    [new_token] = [t for t, w in slack.installed.items() if w == TWO]
    await two.mention("back?", channel="CT2")
    await replies(slack, before + 2)
    assert f"Bearer {new_token}" in tokens_used(slack, "chat.startStream")


async def test_a_team_uninstalled_past_its_grace_is_removed_with_all_it_kept(
    start_bot, slack, openai_fake, redis_url
):
    bot = await start_bot(**installed_from_a_link(slack), uninstall_grace_days=0)
    one, two = await started(bot, slack, openai_fake)
    await curate(one, slack, ["stays"], ADMIN_ONE)
    await curate(two, slack, ["goes"], ADMIN_TWO)
    await two.send_event({"type": "app_uninstalled", "event_ts": "1"})
    await settle()

    assert await bot.teams.remove_uninstalled(time.time() + 1) == ["slack-T2"]
    keys = keys_in(redis_url)
    assert not any("slack-T2" in key for key in keys)
    assert any(key.startswith("bot:{finetune.slack-T1}:example:") for key in keys)
    assert await bot.teams.directory.team_of("slack:T2") is None


# ----- Discord servers, links, and the data kept before teams ---------------------------------


def two_servers(discord_fake) -> dict:
    """The stand-in's server and a second one, both configured."""
    second, _ = discord_fake.add_guild()
    servers = f"{discord_fake.guild_id},{second}"
    return {
        **discord_settings(discord_fake),
        "discord_guild_id": None,
        "discord_guild_ids": servers,
    }


async def approve_in(bot, fake, channel: int, text: str, *, voter: int = BOB):
    """Ask in `channel`, and approve the answer once its turn is recorded (in whichever team)."""
    asked = await mention(fake, text, channel_id=channel)
    reply = await answer_to(fake, asked)
    key = MessageKey("discord", str(reply.channel_id), str(reply.id))
    owner = await eventually(lambda: _team_holding(bot, key))
    before = (await owner.examples.stats()).examples
    await fake.add_reaction(reply.id, "👍", user_id=voter)
    await eventually(lambda: _more_examples(owner, before))
    return reply


async def _team_holding(bot, key: MessageKey):
    for services in bot.teams.built.values():
        if await services.turns.get(key):
            return services
    return None


async def _more_examples(services, than: int) -> bool:
    return (await services.examples.stats()).examples > than


def server_team(bot, guild: int):
    return bot.teams.built[f"discord-{guild}"]


async def test_two_discord_servers_curate_train_and_swap_apart(
    start_bot, slack, discord_fake, openai_fake
):
    bot = await start_bot(
        **installed_from_a_link(slack), **two_servers(discord_fake), job_poll_seconds=0.1
    )
    await discord_fake.wait_connected()
    first, second = discord_fake.guild_id, list(discord_fake.guilds)[1]
    first_channel, second_channel = discord_fake.channel_id, discord_fake.guilds[second].channel_id
    for n in range(10):
        await approve_in(bot, discord_fake, first_channel, f"first server's question {n}")
    await approve_in(bot, discord_fake, second_channel, "second server's question")
    assert (await server_team(bot, first).examples.stats()).examples == 10
    assert (await server_team(bot, second).examples.stats()).examples == 1

    # Manage Server on the second server makes an admin there, not of the first's team.
    followup = await discord_command(discord_fake, "cancel", guild_id=second)
    assert "No fine-tuning job is running" in followup.content
    followup = await discord_command(discord_fake, "start", guild_id=first)
    assert "Started fine-tuning job" in followup.content
    [request] = openai_fake.job_requests
    lines = openai_fake.files[request["training_file"]].content.decode()
    assert "first server's" in lines and "second server's" not in lines
    openai_fake.set_job(openai_fake.latest_job()["id"], "succeeded")
    tuned = openai_fake.latest_job()["fine_tuned_model"]
    await eventually(lambda: _model_of(server_team(bot, first), tuned))

    asked = await mention(discord_fake, "first, now?", channel_id=first_channel)
    await answer_to(discord_fake, asked)
    asked = await mention(discord_fake, "second, now?", channel_id=second_channel)
    await answer_to(discord_fake, asked)
    models = {r["messages"][-1]["content"]: r["model"] for r in openai_fake.chat_requests[-2:]}
    assert models == {"first, now?": tuned, "second, now?": bot.settings.chat_model}
    # A status in the second server shows its own dataset.
    followup = await discord_command(discord_fake, "status", guild_id=second)
    assert "1 example" in embed_text(followup)


async def discord_command(fake, subcommand: str, options: dict | None = None, *, guild_id: int):
    invocation = await fake.invoke_command(
        "finetune",
        subcommand,
        options or {},
        user_id=ADMIN,
        permissions=MANAGE_SERVER,
        guild_id=guild_id,
    )
    return await fake.wait_for_followup(invocation, timeout=15)


async def _model_of(services, model: str) -> bool:
    active = await services.models.active()
    return active is not None and active.model == model


async def test_a_workspace_and_a_server_linked_share_one_dataset_and_model(
    start_bot, slack, discord_fake, openai_fake
):
    bot = await start_bot(**installed_from_a_link(slack), **discord_settings(discord_fake))
    await discord_fake.wait_connected()
    one, _ = await started(bot, slack, openai_fake)
    await curate(one, slack, ["asked in slack"], ADMIN_ONE)

    # A code shown in Slack, typed in Discord by someone with Manage Server there.
    shown = await command(one, slack, "link", user=ADMIN_ONE)
    code = shown.split("`")[1]
    followup = await discord_command(
        discord_fake, "link", {"code": code}, guild_id=discord_fake.guild_id
    )
    assert "Linked" in followup.content
    # Used once: typed again, it is unknown.
    again = await discord_command(
        discord_fake, "link", {"code": code}, guild_id=discord_fake.guild_id
    )
    assert "unknown, used" in again.content

    await approve_in(bot, discord_fake, discord_fake.channel_id, "asked in discord")
    shared = team(bot, ONE)
    assert (await shared.examples.stats()).examples == 2
    content, _ = await shared.dataset.export_bytes()
    assert b"asked in slack" in content and b"asked in discord" in content

    # Only an admin shows or uses a code; a second Slack workspace can't join a team with one.
    assert "Only fine-tune admins" in await command(one, slack, "link", user="UMALLORY")
    code = (await command(one, slack, "link", user=ADMIN_ONE)).split("`")[1]
    two = in_workspace(bot, TWO)
    assert "has a Slack workspace already" in await command(two, slack, f"link {code}", ADMIN_TWO)


async def test_the_data_kept_before_teams_stays_with_the_places_that_made_it(
    start_bot, slack, discord_fake, openai_fake, caplog
):
    # A deployment from before teams: one workspace installed, one Discord server, one dataset.
    before = await start_bot(
        **installed_from_a_link(slack, teams="one"), **discord_settings(discord_fake)
    )
    await discord_fake.wait_connected()
    await install_as(before, slack, ONE, ADMIN_ONE)
    one = in_workspace(before, ONE)
    await curate(one, slack, ["from before teams, in slack"], ADMIN_ONE)
    await approve_in(before, discord_fake, discord_fake.channel_id, "from before, in discord")
    assert (await before.services.examples.stats()).examples == 2
    await before.stop()

    # The new version starts with TEAMS=many (the default when installed from a link).
    caplog.set_level("INFO")
    after = await start_bot(**installed_from_a_link(slack), **discord_settings(discord_fake))
    await discord_fake.wait_connected()
    assert "the data kept before teams is the first team's now" in caplog.text
    assert f"slack:{ONE}" in caplog.text and f"discord:{discord_fake.guild_id}" in caplog.text
    one = in_workspace(after, ONE)
    await curate(one, slack, ["after teams, in slack"], ADMIN_ONE)
    await approve_in(after, discord_fake, discord_fake.channel_id, "after teams, in discord")
    assert (await after.services.examples.stats()).examples == 4
    assert set(after.teams.built) == {"default"}

    # Once: a second start changes nothing and says nothing again.
    await after.stop()
    caplog.clear()
    again = await start_bot(**installed_from_a_link(slack), **discord_settings(discord_fake))
    assert "the data kept before teams" not in caplog.text
    assert (await again.services.examples.stats()).examples == 4


# ----- the operator's terminal ------------------------------------------------------------------


async def test_the_operator_lists_teams_works_on_one_and_removes_one(
    start_bot,
    slack,
    openai_fake,
    cli_env,  # noqa: F811  (the fixture imported above)
):
    bot = await start_bot(**installed_from_a_link(slack))
    one, two = await started(bot, slack, openai_fake)
    await curate(one, slack, ["one's", "two questions"], ADMIN_ONE)
    await curate(two, slack, ["two's one question"], ADMIN_TWO)
    env = {**cli_env, "TEAMS": "many"}

    code, out, err = await run_cli(env, "teams", "--json")
    assert code == 0, err
    listed = {row["team"]: row for row in json.loads(out)}
    assert listed["slack-T1"]["places"] == ["slack:T1"] and listed["slack-T1"]["examples"] == 2
    assert listed["slack-T2"]["examples"] == 1 and listed["slack-T2"]["last_active"]
    assert listed["default"]["examples"] == 0

    # Terminal commands work on the team named, and only on a team that exists.
    code, out, _ = await run_cli(env, "--team", "slack-T2", "dataset", "export")
    assert code == 0 and "two's one question" in out and "one's" not in out
    code, _, err = await run_cli(env, "--team", "slack-T9", "dataset", "export")
    assert code == 1 and "There is no team `slack-T9`" in err
    code, _, err = await run_cli(env, "--team", "slack-T2", "teams")
    assert code == 2 and "--team is for the commands that work on one team" in err

    code, out, _ = await run_cli(env, "teams", "remove", "slack-T2", "--yes")
    assert code == 0 and "Removed team slack-T2" in out
    code, out, _ = await run_cli(env, "teams", "--json")
    assert [row["team"] for row in json.loads(out)] == ["default", "slack-T1"]
    code, _, err = await run_cli(env, "teams", "remove", "default", "--yes")
    assert code == 1 and "stays" in err


async def test_a_vote_journaled_while_saturated_is_applied_in_its_own_team(
    start_bot, slack, openai_fake, caplog
):
    caplog.set_level("INFO")
    bot = await start_bot(**installed_from_a_link(slack))
    one, two = await started(bot, slack, openai_fake)
    await curate(one, slack, ["a calm moment"], ADMIN_ONE)
    await two.mention("a busy moment", channel="CT2", user=ADMIN_TWO)
    [*_, answer] = await replies(slack, 2)
    key = MessageKey("slack", answer.channel, answer.ts)
    await eventually(lambda: team(bot, TWO).turns.get(key))

    # As `python -m bot` runs them: one task applies every team's journal.
    background = TeamBackground(bot.teams)
    lag = asyncio.create_task(bot.services.lag.run())
    try:
        await asyncio.sleep(0.02)
        time.sleep(0.1)  # noqa: ASYNC251 (the loop stops for 100 ms, as in a saturated process)
        await asyncio.sleep(0.01)
        await two.react(answer.ts, user=ADMIN_TWO, channel="CT2")
        await eventually(lambda: _more_examples(team(bot, TWO), 0))
    finally:
        for task in (lag, *background.lasting, *background.watchers):
            task.cancel()
        await asyncio.gather(lag, *background.lasting, return_exceptions=True)
    assert "applied 1 journaled votes" in caplog.text  # journaled, then applied
    assert await team(bot, TWO).vote_journal.waiting() == 0
    assert (await team(bot, ONE).examples.stats()).examples == 1


async def test_a_teams_admins_set_its_prompt_and_emoji_within_the_deployments_limits(
    start_bot, slack, openai_fake
):
    bot = await start_bot(**installed_from_a_link(slack), team_prompt_max_chars=100)
    one, two = await started(bot, slack, openai_fake)

    assert "Only fine-tune admins" in await command(
        one, slack, 'settings prompt="Be rude."', user=ADMIN_TWO
    )
    too_long = await command(one, slack, f'settings prompt="{"x" * 101}"', user=ADMIN_ONE)
    assert "the limit is 100" in too_long
    assert "not an emoji name" in await command(
        one, slack, "settings emoji=<!channel>", user=ADMIN_ONE
    )
    saved = await command(
        one, slack, 'settings prompt="You are a careful librarian." emoji=star', user=ADMIN_ONE
    )
    assert "Saved" in saved and "careful librarian" in saved and "star" in saved

    await one.mention("a question for team one", channel="CT1", user=ADMIN_ONE)
    await two.mention("a question for team two", channel="CT2", user=ADMIN_TWO)
    answers = await replies(slack, 2)
    prompts = {
        r["messages"][-1]["content"]: r["messages"][0]["content"] for r in openai_fake.chat_requests
    }
    assert prompts["a question for team one"] == "You are a careful librarian."
    assert prompts["a question for team two"] == bot.settings.system_prompt

    # Team one approves with its own emoji now: +1 no longer counts there.
    by_channel = {answer.channel: answer for answer in answers}
    await eventually(
        lambda: team(bot, ONE).turns.get(MessageKey("slack", "CT1", by_channel["CT1"].ts))
    )
    await one.react(by_channel["CT1"].ts, user=ADMIN_ONE, channel="CT1", reaction="+1")
    await settle()
    assert (await team(bot, ONE).examples.stats()).examples == 0
    await one.react(by_channel["CT1"].ts, user=ADMIN_ONE, channel="CT1", reaction="star")
    await eventually(lambda: _more_examples(team(bot, ONE), 0))
    [example] = (await team(bot, ONE).dataset.export_bytes())[0].decode().splitlines()
    assert "careful librarian" in example  # the example holds the prompt the model saw

    reset = await command(one, slack, "settings reset", user=ADMIN_ONE)
    assert bot.settings.system_prompt[:40] in reset


async def test_installs_beyond_the_operators_limit_are_refused_and_revoked(
    start_bot, slack, openai_fake
):
    bot = await start_bot(**installed_from_a_link(slack), slack_max_workspaces=2)
    await started(bot, slack, openai_fake)
    status, page = await install_as(bot, slack, "T3", "UTHREE")
    assert status == 403 and "as many Slack workspaces as its operator allows" in page
    assert set(slack.installed.values()) == {ONE, TWO}  # the third's token was revoked
    status, _ = await install_as(bot, slack, ONE, "UONEAGAIN")  # a reinstall is no new one
    assert status == 200
