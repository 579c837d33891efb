"""Requests the bot did not sign for, and signed ones it can't read: each is refused in a few
milliseconds with nothing from it in the log (no body, no forged line, no traceback), and
/healthz tells its details only to whoever holds HEALTHZ_TOKEN."""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import hmac
import json
import logging
import time
from urllib.parse import quote, urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from tests.e2e.harness import SIGNING_SECRET
from tests.e2e.test_core_loop import replies, settle
from tests.e2e.test_finetune import WEBHOOK_SECRET

# Text that must never reach the log, whichever way a request carries it.
MARKER = "MARKER-d41d8c"
# A raw newline followed by what reads as a log line of its own.
FORGED = "\nINFO forged line"
# Within Slack's 3 s window for an answer, on a machine as loaded as a test run makes it: what
# a sender notices. The milliseconds a refusal really takes are a benchmark's business (a
# 0.25 s bound here failed under a parallel run, a deeply nested body taking 1.0 s).
FAST_SECONDS = 3.0
DEEP = 100_000  # nested arrays: far past any parser's recursion limit
HEALTHZ_TOKEN = "healthz-token-5f2b9c"


@pytest.fixture
async def bot(start_bot, caplog):
    # Every logger at DEBUG before the app is built: Bolt's loggers copy the root's level then.
    caplog.set_level(logging.DEBUG)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET:
            caplog.set_level(logging.DEBUG, logger=name)
    # Earlier tests' clients, collected now, complain about their closed loops in the log.
    gc.collect()
    running = await start_bot(openai_webhook_secret=WEBHOOK_SECRET, job_poll_seconds=3600)
    caplog.clear()
    return running


def slack_signature(body: bytes, timestamp: str, secret: str = SIGNING_SECRET) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def webhook_headers(
    body: bytes, timestamp: str | None = None, secret: str = WEBHOOK_SECRET
) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, b"wh_1." + timestamp.encode() + b"." + body, hashlib.sha256).digest()
    return {
        "webhook-id": "wh_1",
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        "Content-Type": "application/json",
    }


def mention_body(text: str) -> str:
    event = {"type": "app_mention", "user": "UALICE", "text": f"<@UBOT> {text}", "ts": "1.0"}
    return json.dumps({"type": "event_callback", "event_id": "EvX", "event": event})


def deep_json() -> str:
    return "[" * DEEP + json.dumps(MARKER) + "]" * DEEP


def form(payload: str) -> bytes:
    return f"payload={quote(payload)}".encode()


async def post(bot, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, float]:
    started = time.perf_counter()
    async with bot.session.post(f"{bot.url}{path}", data=body, headers=headers) as response:
        await response.read()
        return response.status, time.perf_counter() - started


def assert_nothing_from_it_was_logged(caplog) -> None:
    for record in caplog.records:
        text = record.getMessage()
        assert MARKER not in text, f"{record.name} logged the body: {text!r}"
        assert "forged line" not in text, f"{record.name} logged a forged line: {text!r}"
        assert record.exc_info is None and "Traceback" not in text, f"{record.name}: {text!r}"


JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
GUESSED = "guessed-secret"

# What a request carries: (body, content type, timestamp or seconds from now, the secret it is
# signed with, or None for no signature headers at all).
REFUSED_AS_UNSIGNED = {
    "no signature": (mention_body(MARKER), JSON, 0, None),
    "another secret": (mention_body(MARKER + FORGED), JSON, 0, GUESSED),
    "signed 10 minutes ago": (mention_body(MARKER), JSON, -600, SIGNING_SECRET),
    "signed 10 minutes ahead": (mention_body(MARKER), JSON, 600, SIGNING_SECRET),
    "a timestamp that is not a number": (mention_body(MARKER), JSON, "soon", SIGNING_SECRET),
    "a raw newline forging a log line": ('{"a": 1}' + FORGED + MARKER, JSON, 0, GUESSED),
    "a forged slash command": (
        urlencode({"command": "/finetune", "text": f"rollback {MARKER}{FORGED}"}),
        FORM,
        0,
        GUESSED,
    ),
    "an ssl check smuggling a payload": (
        "ssl_check=1&token=abc&" + form(mention_body(MARKER)).decode(),
        FORM,
        0,
        None,
    ),
    "an empty body": ("", JSON, 0, None),
}

# Signed with the right secret, now: (body, content type; "" for none).
REFUSED_AS_UNREADABLE = {
    "broken JSON": ('{"type": "event_callback", ' + MARKER + FORGED, JSON),
    "deeply nested JSON": (deep_json(), JSON),
    "JSON that is not an object": (json.dumps([MARKER, FORGED]), JSON),
    "an object Bolt can't read": (json.dumps({"authorizations": MARKER}), JSON),
    "a broken payload field": (form('{"type": "block_actions", ' + MARKER + FORGED), FORM),
    "a deeply nested payload field": (form(deep_json()), FORM),
    "a payload field that is not an object": (form(json.dumps(MARKER)), FORM),
    "an empty body": ("", JSON),
    "a blank form": ("  \n ", FORM),
    "a wrong content type": (mention_body(MARKER + FORGED), "text/plain"),
    "no content type": (mention_body(MARKER), ""),
    "bytes that are not UTF-8": (b'{"text": "\xff\xfe' + MARKER.encode() + b'"}', JSON),
}


def slack_headers(body: bytes, content_type: str, when: int | str, secret: str | None) -> dict:
    headers = {"Content-Type": content_type} if content_type else {}
    if secret is not None:
        timestamp = when if isinstance(when, str) else str(int(time.time()) + when)
        headers["X-Slack-Request-Timestamp"] = timestamp
        headers["X-Slack-Signature"] = slack_signature(body, timestamp, secret)
    return headers


def raw(body: str | bytes) -> bytes:
    return body if isinstance(body, bytes) else body.encode()


@pytest.mark.parametrize("case", list(REFUSED_AS_UNSIGNED))
async def test_a_request_slack_did_not_sign_is_refused_fast_and_never_logged(
    bot, slack, openai_fake, caplog, case
):
    body, content_type, when, secret = REFUSED_AS_UNSIGNED[case]
    headers = slack_headers(raw(body), content_type, when, secret)

    status, seconds = await post(bot, "/slack/events", raw(body), headers)

    assert status == 401
    assert seconds < FAST_SECONDS
    await settle()
    assert openai_fake.chat_requests == [] and slack.messages == {}
    assert_nothing_from_it_was_logged(caplog)
    refusals = [r.getMessage() for r in caplog.records if "signature" in r.getMessage()]
    assert refusals == ["slack: request with a bad or stale signature refused"]


@pytest.mark.parametrize("case", list(REFUSED_AS_UNREADABLE))
async def test_a_signed_request_that_cant_be_read_is_a_fast_400_and_never_logged(
    bot, slack, openai_fake, caplog, case
):
    body, content_type = REFUSED_AS_UNREADABLE[case]
    headers = slack_headers(raw(body), content_type, 0, SIGNING_SECRET)

    status, seconds = await post(bot, "/slack/events", raw(body), headers)

    assert status == 400
    assert seconds < FAST_SECONDS
    await settle()
    assert openai_fake.chat_requests == [] and slack.messages == {}
    assert_nothing_from_it_was_logged(caplog)


async def test_signature_headers_that_are_not_ascii_are_refused_without_a_traceback(bot, caplog):
    body = mention_body(MARKER).encode()
    now = str(int(time.time()))
    for timestamp, signature in (("\uff11\uff17\uff10\uff10", "v0=abc"), (now, "v0=\xe9" + MARKER)):
        headers = {
            "Content-Type": JSON,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature,
        }
        status, seconds = await post(bot, "/slack/events", body, headers)
        assert status == 401 and seconds < FAST_SECONDS
    assert_nothing_from_it_was_logged(caplog)


async def test_a_body_over_the_limit_is_refused_unread(bot, caplog):
    body = (MARKER + FORGED) * (2 * 1024 * 1024 // len(MARKER + FORGED))
    status, seconds = await post(bot, "/slack/events", body.encode(), {"Content-Type": JSON})
    assert status == 413 and seconds < FAST_SECONDS
    assert_nothing_from_it_was_logged(caplog)


NOT_HTTP = {
    "a bad Content-Length": b"Content-Length: " + MARKER.encode() + b"\r\n\r\n",
    "a bad header name": b"X-" + MARKER.encode() + b"\x01: v\r\nContent-Length: 0\r\n\r\n",
    "a bad chunk": b"Transfer-Encoding: chunked\r\n\r\nzz " + MARKER.encode() + b"\r\n",
}


@pytest.mark.parametrize("case", list(NOT_HTTP))
async def test_a_request_that_is_not_valid_http_is_refused_without_its_bytes(bot, caplog, case):
    host, port = bot.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    started = time.perf_counter()
    writer.write(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\n" + NOT_HTTP[case])
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(100), FAST_SECONDS)
    writer.close()
    assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n")[0]
    assert time.perf_counter() - started < FAST_SECONDS
    await settle()
    assert_nothing_from_it_was_logged(caplog)


async def test_slacks_unsigned_ssl_check_is_answered(bot, caplog):
    status, _ = await post(
        bot, "/slack/events", b"ssl_check=1&token=abc123", {"Content-Type": FORM}
    )
    assert status == 200
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_signed_mention_is_still_answered_after_the_refusals(bot, slack):
    for body, content_type in REFUSED_AS_UNREADABLE.values():
        headers = slack_headers(raw(body), content_type, 0, SIGNING_SECRET)
        await post(bot, "/slack/events", raw(body), headers)
    ts = await bot.mention("hello after the noise")
    [reply] = await replies(slack, 1)
    assert reply.thread_ts == ts


# ----- OpenAI's webhook ---------------------------------------------------------------------


def job_event(data: object) -> bytes:
    event = {"id": "evt_1", "type": "fine_tuning.job.succeeded", "data": data}
    return json.dumps({**event, "object": "event", "created_at": int(time.time())}).encode()


MARKED_EVENT = job_event({"id": "ftjob-1"}).replace(b"evt_1", MARKER.encode())
WRONG_SECRET = "whsec_" + "A" * 24


def webhook_refusals() -> dict[str, tuple[bytes, dict]]:
    """Signed now: a stale or wrong one must be refused for what it is, not for its age."""
    fresh = webhook_headers(MARKED_EVENT)
    return {
        "no signature": (MARKED_EVENT, {"Content-Type": JSON}),
        "another secret": (MARKED_EVENT, webhook_headers(MARKED_EVENT, secret=WRONG_SECRET)),
        "signed 10 minutes ago": (
            MARKED_EVENT,
            webhook_headers(MARKED_EVENT, timestamp=str(int(time.time()) - 600)),
        ),
        "a timestamp that is not a number": (MARKED_EVENT, webhook_headers(MARKED_EVENT, "soon")),
        "a signature that is not ascii": (
            MARKED_EVENT,
            {**fresh, "webhook-signature": "v1,\xe9" + MARKER},
        ),
        "a raw newline forging a log line": (
            b"{}" + FORGED.encode(),
            webhook_headers(b"{}" + FORGED.encode(), secret=WRONG_SECRET),
        ),
    }


WEBHOOK_UNREADABLE = {
    "broken JSON": b'{"type": "fine_tuning.job.succeeded", ' + MARKER.encode(),
    "deeply nested JSON": deep_json().encode(),
    "JSON that is not an object": json.dumps([MARKER]).encode(),
    "an event without a job": job_event(MARKER),
    "a job id that is not an id": job_event({"id": MARKER + FORGED}),
    "bytes that are not UTF-8": b'{"type": "\xff' + MARKER.encode() + b'"}',
    "an empty body": b"",
}


@pytest.mark.parametrize("case", list(webhook_refusals()))
async def test_an_unsigned_openai_webhook_is_a_fast_400_and_never_logged(bot, slack, caplog, case):
    body, headers = webhook_refusals()[case]
    status, seconds = await post(bot, "/openai/webhook", body, headers)
    assert status == 400
    assert seconds < FAST_SECONDS
    await settle()
    assert slack.messages == {}
    assert_nothing_from_it_was_logged(caplog)


@pytest.mark.parametrize("case", list(WEBHOOK_UNREADABLE))
async def test_a_signed_openai_webhook_that_cant_be_read_is_a_fast_400(bot, slack, caplog, case):
    body = WEBHOOK_UNREADABLE[case]
    status, seconds = await post(bot, "/openai/webhook", body, webhook_headers(body))
    assert status == 400
    assert seconds < FAST_SECONDS
    await settle()
    assert slack.messages == {}
    assert_nothing_from_it_was_logged(caplog)


# ----- /healthz -----------------------------------------------------------------------------


async def healthz(bot, *, query: str = "", headers: dict | None = None) -> tuple[int, dict]:
    async with bot.session.get(f"{bot.url}/healthz{query}", headers=headers or {}) as response:
        return response.status, await response.json()


async def test_healthz_says_only_ok_without_a_token_configured(bot):
    assert await healthz(bot) == (200, {"ok": True})
    assert await healthz(bot, query="?token=anything") == (200, {"ok": True})
    bearer = {"Authorization": "Bearer anything"}
    assert await healthz(bot, headers=bearer) == (200, {"ok": True})


async def test_healthz_details_go_only_to_whoever_holds_the_token(start_bot, caplog):
    caplog.set_level(logging.DEBUG)
    bot = await start_bot(healthz_token=HEALTHZ_TOKEN)
    assert await healthz(bot) == (200, {"ok": True})
    for wrong in ("wrong", HEALTHZ_TOKEN[:-1], HEALTHZ_TOKEN + "x", "é"):
        assert await healthz(bot, headers={"Authorization": f"Bearer {wrong}"}) == (
            200,
            {"ok": True},
        )
        assert await healthz(bot, query=f"?token={quote(wrong)}") == (200, {"ok": True})
    assert await healthz(bot, headers={"Authorization": HEALTHZ_TOKEN}) == (200, {"ok": True})

    for asked in (
        {"headers": {"Authorization": f"Bearer {HEALTHZ_TOKEN}"}},
        {"query": f"?token={HEALTHZ_TOKEN}"},
    ):
        status, body = await healthz(bot, **asked)
        assert status == 200 and body["ok"] is True
        assert {"pid", "loop_lag", "answers_waiting"} <= set(body)
    assert not [r for r in caplog.records if HEALTHZ_TOKEN in r.getMessage()]


async def test_a_replayed_signed_command_runs_once(start_bot, slack, openai_fake):
    """The same signed bytes posted again within the 5 minutes a signature is accepted: the
    second time nothing runs (a replayed rollback would roll forward again)."""
    bot = await start_bot()
    form = urlencode(
        {
            "command": "/finetune",
            "text": "status",
            "user_id": "UADMIN",
            "channel_id": "C1",
            "team_id": "T1",
            "response_url": slack.response_url("replayed"),
            "trigger_id": "t1",
        }
    )
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=timestamp, body=form)
    headers = {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }
    for _ in range(2):
        async with bot.session.post(f"{bot.url}/slack/events", data=form, headers=headers) as r:
            assert r.status == 200
    await slack.wait_for("response_url", lambda c: c.params["_name"] == "replayed")
    await asyncio.sleep(0.3)
    answered = [c for c in slack.calls_to("response_url") if c.params["_name"] == "replayed"]
    assert len(answered) == 1
