"""The dataset as training files: OpenAI chat JSONL (with weights) and preference JSONL (DPO).

What trains is decided here, at export time, from people's judgements: an example is in the
training set once `MIN_VOTES` distinct people approved it and nobody vetoed it. Changing the
rule changes the next export; nothing stored needs rewriting.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from storage.examples import ExampleStore
from storage.pairs import PairStore
from storage.schemas import Example, PreferencePair
from storage.vetoes import VetoStore


def training_messages(example: Example, approved_refs: set[str]) -> list[dict[str, Any]]:
    """The example's messages with weights: earlier replies train only if approved themselves.
    Imported examples keep the weights they came with."""
    messages = [dict(m) for m in example.messages]
    if example.is_imported:
        return messages
    assistant_positions = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    *earlier, final = assistant_positions
    for position, ref in zip(earlier, example.history_refs, strict=False):
        messages[position]["weight"] = 1 if ref in approved_refs else 0
    # Earlier replies with no known ref (should not happen) are context, not targets.
    for position in earlier[len(example.history_refs) :]:
        messages[position]["weight"] = 0
    messages[final]["weight"] = 1
    return messages


def preference_line(pair: PreferencePair) -> dict[str, Any]:
    """OpenAI's preference fine-tuning line: the input messages and the two answers."""
    return {
        "input": {"messages": [dict(m) for m in pair.input]},
        "preferred_output": [{"role": "assistant", "content": pair.preferred}],
        "non_preferred_output": [{"role": "assistant", "content": pair.non_preferred}],
    }


def jsonl(line: dict[str, Any]) -> str:
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"


@dataclass(frozen=True)
class DatasetCounts:
    in_set: int  # approved by enough people, not vetoed: these train
    waiting: int  # approved, but by fewer than MIN_VOTES people
    vetoed: int
    pairs: int
    approx_tokens: int  # of every approved example
    redactions: int


class Dataset:
    def __init__(
        self, examples: ExampleStore, vetoes: VetoStore, pairs: PairStore, min_votes: int = 1
    ) -> None:
        self.examples = examples
        self._vetoes = vetoes
        self._pairs = pairs
        self.min_votes = min_votes

    async def _standing(self) -> dict[str, str]:
        """Each approved example's standing, decided once per export from the judgements:
        "trains" (enough votes, or imported by an operator who curated it, and no veto),
        "waiting" (fewer than `min_votes` people) or "vetoed"."""
        ids = await self.examples.all_ids()
        voters = await self.examples.voters(ids)
        vetoed = await self._vetoes.vetoed_ids()
        imported = await self.examples.imported_ids()
        standing = {}
        for example_id, n in zip(ids, voters, strict=True):
            if example_id in vetoed:
                standing[example_id] = "vetoed"
            elif n >= self.min_votes or example_id in imported:
                standing[example_id] = "trains"
            elif n:
                standing[example_id] = "waiting"
        return standing

    async def training_lines(self) -> AsyncIterator[dict[str, Any]]:
        """Each example that trains as a fine-tuning line (`{"messages": [...]}`), streamed.
        Earlier replies keep weight 1 only if their own example trains."""
        standing = await self._standing()
        index = await self.examples.example_ids_with_voters()
        approved = {
            ref for ref, example_id in index.items() if standing.get(example_id) == "trains"
        }
        async for batch in self.examples.iter_batches():
            for example in batch:
                if standing.get(example.id) == "trains":
                    yield {"messages": training_messages(example, approved), **example.extra}

    async def preference_lines(self) -> AsyncIterator[dict[str, Any]]:
        async for pair in self._pairs.iter_pairs():
            yield preference_line(pair)

    async def export_bytes(self, kind: str = "sft") -> tuple[bytes, int]:
        lines = self.preference_lines() if kind == "dpo" else self.training_lines()
        texts = [jsonl(line) async for line in lines]
        return "".join(texts).encode(), len(texts)

    async def counts(self) -> DatasetCounts:
        stats = await self.examples.stats()
        standing = list((await self._standing()).values())
        vetoed = await self._vetoes.vetoed_ids()  # vetoes on replies nobody approved count too
        return DatasetCounts(
            standing.count("trains"),
            standing.count("waiting"),
            len(vetoed),
            await self._pairs.count(),
            stats.approx_tokens,
            stats.redactions,
        )
