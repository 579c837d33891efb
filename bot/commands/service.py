"""What each `/finetune` command does, for every front end: parsed command in, result out.

Front ends parse (or build) the command, say who asked and whether they are an admin, and
render the result. Failures come back as one calm sentence; the details go to the log.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Protocol

from bot.commands.language import (
    ADMIN_COMMANDS,
    CommandError,
    ParsedCommand,
    parse_command,
    parse_export_kind,
    parse_migrate,
    parse_start_options,
    parse_use,
)
from bot.commands.providers import list_providers
from bot.commands.results import (
    Caller,
    CommandResult,
    DatasetFile,
    Help,
    ModelList,
    Overview,
    ProviderList,
    Sentence,
    StatusSummary,
)
from bot.commands.wording import forgotten_words
from bot.comparison.compare import Comparer
from bot.config import Settings, SettingsError
from bot.conversation.forgetting import Forgetting
from bot.dataset.export import Dataset
from bot.dataset.validation import DatasetReport
from bot.errors import REDIS_DOWN, Refused
from bot.providers.lifecycle import Lifecycle
from bot.providers.migration import Migrations
from bot.providers.registry import ProviderError, Providers
from bot.spending import Spending
from bot.training.finetune import FineTuner
from bot.training.ledger import Ledger
from bot.training.model_switch import ModelSwitcher
from bot.training.policy import TrainingPolicy
from bot.training.watcher import JobWatcher
from storage.comparisons import Pick
from storage.jobs import JobRecord, JobStore
from storage.models import ModelStore

logger = logging.getLogger(__name__)

STORAGE_DOWN = "I can't reach the bot's storage right now, so I can't do that. Try again shortly."
SOMETHING_FAILED = "Something went wrong on my side; the error is in the bot's log. Try again."
EMPTY_DATASET = (
    "The dataset is empty. React to a good bot reply with a curation emoji to add an example."
)
NO_PAIRS = (
    "There are no preference pairs yet. Improve a bot reply (the message's \"Improve this "
    'reply" action) to make one.'
)
ADMINS_ONLY = "Only fine-tune admins can do that; ask one of them, or see `/finetune help`."
EXPORT_ADMINS_ONLY = (
    "Only fine-tune admins can export the dataset here (EXPORT_ACCESS=admins): it holds every "
    "approved conversation, direct messages with me included."
)


class TeamDesk(Protocol):
    """What a team's admins change of it from the chat (bot/teams.py): links between places,
    and its settings. Each returns the sentence to show."""

    async def offer(self, place: str) -> str: ...

    async def join(self, place: str, code: str) -> str: ...

    async def settings_of(self, place: str) -> str: ...

    async def change_settings(
        self, place: str, prompt: str | None, emoji: str | None, reset: bool
    ) -> str: ...


class CommandService:
    def __init__(
        self,
        settings: Settings,
        providers: Providers,
        finetuner: FineTuner,
        switcher: ModelSwitcher,
        watcher: JobWatcher,
        dataset: Dataset,
        forgetting: Forgetting,
        jobs: JobStore,
        models: ModelStore,
        comparer: Comparer,
        migrations: Migrations,
        lifecycle: Lifecycle,
        spending: Spending,
        policy: TrainingPolicy,
        ledger: Ledger,
    ) -> None:
        self._policy = policy
        self._ledger = ledger
        self._spending = spending
        self._comparer = comparer
        self._providers = providers
        self._migrations = migrations
        self._lifecycle = lifecycle
        self._settings = settings
        self._finetuner = finetuner
        self._switcher = switcher
        self._watcher = watcher
        self._dataset = dataset
        self._forgetting = forgetting
        self._jobs = jobs
        self._models = models
        # TEAMS=many: the teams (links, each team's settings); set by bot/teams.py.
        self.teams: TeamDesk | None = None

    async def run_text(self, text: str, caller: Caller) -> CommandResult:
        """Run a command as typed (`start model=gpt-4.1-mini epochs=3`)."""
        try:
            command = parse_command(text)
        except CommandError as error:
            return Help(problem=str(error))
        return await self.run(command, caller)

    async def run(self, command: ParsedCommand, caller: Caller) -> CommandResult:
        if command.name in ADMIN_COMMANDS and not caller.is_admin:
            return Sentence(ADMINS_ONLY, refused=True)
        if command.name == "export" and not self._may_read_dataset(caller):
            return Sentence(EXPORT_ADMINS_ONLY, refused=True)
        try:
            return await self._run(command, caller)
        except CommandError as error:
            return Help(problem=str(error))
        except (ProviderError, Refused) as error:
            return Sentence(str(error), refused=True)
        except REDIS_DOWN:
            return Sentence(STORAGE_DOWN, refused=True)
        except Exception:
            logger.exception("commands: /finetune %s failed", command.name)
            return Sentence(SOMETHING_FAILED, refused=True)

    async def _link(self, command: ParsedCommand, caller: Caller) -> str:
        if self.teams is None:
            raise Refused(
                "Everything this bot serves is one team already (TEAMS=one): there is nothing "
                "to link."
            )
        if not caller.place:
            raise Refused("Link from a channel of the workspace or server, not from a DM.")
        if not command.arguments:
            return await self.teams.offer(caller.place)
        if len(command.arguments) > 1:
            raise CommandError("`link` takes one code.")
        return await self.teams.join(caller.place, command.arguments[0])

    async def _team_settings(self, command: ParsedCommand, caller: Caller) -> str:
        if self.teams is None:
            raise Refused(
                "Here the operator sets the system prompt and the emoji (SYSTEM_PROMPT, "
                "CURATE_REACTIONS); teams set their own with TEAMS=many."
            )
        if not caller.place:
            raise Refused("Change settings from a channel of the workspace or server.")
        if unknown := sorted(set(command.options) - {"prompt", "emoji"}):
            raise CommandError(f"`settings` has no option `{unknown[0]}`.")
        prompt, emoji = command.options.get("prompt"), command.options.get("emoji")
        words = [word.lower() for word in command.arguments]
        if words not in ([], ["reset"]):
            raise CommandError("`settings` takes `prompt=…`, `emoji=…` or `reset`.")
        if prompt is None and emoji is None and not words:
            return await self.teams.settings_of(caller.place)
        if not caller.is_admin:
            raise Refused(ADMINS_ONLY)
        return await self.teams.change_settings(caller.place, prompt, emoji, bool(words))

    def _may_read_dataset(self, caller: Caller) -> bool:
        """EXPORT_ACCESS: the dataset holds every approved conversation, DMs with the bot and
        other front ends' included, so by default only admins take it out of the chat (the
        operator's terminal always may)."""
        return self._settings.export_access == "everyone" or caller.is_admin

    async def _run(self, command: ParsedCommand, caller: Caller) -> CommandResult:
        default_model = self._settings.finetune_base_model
        match command.name:
            case "help":
                return Help()
            case "link":
                return Sentence(await self._link(command, caller))
            case "settings":
                return Sentence(await self._team_settings(command, caller))
            case "status":
                return await self.status()
            case "export":
                return await self.export(parse_export_kind(command))
            case "forget-me":
                return Sentence(forgotten_words(await self._forgetting.forget_person(caller.user)))
            case "include-me":
                was_out = await self._forgetting.include_person(caller.user)
                return Sentence(
                    "Your conversations can become examples again; what was removed stays removed."
                    if was_out
                    else "Your conversations already can become examples; nothing changed."
                )
            case "validate":
                options = parse_start_options(command, default_model, self._providers)
                return await self._finetuner.validate(
                    options.model, options.epochs, options.method, options.provider
                )
            case "start":
                # The terminal chats without a training key; a job needs one.
                try:
                    self._settings.require("training")
                except SettingsError as missing:
                    return Sentence(f"{missing}; set it to start a job. Nothing was started.")
                options = parse_start_options(command, default_model, self._providers)
                outcome = await self._finetuner.start(
                    options, caller.user, caller.platform, caller.channel
                )
                return Sentence(outcome.text, outcome.job_id)
            case "cancel":
                answer = await self._finetuner.cancel()
                job_id = await self._jobs.active_job_id()
                if job_id:
                    await self._watcher.check(job_id)
                return Sentence(answer)
            case "models":
                return ModelList(
                    await self._switcher.current(),
                    await self._models.history(),
                    await self._comparer.records(),
                )
            case "use":
                model, provider = parse_use(command)
                answer = await self._switcher.use(model, caller.user, provider)
                await self._comparer.promoted_by_hand(model)
                return Sentence(answer)
            case "compare":
                return await self._compare(command, caller)
            case "rollback":
                return Sentence(await self._switcher.rollback(caller.user))
            case "providers":
                return await self.providers()
            case "policy":
                if not (command.options or command.arguments):
                    return Sentence(f"Training policy: {await self._policy.line()}.")
                if not caller.is_admin:
                    return Sentence(ADMINS_ONLY, refused=True)
                words = [word.lower() for word in command.arguments]
                return Sentence(await self._policy.change(command.options, words))
            case "ledger":
                return Sentence("\n".join(await self._ledger.lines()))
            case "migrate":
                only_estimate, provider, model = parse_migrate(command)
                if only_estimate:
                    return Sentence(await self._migrations.estimate(provider, model))
                answer = await self._migrations.migrate(
                    caller.user, caller.platform, caller.channel, provider=provider, model=model
                )
                return Sentence(answer, await self._jobs.lock_holder())
        raise CommandError(f"I don't know the command `{command.name}`.")

    async def _compare(self, command: ParsedCommand, caller: Caller) -> Sentence:
        prompt = " ".join(command.arguments).strip()
        if not prompt:
            raise CommandError("Write what to ask both models: `compare <prompt>`.")
        if len(prompt) > self._settings.max_message_chars:
            raise CommandError(f"That prompt is longer than {self._settings.max_message_chars:,}.")
        unknown = sorted(set(command.options) - {"model", "provider"})
        if unknown:
            raise CommandError(f"`{unknown[0]}` is not an option of compare (model, provider).")
        compared = await self._comparer.adhoc(
            prompt,
            caller.user,
            caller.platform,
            caller.channel,
            command.options.get("model"),
            command.options.get("provider"),
            is_admin=caller.is_admin,
        )
        if isinstance(compared, str):
            return Sentence(compared)
        return Sentence(
            f"Both answers are posted for everyone to pick: `{compared.current_model}` (in use) "
            f"and `{compared.candidate_model}`, as A and B in a random order."
        )

    async def pick(self, pair_id: str, caller: Caller, pick: Pick) -> str:
        """A press of A, B or Same on a compared pair; what the person is told."""
        try:
            return (await self._comparer.pick(pair_id, caller.user, pick)).text
        except REDIS_DOWN:
            return STORAGE_DOWN

    async def promote(self, comparison_id: str, caller: Caller) -> str:
        """The Promote button under a comparison: anyone sees it, admins only promote, on
        every front end the same way."""
        if not caller.is_admin:
            return ADMINS_ONLY
        try:
            comparison = await self._comparer.get(comparison_id)
            if comparison is None:
                return "That comparison is no longer stored."
            return await self._comparer.promote(comparison, by=caller.user)
        except REDIS_DOWN:
            return STORAGE_DOWN

    async def estimate(self) -> DatasetReport:
        """The dataset checked and priced at the default options (the start form shows it)."""
        return await self._finetuner.validate(self._settings.finetune_base_model)

    async def active_job_id(self) -> str | None:
        return await self._jobs.active_job_id()

    async def job(self, job_id: str) -> JobRecord | None:
        """A job brought up to date with its provider (the terminal follows one this way)."""
        return await self._watcher.check(job_id)

    async def status(self) -> StatusSummary:
        counts = await self._dataset.counts()
        current = await self._switcher.current_ref()
        swap = await self._models.active()
        active_id = await self._jobs.active_job_id()
        warnings = [
            await self._migrations.warning(),
            await self._migrations.configured_warning(),
            self._finetuner.lifecycle_warning(self._settings.finetune_base_model),
        ]
        return StatusSummary(
            counts.in_set,
            counts.approx_tokens,
            current.model,
            is_fine_tuned=bool(swap and swap.job_id) or current.model.startswith("ft:"),
            model_provider=self._providers.label(current.provider),
            active_job=await self._jobs.get(active_id) if active_id else None,
            finished_jobs=await self._jobs.finished(limit=3),
            warning=" ".join(w for w in warnings if w) or None,
            spend=await self._spending.line(),
            waiting=counts.waiting,
            vetoed=counts.vetoed,
            pairs=counts.pairs,
            min_votes=self._dataset.min_votes,
            redactions=counts.redactions,
            training=await self._policy.line(),
        )

    async def overview(self) -> Overview:
        status = await self.status()
        swap = await self._models.active()
        next_job = None
        if status.examples and self._providers.default_train:
            next_job = await self._finetuner.validate(self._settings.finetune_base_model)
        return Overview(status, swap.at if swap else None, next_job)

    async def providers(self) -> ProviderList:
        return await list_providers(self._providers, self._lifecycle, self._models)

    async def export(self, kind: str = "sft") -> DatasetFile | Sentence:
        # Streamed to a temporary file, which the front end sends and then discards.
        file = await self._dataset.export_file(kind)
        if file.lines == 0:
            file.discard()
            return Sentence(NO_PAIRS if kind == "dpo" else EMPTY_DATASET)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
        name = "preferences" if kind == "dpo" else "dataset"
        filename = f"{name}-{self._settings.redis_prefix}-{stamp}.jsonl"
        return DatasetFile(filename, file, file.lines, kind)

    async def model_names(self) -> list[str]:
        """Models a person may pick for `use`: the configured one and those used before."""
        names = [self._settings.chat_model]
        names += [swap.model for swap in await self._models.history()]
        return list(dict.fromkeys(names))

    def base_model_names(self) -> list[str]:
        """Base models `start` and `validate` accept on any provider, for choices and
        autocomplete; the default training provider's first."""
        names: list[str] = []
        for provider in self.training_provider_names():
            names += self._providers.training_table(provider).names()
        return list(dict.fromkeys(names))

    @property
    def default_training_provider(self) -> str | None:
        return self._providers.default_train

    def start_option_errors(self, options: dict[str, str]) -> dict[str, str]:
        """Each `/finetune start` option checked as the command checks it, alone (for a form,
        which shows each problem at its own field)."""
        default = self._settings.finetune_base_model
        errors = {}
        for name, value in options.items():
            method = options.get("method", "supervised")  # beta is checked against the method
            alone = {"model": options.get("model", default), "method": method, name: value}
            if "provider" in options:  # the model is checked against the provider chosen
                alone.setdefault("provider", options["provider"])
            try:
                parse_start_options(ParsedCommand("start", alone), default, self._providers)
            except (CommandError, ProviderError) as problem:
                errors[name] = str(problem)
        return errors

    def training_provider_names(self) -> list[str]:
        """Providers `start provider=` takes, the default first."""
        able = [n for n in self._providers.names if self._providers.get(n).train]
        default = self._providers.default_train
        return sorted(able, key=lambda name: name != default)
