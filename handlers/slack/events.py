"""Slack events: mentions and DMs get streamed answers (each delivery answered once), deleted
messages are forgotten, and a new agent thread is offered prompts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.conversation.chat import ANSWER_FAILED_APOLOGY, LATE_REPLY_NOTICE, Incoming
from bot.errors import REDIS_DOWN, StorageUnavailable, storage_cause
from bot.faces import ChatFace
from handlers.slack.escaping import escape
from handlers.slack.reactions import REACTIONS
from handlers.slack.replies import StreamedThreadReply
from storage.schemas import MessageKey

logger = logging.getLogger(__name__)

# The repeat check waits at most this long before the ack, so Slack's 3 s limit holds even when
# Redis hangs or the process is saturated; the check itself goes on after the ack.
SEEN_CHECK_SECONDS = 1.0
UNCHECKED_REPEATS = "events: storage unavailable, cannot check for repeats (%s)"
PROMPT_TITLE_CHARS = 40

# An answer's repeat check: the event id and the claim, which may still be running.
Claim = tuple[str, "asyncio.Future[bool]"]


def register(app: AsyncApp) -> None:
    app.middleware(skip_retried_deliveries)
    app.event("app_mention")(handle_app_mention)
    app.event("message")(handle_message)
    app.event("assistant_thread_started")(handle_assistant_thread_started)


async def skip_retried_deliveries(
    body: dict, context: AsyncBoltContext, next
) -> BoltResponse | None:
    # Slack redelivers events it did not see acknowledged in time (X-Slack-Retry-Num); Bolt
    # does not deduplicate, and answering twice would post two replies. Channel messages (every
    # one arrives, for deletions) are never answered and forgetting one twice changes nothing;
    # a vote is idempotent by its own clock: neither costs a write.
    event_id = body.get("event_id")
    event = body.get("event") or {}
    if not event_id or _is_channel_message(event) or event.get("type") in REACTIONS:
        return await next()
    mark = _seen_mark(context["core"], event)
    checking = asyncio.ensure_future(mark(event_id))
    await asyncio.wait({checking}, timeout=SEEN_CHECK_SECONDS)
    if not checking.done():
        # A busy process, not a dead Redis: the ack goes now, and the answer, which is written
        # after it anyway, waits for the check.
        logger.info("events: repeat check of %s still running at its deadline", event_id)
        context["claim"] = (event_id, checking)
        return await next()
    claimed = await _claimed((event_id, checking))
    if claimed is False:
        return BoltResponse(status=200, body="")
    if claimed:
        context["claim"] = (event_id, checking)
    return await next()


def _seen_mark(core: ChatFace, event: dict) -> Callable[[str], Awaitable[bool]]:
    """How an event is marked seen: True the first time, False for a repeat."""
    # An answer is claimed while it is written, so a crash mid-answer lets a later redelivery
    # through; anything else is done once it is marked.
    answers = event.get("type") == "app_mention" or _is_direct_message(event)
    return core.seen.claim if answers else core.seen.first_time


async def _claimed(claim: Claim | None) -> str | bool | None:
    """The event id this process claimed, False if it is a repeat, None if unchecked."""
    if claim is None:
        return None
    event_id, checking = claim
    try:
        if not await checking:
            logger.info("events: skipped repeated delivery of %s", event_id)
            return False
    except REDIS_DOWN as error:
        logger.warning(UNCHECKED_REPEATS, storage_cause(error))
        return None
    return event_id


async def handle_app_mention(event: dict, context: AsyncBoltContext, client: AsyncWebClient):
    await queue_answer(event, context, client)


async def handle_message(event: dict, context: AsyncBoltContext, client: AsyncWebClient):
    if deleted := _deleted_message(event):
        await _forget(context["core"], deleted)
        return
    # Edits, joins and other subtypes are not people talking to the bot.
    if event.get("subtype") or event.get("bot_id"):
        return
    # In channels the same message also arrives as app_mention; answer that one only.
    if _is_channel_message(event):
        return
    await queue_answer(event, context, client)


async def queue_answer(event: dict, context: AsyncBoltContext, client: AsyncWebClient) -> None:
    """Hand the answer to the answer queue; it is written after the ack."""
    core: ChatFace = context["core"]
    message = _incoming(event, context)
    claim = context.get("claim")
    core.answers.submit(lambda waited: write_answer(core, message, client, claim, waited))


def _incoming(event: dict, context: AsyncBoltContext) -> Incoming:
    return Incoming(
        platform="slack",
        team=context.team_id or event.get("team", ""),
        channel=event["channel"],
        thread_ts=event.get("thread_ts") or event["ts"],
        user=event.get("user", ""),
        # Only the bot's own mention goes; other people's stay (redacted when stored).
        text=(event.get("text") or "").replace(f"<@{context.bot_user_id}>", ""),
        message_id=event["ts"],
    )


async def write_answer(
    core: ChatFace,
    message: Incoming,
    client: AsyncWebClient,
    claim: Claim | None,
    waited: float,
) -> None:
    """Run by the answer queue, `waited` seconds after the message was queued."""
    event_id = await _claimed(claim)
    if event_id is False:
        return
    reply = _thread_reply(core, client, message)
    if waited > core.settings.late_reply_seconds:
        await _say_late(client, message)
    reply.show_thinking()
    try:
        async with core.seen.working_on(event_id) if event_id else contextlib.nullcontext():
            await core.chat.reply(message, reply)
    except Exception:
        logger.exception("events: answering failed")
        await _end_with_apology(reply)


def _thread_reply(core: ChatFace, client: AsyncWebClient, message: Incoming) -> StreamedThreadReply:
    return StreamedThreadReply(
        client,
        message.channel,
        message.thread_ts,
        user=message.user,
        team=message.team,
        feedback=core.curation.curates(message.channel),
    )


async def handle_assistant_thread_started(
    event: dict, context: AsyncBoltContext, client: AsyncWebClient
) -> None:
    # Agent view: a new DM thread with the bot; it is offered the suggested prompts. No
    # thread_ts: for agent apps Slack silently ignores a call that names one.
    prompts = context["core"].settings.suggested_prompts
    channel = (event.get("assistant_thread") or {}).get("channel_id")
    if not channel or not prompts:
        return
    try:
        await client.assistant_threads_setSuggestedPrompts(
            channel_id=channel, title="Try asking", prompts=suggested_prompts(prompts)
        )
    except SlackApiError as error:
        logger.warning("events: suggested prompts not set (%s)", error.response.get("error"))


def suggested_prompts(prompts: tuple[str, ...]) -> list[dict[str, str]]:
    """Slack's prompt buttons: a short title, and the whole prompt sent when clicked."""
    return [
        {"title": _shortened(prompt, PROMPT_TITLE_CHARS), "message": prompt} for prompt in prompts
    ]


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _is_direct_message(event: dict) -> bool:
    """A person's own message in a DM with the bot (not an edit, a join or a bot's)."""
    return (
        event.get("type") == "message"
        and event.get("channel_type") == "im"
        and not event.get("subtype")
        and not event.get("bot_id")
    )


def _is_channel_message(event: dict) -> bool:
    return event.get("type") == "message" and event.get("channel_type") != "im"


def _deleted_message(event: dict) -> MessageKey | None:
    """The message a deletion event is about, if it is one.

    Slack reports a deleted message as `message_deleted`, except a thread's parent with
    replies (a person's mention the bot answered in its thread), which becomes a `tombstone`
    through `message_changed`.
    """
    subtype = event.get("subtype")
    if subtype == "message_deleted" and event.get("deleted_ts"):
        return MessageKey("slack", event["channel"], event["deleted_ts"])
    changed = event.get("message") or {}
    if subtype == "message_changed" and changed.get("subtype") == "tombstone":
        return MessageKey("slack", event["channel"], changed["ts"])
    return None


async def _forget(core: ChatFace, message: MessageKey) -> None:
    try:
        await core.forgetting.message_deleted(message)
    except StorageUnavailable:
        logger.error("events: a message was deleted but storage is unavailable; its data stays")


async def _say_late(client: AsyncWebClient, message: Incoming) -> None:
    notice = f"_{escape(LATE_REPLY_NOTICE)}_"
    try:
        await client.chat_postMessage(
            channel=message.channel, thread_ts=message.thread_ts, text=notice
        )
    except Exception:
        logger.warning("events: could not say that the answer is late")


async def _end_with_apology(reply: StreamedThreadReply) -> None:
    try:
        await reply.fail(ANSWER_FAILED_APOLOGY)
    except Exception:
        logger.warning("events: could not finish the answer with an apology")
