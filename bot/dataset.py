"""The dataset as OpenAI chat fine-tuning JSONL, and its summary."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from storage.examples import ExampleStore
from storage.schemas import Example


def training_messages(example: Example, approved_refs: set[str]) -> list[dict[str, Any]]:
    """The example's messages with weights: earlier replies train only if approved themselves."""
    messages = [dict(m) for m in example.messages]
    assistant_positions = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    *earlier, final = assistant_positions
    for position, ref in zip(earlier, example.history_refs, strict=False):
        messages[position]["weight"] = 1 if ref in approved_refs else 0
    # Earlier replies with no known ref (should not happen) are context, not targets.
    for position in earlier[len(example.history_refs) :]:
        messages[position]["weight"] = 0
    messages[final]["weight"] = 1
    return messages


async def training_lines(examples: ExampleStore) -> AsyncIterator[dict[str, Any]]:
    """Each example as a fine-tuning line (`{"messages": [...]}`), streamed from Redis."""
    approved = await examples.approved_refs()
    async for example in examples.iter_examples():
        yield {"messages": training_messages(example, approved)}


async def export_jsonl(examples: ExampleStore) -> AsyncIterator[str]:
    """One JSONL line (with newline) per example."""
    async for line in training_lines(examples):
        yield json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"


async def export_bytes(examples: ExampleStore) -> tuple[bytes, int]:
    lines = [line async for line in export_jsonl(examples)]
    return "".join(lines).encode(), len(lines)
