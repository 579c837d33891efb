"""App Home: each person's view of the model, the dataset and the jobs, published when they
open it and after every button. Admin buttons run the same core commands as `/finetune`, so a
press from a non-admin (a forged payload) is refused exactly like the typed command."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands.language import ParsedCommand
from bot.commands.results import Caller, CommandResult, Help, Sentence
from bot.commands.service import ADMINS_ONLY, STORAGE_DOWN
from bot.errors import REDIS_DOWN
from bot.faces import ChatFace
from handlers.slack.escaping import escape_sentence
from handlers.slack.home_view import (
    COMPARE_CALLBACK,
    HOME_CANCEL,
    HOME_COMPARE,
    HOME_ROLLBACK,
    HOME_START,
    START_CALLBACK,
    build_compare_modal,
    build_home_view,
    build_start_modal,
    start_options,
)

logger = logging.getLogger(__name__)


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(handle_home_opened)
    app.action(HOME_START)(handle_start_pressed)
    app.action(HOME_CANCEL)(command_button("cancel"))
    app.action(HOME_ROLLBACK)(command_button("rollback"))
    app.action(HOME_COMPARE)(handle_compare_pressed)
    app.view(START_CALLBACK)(handle_start_submitted)
    app.view(COMPARE_CALLBACK)(handle_compare_submitted)


async def handle_home_opened(event: dict, client: AsyncWebClient, context: AsyncBoltContext):
    if event.get("tab") == "home":
        await publish_home(client, context["core"], event["user"])


async def publish_home(
    client: AsyncWebClient,
    core: ChatFace,
    user: str,
    notice: str | None = None,
    *,
    channel: str | None = None,
) -> None:
    """`notice`: a sentence from the core, shown escaped; it may mention `user`, the admins and
    `channel` (where a job reports), nobody else."""
    if notice:
        people = {user, *core.settings.finetune_admins}
        notice = escape_sentence(notice, people=people, channels=[channel])
    try:
        overview = await core.commands.overview()
    except REDIS_DOWN:
        logger.warning("home: storage unavailable, Home not refreshed")
        return
    view = build_home_view(overview, is_admin=core.settings.is_admin(user), notice=notice)
    try:
        await client.views_publish(user_id=user, view=view)
    except SlackApiError as error:
        logger.warning("home: not published (%s)", error.response.get("error"))


def command_button(name: str):
    """A Home button that runs `/finetune <name>`, then shows the answer on the Home."""

    async def handle(ack: AsyncAck, body: dict, client: AsyncWebClient, context: AsyncBoltContext):
        await ack()
        core: ChatFace = context["core"]
        user = body["user"]["id"]
        caller = Caller("slack", user, core.settings.is_admin(user), "")
        result = await core.commands.run(ParsedCommand(name), caller)
        await publish_home(client, core, user, _sentence(result))

    return handle


async def handle_start_pressed(
    ack: AsyncAck, body: dict, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    core: ChatFace = context["core"]
    user = body["user"]["id"]
    if not await _admin(client, core, user):
        return
    settings = core.settings
    names = core.commands.base_model_names()
    providers = (core.commands.training_provider_names(), core.commands.default_training_provider)
    # Open at once (the trigger lasts 3 s), then fill in the estimate, which can take longer.
    opened = await client.views_open(
        trigger_id=body["trigger_id"],
        view=build_start_modal(None, names, settings.finetune_base_model, checking=True),
    )
    try:
        report = await core.commands.estimate()
    except REDIS_DOWN:
        await publish_home(client, core, user, STORAGE_DOWN)
        return
    await client.views_update(
        view_id=opened["view"]["id"],
        view=build_start_modal(report, names, settings.finetune_base_model, providers=providers),
    )


async def handle_start_submitted(
    ack: AsyncAck, body: dict, view: dict, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    core: ChatFace = context["core"]
    user = body["user"]["id"]
    options, channel = start_options(view["state"]["values"])
    if errors := core.commands.start_option_errors(options):
        await ack(response_action="errors", errors=errors)
        return
    await ack()
    if not channel:
        channel = (await client.conversations_open(users=user))["channel"]["id"]
    caller = Caller("slack", user, core.settings.is_admin(user), channel)
    if caller.is_admin:  # a forged form from anyone else is refused by the command itself
        starting = f"Starting the job; its progress shows in <#{channel}>."
        await publish_home(client, core, user, starting, channel=channel)
    result = await core.commands.run(ParsedCommand("start", options), caller)
    await publish_home(client, core, user, _sentence(result), channel=channel)


async def handle_compare_pressed(
    ack: AsyncAck, body: dict, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    core: ChatFace = context["core"]
    user = body["user"]["id"]
    if await _admin(client, core, user):
        await client.views_open(trigger_id=body["trigger_id"], view=build_compare_modal())


async def handle_compare_submitted(
    ack: AsyncAck, body: dict, view: dict, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    core: ChatFace = context["core"]
    user = body["user"]["id"]
    options, channel = start_options(view["state"]["values"])
    prompt = view["state"]["values"]["prompt"]["value"].get("value") or ""
    chosen = {key: options[key] for key in ("model", "provider") if key in options}
    caller = Caller("slack", user, core.settings.is_admin(user), channel or "")
    if not caller.is_admin:
        # The form opens for admins only; a forged or stale submission would post into any
        # channel it names, so it is checked again here.
        await publish_home(client, core, user, ADMINS_ONLY)
        return
    result = await core.commands.run(ParsedCommand("compare", chosen, [prompt]), caller)
    await publish_home(client, core, user, _sentence(result))


async def _admin(client: AsyncWebClient, core: ChatFace, user: str) -> bool:
    """A button that opens an admin's form: anyone else sees the refusal on their Home."""
    if core.settings.is_admin(user):
        return True
    await publish_home(client, core, user, ADMINS_ONLY)
    return False


def _sentence(result: CommandResult) -> str:
    match result:
        case Sentence(text) | Help(problem=str(text)):
            return text
    return "Done."
