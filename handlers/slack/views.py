"""Modal submissions: the corrected reply is saved, or the modal shows what to fix."""

from __future__ import annotations

import json
import logging

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.conversation.curation import (
    CORRECTION_NOT_SAVED,
    CORRECTION_SAVED,
    CorrectionRefused,
    correction_refusal,
)
from bot.errors import StorageUnavailable
from bot.faces import ChatFace
from handlers.slack.blocks import CORRECTION_BLOCK, CORRECTION_CALLBACK, CORRECTION_INPUT
from storage.schemas import MessageKey

logger = logging.getLogger(__name__)


def register(app: AsyncApp) -> None:
    app.view(CORRECTION_CALLBACK)(handle_correction_submitted)


async def handle_correction_submitted(
    ack: AsyncAck, body: dict, view: dict, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    core: ChatFace = context["core"]
    where = json.loads(view.get("private_metadata") or "{}")
    reply = MessageKey("slack", where.get("channel", ""), where.get("ts", ""))
    text = view["state"]["values"][CORRECTION_BLOCK][CORRECTION_INPUT].get("value") or ""
    user = body["user"]["id"]
    # Saved before the ack, so a problem can be shown next to the text box (inline errors).
    try:
        result = await core.curation.correct(reply, user, text)
    except CorrectionRefused as problem:
        await ack(response_action="errors", errors={CORRECTION_BLOCK: str(problem)})
        return
    except StorageUnavailable:
        await ack(response_action="errors", errors={CORRECTION_BLOCK: CORRECTION_NOT_SAVED})
        return
    if refusal := correction_refusal(result.outcome):
        await ack(response_action="errors", errors={CORRECTION_BLOCK: refusal})
        return
    await ack()
    try:
        await client.chat_postEphemeral(channel=reply.channel, user=user, text=CORRECTION_SAVED)
    except Exception:
        logger.exception("views: could not confirm a saved correction")
