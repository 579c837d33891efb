"""Curation: people's judgements on bot replies. A vote makes the turn a training example, a
veto keeps it out, a correction makes a better example and a preference pair; each can be
taken back. What trains is decided at export time from these (see bot/dataset/export.py)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from bot.conversation.redaction import Redactor
from bot.dataset.tokens import count_messages
from bot.errors import REDIS_DOWN, StorageUnavailable
from storage.examples import ExampleStore
from storage.feedback import FeedbackStore
from storage.pairs import PairStore
from storage.pending_votes import HeldReaction, PendingVotes
from storage.provenance import Provenance
from storage.schemas import Example, MessageKey, PreferencePair, Turn, content_id
from storage.turns import TurnStore
from storage.vetoes import VetoStore

logger = logging.getLogger(__name__)

VOTE_NOT_SAVED = (
    "I couldn't save your vote because storage is unavailable right now. "
    "Please remove the reaction and add it again in a minute."
)
CORRECTION_SAVED = (
    "Thanks: your correction is saved as a training example (with your vote) and as a "
    "preference pair over the original reply."
)
NOT_A_REPLY = '"Improve this reply" works on my replies that are still recorded; this isn\'t one.'
CORRECTION_NOT_SAVED = "I couldn't save your correction because storage is unavailable; try again."
REASON_MAX_CHARS = 2000
T = TypeVar("T")


class Outcome(Enum):
    ADDED = "added"  # the example is in the dataset with this vote
    REMOVED = "removed"  # the vote was taken back
    VETOED = "vetoed"  # the reply is kept out of training
    LIFTED = "lifted"  # the veto was taken back
    UNCHANGED = "unchanged"  # a repeat or an out-of-order event
    NOT_A_TURN = "not_a_turn"  # not a recorded bot reply (or it expired)
    NOT_CURATED = "not_curated"  # a channel outside CURATE_CHANNELS
    OPTED_OUT = "opted_out"  # someone in the conversation asked not to be recorded
    VOTER_OPTED_OUT = "voter_opted_out"  # the person judging asked not to be recorded
    HELD = "held"  # on a reply not recorded yet (still streaming): applied when it is


OPT_OUT_REFUSALS = {
    Outcome.OPTED_OUT: "Someone in this conversation asked not to be recorded, so it can't train.",
    Outcome.VOTER_OPTED_OUT: (
        "You asked me to forget you, so I don't record your votes or corrections; "
        "`/finetune include-me` lets them count again."
    ),
}


@dataclass(frozen=True)
class CurationResult:
    outcome: Outcome
    example_id: str | None = None
    votes: int = 0
    first_vote: bool = False  # the person's first vote by button (they are told it counted)


class CorrectionRefused(ValueError):
    """A correction that can't be saved as written; the message is for the person."""


def correction_refusal(outcome: Outcome) -> str | None:
    """Why a correction was not saved, for an outcome other than ADDED."""
    if outcome is Outcome.ADDED:
        return None
    if outcome is Outcome.NOT_CURATED:
        return "Replies in this channel aren't curated (CURATE_CHANNELS)."
    if outcome in (Outcome.OPTED_OUT, Outcome.VOTER_OPTED_OUT):
        return OPT_OUT_REFUSALS[outcome]
    return "That reply is no longer recorded (turns expire), so the correction wasn't saved."


@dataclass(frozen=True)
class JudgementStores:
    """Where turns and people's judgements on them live (shared with forgetting)."""

    turns: TurnStore
    examples: ExampleStore
    vetoes: VetoStore
    pairs: PairStore
    provenance: Provenance
    feedback: FeedbackStore


class Curation:
    def __init__(
        self,
        stores: JudgementStores,
        *,
        channels: frozenset[str] = frozenset(),
        token_limit: Callable[[str], int | None] = lambda model: None,
        redactor: Redactor | None = None,
        pending: PendingVotes | None = None,
    ) -> None:
        self._pending = pending
        self._turns, self._examples = stores.turns, stores.examples
        self._vetoes, self._pairs, self._provenance = stores.vetoes, stores.pairs, stores.provenance
        self._feedback = stores.feedback
        self._channels = channels  # CURATE_CHANNELS; empty: everywhere
        self._token_limit = token_limit
        self._redactor = redactor

    def curates(self, channel: str) -> bool:
        """Whether replies in `channel` can be curated (CURATE_CHANNELS; empty: everywhere)."""
        return not self._channels or channel in self._channels

    async def react(
        self, reply: MessageKey, user: str, judgement: str, added: bool, event_time: str
    ) -> CurationResult:
        """A reaction added or removed on a bot reply: `judgement` is "vote" or "veto"."""
        if judgement == "veto":
            change = self.veto_turn if added else self.lift_veto
        else:
            change = self.approve_turn if added else self.withdraw_vote
        result = await change(reply, user, event_time)
        if result.outcome is not Outcome.NOT_A_TURN or self._pending is None:
            return result
        # Perhaps the answer is still streaming: its turn is recorded when the stream stops.
        # Held until then; and if it was recorded in the meantime, applied now.
        await _stored(self._pending.hold(reply, HeldReaction(user, judgement, added, event_time)))
        if await _stored(self._turns.get(reply)) is not None:
            await self.apply_pending(reply)
        return CurationResult(Outcome.HELD)

    async def apply_pending(self, reply: MessageKey) -> None:
        """Apply the reactions held for `reply`, whose turn is recorded now."""
        if self._pending is None:
            return
        for held in await _stored(self._pending.take(reply)):
            # A vote by someone who said "forget me" meanwhile is refused like any of theirs.
            result = await self.react(reply, held.user, held.judgement, held.added, held.event_time)
            logger.info("curation: a reaction made while the answer streamed: %s", result.outcome)

    async def approve_turn(self, reply: MessageKey, user: str, event_time: str) -> CurationResult:
        """`user` approves the bot reply `reply` (any part of it); `event_time` orders their
        add and remove events, so a late-delivered add never undoes a later removal."""

        async def vote(turn: Turn) -> CurationResult:
            example = _with_tokens(Example.from_turn(turn))
            result = await self._examples.vote(example, user, event_time)
            outcome = Outcome.ADDED if result.changed else Outcome.UNCHANGED
            logger.info("curation: vote %s on example %s", outcome.value, result.example_id[:12])
            return CurationResult(outcome, result.example_id, result.votes)

        return await self._on_turn(reply, vote, by=user)

    async def withdraw_vote(self, reply: MessageKey, user: str, event_time: str) -> CurationResult:
        async def unvote() -> CurationResult:
            first = await self._turns.first_part(reply)
            result = await self._examples.unvote(first.ref, user, event_time)
            outcome = Outcome.REMOVED if result.changed else Outcome.UNCHANGED
            logger.info("curation: unvote %s on example %s", outcome.value, result.example_id[:12])
            return CurationResult(outcome, result.example_id, result.votes)

        # Always allowed: taking a vote back must work even where new votes are not taken.
        return await _stored(unvote())

    async def veto_turn(
        self, reply: MessageKey, user: str, event_time: str, reason: str | None = None
    ) -> CurationResult:
        """`user` says the reply is bad: its example is never exported while the veto stands."""

        async def veto(turn: Turn) -> CurationResult:
            example_id = Example.from_turn(turn).id
            changed = await self._vetoes.veto(example_id, user, turn.ref, event_time, reason)
            logger.info("curation: veto on example %s", example_id[:12])
            return CurationResult(Outcome.VETOED if changed else Outcome.UNCHANGED, example_id)

        # A veto keeps data out, so it counts even from someone who opted out.
        return await self._on_turn(reply, veto, respect_opt_out=False)

    async def lift_veto(self, reply: MessageKey, user: str, event_time: str) -> CurationResult:
        async def lift() -> CurationResult:
            first = await self._turns.first_part(reply)
            lifted = await self._vetoes.lift(first.ref, user, event_time)
            return CurationResult(Outcome.LIFTED if lifted else Outcome.UNCHANGED)

        return await _stored(lift())

    async def feedback(self, reply: MessageKey, user: str, button: str, at: str) -> CurationResult:
        """A click on a reply's feedback buttons: `button` is "good" (👍) or "bad" (👎), `at`
        the click's time. The person's latest click decides: 👍 votes, 👎 vetoes (replacing
        their vote), the same button again clears their judgement."""

        async def click(turn: Turn) -> CurationResult:
            if button == "good" and (refused := await self._opted_out(turn, user)):
                return CurationResult(refused)
            choice = await self._feedback.click(turn.ref, user, button, at)
            if choice.chosen == "stale":
                return CurationResult(Outcome.UNCHANGED)
            example = _with_tokens(Example.from_turn(turn))
            # Undo the earlier click first, so a vote and a veto never stand together.
            if choice.previous == "good":
                removed = await self._examples.unvote(turn.ref, user, at)
                result = CurationResult(Outcome.REMOVED, example.id, removed.votes)
            elif choice.previous == "bad":
                await self._vetoes.lift(turn.ref, user, at)
                result = CurationResult(Outcome.LIFTED, example.id)
            if choice.chosen == "good":
                voted = await self._examples.vote(example, user, at)
                first = await self._feedback.first_vote(user)
                result = CurationResult(Outcome.ADDED, example.id, voted.votes, first)
            elif choice.chosen == "bad":
                await self._vetoes.veto(example.id, user, turn.ref, at)
                result = CurationResult(Outcome.VETOED, example.id)
            logger.info("curation: feedback %s on %s", result.outcome.value, example.id[:12])
            return result

        # Like a veto, a 👎 counts even from someone who opted out; a 👍 is checked above.
        return await self._on_turn(reply, click, respect_opt_out=False)

    async def explain_veto(self, reply: MessageKey, user: str, at: str, reason: str) -> bool:
        """Keep `reason` with `user`'s 👎 veto clicked at `at`; False if it no longer stands
        (they clicked again since)."""
        result = await self.veto_turn(reply, user, at, reason.strip()[:REASON_MAX_CHARS] or None)
        return result.outcome is Outcome.VETOED

    async def correction_draft(self, reply: MessageKey) -> str | None:
        """The text to start a correction from: the latest correction, else the reply itself."""

        async def draft() -> str | None:
            turn = await self._turns.get(reply)
            if turn is None:
                return None
            latest = await self._pairs.correction(turn.ref)
            return latest.text if latest else turn.reply

        return await _stored(draft())

    async def correct(self, reply: MessageKey, user: str, text: str) -> CurationResult:
        """Store `text` as what the reply should have said: an example voted by `user` and a
        preference pair (corrected over original). It replaces an earlier correction."""
        text = text.strip()
        if not text:
            raise CorrectionRefused("Write the reply as it should have been; it can't be blank.")

        async def save(turn: Turn) -> CurationResult:
            # A person's correction is redacted like everything else that is stored.
            corrected = text
            if self._redactor is not None:
                corrected = self._redactor.redact(text, dict(turn.placeholders)).text
            example = _with_tokens(Example.from_turn(turn, reply=corrected))
            limit = self._token_limit(turn.model)
            if limit is not None and example.tokens > limit:
                raise CorrectionRefused(
                    f"With this reply the conversation is {example.tokens:,} tokens; the model "
                    f"takes up to {limit:,}. Please shorten it."
                )
            pair = PreferencePair(
                id=content_id([*turn.messages, {"preferred": corrected, "other": turn.reply}]),
                input=turn.messages,
                preferred=corrected,
                non_preferred=turn.reply,
                by=user,
                source=turn.ref,
                message_refs=turn.provenance_refs,
                people=turn.people or [turn.user],
            )
            earlier = await self._pairs.correction(turn.ref)
            # The new one is saved before the earlier one goes: a crash between leaves both.
            result = await self._examples.vote(example, user, "0")
            await self._pairs.save_correction(turn.ref, pair, example.id)
            if earlier and earlier.example_id != example.id:
                await self._examples.delete(earlier.example_id)
            if earlier and earlier.pair_id != pair.id:
                await self._pairs.delete(earlier.pair_id)
            logger.info("curation: correction stored as example %s", example.id[:12])
            return CurationResult(Outcome.ADDED, example.id, result.votes)

        return await self._on_turn(reply, save, by=user)

    async def _on_turn(
        self,
        reply: MessageKey,
        judge: Callable[[Turn], Awaitable[CurationResult]],
        *,
        by: str | None = None,
        respect_opt_out: bool = True,
    ) -> CurationResult:
        """Run `judge` on the turn of `reply`, unless it is not curated, not recorded, or (for
        what adds data) someone in it, or the person judging (`by`), opted out."""
        if not self.curates(reply.channel):
            return CurationResult(Outcome.NOT_CURATED)

        async def judged() -> CurationResult:
            turn = await self._turns.get(reply)
            if turn is None:
                return CurationResult(Outcome.NOT_A_TURN)
            if respect_opt_out and (refused := await self._opted_out(turn, by)):
                return CurationResult(refused)
            return await judge(turn)

        return await _stored(judged())

    async def _opted_out(self, turn: Turn, by: str | None) -> Outcome | None:
        # One round trip on the vote path: the judge first, then the conversation's people.
        judge = [by] if by is not None else []
        flags = await self._provenance.opted_out([*judge, *turn.people])
        if judge and flags[0]:
            return Outcome.VOTER_OPTED_OUT
        return Outcome.OPTED_OUT if any(flags[len(judge) :]) else None


def _with_tokens(example: Example) -> Example:
    example.tokens = count_messages(example.messages, example.model)
    return example


async def _stored(work: Awaitable[T]) -> T:
    try:
        return await work
    except REDIS_DOWN as exc:
        raise StorageUnavailable from exc
