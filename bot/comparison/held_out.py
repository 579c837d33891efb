"""Which conversations a gate compares a new model on (held out from its training where
possible), and what answering them on both models is expected to cost."""

from __future__ import annotations

import json
from typing import Any

from bot.conversation.copies import prompt_key, prompt_of_line
from bot.dataset.export import Dataset
from bot.dataset.tokens import count_messages
from bot.training.model_table import ModelTable
from bot.training.snapshots import JobSnapshots
from storage.comparisons import Conversation
from storage.jobs import JobRecord

ASSUMED_ANSWER_TOKENS = 300  # for the estimate, when a conversation has no reference answer


async def held_out(
    job: JobRecord, snapshots: JobSnapshots, dataset: Dataset, limit: int
) -> list[Conversation]:
    """Up to `limit` (COMPARE_PROMPTS) conversations: the job's validation split; else examples
    approved after its training file was made; else the latest ones, marked as seen.
    What was forgotten since the job started is left out of its files."""
    validation = await snapshots.kept(job.id, "validation")
    if validation:
        return [Conversation(messages=prompt_of_line(line)) for line in _lines(validation)][:limit]
    trained = await snapshots.kept(job.id, "training") or b""
    trained_ids = {prompt_key(prompt_of_line(line)) for line in _lines(trained)}
    lines = [line async for line in dataset.training_lines()]
    fresh = [line for line in lines if prompt_key(prompt_of_line(line)) not in trained_ids]
    if fresh:
        return [Conversation(messages=prompt_of_line(line)) for line in fresh[-limit:]]
    return [
        Conversation(messages=prompt_of_line(line), seen_in_training=True)
        for line in lines[-limit:]
    ]


def estimate_cost(
    table: ModelTable, current: str, candidate: str, conversations: list[Conversation]
) -> float | None:
    """Both models answering every conversation, in dollars; None without both models' prices."""
    total = 0.0
    for model in (current, candidate):
        prices = table.call_prices(model)
        if prices is None:
            return None
        for conversation in conversations:
            tokens_in = count_messages(conversation.messages, model)
            total += (tokens_in * prices[0] + ASSUMED_ANSWER_TOKENS * prices[1]) / 1e6
    return total


def _lines(content: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in content.decode().splitlines() if line.strip()]
