"""Deletion and consent: a deleted message takes every example, pair and turn holding its text
with it; `/finetune forget-me` does the same for everything holding a person's messages and
stops their conversations from becoming examples, until `/finetune include-me`."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.conversation.curation import JudgementStores
from bot.errors import REDIS_DOWN, StorageUnavailable
from storage.schemas import MessageKey
from storage.turns import turn_key

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Forgotten:
    examples: int = 0
    pairs: int = 0
    turns: int = 0

    @property
    def anything(self) -> bool:
        return bool(self.examples or self.pairs or self.turns)


class Forgetting:
    def __init__(self, stores: JudgementStores) -> None:
        self._turns, self._examples = stores.turns, stores.examples
        self._vetoes, self._pairs, self._provenance = stores.vetoes, stores.pairs, stores.provenance
        self._feedback = stores.feedback

    async def message_deleted(self, message: MessageKey) -> Forgotten:
        """Someone deleted `message` (theirs or a bot reply, any part of it)."""
        try:
            first = await self._turns.first_part(message)
            items = await self._provenance.holding_message(first.ref)
            forgotten = await self._remove(items)
            await self._provenance.forget_message(first.ref)
        except REDIS_DOWN as exc:
            raise StorageUnavailable from exc
        if forgotten.anything:
            logger.info(
                "forgetting: a deleted message took %d examples, %d pairs, %d turns",
                forgotten.examples,
                forgotten.pairs,
                forgotten.turns,
            )
        return forgotten

    async def forget_person(self, user: str) -> Forgotten:
        try:
            await self._provenance.opt_out(user)
            forgotten = await self._remove(await self._provenance.holding_person(user))
            await self._provenance.forget_person(user)
        except REDIS_DOWN as exc:
            raise StorageUnavailable from exc
        logger.info("forgetting: a person opted out; their data is removed")
        return forgotten

    async def include_person(self, user: str) -> bool:
        """True if they had opted out."""
        try:
            return await self._provenance.opt_in(user)
        except REDIS_DOWN as exc:
            raise StorageUnavailable from exc

    async def _remove(self, items: set[str]) -> Forgotten:
        examples = pairs = turns = 0
        for item in items:
            kind, _, name = item.partition(":")
            if kind == "example":
                if await self._examples.delete(name):
                    examples += 1
                await self._vetoes.delete(name)
            elif kind == "pair":
                pairs += await self._pairs.delete(name)
            elif kind == "turn":
                turn = turn_key(item)
                turns += await self._turns.delete(turn)
                await self._feedback.delete(turn.ref)
        return Forgotten(examples, pairs, turns)
