"""Message shortcuts: "Improve this reply" on a bot reply opens the correction modal."""

from __future__ import annotations

import json
import logging

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.conversation.curation import NOT_A_REPLY
from bot.errors import StorageUnavailable
from bot.faces import ChatFace
from handlers.slack.blocks import CORRECTION_CALLBACK, CORRECTION_MAX_CHARS, build_correction_modal
from storage.schemas import MessageKey

logger = logging.getLogger(__name__)

TOO_LONG_TO_EDIT = (
    "This reply is longer than Slack's 3,000-character text box, so it can't be edited here."
)
STORAGE_DOWN = "I can't reach my storage right now, so I can't open the correction. Try again soon."


def register(app: AsyncApp) -> None:
    app.shortcut(CORRECTION_CALLBACK)(handle_improve_reply)


async def handle_improve_reply(
    ack: AsyncAck,
    shortcut: dict,
    client: AsyncWebClient,
    respond: AsyncRespond,
    context: AsyncBoltContext,
) -> None:
    # The trigger_id is good for 3 s: ack at once, then open the modal straight away.
    await ack()
    core: ChatFace = context["core"]
    message = shortcut.get("message") or {}
    reply = MessageKey("slack", shortcut["channel"]["id"], message.get("ts", ""))
    # Only the bot's own replies can be turns; other messages are not ours to correct.
    if message.get("user") != context.bot_user_id and not message.get("bot_id"):
        await respond(text=NOT_A_REPLY, response_type="ephemeral")
        return
    try:
        draft = await core.curation.correction_draft(reply)
    except StorageUnavailable:
        await respond(text=STORAGE_DOWN, response_type="ephemeral")
        return
    if draft is None:
        await respond(text=NOT_A_REPLY, response_type="ephemeral")
        return
    if len(draft) > CORRECTION_MAX_CHARS:
        await respond(text=TOO_LONG_TO_EDIT, response_type="ephemeral")
        return
    metadata = json.dumps({"channel": reply.channel, "ts": reply.id})
    await client.views_open(
        trigger_id=shortcut["trigger_id"], view=build_correction_modal(draft, metadata)
    )
