"""Moving the model in use to another provider before its shutdown date.

`/finetune migrate` (or MIGRATE_AUTOMATICALLY, MIGRATION_START_DAYS before the date) retrains
the dataset on MIGRATION_TARGET. When the job succeeds, the comparison gate puts the old model,
still serving, beside the new one; the team's picks or an admin promote it, and if nobody has by
the day before the shutdown, the gate promotes it then, unless the picks rejected it. Every
step is reported in the job channel; the lease holder's watcher runs the date-driven parts.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from bot.clock import Clock
from bot.comparison.compare import Comparer
from bot.config import Settings
from bot.dataset.validation import DatasetReport
from bot.notices import Notices
from bot.providers.lifecycle import Lifecycle, shutdown_sentence
from bot.providers.registry import ModelRef, ProviderError, Providers
from bot.training.finetune import FineTuner, StartOptions
from bot.training.model_switch import ModelSwitcher
from storage.comparisons import FAILED, OPEN
from storage.jobs import JobStore
from storage.migrations import COMPARING, DONE, TRAINING, Migration, MigrationStore
from storage.migrations import FAILED as MIGRATION_FAILED

logger = logging.getLogger(__name__)

AUTOMATIC = "migration"  # who started an automatic migration, as a job's `started_by`
NO_TARGET = (
    "Set MIGRATION_TARGET=<provider>:<base model> (for example `gpu:Qwen/Qwen3-8B`), or name "
    "one: `/finetune migrate provider=<name> model=<base model>`."
)
# Rough pace of a hosted job, to say how long a migration should take: minutes in the queue,
# then billed tokens a minute. The local worker's pace depends on the GPU (and is much slower
# on a CPU); the figure is only a first idea.
_PACE = {"openai": (15, 40_000), "together": (10, 60_000), "fireworks": (10, 60_000)}
_LOCAL_PACE = (1, 20_000)
# A configured model shutting down sooner than this is named at start and in the status.
SHUTDOWN_NOTICE_DAYS = 60


class Migrations:
    def __init__(
        self,
        settings: Settings,
        providers: Providers,
        finetuner: FineTuner,
        switcher: ModelSwitcher,
        comparer: Comparer,
        lifecycle: Lifecycle,
        notices: Notices,
        store: MigrationStore,
        jobs: JobStore,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._providers = providers
        self._finetuner = finetuner
        self._switcher = switcher
        self._comparer = comparer
        self._lifecycle = lifecycle
        self._notices = notices
        self._store = store
        self._jobs = jobs
        self._clock = clock

    async def current(self) -> Migration | None:
        return await self._store.get()

    # Starting ---------------------------------------------------------------------------------

    def target(self, provider: str | None, model: str | None) -> tuple[str, str] | None:
        """Where to migrate: as named, else MIGRATION_TARGET."""
        configured = self._settings.migration
        if provider or model:
            provider = provider or (configured[0] if configured else None)
            model = model or (configured[1] if configured else None)
            return (provider, model) if provider and model else None
        return configured

    async def estimate(self, provider: str | None, model: str | None) -> str:
        """What a migration would train, cost and take, without starting it."""
        target = self.target(provider, model)
        if target is None:
            return f"There is nowhere to migrate to yet. {NO_TARGET}"
        try:
            report = await self._finetuner.validate(target[1], provider=target[0])
        except ProviderError as error:
            return str(error)
        current = await self._switcher.current_ref()
        head = await self._shutdown_line(current)
        blocked = f" It can't start yet: {report.refusal}" if report.refusal else ""
        return f"{head} {self._plan(target, report)}{blocked}".strip()

    async def migrate(
        self,
        user: str,
        platform: str,
        channel: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        automatic: bool = False,
    ) -> str:
        target = self.target(provider, model)
        if target is None:
            return f"There is nowhere to migrate to yet. {NO_TARGET}"
        to_provider, base = target
        current = await self._switcher.current_ref()
        shutdown = await self._lifecycle.shutdown_of(current)
        promote_by = shutdown - timedelta(days=1) if shutdown else None
        if promote_by is not None and promote_by < self._clock.today():
            promote_by = self._clock.today()  # already (almost) gone: swap as soon as it passes
        try:
            report = await self._finetuner.validate(base, provider=to_provider)
        except ProviderError as error:
            return str(error)
        outcome = await self._finetuner.start(
            StartOptions(model=base, provider=to_provider),
            user,
            platform,
            channel,
            migration=True,
            promote_by=promote_by,
        )
        if outcome.job_id is None:
            return outcome.text
        await self._store.save(
            Migration(
                from_model=current.model,
                from_provider=current.provider,
                to_provider=to_provider,
                base_model=base,
                shutdown=shutdown,
                promote_by=promote_by,
                job_id=outcome.job_id,
                started_by=user,
                automatic=automatic,
            )
        )
        logger.info("migration: %s -> %s:%s (job %s)", current, to_provider, base, outcome.job_id)
        swap = (
            f" When it finishes, the team compares the two; I switch by "
            f"{promote_by.isoformat()} at the latest, before `{current.model}` shuts down."
            if promote_by
            else " When it finishes, the team compares the two before I switch."
        )
        return (
            f"Migrating from `{current.model}`: {outcome.text} {self._plan(target, report)}{swap}"
        )

    def _plan(self, target: tuple[str, str], report: DatasetReport) -> str:
        provider, base = target
        cost = (
            f"about ${report.estimated_cost_usd:,.2f}"
            if report.estimated_cost_usd is not None
            else "a cost the model table does not know"
        )
        kind = self._providers.kind(provider)
        queue, pace = _PACE.get(kind.family, _LOCAL_PACE)
        minutes = queue + report.billed_tokens / pace
        return (
            f"Retraining {report.trainable:,} examples on `{base}` at "
            f"{self._providers.label(provider)}: {report.billed_tokens:,} billed tokens, {cost}, "
            f"usually about {_duration(minutes)}."
        )

    async def _shutdown_line(self, current: ModelRef) -> str:
        shutdown = await self._lifecycle.shutdown_of(current)
        if shutdown is None:
            return f"`{current.model}` has no announced shutdown date."
        days = self._lifecycle.days_left(shutdown)
        return (
            shutdown_sentence(current, shutdown, days, self._providers.label(current.provider))
            + "."
        )

    # What the dates call for (run by the watcher's lease holder) -----------------------------

    async def warning(self) -> str | None:
        """The model in use shuts down within MIGRATION_WARNING_DAYS: when, and what to do."""
        current = await self._switcher.current_ref()
        shutdown = await self._lifecycle.shutdown_of(current)
        if shutdown is None:
            return None
        days = self._lifecycle.days_left(shutdown)
        if days > self._settings.migration_warning_days:
            return None
        text = shutdown_sentence(current, shutdown, days, self._providers.label(current.provider))
        migration = await self._store.get()
        if (
            migration
            and migration.from_ref == str(current)
            and migration.status != MIGRATION_FAILED
        ):
            return f"{text}; the migration to `{migration.base_model}` is {migration.status}."
        target = self._settings.migration
        if target:
            move = (
                f"`/finetune migrate` retrains the dataset on `{target[1]}` at "
                f"{self._providers.label(target[0])}"
            )
            if self._settings.migrate_automatically:
                starts = shutdown - timedelta(days=self._settings.migration_start_days)
                move += f" (it starts by itself on {max(starts, self._clock.today()).isoformat()})"
            return f"{text}. {move}."
        return f"{text}. Set MIGRATION_TARGET and run `/finetune migrate` to keep a tuned model."

    async def configured_shutdowns(self) -> list[tuple[str, ModelRef, date]]:
        """Each model the configuration names (by its variable) that shuts down within
        SHUTDOWN_NOTICE_DAYS: said at start and in the status, whatever is in use."""
        settings, providers = self._settings, self._providers
        configured = [("CHAT_MODEL", providers.ref(settings.chat_model))]
        if providers.default_train:
            base = ModelRef(settings.finetune_base_model, providers.default_train)
            configured.append(("FINETUNE_BASE_MODEL", base))
        if settings.compare_judge_model:
            judge = providers.ref(settings.compare_judge_model, settings.compare_judge_provider)
            configured.append(("COMPARE_JUDGE_MODEL", judge))
        if settings.migration:
            configured.append(
                ("MIGRATION_TARGET", ModelRef(settings.migration[1], settings.migration[0]))
            )
        soon = []
        for variable, ref in configured:
            day = await self._lifecycle.shutdown_of(ref)
            if day is not None and self._lifecycle.days_left(day) <= SHUTDOWN_NOTICE_DAYS:
                soon.append((variable, ref, day))
        return soon

    async def configured_warning(self) -> str | None:
        """The status's line about configured models shutting down within 60 days."""
        soon = await self.configured_shutdowns()
        if not soon:
            return None
        named = "; ".join(
            f"{variable} `{ref.model}` on {day.isoformat()} "
            f"({self._lifecycle.days_left(day)} days from now)"
            for variable, ref, day in soon
        )
        return f"Configured models that shut down soon: {named}."

    async def tick(self) -> None:
        await self._warn_daily()
        await self._follow()
        await self._start_automatically()

    async def _warn_daily(self) -> None:
        warning = await self.warning()
        if warning:
            current = await self._switcher.current_ref()
            await self._notices.say_once(
                f"shutdown:{current}:{self._clock.today().isoformat()}", f"⚠️ {warning}"
            )

    async def _start_automatically(self) -> None:
        if not self._settings.migrate_automatically or self._settings.migration is None:
            return
        current = await self._switcher.current_ref()
        shutdown = await self._lifecycle.shutdown_of(current)
        if shutdown is None:
            return
        if self._lifecycle.days_left(shutdown) > self._settings.migration_start_days:
            return
        migration = await self._store.get()
        if migration and migration.from_ref == str(current):
            return  # started already (a failed one is retried by an admin, not in a loop)
        if await self._jobs.lock_holder():
            return  # another job is running; the next tick tries again
        where = await self._notices.channel()
        platform, channel = where or ("slack", "")
        answer = await self.migrate(AUTOMATIC, platform, channel, automatic=True)
        logger.info("migration: automatic start: %s", answer)
        migration = await self._store.get()
        if migration is None or migration.from_ref != str(current):
            # Refused (the dataset can't train, the provider said no): say so once, with why.
            await self._notices.say_once(
                f"auto-migration-refused:{current}:{self._clock.today().isoformat()}",
                f"I tried to start the automatic migration from `{current.model}`, but: {answer}",
            )

    async def _follow(self) -> None:
        """Move the migration on: its job's end, and its gate's deadline."""
        migration = await self._store.get()
        if migration is None or migration.status in (DONE, MIGRATION_FAILED):
            return
        job = await self._jobs.get(migration.job_id) if migration.job_id else None
        if job is None and migration.status == TRAINING:
            # Started while the provider's answer was lost: the job was adopted under its id.
            active = await self._jobs.active_job_id()
            job = await self._jobs.get(active) if active else None
            if job is None or not job.migration:
                return
        if migration.status == TRAINING and job is not None and job.is_finished:
            migration.job_id = job.id
            migration.status = COMPARING if job.status == "succeeded" else MIGRATION_FAILED
            await self._store.save(migration)
        if migration.status != COMPARING or job is None:
            return
        gate = await self._comparer.gate_of(job.id)
        if gate is None:
            return
        if gate.status not in (OPEN, FAILED):
            # Promoted (by people, an admin or the deadline) or rejected: the migration is over.
            migration.status = DONE
            await self._store.save(migration)
            return
        due = migration.promote_by is not None and self._clock.today() >= migration.promote_by
        if due and await self._comparer.promote_at_deadline(gate, migration.shutdown):
            migration.status = DONE
            await self._store.save(migration)


def _duration(minutes: float) -> str:
    if minutes < 90:
        return f"{max(1, round(minutes))} minutes"
    return f"{minutes / 60:.1f} hours"
