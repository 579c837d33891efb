"""Continuous training: the bot starts a job by itself once the team has taught it enough.

The policy (the settings, or an admin's `/finetune policy`) says when: after
TRAIN_EVERY_EXAMPLES newly approved examples, and/or at TRAIN_SCHEDULE if anything new came
in; never past TRAIN_BUDGET_MONTHLY. Only the watcher's lease holder ticks it, so one process
decides; the one-job lock means it never starts a second job; new examples are counted from
the dataset itself (approved after the last job was created), so a restart counts each once.
A job it starts is always compared with the model in use, and the gate decides by itself.
"""

from __future__ import annotations

import logging

from bot.clock import Clock
from bot.commands.language import POLICY_KEYS, CommandError
from bot.config import Settings
from bot.notices import Notices
from bot.training.finetune import FineTuner, StartOptions
from bot.training.ledger import Ledger
from bot.training.schedule import Schedule
from storage.examples import ExampleStore
from storage.jobs import JobRecord, JobStore
from storage.policy import Policy, PolicyStore

logger = logging.getLogger(__name__)

POLICY = "policy"  # a job's `started_by` when the policy started it
MONTH_SECONDS = 31 * 24 * 3600
MAX_EVERY = 1_000_000
MAX_BUDGET = 1_000_000


class TrainingPolicy:
    def __init__(
        self,
        settings: Settings,
        store: PolicyStore,
        ledger: Ledger,
        jobs: JobStore,
        examples: ExampleStore,
        finetuner: FineTuner,
        notices: Notices,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._store = store
        self._ledger = ledger
        self._jobs = jobs
        self._examples = examples
        self._finetuner = finetuner
        self._notices = notices
        self._clock = clock
        # What the last tick refused (the new count, budget, month): validating the whole
        # dataset again every poll would change nothing until one of these does.
        self._held: tuple[object, ...] | None = None

    async def current(self) -> Policy:
        """An admin's policy if one was set in chat, else the settings'."""
        stored = await self._store.get()
        if stored is not None:
            return stored
        return Policy(
            every_examples=self._settings.train_every_examples,
            schedule=self._settings.train_schedule,
            budget_monthly=self._settings.train_budget_monthly,
        )

    # What people see ----------------------------------------------------------------------

    async def line(self) -> str:
        """The policy, how far along it is and this month's spend on training, in one line
        (status and the App Home label it "Training policy")."""
        policy = await self.current()
        spent = await self._ledger.spent()
        month = f"${spent:,.2f} spent on training in {self._ledger.this_month()}"
        if policy.budget_monthly is not None:
            month += f" of a ${policy.budget_monthly:,.2f} monthly budget"
        if not policy.is_on:
            return f"off (admins turn it on with `/finetune policy`); {month}"
        parts = []
        if policy.every_examples is not None:
            last = await self._last_job()
            new = await self._examples.approved_since(last.created_at if last else None)
            since = f"since `{last.id}`" if last else "so far"
            parts.append(f"every {policy.every_examples} new examples ({new} {since})")
        if policy.schedule is not None:
            parts.append(f"{Schedule.parse(policy.schedule)} if anything new came in")
        where = " (set in chat)" if policy.set_in_chat else ""
        return f"{' and '.join(parts)}{where}; {month}"

    async def change(self, options: dict[str, str], words: list[str]) -> str:
        """`/finetune policy every=50 schedule="mon 09:00" budget=20`, `off` or `reset`."""
        if words and words != ["off"] and words != ["reset"]:
            raise CommandError(f"`{' '.join(words)}` is not a policy word; write `off` or `reset`.")
        if words == ["reset"]:
            await self._store.clear()
            return f"The training policy is back to the settings': {await self.line()}."
        if words == ["off"]:
            await self._store.save(Policy(set_in_chat=True))
            return "The training policy is off: I start jobs only when an admin asks."
        unknown = sorted(set(options) - set(POLICY_KEYS))
        if unknown:
            raise CommandError(f"`{unknown[0]}` is not a policy option ({', '.join(POLICY_KEYS)}).")
        policy = (await self.current()).model_copy(update={"set_in_chat": True})
        if "every" in options:
            policy.every_examples = _off_or(options["every"], _examples)
        if "schedule" in options:
            policy.schedule = _off_or(options["schedule"], _schedule)
        if "budget" in options:
            policy.budget_monthly = _off_or(options["budget"], _dollars)
        await self._store.save(policy)
        gate = " Each job it starts is compared with the model in use, and the picks decide."
        return f"Saved. Training policy: {await self.line()}.{gate if policy.is_on else ''}"

    # Acting on it --------------------------------------------------------------------------

    async def tick(self) -> None:
        """Start a job if the policy says one is due and the budget allows (lease holder)."""
        policy = await self.current()
        if not policy.is_on or await self._jobs.lock_holder():
            return
        last = await self._last_job()
        new = await self._examples.approved_since(last.created_at if last else None)
        reason = await self._due(policy, new, last)
        held = (new, policy.budget_monthly, self._ledger.this_month())
        if reason is None or held == self._held:
            return
        self._held = held  # until a start goes through
        where = await self._notices.channel()
        if where is None:
            logger.warning(
                "policy: a job is due (%s) but there is nowhere to report it: set JOB_CHANNEL",
                reason,
            )
            return
        report = await self._finetuner.validate(self._settings.finetune_base_model)
        if not report.can_train:
            await self._notices.say_once(
                f"policy-refused:{new}",
                f"The training policy would start a job ({reason}), but: {report.refusal}",
            )
            return
        if policy.budget_monthly is not None:
            refusal = await self._over_budget(policy.budget_monthly, report.estimated_cost_usd)
            if refusal:
                await self._notices.say_once(
                    f"policy-budget:{self._ledger.this_month()}",
                    f"The training policy would start a job ({reason}), but {refusal} Nothing "
                    "was started; it tries again next month, or when an admin raises the budget "
                    "(`/finetune policy budget=…`).",
                    for_seconds=MONTH_SECONDS,
                )
                return
        platform, channel = where
        outcome = await self._finetuner.start(
            StartOptions(model=self._settings.finetune_base_model),
            POLICY,
            platform,
            channel,
            policy=reason,
        )
        logger.info("policy: %s: %s", reason, outcome.text)
        if outcome.job_id is not None:
            self._held = None
        else:
            await self._notices.say_once(
                f"policy-start-failed:{new}",
                f"The training policy tried to start a job ({reason}), but: {outcome.text}",
            )

    async def _due(self, policy: Policy, new: int, last: JobRecord | None) -> str | None:
        """Why a job is due now, in words; None if it isn't."""
        since = f"since `{last.id}`" if last else "so far"
        if policy.every_examples is not None and new >= policy.every_examples:
            return f"{new} new examples {since}"
        if policy.schedule is None:
            return None
        schedule = Schedule.parse(policy.schedule)
        slot = schedule.last_slot(self._clock.now())
        if last is not None and last.created_at >= slot:
            return None  # a job already started since this slot
        if not await self._store.take_slot(slot.isoformat(timespec="minutes")):
            return None
        if new == 0:
            return None  # nothing new: this slot passes
        return f"the schedule ({schedule}), {new} new examples {since}"

    async def _over_budget(self, budget: float, estimate: float | None) -> str | None:
        spent = await self._ledger.spent()
        if estimate is None:
            return (
                "its cost is unknown (the model table has no training price for "
                f"{self._settings.finetune_base_model}), so I can't keep to the budget."
            )
        if spent + estimate <= budget:
            return None
        return (
            f"its estimate, ${estimate:,.2f}, is more than what is left of this month's budget: "
            f"${max(budget - spent, 0):,.2f} of ${budget:,.2f} (${spent:,.2f} spent)."
        )

    async def _last_job(self) -> JobRecord | None:
        active = await self._jobs.active_job_id()
        if active:
            return await self._jobs.get(active)
        finished = await self._jobs.finished(limit=1)
        return finished[0] if finished else None


def _off_or(text: str, parse):
    """`off` clears an option; anything else is parsed."""
    return None if text.strip().lower() in ("off", "none", "") else parse(text)


def _examples(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise CommandError(f"`every` takes a number of examples, not `{text}`.") from None
    if not 1 <= value <= MAX_EVERY:
        raise CommandError(f"`every` must be between 1 and {MAX_EVERY:,} examples.")
    return value


def _dollars(text: str) -> float:
    try:
        value = float(text.removeprefix("$"))
    except ValueError:
        raise CommandError(f"`budget` takes dollars, like `20` or `12.50`, not `{text}`.") from None
    if not 0 <= value <= MAX_BUDGET:  # also refuses nan
        raise CommandError(f"`budget` must be between 0 and {MAX_BUDGET:,} dollars.")
    return value


def _schedule(text: str) -> str:
    try:
        return Schedule.parse(text).spec
    except ValueError as error:
        raise CommandError(str(error)) from None
