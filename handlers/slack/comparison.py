"""Comparisons in Slack: each pair of answers as a message with A / B / Same buttons, the gate's
announcements with the admins' promote button, and the clicks on both."""

from __future__ import annotations

import logging
import re

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands.results import Caller
from bot.comparison.views import PICK_LABELS, WITHDRAWN, answer_figures, pair_view
from bot.faces import ChatFace
from handlers.slack.blocks import button, confirmation, context, section
from handlers.slack.escaping import acting_for, escape, escape_sentence, escape_within, escaped
from storage.comparisons import ComparedPair, Comparison

logger = logging.getLogger(__name__)

PICK = re.compile(r"^compare_pick_(a|b|same|bad)$")
PROMOTE = "compare_promote"
ANSWER_MAX_CHARS = 2800  # a section holds 3,000 characters
PROMPT_MAX_CHARS = 600


def register(app: AsyncApp) -> None:
    app.action(PICK)(handle_pick)
    app.action(PROMOTE)(handle_promote)


class SlackComparisonReporter:
    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def show_pair(self, comparison: Comparison, pair: ComparedPair, number: int) -> str:
        posted = await self._client.chat_postMessage(
            channel=comparison.channel,
            thread_ts=comparison.thread_id,
            text="Which answer is better, A or B?",
            blocks=build_pair_blocks(comparison, pair, number),
        )
        return posted["ts"]

    async def withdraw_pair(self, comparison: Comparison, pair: ComparedPair) -> None:
        # The bot's own message, edited to say why it is empty: no text of it stays in Slack.
        try:
            await self._client.chat_update(
                channel=comparison.channel, ts=pair.message_id, text=WITHDRAWN, blocks=[]
            )
        except SlackApiError as error:
            logger.warning(
                "compare: a removed pair was not taken down (%s)", error.response.get("error")
            )

    async def announce(self, comparison: Comparison, text: str, *, promote: bool = False) -> None:
        # It names models and may carry a provider's error; of people, it mentions only who
        # asked for the comparison or who pressed the button that made it say this.
        text = escape_sentence(text, people=[comparison.asked_by])
        blocks = [section(text)]
        if promote:
            blocks.append(promote_button(comparison))
        try:
            await self._client.chat_postMessage(
                channel=comparison.channel, thread_ts=comparison.thread_id, text=text, blocks=blocks
            )
        except SlackApiError as error:
            logger.warning("compare: announcement not posted (%s)", error.response.get("error"))


def build_pair_blocks(comparison: Comparison, pair: ComparedPair, number: int) -> list[dict]:
    """Both answers, labelled A and B in the pair's stored order, and the pick buttons. The
    prompt, the answers and the providers' errors are shown escaped, as written."""
    view = pair_view(comparison, pair, number)
    asked = escape_within(view.asked, PROMPT_MAX_CHARS)
    blocks = [section(f"*{escape(view.title)}*\n> {asked}")]
    for label, answer in view.sides:
        text = escape_within(answer.text, ANSWER_MAX_CHARS) if answer.text else "—"
        blocks += [section(f"*{label}*\n{text}"), context(answer_figures(escaped(answer)))]
    if view.judge:
        blocks.append(context(escape(view.judge)))
    buttons = [
        button(words, f"compare_pick_{pick}", value=pair.id) for pick, words in PICK_LABELS.items()
    ]
    blocks.append({"type": "actions", "block_id": f"compare-{pair.id}", "elements": buttons})
    return blocks


def promote_button(comparison: Comparison) -> dict:
    promote = button(
        f"Promote {comparison.candidate_model}"[:75],
        PROMOTE,
        value=comparison.id,
        style="primary",
        confirm=confirmation(
            "Promote the new model?", "Everyone gets its answers from now on.", "Promote", "Not yet"
        ),
    )
    return {"type": "actions", "block_id": "compare-promote", "elements": [promote]}


async def handle_pick(
    ack: AsyncAck, body: dict, action: dict, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    core: ChatFace = context["core"]
    pick = PICK.match(action["action_id"])[1]
    user = body["user"]["id"]
    text = await core.commands.pick(action["value"], _caller(body, core), pick)
    await _tell(client, body, user, text, core)


async def handle_promote(
    ack: AsyncAck, body: dict, action: dict, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    core: ChatFace = context["core"]
    user = body["user"]["id"]
    # The button is shown to a channel: anyone can press it, the core lets admins promote.
    with acting_for(user):  # the thread hears "<@user> promoted …"
        text = await core.commands.promote(action["value"], _caller(body, core))
    await _tell(client, body, user, text, core)


def _caller(body: dict, core: ChatFace) -> Caller:
    user = body["user"]["id"]
    channel = (body.get("channel") or {}).get("id", "")
    return Caller("slack", user, core.settings.is_admin(user), channel)


async def _tell(client: AsyncWebClient, body: dict, user: str, text: str, core: ChatFace) -> None:
    message = body.get("message") or {}
    text = escape_sentence(text, people={user, *core.settings.finetune_admins})
    try:
        await client.chat_postEphemeral(
            channel=body["channel"]["id"], user=user, text=text, thread_ts=message.get("thread_ts")
        )
    except SlackApiError as error:
        logger.warning("compare: could not answer a click (%s)", error.response.get("error"))
