"""Comparing two models on the same conversations, with the team as the judges.

`/finetune compare <prompt>` puts the model in use and a candidate side by side on one prompt.
The swap gate (`SWAP_GATE=compare`) does the same for a job that just succeeded, on held-out
conversations, and promotes the new model only when people (or the auto-promote rule) say so.
This module starts comparisons and gets their conversations answered; `Comparer` is the one
object the rest of the bot calls, and hands people's picks to its `Verdict` (verdict.py).

Platform-free: each front end's `ComparisonReporter` (views.py) shows the pairs and the
announcements.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from bot.clock import Clock
from bot.commands.results import ComparisonRecord
from bot.comparison.answering import PairAnswerer
from bot.comparison.held_out import estimate_cost, held_out
from bot.comparison.sides import Sides
from bot.comparison.verdict import PickResult, Verdict
from bot.comparison.views import ComparisonReporters
from bot.config import Settings
from bot.conversation.redaction import Redactor
from bot.dataset.export import Dataset
from bot.providers.registry import ModelRef, ProviderError, Providers
from bot.spending import Spending
from bot.training.model_switch import ModelSwitcher
from bot.training.model_table import ModelTable
from bot.training.reporting import JobReporters
from bot.training.snapshots import JobSnapshots
from storage.comparisons import (
    FAILED,
    OPEN,
    ComparedPair,
    Comparison,
    ComparisonStore,
    Conversation,
    Pick,
)
from storage.jobs import JobRecord, JobStore
from storage.models import ModelStore
from storage.pairs import PairStore

UNDECIDED_EVERY = timedelta(hours=1)
OPEN_GATES_LOOKED_AT = 20  # the newest comparisons; an older open gate was long decided
HANDFUL = 3  # a gated comparison of more conversations than this says what it costs first


class Comparer:
    """Every comparison the bot runs, from starting it to its verdict; front ends, the watcher
    and migrations call this and nothing else in the package."""

    def __init__(
        self,
        settings: Settings,
        providers: Providers,
        store: ComparisonStore,
        pairs: PairStore,
        models: ModelStore,
        jobs: JobStore,
        snapshots: JobSnapshots,  # a job's held-out conversations, without what was forgotten
        dataset: Dataset,
        table: ModelTable,
        reporters: ComparisonReporters,
        job_reporter: JobReporters,  # shows the gate's tally on the job's message
        spending: Spending,
        switcher: ModelSwitcher,
        redactor: Redactor | None,
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock or Clock()
        self._undecided_checked: datetime | None = None
        self._spending = spending
        self._redactor = redactor
        self._settings = settings
        self._providers = providers
        self._store = store
        self._jobs = jobs
        self._snapshots = snapshots
        self._dataset = dataset
        self._table = table
        self.reporters = reporters
        self._job_reporter = job_reporter
        self._switcher = switcher
        self._sides = Sides(settings, providers, models, jobs, switcher)
        self._answerer = PairAnswerer(settings, providers, spending)
        self._verdict = Verdict(settings, store, pairs, jobs, reporters, job_reporter, switcher)

    # Starting ----------------------------------------------------------------------------

    async def adhoc(
        self,
        prompt: str,
        user: str,
        platform: str,
        channel: str,
        model: str | None = None,
        provider: str | None = None,
        *,
        is_admin: bool = False,
    ) -> Comparison | str:
        """Both models answer `prompt`; the comparison when posted, else why not. Anyone may
        compare the models the bot knows; only admins make it pay for any other."""
        current, current_prompt = await self._sides.current()
        if model is None and provider is not None:
            return "`provider=` goes with `model=<id>`: name the model to compare on it."
        candidate = (
            await self._sides.known_ref(model, provider)
            if model
            else await self._sides.newest_other_model(current)
        )
        if candidate is None:
            return "There is no other model to compare with yet; `model=<id>` names one."
        if (
            model
            and not await self._sides.is_known(candidate)
            and (not is_admin or self._switcher.another_teams_maybe(candidate))
        ):
            return (
                f"I only compare models I have used or trained, and `{model}` is not one of "
                "them; `/finetune models` lists them. An admin can compare any model."
            )
        if candidate == current:
            return f"`{candidate.model}` is the model in use; name another with `model=<id>`."
        try:
            self._providers.check_chat(candidate)
        except ProviderError as error:
            return str(error)
        refusal = await self._spending.admit(platform, user)
        if refusal is not None:
            return refusal or "Not now: you've reached the limit on model calls."
        comparison = Comparison(
            kind="adhoc",
            current_model=current.model,
            current_provider=current.provider,
            candidate_model=candidate.model,
            candidate_provider=candidate.provider,
            current_prompt=current_prompt,
            candidate_prompt=await self._sides.prompt_of(candidate.model),
            asked_by=user,
            platform=platform,
            channel=channel,
            to_answer=[
                Conversation(messages=[{"role": "user", "content": self._redacted(prompt)}])
            ],
        )
        await self._store.save(comparison)
        await self.answer(comparison)
        return comparison

    async def start_gate(
        self, job: JobRecord, candidate: ModelRef, promote_by: date | None = None
    ) -> Comparison:
        """A job succeeded under SWAP_GATE=compare (or a migration's did): compare it with the
        model in use on held-out conversations before anyone talks to it. The answers come
        from `resume`. `promote_by`: the day it swaps at the latest (the old model's last)."""
        current, current_prompt = await self._sides.current()
        conversations = await held_out(
            job, self._snapshots, self._dataset, self._settings.compare_prompts
        )
        comparison = Comparison(
            kind="gate",
            auto_decide=self._settings.gate_decides or job.policy is not None,
            current_model=current.model,
            current_provider=current.provider,
            candidate_model=candidate.model,
            candidate_provider=candidate.provider,
            promote_by=promote_by,
            current_prompt=current_prompt,
            candidate_prompt=job.system_prompt or self._settings.system_prompt,
            platform=job.platform,
            channel=job.channel,
            thread_id=job.status_message_ts,
            job_id=job.id,
            to_answer=conversations,
            estimated_cost_usd=estimate_cost(
                self._table, current.model, candidate.model, conversations
            ),
        )
        await self._store.save(comparison)
        job.comparison = f"Comparing with `{current.model}` on {len(conversations)} conversations…"
        await self._jobs.save(job)
        await self._job_reporter.show_job(job)
        await self.announce(comparison, self._gate_opening(comparison, job))
        return comparison

    def _gate_opening(self, comparison: Comparison, job: JobRecord) -> str:
        count = len(comparison.to_answer)
        seen = sum(conversation.seen_in_training for conversation in comparison.to_answer)
        text = (
            f"Job `{job.id}` finished: `{comparison.candidate_model}`. Before anyone talks to it, "
            f"it answers {count} conversations beside `{comparison.current_model}`, labelled A "
            "and B in a random order. Pick the better answer in this thread; an admin promotes it."
        )
        if seen:
            text += f" {seen} of them were seen in training (no held-out ones were left)."
        if comparison.promote_by:
            text += (
                f" `{comparison.current_model}` shuts down soon, so unless the picks reject it, "
                f"I switch to the new model on {comparison.promote_by.isoformat()} at the latest."
            )
        if count > HANDFUL:
            cost = comparison.estimated_cost_usd
            price = f"${cost:.4f}" if cost is not None else "an unknown amount (no model prices)"
            text += f" Answering them costs about {price}."
        return text

    # Answering ---------------------------------------------------------------------------

    async def resume(self, stopping: Callable[[], bool] = lambda: False) -> None:
        """Answer what running gate comparisons still have to answer (after a restart too).
        An ad-hoc one is answered by the command that asked for it, in its own process."""
        for comparison in await self._store.running():
            if comparison.kind == "gate" and not stopping():
                await self.answer(comparison, stopping)
        await self._close_undecided()

    async def _close_undecided(self) -> None:
        """Gates that decide by themselves and have not within COMPARE_MAX_DAYS end undecided (a
        migration's gate has its own deadline). A deadline in days is looked at once an hour,
        not at every poll."""
        now = self._clock.now()
        if self._undecided_checked and now - self._undecided_checked < UNDECIDED_EVERY:
            return
        self._undecided_checked = now
        days = self._settings.compare_max_days
        oldest = now - timedelta(days=days)
        for comparison in await self._store.all(limit=OPEN_GATES_LOOKED_AT):
            if (
                comparison.status == OPEN
                and comparison.promote_by is None
                and self._verdict.decides(comparison)
                and comparison.created_at < oldest
            ):
                await self._verdict.close_undecided(comparison, days)

    async def answer(
        self, comparison: Comparison, stopping: Callable[[], bool] = lambda: False
    ) -> None:
        """Answer the conversations left, saving each pair as it is done; `stopping` (the bot
        is shutting down) leaves the rest to whichever process answers next."""
        reporter = self.reporters.of(comparison)
        for pair in await self._store.pairs(comparison):
            if pair.message_id is None and reporter:  # answered, then the process stopped
                await self._post(comparison, pair, reporter)
        while comparison.to_answer:
            if stopping():
                return
            conversation = comparison.to_answer[0]
            pair = await self._answerer.answer_pair(
                comparison, conversation, len(comparison.pair_ids) + 1
            )
            async with self._store.lock(comparison.id):
                # Forgetting may have taken this conversation (or all of it) meanwhile.
                stored = await self._store.get(comparison.id)
                if stored is None:
                    return
                comparison.to_answer, comparison.pair_ids = stored.to_answer, stored.pair_ids
                if not comparison.to_answer or comparison.to_answer[0] != conversation:
                    continue
                await self._store.save_pair(pair)
                comparison.pair_ids.append(pair.id)
                comparison.to_answer.pop(0)
                await self._store.save(comparison)
                if reporter:
                    await self._post(comparison, pair, reporter)
        pairs = await self._store.pairs(comparison)
        failed = sum(pair.failed for pair in pairs)
        if comparison.kind == "gate" and failed:
            comparison.status = FAILED
            await self._store.save(comparison)
            await self.announce(
                comparison,
                f"One of the models failed on {failed} of {len(pairs)} conversations, so this "
                f"comparison can't promote `{comparison.candidate_model}`; an admin can still "
                f"switch by hand (`/finetune use {comparison.candidate_model}`).",
            )
            await self._verdict.show_tally(comparison)
            return
        comparison.status = OPEN
        await self._store.save(comparison)
        if comparison.kind == "gate":
            await self.announce(
                comparison,
                f"All {len(pairs)} pairs are posted. {self._savings(pairs)}".strip(),
                promote=True,
            )
            await self._verdict.show_tally(comparison)
            # With JUDGE_DECIDES the judge model's picks are in already: they may decide.
            await self._verdict.apply_rule(comparison)

    async def _post(self, comparison: Comparison, pair: ComparedPair, reporter) -> None:
        pair.message_id = await reporter.show_pair(
            comparison, pair, comparison.pair_ids.index(pair.id) + 1
        )
        await self._store.save_pair(pair)

    # Picks and their consequences (verdict.py) -------------------------------------------

    async def pick(self, pair_id: str, user: str, pick: Pick) -> PickResult:
        return await self._verdict.pick(pair_id, user, pick)

    async def keep_preference(self, comparison: Comparison, pair: ComparedPair) -> None:
        await self._verdict.keep_preference(comparison, pair)

    async def withdraw_pair(self, comparison: Comparison, pair: ComparedPair) -> None:
        await self._verdict.withdraw_pair(comparison, pair)

    async def promote(self, comparison: Comparison, by: str, why: str = "") -> str:
        return await self._verdict.promote(comparison, by, why)

    async def promote_at_deadline(self, comparison: Comparison, shutdown: date | None) -> bool:
        return await self._verdict.promote_at_deadline(comparison, shutdown)

    async def promoted_by_hand(self, model: str) -> None:
        await self._verdict.promoted_by_hand(model)

    async def records(self) -> dict[str, ComparisonRecord]:
        return await self._verdict.records()

    # Looking up ---------------------------------------------------------------------------

    async def gate_of(self, job_id: str) -> Comparison | None:
        """The gate comparing what job `job_id` trained, if one was started."""
        for comparison in await self._store.all(limit=20):
            if comparison.kind == "gate" and comparison.job_id == job_id:
                return comparison
        return None

    async def get(self, comparison_id: str) -> Comparison | None:
        return await self._store.get(comparison_id)

    # Helpers -----------------------------------------------------------------------------

    async def announce(self, comparison: Comparison, text: str, *, promote: bool = False) -> None:
        await self.reporters.announce(comparison, text, promote=promote)

    def _redacted(self, prompt: str) -> str:
        """A typed prompt is stored (the comparison, its pairs, the DPO export) and sent to
        two models: it is redacted like a chat message first."""
        return self._redactor.redact(prompt, {}).text if self._redactor else prompt

    @staticmethod
    def _savings(pairs: list[ComparedPair]) -> str:
        measured = [p for p in pairs if not p.failed]
        if not measured:
            return ""
        saved = sum(p.current.prompt_tokens - p.candidate.prompt_tokens for p in measured)
        per_request = saved / len(measured)
        if per_request <= 0:
            return ""
        return (
            f"The new model's prompts were {per_request:,.0f} tokens shorter a request (measured)."
        )
