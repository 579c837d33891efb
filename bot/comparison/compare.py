"""Comparing two models on the same conversations, with the team as the judges.

`/finetune compare <prompt>` puts the model in use and a candidate side by side on one prompt.
The swap gate (`SWAP_GATE=compare`) does the same for a job that just succeeded, on held-out
conversations, and promotes the new model only when people (or the auto-promote rule) say so.
Each pick that makes one side win a pair also makes a preference pair for DPO.

Platform-free: each front end's `ComparisonReporter` shows the pairs and the announcements.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import openai

from bot.commands.results import ComparisonRecord
from bot.config import Settings
from bot.conversation.copies import prompt_key, prompt_of_line
from bot.conversation.redaction import Redactor
from bot.dataset.export import Dataset
from bot.dataset.tokens import count_messages
from bot.providers.registry import ModelRef, ProviderError, Providers
from bot.spending import Spending
from bot.training.finetune import JobReporters
from bot.training.model_switch import ModelSwitcher
from bot.training.model_table import ModelTable
from bot.training.snapshots import JobSnapshots
from storage.comparisons import (
    FAILED,
    OPEN,
    PROMOTED,
    REJECTED,
    RUNNING,
    Answer,
    ComparedPair,
    Comparison,
    ComparisonStore,
    Conversation,
    Pick,
)
from storage.jobs import JobRecord, JobStore
from storage.models import ModelStore, ModelSwap
from storage.pairs import PairStore
from storage.schemas import PreferencePair

logger = logging.getLogger(__name__)

HANDFUL = 3  # a gated comparison of more conversations than this says what it costs first
ASSUMED_ANSWER_TOKENS = 300  # for the estimate, when a conversation has no reference answer
JUDGE_INSTRUCTIONS = (
    "You compare two answers an assistant could give. Judge which one follows the assistant's "
    "instructions better and answers the user better. Reply with exactly one word: A, B or Same."
)


class ComparisonReporter(Protocol):
    async def show_pair(self, comparison: Comparison, pair: ComparedPair, number: int) -> str:
        """Post one pair with its pick buttons; return the message id."""

    async def announce(self, comparison: Comparison, text: str, *, promote: bool = False) -> None:
        """Say something where the comparison is shown; `promote` adds the admins' button."""

    async def withdraw_pair(self, comparison: Comparison, pair: ComparedPair) -> None:
        """Take a posted pair down (its conversation was forgotten): `WITHDRAWN` replaces it."""


WITHDRAWN = "This conversation was removed from the comparison at someone's request."


class ComparisonReporters:
    """Each comparison is shown on the front end it was asked from (`Comparison.platform`)."""

    def __init__(self) -> None:
        self._by_platform: dict[str, ComparisonReporter] = {}

    def add(self, platform: str, reporter: ComparisonReporter) -> None:
        self._by_platform[platform] = reporter

    def of(self, comparison: Comparison) -> ComparisonReporter | None:
        return self._by_platform.get(comparison.platform)


@dataclass
class Tally:
    """People's picks on a comparison, and what they decide pair by pair."""

    candidate: int = 0  # picks for the candidate's answer
    current: int = 0
    same: int = 0
    won: int = 0  # pairs where more people picked the candidate than the current model
    lost: int = 0
    undecided: int = 0  # pairs with no picks yet
    total: int = 0
    people: set[str] = field(default_factory=set)

    @property
    def picks(self) -> int:
        return self.candidate + self.current + self.same

    def line(self) -> str:
        return (
            f"{self.picks} picks by {len(self.people)} people: new model {self.candidate}, "
            f"current {self.current}, same {self.same}; the new model won {self.won} of "
            f"{self.total} conversations"
        )


@dataclass(frozen=True)
class PickResult:
    text: str  # what the person is told
    counted: bool


class Comparer:
    def __init__(
        self,
        settings: Settings,
        providers: Providers,
        store: ComparisonStore,
        pairs: PairStore,
        models: ModelStore,
        jobs: JobStore,
        dataset: Dataset,
        table: ModelTable,
        reporters: ComparisonReporters,
        job_reporter: JobReporters,  # shows the gate's tally on the job's message
        spending: Spending,
        switcher: ModelSwitcher,
        redactor: Redactor | None,
    ) -> None:
        self._switcher = switcher
        self._spending = spending
        self._redactor = redactor
        self._settings = settings
        self._providers = providers
        self._store = store
        self._pairs = pairs
        self._models = models
        self._jobs = jobs
        self._snapshots = JobSnapshots(jobs, providers)
        self._dataset = dataset
        self._table = table
        self.reporters = reporters
        self._job_reporter = job_reporter

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
        current, current_prompt = await self._current()
        if model is None and provider is not None:
            return "`provider=` goes with `model=<id>`: name the model to compare on it."
        candidate = (
            await self._known_ref(model, provider)
            if model
            else await self._newest_other_model(current)
        )
        if candidate is None:
            return "There is no other model to compare with yet; `model=<id>` names one."
        if model and not is_admin and not await self._is_known(candidate):
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
            candidate_prompt=await self._prompt_of(candidate.model),
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
        current, current_prompt = await self._current()
        conversations = await self._held_out(job)
        comparison = Comparison(
            kind="gate",
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
            estimated_cost_usd=self._estimate(current.model, candidate.model, conversations),
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
            pair = await self._answer_one(comparison, conversation, len(comparison.pair_ids) + 1)
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
            await self._show_tally(comparison)
            return
        comparison.status = OPEN
        await self._store.save(comparison)
        if comparison.kind == "gate":
            await self.announce(
                comparison,
                f"All {len(pairs)} pairs are posted. {self._savings(pairs)}".strip(),
                promote=True,
            )
            await self._show_tally(comparison)

    async def _post(self, comparison: Comparison, pair: ComparedPair, reporter) -> None:
        pair.message_id = await reporter.show_pair(
            comparison, pair, comparison.pair_ids.index(pair.id) + 1
        )
        await self._store.save_pair(pair)

    async def _answer_one(
        self, comparison: Comparison, conversation: Conversation, number: int
    ) -> ComparedPair:
        candidate_ref, current_ref = _refs(comparison, self._providers)
        candidate, current = await asyncio.gather(
            self._ask(candidate_ref, comparison.candidate_prompt, conversation),
            self._ask(current_ref, comparison.current_prompt, conversation),
        )
        pair = ComparedPair(
            id=f"{comparison.id}-{number}",
            comparison_id=comparison.id,
            conversation=conversation,
            candidate_is_a=random.random() < 0.5,
            candidate=candidate,
            current=current,
        )
        if self._settings.compare_judge_model and not pair.failed:
            pair.judge = await self._judge(comparison, pair)
        return pair

    async def _ask(self, ref: ModelRef, prompt: str, conversation: Conversation) -> Answer:
        model = ref.model
        messages = with_system_prompt(conversation.messages, prompt)
        started = time.monotonic()
        try:
            completion = await self._providers.client(ref).chat.completions.create(
                model=model, messages=messages, **self._providers.answer_options(ref)
            )
            text = completion.choices[0].message.content
            self._paid(model, messages, text)
        except (openai.OpenAIError, ProviderError) as error:
            logger.warning("compare: %s failed (%s)", ref, type(error).__name__)
            return Answer(model=model, error=_failure(error))
        except (IndexError, AttributeError):
            return Answer(model=model, error="The model's answer was malformed.")
        latency = int((time.monotonic() - started) * 1000)
        usage = getattr(completion, "usage", None)
        tokens = usage.prompt_tokens if usage else count_messages(messages, model)
        if not text or not text.strip():
            return Answer(model=model, error="The model answered nothing.", latency_ms=latency)
        return Answer(model=model, text=text, prompt_tokens=tokens, latency_ms=latency)

    async def _judge(self, comparison: Comparison, pair: ComparedPair) -> Pick | None:
        a, b = (
            (pair.candidate, pair.current)
            if pair.candidate_is_a
            else (pair.current, pair.candidate)
        )
        question = "\n\n".join(
            [
                f"The assistant's instructions:\n{comparison.current_prompt}",
                f"The conversation:\n{_transcript(pair.conversation.messages)}",
                f"Answer A:\n{a.text}",
                f"Answer B:\n{b.text}",
            ]
        )
        judge = self._providers.ref(
            self._settings.compare_judge_model or "", self._settings.compare_judge_provider
        )
        messages = [
            {"role": "system", "content": JUDGE_INSTRUCTIONS},
            {"role": "user", "content": question},
        ]
        try:
            completion = await self._providers.client(judge).chat.completions.create(
                model=judge.model, messages=messages, **self._providers.answer_options(judge)
            )
            verdict = (completion.choices[0].message.content or "").strip().lower()
            self._paid(judge.model, messages, verdict)
        except (openai.OpenAIError, ProviderError, IndexError, AttributeError):
            logger.warning("compare: the judge model failed")
            return None
        word = verdict.split()[0].strip(".:*") if verdict else ""
        return {"a": "a", "b": "b", "same": "same"}.get(word)

    # Picks and their consequences ---------------------------------------------------------

    async def pick(self, pair_id: str, user: str, pick: Pick) -> PickResult:
        pair = await self._store.pair(pair_id)
        comparison = await self._store.get(pair.comparison_id) if pair else None
        if pair is None or comparison is None:
            return PickResult("That comparison is no longer stored.", counted=False)
        if comparison.is_closed:
            return PickResult(
                f"Thanks, but this comparison is closed ({comparison.status}); your pick "
                "wasn't counted.",
                counted=False,
            )
        await self._store.pick(pair.id, user, pick)
        await self.keep_preference(comparison, pair)
        if comparison.kind == "gate":
            await self._show_tally(comparison)
            await self._apply_rule(comparison)
        label = PICK_LABELS[pick]
        return PickResult(f"Your pick ({label}) is saved; pick again to change it.", counted=True)

    async def tally(self, comparison: Comparison) -> Tally:
        tally = Tally()
        for pair in await self._store.pairs(comparison):
            tally.total += 1
            picks = await self._store.picks(pair.id)
            tally.people |= set(picks)
            sides = [pair.side(pick) for pick in picks.values()]
            for_candidate, for_current = sides.count("candidate"), sides.count("current")
            tally.candidate += for_candidate
            tally.current += for_current
            tally.same += sides.count("same")
            if not picks:
                tally.undecided += 1
            elif for_candidate > for_current:
                tally.won += 1
            elif for_current > for_candidate:
                tally.lost += 1
        return tally

    async def keep_preference(self, comparison: Comparison, pair: ComparedPair) -> None:
        """The pair's winner over its loser as a preference pair, while one side is ahead."""
        sides = [pair.side(pick) for pick in (await self._store.picks(pair.id)).values()]
        ahead = sides.count("candidate") - sides.count("current")
        await self._pairs.delete(_preference_id(pair, "candidate"))
        await self._pairs.delete(_preference_id(pair, "current"))
        if ahead == 0 or pair.failed:
            return
        winner, loser = (
            (pair.candidate, pair.current) if ahead > 0 else (pair.current, pair.candidate)
        )
        await self._pairs.save(
            PreferencePair(
                id=_preference_id(pair, "candidate" if ahead > 0 else "current"),
                input=with_system_prompt(pair.conversation.messages, comparison.current_prompt),
                preferred=winner.text or "",
                non_preferred=loser.text or "",
                by="compare",
                source=f"compare:{pair.id}",
            )
        )

    async def withdraw_pair(self, comparison: Comparison, pair: ComparedPair) -> None:
        """Forgetting reached this pair's conversation: the post, the preference pairs its
        picks made, the pair and its picks all go (the caller updates the comparison)."""
        reporter = self.reporters.of(comparison)
        if pair.message_id is not None and reporter is not None:
            await reporter.withdraw_pair(comparison, pair)
        await self._pairs.delete(_preference_id(pair, "candidate"))
        await self._pairs.delete(_preference_id(pair, "current"))
        await self._store.delete_pair(pair.id)

    async def _apply_rule(self, comparison: Comparison) -> None:
        """COMPARE_AUTO_PROMOTE: promote once enough picks are in and the new model's share of
        the conversations reaches the threshold; reject once it no longer can."""
        threshold = self._settings.compare_auto_promote
        if threshold is None or comparison.status != OPEN:
            return
        tally = await self.tally(comparison)
        # COMPARE_MIN_VOTES counts people: one person picking on every pair is one voice.
        enough = len(tally.people) >= self._settings.compare_min_votes
        if enough and tally.won >= threshold * tally.total:
            await self.promote(comparison, by="auto")
        elif tally.won + tally.undecided < threshold * tally.total:
            comparison.status = REJECTED
            await self._store.save(comparison)
            await self._show_tally(comparison)
            await self.announce(
                comparison,
                f"`{comparison.candidate_model}` can no longer reach the {threshold:.0%} needed "
                f"({tally.line()}), so I keep `{comparison.current_model}`.",
            )

    async def promote(self, comparison: Comparison, by: str, why: str = "") -> str:
        """Switch to the candidate (an admin's button, the rule, or a migration's deadline);
        say what happened."""
        if comparison.status != OPEN:
            return f"This comparison is {comparison.status}; nothing changed."
        await self._switcher.activate(
            ModelSwap(
                model=comparison.candidate_model,
                provider=comparison.candidate_provider,
                job_id=comparison.job_id,
                by=None if by in ("auto", "deadline") else by,
                reason="compare",
                system_prompt=None
                if comparison.candidate_prompt == self._settings.system_prompt
                else comparison.candidate_prompt,
            )
        )
        await self.close_promoted(comparison)
        who = {"auto": "the auto-promote rule", "deadline": "The migration's deadline"}.get(
            by, f"<@{by}>"
        )
        if by == "deadline":
            tally = await self.tally(comparison)
            who += f" ({why}; {tally.line()})"
        text = f"{who} promoted `{comparison.candidate_model}`: I answer with it now. "
        text += "`/finetune rollback` switches back."
        await self.announce(comparison, text)
        return text

    async def gate_of(self, job_id: str) -> Comparison | None:
        """The gate comparing what job `job_id` trained, if one was started."""
        for comparison in await self._store.all(limit=20):
            if comparison.kind == "gate" and comparison.job_id == job_id:
                return comparison
        return None

    async def promote_at_deadline(self, comparison: Comparison, shutdown: date | None) -> bool:
        """A migration's last day before the old model shuts down: promote the new one unless
        the picks rejected it, or it failed to answer. True if it was promoted."""
        if comparison.status == FAILED:
            pairs = await self._store.pairs(comparison)
            if any(pair.candidate.text is None for pair in pairs):
                await self.announce(
                    comparison,
                    f"`{comparison.candidate_model}` failed to answer in the comparison, so I "
                    "don't switch to it by myself; an admin can, with `/finetune use "
                    f"{comparison.candidate_model}`.",
                )
                return False
            comparison.status = OPEN  # only the old model failed: it is going anyway
        if comparison.status != OPEN:
            return False
        when = f" on {shutdown.isoformat()}" if shutdown else ""
        await self.promote(
            comparison, by="deadline", why=f"`{comparison.current_model}` shuts down{when}"
        )
        return True

    async def close_promoted(self, comparison: Comparison) -> None:
        comparison.status = PROMOTED
        await self._store.save(comparison)
        await self._show_tally(comparison)

    async def promoted_by_hand(self, model: str) -> None:
        """`/finetune use` switched to a model an open gate was comparing: it is decided."""
        for comparison in await self._store.all(limit=20):
            gate_open = comparison.kind == "gate" and comparison.status != PROMOTED
            if gate_open and comparison.candidate_model == model:
                await self.close_promoted(comparison)

    async def get(self, comparison_id: str) -> Comparison | None:
        return await self._store.get(comparison_id)

    async def records(self) -> dict[str, ComparisonRecord]:
        """Each model's wins, losses and ties over every comparison it was in."""
        records: dict[str, ComparisonRecord] = {}
        for comparison in await self._store.all():
            for pair in await self._store.pairs(comparison):
                for user, pick in (await self._store.picks(pair.id)).items():
                    side = pair.side(pick)
                    for model, me in (
                        (pair.candidate.model, "candidate"),
                        (pair.current.model, "current"),
                    ):
                        record = records.setdefault(model, ComparisonRecord())
                        record.people.add(user)
                        if side == "same":
                            record.ties += 1
                        elif side == me:
                            record.wins += 1
                        else:
                            record.losses += 1
        return records

    # Helpers -----------------------------------------------------------------------------

    async def _show_tally(self, comparison: Comparison) -> None:
        if comparison.job_id is None:
            return
        job = await self._jobs.get(comparison.job_id)
        if job is None:
            return
        tally = await self.tally(comparison)
        state = {
            RUNNING: "being answered",
            OPEN: "waiting for an admin",
            PROMOTED: "promoted",
            REJECTED: "rejected",
            FAILED: "failed, can't promote",
        }[comparison.status]
        job.comparison = f"Comparison with `{comparison.current_model}` ({state}): {tally.line()}"
        await self._jobs.save(job)
        await self._job_reporter.show_job(job)

    async def announce(self, comparison: Comparison, text: str, *, promote: bool = False) -> None:
        reporter = self.reporters.of(comparison)
        if reporter:
            await reporter.announce(comparison, text, promote=promote)

    async def _current(self) -> tuple[ModelRef, str]:
        swap = await self._models.active()
        if swap is None:
            return self._providers.ref(self._settings.chat_model), self._settings.system_prompt
        prompt = swap.system_prompt or self._settings.system_prompt
        return self._providers.ref(swap.model, swap.provider), prompt

    async def _known_ref(self, model: str, provider: str | None) -> ModelRef:
        """`model` where it is served: as named, else as used before or as its job trained it,
        else on the default chat provider."""
        if provider is None:
            for swap in await self._models.history(limit=100):
                if swap.model == model:
                    return self._providers.ref(model, swap.provider)
            for job in await self._jobs.finished(limit=50):
                if job.fine_tuned_model == model:
                    return ModelRef(model, self._providers.serving(job.provider))
        return self._providers.ref(model, provider)

    def _redacted(self, prompt: str) -> str:
        """A typed prompt is stored (the comparison, its pairs, the DPO export) and sent to
        two models: it is redacted like a chat message first."""
        return self._redactor.redact(prompt, {}).text if self._redactor else prompt

    def _paid(self, model: str, messages: list[dict], answer: str | None) -> None:
        self._spending.record_later(model, messages, answer)

    async def _is_known(self, ref: ModelRef) -> bool:
        """The configured model, or one used before or trained by a job, where it is served."""
        if ref == self._providers.ref(self._settings.chat_model):
            return True
        return await self._switcher.known(ref.model, ref.provider) is not None

    async def _prompt_of(self, model: str) -> str:
        """The system prompt `model` is used with: the one its job trained with, if any."""
        for swap in await self._models.history(limit=100):
            if swap.model == model and swap.system_prompt:
                return swap.system_prompt
        for job in await self._jobs.finished(limit=50):
            if job.fine_tuned_model == model and job.system_prompt:
                return job.system_prompt
        return self._settings.system_prompt

    async def _newest_other_model(self, current: ModelRef) -> ModelRef | None:
        """The newest tuned model not in use, else the model the one in use replaced."""
        for job in await self._jobs.finished(limit=50):
            if job.status == "succeeded" and job.fine_tuned_model:
                tuned = ModelRef(job.fine_tuned_model, self._providers.serving(job.provider))
                if tuned != current:
                    return tuned
        for swap in await self._models.history(limit=100):
            earlier = self._providers.ref(swap.model, swap.provider)
            if earlier != current:
                return earlier
        default = self._providers.ref(self._settings.chat_model)
        return default if default != current else None

    async def _held_out(self, job: JobRecord) -> list[Conversation]:
        """Up to COMPARE_PROMPTS conversations: the job's validation split; else examples
        approved after its training file was made; else the latest ones, marked as seen.
        What was forgotten since the job started is left out of its files."""
        limit = self._settings.compare_prompts
        validation = await self._snapshots.kept(job.id, "validation")
        if validation:
            return [Conversation(messages=prompt_of_line(line)) for line in _lines(validation)][
                :limit
            ]
        trained = await self._snapshots.kept(job.id, "training") or b""
        trained_ids = {prompt_key(prompt_of_line(line)) for line in _lines(trained)}
        lines = [line async for line in self._dataset.training_lines()]
        fresh = [line for line in lines if prompt_key(prompt_of_line(line)) not in trained_ids]
        if fresh:
            return [Conversation(messages=prompt_of_line(line)) for line in fresh[-limit:]]
        return [
            Conversation(messages=prompt_of_line(line), seen_in_training=True)
            for line in lines[-limit:]
        ]

    def _estimate(
        self, current: str, candidate: str, conversations: list[Conversation]
    ) -> float | None:
        total = 0.0
        for model in (current, candidate):
            prices = self._table.call_prices(model)
            if prices is None:
                return None
            for conversation in conversations:
                tokens_in = count_messages(conversation.messages, model)
                total += (tokens_in * prices[0] + ASSUMED_ANSWER_TOKENS * prices[1]) / 1e6
        return total

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


@dataclass(frozen=True)
class PairView:
    """What every front end shows of a pair: the same words, its own layout."""

    title: str
    asked: str
    sides: list[tuple[str, Answer]]  # ("A", answer), ("B", answer) in the stored order
    judge: str | None  # the judge model's verdict, in words


def pair_view(comparison: Comparison, pair: ComparedPair, number: int) -> PairView:
    total = len(comparison.pair_ids) + len(comparison.to_answer)
    title = "Which answer is better?" if total == 1 else f"Conversation {number} of {total}"
    if pair.conversation.seen_in_training:
        title += " (seen in training)"
    messages = pair.conversation.messages
    asked = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    first, second = (
        (pair.candidate, pair.current) if pair.candidate_is_a else (pair.current, pair.candidate)
    )
    verdicts = {"a": "A is better", "b": "B is better", "same": "about the same"}
    judge = f"Judge model: {verdicts[pair.judge]} (people's picks decide)" if pair.judge else None
    return PairView(title, asked, [("A", first), ("B", second)], judge)


def answer_figures(answer: Answer) -> str:
    """Each side's cost in prompt tokens and its latency: the saving is measured, not claimed."""
    if answer.text is None:
        return f"⚠️ No answer: {answer.error}"
    return f"{answer.prompt_tokens:,} prompt tokens · {answer.latency_ms:,} ms"


PICK_LABELS = {"a": "A is better", "b": "B is better", "same": "Same"}


def with_system_prompt(messages: list[dict[str, Any]], prompt: str) -> list[dict[str, Any]]:
    """The conversation as one side sees it: its own system prompt, then the rest."""
    rest = [{"role": m["role"], "content": m["content"]} for m in messages if m["role"] != "system"]
    return [{"role": "system", "content": prompt}, *rest]


def _lines(content: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in content.decode().splitlines() if line.strip()]


def _preference_id(pair: ComparedPair, winner: str) -> str:
    return f"compare-{pair.id}-{winner}"


def _transcript(messages: list[dict[str, Any]]) -> str:
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages if m["role"] != "system")


def _refs(comparison: Comparison, providers: Providers) -> tuple[ModelRef, ModelRef]:
    """(candidate, current), each where it is served."""
    return (
        providers.ref(comparison.candidate_model, comparison.candidate_provider),
        providers.ref(comparison.current_model, comparison.current_provider),
    )


def _failure(error: Exception) -> str:
    if isinstance(error, ProviderError):
        return str(error)
    if isinstance(error, openai.NotFoundError):
        return "The model was not found."
    if isinstance(error, openai.APIStatusError):
        return f"The model's server answered HTTP {error.status_code}."
    return "The model could not be reached."
