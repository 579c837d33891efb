"""People's picks on a comparison and what they decide: the tally (shown on the gate's job),
the preference pair each pair's winner makes, the gate's sequential test (sequential.py),
promoting or rejecting the new model, and each model's record over every comparison."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from bot.commands.results import ComparisonRecord
from bot.comparison.sequential import Evidence, evidence
from bot.comparison.views import PICK_LABELS, ComparisonReporters, with_system_prompt
from bot.config import Settings
from bot.training.model_switch import ModelSwitcher
from bot.training.reporting import JobReporters
from storage.comparisons import (
    FAILED,
    OPEN,
    PROMOTED,
    REJECTED,
    RUNNING,
    UNDECIDED,
    ComparedPair,
    Comparison,
    ComparisonStore,
    Pick,
)
from storage.jobs import JobStore
from storage.models import ModelSwap
from storage.pairs import PairStore
from storage.schemas import PreferencePair


@dataclass
class Tally:
    """People's picks on a comparison, and what they decide pair by pair. Each person counts
    once per conversation (their latest pick); "same" and "both bad" are kept but count for
    neither model."""

    candidate: int = 0  # picks for the candidate's answer
    current: int = 0
    same: int = 0
    bad: int = 0  # "both bad"
    won: int = 0  # pairs where more people picked the candidate than the current model
    lost: int = 0
    undecided: int = 0  # pairs with no picks yet
    total: int = 0
    people: set[str] = field(default_factory=set)
    judge_judged: int = 0  # pairs where both the judge model and people lean one way
    judge_agreed: int = 0  # ... and the judge leaned the same way as the people
    judge_wins: int = 0  # the judge model's picks for the new model (JUDGE_DECIDES counts them)
    judge_losses: int = 0
    test: Evidence | None = None  # the sequential test, when the gate decides by itself

    @property
    def picks(self) -> int:
        return self.candidate + self.current + self.same + self.bad

    def line(self) -> str:
        bad = f", both bad {self.bad}" if self.bad else ""
        line = (
            f"{self.picks} picks by {len(self.people)} people: new model {self.candidate}, "
            f"current {self.current}, same {self.same}{bad}; the new model won {self.won} of "
            f"{self.total} conversations"
        )
        if self.judge_judged:
            line += (
                f"; the judge model agreed with people on {self.judge_agreed} of "
                f"{self.judge_judged}"
            )
        if self.test is not None and self.test.decision == "continue":
            more = self.test.more_picks
            line += (
                f"; about {more} more picks to a decision" if more else "; many more picks needed"
            )
        return line


@dataclass(frozen=True)
class PickResult:
    text: str  # what the person is told
    counted: bool


class Verdict:
    """What picks decide, for `Comparer`, which builds it and hands picks on to it."""

    def __init__(
        self,
        settings: Settings,
        store: ComparisonStore,
        pairs: PairStore,
        jobs: JobStore,
        reporters: ComparisonReporters,
        job_reporter: JobReporters,  # shows the gate's tally on the job's message
        switcher: ModelSwitcher,
    ) -> None:
        self._settings = settings
        self._store = store
        self._pairs = pairs
        self._jobs = jobs
        self._reporters = reporters
        self._job_reporter = job_reporter
        self._switcher = switcher

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
            await self.show_tally(comparison)
            await self.apply_rule(comparison)
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
            tally.bad += sides.count("bad")
            if not picks:
                tally.undecided += 1
            elif for_candidate > for_current:
                tally.won += 1
            elif for_current > for_candidate:
                tally.lost += 1
            judged = pair.side(pair.judge) if pair.judge in ("a", "b") else None
            tally.judge_wins += judged == "candidate"
            tally.judge_losses += judged == "current"
            leaning = _leaning(for_candidate, for_current)
            if judged is not None and leaning is not None:
                tally.judge_judged += 1
                tally.judge_agreed += judged == leaning
        if self.decides(comparison):
            # The judge model's picks are counted apart and decide nothing, unless
            # JUDGE_DECIDES makes them one more voice in the test.
            judge = self._settings.judge_decides
            tally.test = evidence(
                tally.candidate + (tally.judge_wins if judge else 0),
                tally.current + (tally.judge_losses if judge else 0),
                self._settings.compare_error_rate,
                self._settings.compare_min_lift,
            )
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
        reporter = self._reporters.of(comparison)
        if pair.message_id is not None and reporter is not None:
            await reporter.withdraw_pair(comparison, pair)
        await self._pairs.delete(_preference_id(pair, "candidate"))
        await self._pairs.delete(_preference_id(pair, "current"))
        await self._store.delete_pair(pair.id)

    async def apply_rule(self, comparison: Comparison) -> None:
        """The gate's sequential test, after every pick: promote when the new model wins with
        error at most COMPARE_ERROR_RATE (and COMPARE_MIN_VOTES people have picked), reject
        when it is not better by COMPARE_MIN_LIFT; otherwise keep collecting."""
        if not self.decides(comparison) or comparison.status != OPEN:
            return
        tally = await self.tally(comparison)
        assert tally.test is not None  # a gate that decides always has its test
        # COMPARE_MIN_VOTES counts people: one person picking on every pair is one voice (the
        # judge model is one more with JUDGE_DECIDES).
        judge_voted = self._settings.judge_decides and (tally.judge_wins + tally.judge_losses)
        enough = len(tally.people) + bool(judge_voted) >= self._settings.compare_min_votes
        if tally.test.decision == "promote" and enough:
            await self.promote(comparison, by="auto")
        elif tally.test.decision == "reject":
            comparison.status = REJECTED
            await self._store.save(comparison)
            await self.show_tally(comparison)
            lift = self._settings.compare_min_lift
            await self._reporters.announce(
                comparison,
                f"The team's picks show `{comparison.candidate_model}` is not better than "
                f"`{comparison.current_model}` by {lift:.0%} ({tally.line()}), so I keep "
                f"`{comparison.current_model}`.",
            )

    async def close_undecided(self, comparison: Comparison, days: int) -> None:
        """A gate whose test has not decided in `days` days ends with no decision: the model
        in use stays, and an admin may still switch by hand (`/finetune use`)."""
        comparison.status = UNDECIDED
        await self._store.save(comparison)
        await self.show_tally(comparison)
        tally = await self.tally(comparison)
        await self._reporters.announce(
            comparison,
            f"After {days} days the picks have not decided between `{comparison.candidate_model}` "
            f"and `{comparison.current_model}` ({tally.line()}), so I keep "
            f"`{comparison.current_model}`. An admin can still switch with `/finetune use "
            f"{comparison.candidate_model}`.",
        )

    def decides(self, comparison: Comparison) -> bool:
        """Whether this gate's test decides by itself (a gate made before the flag existed
        follows the setting)."""
        return comparison.kind == "gate" and (comparison.auto_decide or self._settings.gate_decides)

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
        who = {"auto": "The team's picks", "deadline": "The migration's deadline"}.get(
            by, f"<@{by}>"
        )
        if by == "deadline":
            tally = await self.tally(comparison)
            who += f" ({why}; {tally.line()})"
        elif by == "auto":
            tally = await self.tally(comparison)
            error = self._settings.compare_error_rate
            who += f" ({tally.line()}; the chance it is no better is under {error:.0%})"
        text = f"{who} promoted `{comparison.candidate_model}`: I answer with it now. "
        text += "`/finetune rollback` switches back."
        await self._reporters.announce(comparison, text)
        return text

    async def promote_at_deadline(self, comparison: Comparison, shutdown: date | None) -> bool:
        """A migration's last day before the old model shuts down: promote the new one unless
        the picks rejected it, or it failed to answer. True if it was promoted."""
        if comparison.status == FAILED:
            pairs = await self._store.pairs(comparison)
            if any(pair.candidate.text is None for pair in pairs):
                await self._reporters.announce(
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
        await self.show_tally(comparison)

    async def promoted_by_hand(self, model: str) -> None:
        """`/finetune use` switched to a model an open gate was comparing: it is decided."""
        for comparison in await self._store.all(limit=20):
            gate_open = comparison.kind == "gate" and comparison.status != PROMOTED
            if gate_open and comparison.candidate_model == model:
                await self.close_promoted(comparison)

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
                        if side in ("same", "bad"):
                            record.ties += 1
                        elif side == me:
                            record.wins += 1
                        else:
                            record.losses += 1
        return records

    async def show_tally(self, comparison: Comparison) -> None:
        """The tally so far, on the message of the job whose model a gate compares."""
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
            UNDECIDED: "no decision",
        }[comparison.status]
        job.comparison = f"Comparison with `{comparison.current_model}` ({state}): {tally.line()}"
        await self._jobs.save(job)
        await self._job_reporter.show_job(job)


def _leaning(for_candidate: int, for_current: int) -> str | None:
    if for_candidate == for_current:
        return None
    return "candidate" if for_candidate > for_current else "current"


def _preference_id(pair: ComparedPair, winner: str) -> str:
    return f"compare-{pair.id}-{winner}"
