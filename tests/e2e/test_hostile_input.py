"""Hostile and odd input: forged and replayed requests, non-admins, huge and strange messages,
bad slash arguments, secrets pasted in chat, two bots on one Redis, Slack's redeliveries."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from urllib.parse import urlencode

from bot.commands.language import ADMIN_COMMANDS
from bot.conversation.chat import EMPTY_MESSAGE_HINT
from tests.e2e.harness import CHANNEL, slack_message
from tests.e2e.test_core_loop import bot_replies, export_lines, replies, settle, status_text
from tests.e2e.test_finetune import WEBHOOK_SECRET, command

ADMIN = "UADMIN"
PASTED_BOT_TOKEN = "xoxb-9999999999-8888888888-PastedInChatByMistake"
PASTED_OPENAI_KEY = "sk-proj-PastedInChatByMistake0123456789abcdefABCDEF"


def event_callback(event: dict, event_id: str) -> str:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": "T1",
            "api_app_id": "A1",
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
        }
    )


def mention_event(bot, text: str) -> dict:
    ts = bot.next_ts()
    return {
        "type": "app_mention",
        "user": "UALICE",
        "text": f"<@UBOT> {text}",
        "ts": ts,
        "channel": CHANNEL,
        "event_ts": ts,
    }


def dm_event(bot, text: str) -> dict:
    ts = bot.next_ts()
    return {
        "type": "message",
        "channel_type": "im",
        "channel": "D1",
        "user": "UALICE",
        "text": text,
        "ts": ts,
        "event_ts": ts,
    }


async def nothing_happened(bot, slack, openai_fake) -> None:
    await settle()
    assert openai_fake.chat_requests == []
    assert [c.method for c in slack.calls if c.method != "auth.test"] == []
    keys = await bot.services.redis.keys(f"bot:{{{bot.settings.redis_prefix}}}:*")
    assert [key for key in keys if not key.endswith(":job:watcher")] == []  # the watcher's lease


# ----- forged and replayed requests --------------------------------------------------------


async def test_replayed_and_tampered_slack_requests_are_rejected(bot, slack, openai_fake):
    body = event_callback(mention_event(bot, "hello"), "EvREPLAY")
    stale = int(time.time()) - 6 * 60  # Slack's SDKs refuse anything older than 5 minutes
    response = await bot.post_signed(body, "application/json", timestamp=stale)
    assert response.status == 401

    # A valid signature for one body does not cover another.
    timestamp = int(time.time())
    from slack_sdk.signature import SignatureVerifier

    from tests.e2e.harness import SIGNING_SECRET

    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(
        timestamp=str(timestamp), body=body
    )
    tampered = body.replace("hello", "spend all the money")
    async with bot.session.post(
        f"{bot.url}/slack/events",
        data=tampered.encode(),
        headers={
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": signature,
        },
    ) as tampered_response:
        assert tampered_response.status == 401

    # A forged slash command and an unsigned one.
    form = urlencode(
        {
            "command": "/finetune",
            "text": "rollback",
            "user_id": ADMIN,
            "channel_id": CHANNEL,
            "team_id": "T1",
            "response_url": slack.response_url("forged"),
        }
    )
    forged = await bot.post_signed(
        form, "application/x-www-form-urlencoded", secret="guessed-secret"
    )
    assert forged.status == 401
    async with bot.session.post(
        f"{bot.url}/slack/events",
        data=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ) as unsigned:
        assert unsigned.status == 401
    await nothing_happened(bot, slack, openai_fake)


async def test_a_replayed_openai_webhook_is_rejected(start_bot, slack, openai_fake):
    bot = await start_bot(openai_webhook_secret=WEBHOOK_SECRET, job_poll_seconds=3600)
    body = json.dumps(
        {
            "id": "evt_1",
            "object": "event",
            "created_at": int(time.time()) - 3600,
            "type": "fine_tuning.job.succeeded",
            "data": {"id": "ftjob-000001"},
        }
    )
    webhook_id, timestamp = "wh_old", str(int(time.time()) - 3600)  # signed an hour ago
    key = base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_"))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    headers = {
        "Content-Type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }
    async with bot.session.post(f"{bot.url}/openai/webhook", data=body, headers=headers) as r:
        assert r.status == 400
    await nothing_happened(bot, slack, openai_fake)


# ----- admins ------------------------------------------------------------------------------

ADMIN_COMMAND_LINES = {
    "start": "start model=gpt-4.1-mini epochs=3",
    "cancel": "cancel",
    "use": "use gpt-4o-mini",
    "link": "link ABCD2345",
    "rollback": "rollback",
    "migrate": "migrate provider=openai model=gpt-4.1-mini-2025-04-14",
}


async def test_every_admin_command_is_refused_to_others_and_changes_nothing(
    bot, slack, openai_fake
):
    assert set(ADMIN_COMMAND_LINES) == ADMIN_COMMANDS  # a new admin command needs a line here
    assert "switched me to" in await command(bot, slack, "use gpt-4.1-mini-2025-04-14")
    before = await bot.services.switcher.current()
    for line in ADMIN_COMMAND_LINES.values():
        for typed in (line, line.upper().replace("GPT", "gpt")):
            answer = await command(bot, slack, typed, user="UMALLORY")
            assert "Only fine-tune admins" in answer, typed
    assert await bot.services.switcher.current() == before
    assert openai_fake.files == {} and openai_fake.job_requests == []
    assert await bot.services.jobs.active_job_id() is None


# ----- huge, empty and strange messages ----------------------------------------------------


async def test_a_one_megabyte_message_is_refused_with_its_length(bot, slack, openai_fake):
    await bot.send_event(dm_event(bot, "a" * 1_000_000))
    [reply] = await replies(slack, 1)
    assert "1,000,000 characters" in reply.text
    assert "20,000" in reply.text
    assert openai_fake.chat_requests == []
    assert await bot.services.turns.get(slack_message("D1", reply.ts)) is None


async def test_a_body_too_big_for_slack_is_refused_and_the_bot_keeps_serving(bot, slack):
    body = event_callback(dm_event(bot, "b" * 2_000_000), "EvHUGE")
    response = await bot.post_signed(body, "application/json")
    assert response.status == 413
    await bot.send_event(dm_event(bot, "still there?"))
    [reply] = await replies(slack, 1)
    assert reply.text == "Reply 1"


EMPTY_LOOKING = ["", " ", "\n\t \r\n", "\u00a0\u3000", "\u200b", "\u200b\u200d\ufeff \u2060"]


async def test_an_empty_or_invisible_message_gets_a_hint_and_no_model_call(bot, slack, openai_fake):
    for text in EMPTY_LOOKING:
        await bot.send_event(dm_event(bot, text))
    posted = await replies(slack, len(EMPTY_LOOKING))
    assert [reply.text for reply in posted] == [EMPTY_MESSAGE_HINT] * len(EMPTY_LOOKING)
    assert openai_fake.chat_requests == []


HOSTILE_TEXT = (
    "مرحبا بالعالم שלום 👩‍👩‍👧‍👦 🇯🇵 e\u0301 \u202eevil\u202c NUL:\x00 ESC:\x1b[31m "
    'BEL:\x07 zero\u200bwidth \ufeff tab\there \'quotes" \\backslash\\ {"json": true} '
    "<script>alert(1)</script> ${HOME} %s %(x)s 𝔘𝔫𝔦𝔠𝔬𝔡𝔢"
)


async def test_control_characters_and_mixed_scripts_round_trip_exactly(bot, slack, openai_fake):
    openai_fake.reply = "Arr! " + HOSTILE_TEXT
    await bot.send_event(dm_event(bot, HOSTILE_TEXT))
    [reply] = await replies(slack, 1)
    # Sent as Slack's formatting rules want `<` and `>` (it shows them as written); the turn
    # and the training line below keep the text exactly.
    assert reply.text == "Arr! " + HOSTILE_TEXT.replace("<", "&lt;").replace(">", "&gt;")
    assert openai_fake.chat_requests[0]["messages"][-1]["content"] == HOSTILE_TEXT
    await settle()

    turn = await bot.services.turns.get(slack_message("D1", reply.ts))
    assert turn.messages[-1]["content"] == HOSTILE_TEXT
    assert turn.reply == "Arr! " + HOSTILE_TEXT
    await bot.react(reply.ts, channel="D1")
    await settle()
    [line] = await export_lines(bot, slack)
    assert line["messages"][1] == {"role": "user", "content": HOSTILE_TEXT}
    assert line["messages"][2]["content"] == "Arr! " + HOSTILE_TEXT


async def test_a_lone_surrogate_is_replaced_and_answered(bot, slack, openai_fake):
    # Valid JSON, but not valid Unicode: "\ud800" alone cannot be encoded as UTF-8.
    event = dm_event(bot, "PLACEHOLDER")
    body = event_callback(event, "EvSURROGATE").replace("PLACEHOLDER", "broken \\ud800 text")
    response = await bot.post_signed(body, "application/json")
    assert response.status == 200
    [reply] = await replies(slack, 1)
    assert reply.text == "Reply 1"  # the broken character is replaced, not fatal
    assert openai_fake.chat_requests[0]["messages"][-1]["content"] == "broken \ufffd text"
    await settle()  # the turn is recorded just after the stream stops
    turn = await bot.services.turns.get(slack_message("D1", reply.ts))
    assert turn.messages[-1]["content"] == "broken \ufffd text"


# ----- slash command arguments -------------------------------------------------------------


BAD_ARGUMENTS = [
    ('start "model=gpt-4.1-mini', "quote in the command is not closed"),
    ("start suffix='it''s", "quote in the command is not closed"),
    ("start =3", "needs a name before the `=`"),
    ("start epochs==3", "epochs must be a whole number"),
    ('start epochs="3 4"', "epochs must be a whole number"),
    ("start model=", "is not a model I can fine-tune"),
    ("start suffix=a=b", "suffix must be"),
    ('start "suffix=two words"', "suffix must be"),
    ("start gpt-4.1-mini", "is not an option; write `name=value`"),
    ("start colour=blue", "`colour` is not an option"),
    ("validate epochs=0", "epochs must be a whole number"),
    ("validate holdout=nan", "holdout must be"),
    ("use", "`use` needs exactly one model id"),
    ("use a b", "`use` needs exactly one model id"),
    ("“status”", "I don't know the command"),
    ("stat\x00us", "I don't know the command"),
    ("status foo=bar", "`status` takes no options"),
    ("rollback now", "`rollback` takes no options"),
    ("start epochs=3 epochs=4", "`epochs` is given twice"),
]


async def test_bad_slash_arguments_get_a_reason_and_the_usage(bot, slack, openai_fake):
    for text, reason in BAD_ARGUMENTS:
        answer = await command(bot, slack, text, user=ADMIN)
        assert reason in answer, text
        assert "Usage:" in answer and "/finetune status" in answer, text
    assert openai_fake.files == {} and openai_fake.job_requests == []
    assert await bot.services.models.active() is None


async def test_a_command_whose_text_says_payload_is_answered_like_any_other(
    bot, slack, openai_fake
):
    # Bolt reads any form body with "payload" in it as an interaction and finds nothing.
    asked = "compare model=gpt-4.1 what is the payload of a webhook?"
    assert "Both answers are posted" in await command(bot, slack, asked, user=ADMIN)
    assert "is not a kind of export" in await command(bot, slack, "export payload", user=ADMIN)


# ----- secrets pasted in chat never reach the logs -----------------------------------------


async def test_configured_and_pasted_secrets_stay_out_of_the_logs(
    start_bot, slack, openai_fake, caplog
):
    caplog.set_level(logging.DEBUG)
    bot = await start_bot(redis_url="redis://127.0.0.1:1/0")  # storage errors get logged too
    good = await start_bot()
    text = f"here is my token {PASTED_BOT_TOKEN} and key {PASTED_OPENAI_KEY}"
    await bot.mention(text)
    openai_fake.fail_chat(400, body={"error": {"message": f"bad request: {text}"}})
    await good.mention(text)
    openai_fake.reply = f"Never say {PASTED_OPENAI_KEY}"
    await good.mention(text)
    posted = await replies(slack, 3)
    await bot.react(posted[0].ts)
    await good.react(posted[2].ts)
    await good.command("export", slack.response_url("ex"), user="UADMIN")
    await bot.command("status", slack.response_url("st"))
    await slack.wait_for("response_url", lambda c: c.params["_name"] == "st")
    await settle()

    def text_of(records) -> str:
        return "\n".join(
            f"{record.getMessage()} {record.exc_text or ''} {record.args!r}" for record in records
        )

    everything = text_of(caplog.records)
    at_info = text_of(r for r in caplog.records if r.levelno >= logging.INFO)
    assert "storage unavailable" in at_info  # the run did log, failures included
    configured = {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": bot.settings.slack_signing_secret,
        "OPENAI_API_KEY": openai_fake.api_key,
    }
    assert [name for name, value in configured.items() if value in everything] == []
    # slack_sdk logs request bodies (our reply text) at DEBUG: pasted secrets are scrubbed too.
    pasted = {"pasted bot token": PASTED_BOT_TOKEN, "pasted OpenAI key": PASTED_OPENAI_KEY}
    assert [name for name, value in pasted.items() if value in everything] == []
    assert "here is my token" not in at_info  # no message bodies at INFO


# ----- two bots on one Redis ---------------------------------------------------------------


async def test_two_bots_on_one_redis_keep_datasets_models_and_retries_apart(
    start_bot, slack, openai_fake
):
    acme = await start_bot(redis_prefix="acme")
    globex = await start_bot(redis_prefix="globex")
    # The same Slack event reaching both apps is new to each of them.
    # Both bots count ts the same way: the same channel and thread ts, in two datasets.
    await acme.mention("acme's question", event_id="EvSHARED")
    await globex.mention("globex's question", event_id="EvSHARED")
    posted = await replies(slack, 2)
    asked = [r["messages"][-1]["content"] for r in openai_fake.chat_requests]
    acme_text = "Reply {}".format(asked.index("acme's question") + 1)
    [acme_reply] = [p for p in posted if p.text == acme_text]
    await acme.react(acme_reply.ts)
    await globex.react(acme_reply.ts)  # not globex's turn: nothing to vote on
    await settle()

    assert (await status_text(acme, slack, "a")).startswith("*Dataset:* 1 example,")
    assert (await status_text(globex, slack, "g")).startswith("*Dataset:* 0 examples,")
    await globex.command("export", slack.response_url("gx"), user="UADMIN")
    empty = await slack.wait_for("response_url", lambda c: c.params["_name"] == "gx")
    assert "empty" in empty.params["text"]
    [line] = await export_lines(acme, slack, "ax")
    assert line["messages"][1]["content"] == "acme's question"

    assert "switched me to" in await command(acme, slack, "use gpt-4o-mini")
    assert await globex.services.switcher.current() == globex.settings.chat_model
    assert await globex.services.models.history() == []
    keys = await acme.services.redis.keys("bot:*")
    assert keys and all(key.startswith(("bot:{acme}:", "bot:{globex}:")) for key in keys)


# ----- Slack's redeliveries ----------------------------------------------------------------


async def test_three_deliveries_at_once_are_answered_once(bot, slack, openai_fake):
    event = mention_event(bot, "hi")
    await asyncio.gather(
        *(bot.send_event(event, event_id="EvTRIPLE", retry_num=n or None) for n in range(3))
    )
    await replies(slack, 1)
    await settle()
    assert len(bot_replies(slack)) == 1
    assert len(openai_fake.chat_requests) == 1


async def test_a_reaction_delivered_three_times_is_one_vote(bot, slack):
    await bot.mention("q")
    [reply] = await replies(slack, 1)
    ts = reply.ts
    for retry in (None, 1, 2):
        await bot.react(ts, event_id="EvVOTE", event_ts="1800000100.000001", retry_num=retry)
    await settle()
    [example_id] = await bot.services.examples.all_ids()
    assert await bot.services.examples.voter_count(example_id) == 1
    await bot.react(ts, removed=True, event_ts="1800000200.000001")
    await settle()
    assert (await bot.services.examples.stats()).examples == 0


async def test_a_removal_that_arrives_before_its_add_leaves_no_vote(bot, slack):
    await bot.mention("q")
    [reply] = await replies(slack, 1)
    ts = reply.ts
    await bot.react(ts, removed=True, event_ts="1800000200.000001")
    await bot.react(ts, event_ts="1800000100.000001")  # the add, delivered late
    await settle()
    assert (await bot.services.examples.stats()).examples == 0
    assert await bot.services.examples.all_ids() == []
