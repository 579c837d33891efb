"""The 👍/👎 feedback buttons under each reply, and the "what was wrong?" box after a 👎."""

from __future__ import annotations

import json
import logging

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.conversation.curation import OPT_OUT_REFUSALS, Outcome
from bot.errors import StorageUnavailable
from bot.faces import ChatFace
from handlers.slack.blocks import (
    BAD,
    FEEDBACK_ACTION,
    GOOD,
    VETO_REASON_BLOCK,
    VETO_REASON_CALLBACK,
    VETO_REASON_INPUT,
    build_veto_reason_modal,
)
from storage.schemas import MessageKey

logger = logging.getLogger(__name__)

FEEDBACK_NOT_SAVED = (
    "I couldn't save your feedback because storage is unavailable right now. "
    "Please click again in a minute."
)
REFUSALS = {
    Outcome.NOT_A_TURN: "That reply is no longer recorded (turns expire), so it can't be judged.",
    Outcome.NOT_CURATED: "Replies in this channel aren't curated (CURATE_CHANNELS).",
    **OPT_OUT_REFUSALS,
}
REASON_NOT_SAVED = "I couldn't save this because storage is unavailable; try again in a minute."


def first_vote_confirmation(votes: int) -> str:
    counted = f"{votes} vote{'s' if votes != 1 else ''}"
    return (
        f"Thanks: your 👍 counts as a vote, so this conversation is a training example "
        f"({counted} so far). Click 👍 again to take it back; 👎 keeps a reply out of training."
    )


def register(app: AsyncApp) -> None:
    app.action(FEEDBACK_ACTION)(handle_feedback)
    app.view(VETO_REASON_CALLBACK)(handle_veto_reason)


async def handle_feedback(
    ack: AsyncAck, body: dict, action: dict, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    # The trigger_id for the "what was wrong?" box is good for 3 s: ack first.
    await ack()
    core: ChatFace = context["core"]
    button, at = action.get("value"), action.get("action_ts", "0")
    if button not in (GOOD, BAD):
        return
    user = body["user"]["id"]
    message = body.get("message") or {}
    reply = MessageKey("slack", body["channel"]["id"], body["container"]["message_ts"])
    thread_ts = message.get("thread_ts")
    try:
        result = await core.curation.feedback(reply, user, button, at)
    except StorageUnavailable:
        logger.warning("feedback: click not saved, storage unavailable")
        await _tell(client, reply, user, thread_ts, FEEDBACK_NOT_SAVED)
        return
    if result.outcome is Outcome.VETOED:
        metadata = json.dumps({"channel": reply.channel, "ts": reply.id, "at": at})
        modal = build_veto_reason_modal(metadata)
        await client.views_open(trigger_id=body["trigger_id"], view=modal)
    elif result.outcome is Outcome.ADDED and result.first_vote:
        await _tell(client, reply, user, thread_ts, first_vote_confirmation(result.votes))
    elif result.outcome in REFUSALS:
        await _tell(client, reply, user, thread_ts, REFUSALS[result.outcome])


async def handle_veto_reason(
    ack: AsyncAck, body: dict, view: dict, context: AsyncBoltContext
) -> None:
    core: ChatFace = context["core"]
    where = json.loads(view.get("private_metadata") or "{}")
    reply = MessageKey("slack", where.get("channel", ""), where.get("ts", ""))
    reason = view["state"]["values"][VETO_REASON_BLOCK][VETO_REASON_INPUT].get("value") or ""
    if not reason.strip():
        await ack()
        return
    try:
        kept = await core.curation.explain_veto(
            reply, body["user"]["id"], where.get("at", "0"), reason
        )
    except StorageUnavailable:
        await ack(response_action="errors", errors={VETO_REASON_BLOCK: REASON_NOT_SAVED})
        return
    if not kept:
        logger.info("feedback: a reason came for a veto that no longer stands")
    await ack()


async def _tell(
    client: AsyncWebClient, reply: MessageKey, user: str, thread_ts: str | None, text: str
) -> None:
    try:
        await client.chat_postEphemeral(
            channel=reply.channel, user=user, text=text, thread_ts=thread_ts
        )
    except Exception:
        logger.exception("feedback: could not tell the person about their click")
