"""The `/finetune` slash command: acknowledged at once, answered after the ack."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import Services
from bot.commands import CommandError, ParsedCommand, parse_command, usage_lines
from bot.dataset import export_bytes
from bot.errors import REDIS_DOWN
from handlers.slack.blocks import StatusSummary, build_help_block, build_status_blocks, status_text

logger = logging.getLogger(__name__)

STORAGE_DOWN = "I can't reach the bot's storage right now, so I can't do that. Try again shortly."
SOMETHING_FAILED = "Something went wrong on my side; the error is in the bot's log. Try again."
EMPTY_DATASET = (
    "The dataset is empty. React to a good bot reply with a curation emoji to add an example."
)


def register(app: AsyncApp, services: Services) -> None:
    async def handle_finetune(ack: AsyncAck, command: dict, respond: AsyncRespond, client):
        # Ack first: Slack shows an error if a command isn't acknowledged within 3 seconds.
        await ack()
        try:
            parsed = parse_command(command.get("text", ""))
        except CommandError as error:
            await respond(text="\n".join([str(error), "Usage:", *usage_lines()]))
            return
        try:
            await run(parsed, command, respond, client)
        except REDIS_DOWN:
            await respond(text=STORAGE_DOWN)
        except Exception:
            logger.exception("commands: /finetune %s failed", parsed.name)
            await respond(text=SOMETHING_FAILED)

    async def run(parsed: ParsedCommand, command: dict, respond: AsyncRespond, client) -> None:
        if parsed.name == "help":
            await respond(text="/finetune commands", blocks=[build_help_block()])
        elif parsed.name == "status":
            summary = await status_summary()
            await respond(text=status_text(summary), blocks=build_status_blocks(summary))
        elif parsed.name == "export":
            await export(command["user_id"], respond, client)

    async def status_summary() -> StatusSummary:
        stats = await services.examples.stats()
        model = await services.active_model_name()
        return StatusSummary(
            stats.examples, stats.approx_tokens, model, is_fine_tuned=model.startswith("ft:")
        )

    async def export(user_id: str, respond: AsyncRespond, client: AsyncWebClient) -> None:
        content, count = await export_bytes(services.examples)
        if count == 0:
            await respond(text=EMPTY_DATASET)
            return
        # A DM keeps the file with the person who asked, not the whole channel.
        dm = await client.conversations_open(users=user_id)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
        await client.files_upload_v2(
            channel=dm["channel"]["id"],
            content=content,
            filename=f"dataset-{services.settings.redis_prefix}-{stamp}.jsonl",
            title="Fine-tuning dataset",
            initial_comment=f"Here is the dataset: {count:,} examples in OpenAI chat JSONL.",
        )
        await respond(text=f"Sent you the dataset ({count:,} examples) in a direct message.")

    app.command("/finetune")(handle_finetune)
