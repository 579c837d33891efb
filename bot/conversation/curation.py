"""Curation: a reaction on a bot reply makes its turn a training example, or takes it back."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from bot.errors import REDIS_DOWN, StorageUnavailable
from bot.tokens import count_messages
from storage.examples import ExampleStore
from storage.schemas import Example, MessageKey
from storage.turns import TurnStore

logger = logging.getLogger(__name__)

VOTE_NOT_SAVED = (
    "I couldn't save your vote because storage is unavailable right now. "
    "Please remove the reaction and add it again in a minute."
)


class Outcome(Enum):
    ADDED = "added"  # the example is in the dataset with this vote
    REMOVED = "removed"  # the vote was taken back
    UNCHANGED = "unchanged"  # a repeat or an out-of-order event
    NOT_A_TURN = "not_a_turn"  # not a recorded bot reply (or it expired)


@dataclass(frozen=True)
class CurationResult:
    outcome: Outcome
    example_id: str | None = None
    votes: int = 0


class Curation:
    def __init__(self, turns: TurnStore, examples: ExampleStore) -> None:
        self._turns = turns
        self._examples = examples

    async def approve_turn(self, reply: MessageKey, user: str, event_time: str) -> CurationResult:
        """`user` approves the bot reply `reply` (any part of it); `event_time` orders their
        add and remove events, so a late-delivered add never undoes a later removal."""
        try:
            turn = await self._turns.get(reply)
            if turn is None:
                return CurationResult(Outcome.NOT_A_TURN)
            example = Example.from_turn(turn)
            example.tokens = count_messages(example.messages, turn.model)
            result = await self._examples.vote(example, user, event_time)
        except REDIS_DOWN as exc:
            raise StorageUnavailable from exc
        outcome = Outcome.ADDED if result.changed else Outcome.UNCHANGED
        logger.info("curation: vote %s on example %s", outcome.value, result.example_id[:12])
        return CurationResult(outcome, result.example_id, result.votes)

    async def withdraw_vote(self, reply: MessageKey, user: str, event_time: str) -> CurationResult:
        try:
            first = await self._turns.first_part(reply)
            result = await self._examples.unvote(first.ref, user, event_time)
        except REDIS_DOWN as exc:
            raise StorageUnavailable from exc
        outcome = Outcome.REMOVED if result.changed else Outcome.UNCHANGED
        logger.info("curation: unvote %s on example %s", outcome.value, result.example_id[:12])
        return CurationResult(outcome, result.example_id, result.votes)
