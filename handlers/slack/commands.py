"""The `/finetune` slash command: acknowledged at once, run by the core, rendered as blocks."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import results, wording
from bot.commands.language import usage_lines
from bot.commands.service import SOMETHING_FAILED
from bot.dataset.validation import DatasetReport
from bot.faces import ChatFace
from handlers.slack.blocks import (
    build_help_block,
    build_models_blocks,
    build_report_blocks,
    build_status_blocks,
    status_text,
)
from handlers.slack.escaping import escape, escape_sentence, escaped
from handlers.slack.uploads import upload_file

logger = logging.getLogger(__name__)


def register(app: AsyncApp) -> None:
    app.command("/finetune")(handle_finetune)


async def handle_finetune(
    ack: AsyncAck,
    command: dict,
    respond: AsyncRespond,
    client: AsyncWebClient,
    context: AsyncBoltContext,
) -> None:
    # Ack first: Slack shows an error if a command isn't acknowledged within 3 seconds. The
    # command then waits its turn with the answers, so a burst of them can't delay others' acks.
    await ack()
    core: ChatFace = context["core"]

    async def run(_waited: float) -> None:
        user = command["user_id"]
        is_admin = core.settings.is_admin(user)
        channel = command["channel_id"]
        caller = results.Caller("slack", user, is_admin, channel, context["place"])
        result = await core.commands.run_text(command.get("text", ""), caller)
        try:
            await _show(result, caller, respond, client, core.settings.finetune_admins)
        except Exception:
            logger.exception("commands: could not show the /finetune answer")
            await respond(text=SOMETHING_FAILED)

    core.answers.submit(run)


async def _show(
    result: results.CommandResult,
    caller: results.Caller,
    respond: AsyncRespond,
    client: AsyncWebClient,
    admins: frozenset[str],
) -> None:
    """The answer, escaped: it echoes what was typed (a model name, a prompt) and what
    providers said. Only the bot's own mentions of the caller, the admins (who started a job)
    and this channel stay mentions."""
    match result:
        case results.Sentence(text):
            people = {caller.user, *admins}
            await respond(text=escape_sentence(text, people=people, channels=[caller.channel]))
        case results.Help(problem=None):
            await respond(text="/finetune commands", blocks=[build_help_block()])
        case results.Help(problem):
            await respond(text=escape("\n".join([problem, "Usage:", *usage_lines()])))
        case results.StatusSummary():
            await respond(text=status_text(result), blocks=build_status_blocks(result))
        case DatasetReport():
            await respond(text="Dataset check", blocks=build_report_blocks(result))
        case results.ModelList(current, history, records):
            await respond(
                text=f"Model in use: {escape(current)}",
                blocks=build_models_blocks(current, history, records),
            )
        case results.ProviderList():
            await respond(text="\n".join(wording.provider_lines(escaped(result))))
        case results.DatasetFile():
            await _send_privately(result, caller.user, client)
            await respond(text=f"Sent you {wording.file_contents(result)} in a direct message.")


async def _send_privately(file: results.DatasetFile, user: str, client: AsyncWebClient) -> None:
    # A DM keeps the file with the person who asked, not the whole channel.
    try:
        dm = await client.conversations_open(users=user)
        await upload_file(
            client,
            file.path,
            size=file.size,
            channel=dm["channel"]["id"],
            filename=file.filename,
            title="Fine-tuning dataset",
            initial_comment=f"Here it is: {wording.file_contents(file)}.",
        )
    finally:
        file.discard()
