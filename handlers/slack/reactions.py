"""Curation reactions in Slack: a reaction on a bot reply votes for or vetoes its example, and
the vote is saved before Slack gets its ack."""

from __future__ import annotations

import asyncio
import logging

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.conversation.curation import VOTE_NOT_SAVED
from bot.faces import ChatFace
from storage.schemas import MessageKey

logger = logging.getLogger(__name__)

REACTIONS = ("reaction_added", "reaction_removed")
# The save waits at most this long before the ack, so Slack's 3 s limit holds even when Redis
# hangs or the process is saturated; the save itself goes on after the ack.
VOTE_SAVE_SECONDS = 1.5


def register(app: AsyncApp) -> None:
    for reaction in REACTIONS:
        app.event(reaction, middleware=[save_vote_before_ack])(handle_reaction)


async def save_vote_before_ack(event: dict, context: AsyncBoltContext, next) -> BoltResponse | None:
    # Slack never redelivers an event it saw acknowledged, and a process can die right after the
    # ack: so the vote is saved first, and a 200 means it is in Redis or the person is told it is
    # not (by the listener, after the ack). A save still running at the deadline is a saturated
    # process, not a failure: the ack goes and the save goes on.
    saving = asyncio.ensure_future(save_vote(event, context))
    await asyncio.wait({saving}, timeout=VOTE_SAVE_SECONDS)
    context["vote_saving"] = saving
    return await next()


async def save_vote(event: dict, context: AsyncBoltContext) -> bool | None:
    """True when saved, False when storage failed, None when this is not a judgement."""
    core: ChatFace = context["core"]
    judgement = _judgement(event, context, core)
    if judgement is None:
        return None
    reply = MessageKey("slack", event["item"]["channel"], event["item"]["ts"])
    added = event["type"] == "reaction_added"
    return await core.votes.take(reply, event["user"], judgement, added, event.get("event_ts", "0"))


async def handle_reaction(event: dict, context: AsyncBoltContext, client: AsyncWebClient):
    if await context["vote_saving"] is False:
        await _tell_vote_not_saved(client, event)


def _judgement(event: dict, context: AsyncBoltContext, core: ChatFace) -> str | None:
    """ "vote" or "veto" for a reaction that judges a bot reply, else None."""
    # Only replies the bot wrote can be turns; other messages are not ours to curate, and the
    # bot's own reactions are not anybody's judgement.
    if event.get("item", {}).get("type") != "message" or event.get("user") == context.bot_user_id:
        return None
    if event.get("item_user") != context.bot_user_id:
        return None
    # Skin tones (`+1::skin-tone-3`) are the same emoji.
    emoji = event.get("reaction", "").split("::")[0]
    settings = core.settings
    if emoji in settings.curate_reactions:
        return "vote"
    return "veto" if emoji in settings.reject_reactions else None


async def _tell_vote_not_saved(client: AsyncWebClient, event: dict) -> None:
    try:
        await client.chat_postEphemeral(
            channel=event["item"]["channel"], user=event["user"], text=VOTE_NOT_SAVED
        )
    except Exception:
        logger.exception("events: could not tell the person their vote was not saved")
