"""Forgetting reaches comparisons. A comparison keeps conversations to answer and pairs already
answered and posted, and its picks make preference pairs. When a conversation is forgotten (a
deleted message, a person's forget-me) every comparison that shows it loses it: still to answer,
it is never answered; answered, its post is taken down and its pair, picks and preference pairs
go. A person's forget-me also takes the prompts they typed into `/finetune compare` and their
picks on other pairs. Closed comparisons are included: their pairs are shown in history too."""

from __future__ import annotations

import logging

from bot.comparison.compare import Comparer
from bot.conversation.copies import Removed, prompt_key
from storage.comparisons import CLOSED, FAILED, Comparison, ComparisonStore, Conversation

logger = logging.getLogger(__name__)

SCANNED = 10_000  # every comparison a bot keeps (each is a handful of keys)


class ComparisonCopies:
    def __init__(self, comparer: Comparer, store: ComparisonStore) -> None:
        self._comparer = comparer
        self._store = store

    async def withdraw(self, removed: Removed) -> int:
        """How many conversations left comparisons."""
        count = 0
        for comparison in await self._store.all(limit=SCANNED):
            async with self._store.lock(comparison.id):
                current = await self._store.get(comparison.id)
                if current is not None:
                    count += await self._withdraw_from(current, removed)
        if count:
            logger.info("forgetting: %d conversations left comparisons", count)
        return count

    async def _withdraw_from(self, comparison: Comparison, removed: Removed) -> int:
        typed_by_them = comparison.kind == "adhoc" and comparison.asked_by == removed.person

        def gone(conversation: Conversation) -> bool:
            return typed_by_them or prompt_key(conversation.messages) in removed.prompts

        left = [conversation for conversation in comparison.to_answer if not gone(conversation)]
        count = len(comparison.to_answer) - len(left)
        comparison.to_answer = left
        for pair in await self._store.pairs(comparison):
            if gone(pair.conversation):
                await self._comparer.withdraw_pair(comparison, pair)
                comparison.pair_ids.remove(pair.id)
                count += 1
            elif removed.person and await self._store.unpick(pair.id, removed.person):
                await self._comparer.keep_preference(comparison, pair)
        if not count:
            return 0
        emptied = not comparison.pair_ids and not comparison.to_answer
        if emptied and comparison.kind == "adhoc":
            await self._store.delete(comparison)
            return count
        if emptied and comparison.status not in CLOSED:
            comparison.status = FAILED
            await self._store.save(comparison)
            await self._comparer.announce(
                comparison,
                f"Every conversation of this comparison was removed at someone's request, so it "
                f"can't promote `{comparison.candidate_model}`; an admin can still switch by hand "
                f"(`/finetune use {comparison.candidate_model}`).",
            )
            return count
        await self._store.save(comparison)
        return count
