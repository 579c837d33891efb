"""The `/finetune` slash command: acknowledged at once, answered after the ack."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import Services
from bot.commands.language import (
    ADMIN_COMMANDS,
    CommandError,
    ParsedCommand,
    parse_command,
    parse_start_options,
    usage_lines,
)
from bot.dataset import export_bytes
from bot.errors import REDIS_DOWN
from handlers.slack.blocks import (
    StatusSummary,
    build_help_block,
    build_models_blocks,
    build_report_blocks,
    build_status_blocks,
    status_text,
)
from handlers.slack.reporter import SlackJobReporter

logger = logging.getLogger(__name__)

STORAGE_DOWN = "I can't reach the bot's storage right now, so I can't do that. Try again shortly."
SOMETHING_FAILED = "Something went wrong on my side; the error is in the bot's log. Try again."
EMPTY_DATASET = (
    "The dataset is empty. React to a good bot reply with a curation emoji to add an example."
)
ADMINS_ONLY = "Only fine-tune admins (FINETUNE_ADMINS) can do that."


def register(app: AsyncApp, services: Services) -> None:
    settings = services.settings

    async def handle_finetune(ack: AsyncAck, command: dict, respond: AsyncRespond, client):
        # Ack first: Slack shows an error if a command isn't acknowledged within 3 seconds.
        await ack()
        try:
            parsed = parse_command(command.get("text", ""))
            if parsed.name in ADMIN_COMMANDS and not settings.is_admin(command["user_id"]):
                await respond(text=ADMINS_ONLY)
                return
            await run(parsed, command, respond, client)
        except CommandError as error:
            await respond(text="\n".join([str(error), "Usage:", *usage_lines()]))
        except REDIS_DOWN:
            await respond(text=STORAGE_DOWN)
        except Exception:
            logger.exception("commands: /finetune failed")
            await respond(text=SOMETHING_FAILED)

    async def run(parsed: ParsedCommand, command: dict, respond: AsyncRespond, client) -> None:
        user = command["user_id"]
        match parsed.name:
            case "help":
                await respond(text="/finetune commands", blocks=[build_help_block()])
            case "status":
                summary = await status_summary()
                await respond(text=status_text(summary), blocks=build_status_blocks(summary))
            case "export":
                await export(user, respond, client)
            case "validate":
                model = parse_start_options(parsed, settings.finetune_base_model, services.table)
                report = await services.finetuner.validate(model.model, model.epochs)
                await respond(text="Dataset check", blocks=build_report_blocks(report))
            case "start":
                options = parse_start_options(parsed, settings.finetune_base_model, services.table)
                answer = await services.finetuner.start(
                    options, user, command["channel_id"], SlackJobReporter(client)
                )
                await respond(text=answer)
            case "cancel":
                await respond(text=await services.finetuner.cancel())
                job_id = await services.jobs.active_job_id()
                if job_id:
                    await services.watcher.check(job_id)
            case "models":
                current = await services.switcher.current()
                history = await services.models.history()
                await respond(
                    text=f"Model in use: {current}", blocks=build_models_blocks(current, history)
                )
            case "use":
                if len(parsed.arguments) != 1:
                    raise CommandError("`use` needs exactly one model id.")
                await respond(text=await services.switcher.use(parsed.arguments[0], user))
            case "rollback":
                await respond(text=await services.switcher.rollback(user))

    async def status_summary() -> StatusSummary:
        stats = await services.examples.stats()
        model = await services.switcher.current()
        active_id = await services.jobs.active_job_id()
        return StatusSummary(
            stats.examples,
            stats.approx_tokens,
            model,
            is_fine_tuned=model.startswith("ft:"),
            active_job=await services.jobs.get(active_id) if active_id else None,
            finished_jobs=await services.jobs.finished(limit=3),
            warning=services.finetuner.lifecycle_warning(settings.finetune_base_model),
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
            filename=f"dataset-{settings.redis_prefix}-{stamp}.jsonl",
            title="Fine-tuning dataset",
            initial_comment=f"Here is the dataset: {count:,} examples in OpenAI chat JSONL.",
        )
        await respond(text=f"Sent you the dataset ({count:,} examples) in a direct message.")

    app.command("/finetune")(handle_finetune)
