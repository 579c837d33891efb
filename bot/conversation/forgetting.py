"""Deletion and consent: a deleted message takes every example, pair and turn holding its text
with it, and every copy of those (conversation/copies.py: job snapshots and files, comparisons).
`/finetune forget-me` does the same for everything holding a person's messages or written by
them (their corrections, the prompts they typed into a comparison), takes back their votes and
picks, keeps their vetoes without their name or reason, and stops their conversations and
votes from being recorded, until `/finetune include-me`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bot.conversation.copies import CopyHolder, Removed
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
    judged: int = 0  # replies whose vote or veto by the person was taken back or made anonymous
    copies: int = 0  # job snapshots and comparison conversations that held the removed text

    @property
    def anything(self) -> bool:
        return bool(self.examples or self.pairs or self.turns)


class Forgetting:
    def __init__(self, stores: JudgementStores, copies: Sequence[CopyHolder] = ()) -> None:
        self._turns, self._examples = stores.turns, stores.examples
        self._vetoes, self._pairs, self._provenance = stores.vetoes, stores.pairs, stores.provenance
        self._feedback = stores.feedback
        self._copies = copies

    async def message_deleted(self, message: MessageKey) -> Forgotten:
        """Someone deleted `message` (theirs or a bot reply, any part of it)."""
        removed = Removed()
        try:
            first = await self._turns.first_part(message)
            items = await self._provenance.holding_message(first.ref)
            forgotten = await self._remove(items, removed)
            await self._provenance.forget_message(first.ref)
            copies = await self._withdraw(removed)
        except REDIS_DOWN as exc:
            raise StorageUnavailable from exc
        if forgotten.anything:
            logger.info(
                "forgetting: a deleted message took %d examples, %d pairs, %d turns, %d copies",
                forgotten.examples,
                forgotten.pairs,
                forgotten.turns,
                copies,
            )
        return forgotten

    async def forget_person(self, user: str) -> Forgotten:
        removed = Removed(person=user)
        try:
            await self._provenance.opt_out(user)
            items = await self._provenance.holding_person(user)
            for correction in await self._pairs.corrections_by(user):
                items |= {f"example:{correction.example_id}", f"pair:{correction.pair_id}"}
            forgotten = await self._remove(items, removed)
            judged = await self._examples.forget_voter(user)
            judged += await self._vetoes.anonymise(user)
            # Their judgements of replies removed above went with them; the clocks stay.
            refs = sorted({*judged, *removed.replies})
            await self._examples.forget_clocks(user, refs)
            await self._feedback.forget_voter(user, refs)
            copies = await self._withdraw(removed)
            await self._provenance.forget_person(user)
        except REDIS_DOWN as exc:
            raise StorageUnavailable from exc
        logger.info("forgetting: a person opted out; their data is removed")
        return Forgotten(
            forgotten.examples, forgotten.pairs, forgotten.turns, len(set(judged)), copies
        )

    async def remove_examples(self, example_ids: list[str]) -> list[str]:
        """The operator removes examples (`dataset remove`): like a deleted message, each goes
        with its vetoes and every copy of it. Returns the ids that were examples."""
        removed = Removed()
        found = []
        try:
            for example_id in example_ids:
                if (await self._remove({f"example:{example_id}"}, removed)).examples:
                    found.append(example_id)
            await self._withdraw(removed)
        except REDIS_DOWN as exc:
            raise StorageUnavailable from exc
        return found

    async def include_person(self, user: str) -> bool:
        """True if they had opted out."""
        try:
            return await self._provenance.opt_in(user)
        except REDIS_DOWN as exc:
            raise StorageUnavailable from exc

    async def _remove(self, items: set[str], removed: Removed) -> Forgotten:
        """Remove `items` (`example:<id>`, `pair:<id>`, `turn:<path>`), noting in `removed`
        the conversations whose copies must go too."""
        examples = pairs = turns = 0
        for item in items:
            kind, _, name = item.partition(":")
            if kind == "example":
                example = await self._examples.get(name)
                if example is not None:
                    removed.add_example(example)
                if await self._examples.delete(name):
                    examples += 1
                await self._vetoes.delete(name)
            elif kind == "pair":
                pair = await self._pairs.get(name)
                if pair is not None:
                    removed.add_pair(pair)
                pairs += await self._pairs.delete(name)
            elif kind == "turn":
                turn = turn_key(item)
                removed.replies.add(turn.ref)
                turns += await self._turns.delete(turn)
                await self._feedback.delete(turn.ref)
        return Forgotten(examples, pairs, turns)

    async def _withdraw(self, removed: Removed) -> int:
        if not removed:
            return 0
        return sum([await holder.withdraw(removed) for holder in self._copies])
