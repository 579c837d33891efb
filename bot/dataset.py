"""The dataset as training files: OpenAI chat JSONL (with weights) and preference JSONL (DPO).

What trains is decided here, at export time, from people's judgements: an example is in the
training set once `MIN_VOTES` distinct people approved it and nobody vetoed it. Changing the
rule changes the next export; nothing stored needs rewriting.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from bot.tempfiles import TempFile
from storage.examples import BATCH, ExampleStore
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

    async def _standing(self, example_ids: list[str], vetoed: set[str]) -> dict[str, str]:
        """The standing of these examples, decided from the judgements: "trains" (enough
        votes, or imported by an operator who curated it, and no veto), "waiting" (fewer than
        `min_votes` people) or "vetoed"; an id that is not (or no longer) an example, or that
        nobody approves, has none. Asked a batch at a time, so no export holds every id."""
        present = await self.examples.in_dataset(example_ids)
        ids = [i for i, is_present in zip(example_ids, present, strict=True) if is_present]
        voters = await self.examples.voters(ids)
        imported = await self.examples.imported_among(ids)
        standing = {}
        for example_id, n, is_imported in zip(ids, voters, imported, strict=True):
            if example_id in vetoed:
                standing[example_id] = "vetoed"
            elif n >= self.min_votes or is_imported:
                standing[example_id] = "trains"
            elif n:
                standing[example_id] = "waiting"
        return standing

    async def _approved(self, refs: list[str], vetoed: set[str]) -> set[str]:
        """Those of the reply refs whose own example trains (their weight stays 1)."""
        refs = list(dict.fromkeys(refs))
        example_ids = await self.examples.examples_of_replies(refs)
        standing = await self._standing(list({i for i in example_ids if i}), vetoed)
        return {
            ref
            for ref, example_id in zip(refs, example_ids, strict=True)
            if example_id and standing.get(example_id) == "trains"
        }

    async def training_batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        """Each example that trains as a fine-tuning line (`{"messages": [...]}`), a batch at a
        time in the order of approval. Earlier replies keep weight 1 only if their own example
        trains; the approved-reply index is read for each batch's refs only."""
        vetoed = await self._vetoes.vetoed_ids()
        async for batch in self.examples.iter_batches():
            standing = await self._standing([example.id for example in batch], vetoed)
            training = [example for example in batch if standing.get(example.id) == "trains"]
            refs = [ref for example in training for ref in example.history_refs]
            approved = await self._approved(refs, vetoed)
            lines = [
                {"messages": training_messages(example, approved), **example.extra}
                for example in training
            ]
            if lines:
                yield lines

    async def training_lines(self) -> AsyncIterator[dict[str, Any]]:
        """The lines of `training_batches`, one at a time."""
        async for batch in self.training_batches():
            for line in batch:
                yield line

    async def preference_lines(self) -> AsyncIterator[dict[str, Any]]:
        async for pair in self._pairs.iter_pairs():
            yield preference_line(pair)

    async def preference_batches(self, size: int = BATCH) -> AsyncIterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        async for line in self.preference_lines():
            batch.append(line)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch

    def batches(self, kind: str = "sft") -> AsyncIterator[list[dict[str, Any]]]:
        """The export's lines a batch at a time: the examples, or the preference pairs (dpo)."""
        return self.preference_batches() if kind == "dpo" else self.training_batches()

    async def export_file(self, kind: str = "sft") -> TempFile:
        """The export as JSONL in a temporary file, written a batch at a time (each serialised
        off the event loop), so memory stays flat at any size. The caller discards it."""
        file = TempFile(prefix=f"{'preferences' if kind == 'dpo' else 'dataset'}-")
        try:
            async for batch in self.batches(kind):
                await asyncio.to_thread(write_jsonl, file, batch)
            return file.finish()
        except BaseException:
            file.discard()
            raise

    async def export_bytes(self, kind: str = "sft") -> tuple[bytes, int]:
        """The export in memory, with its line count: for small datasets and tests; the bot
        itself sends `export_file`."""
        with await self.export_file(kind) as file:
            return file.read_bytes(), file.lines

    async def counts(self) -> DatasetCounts:
        stats = await self.examples.stats()
        vetoed = await self._vetoes.vetoed_ids()  # vetoes on replies nobody approved count too
        standing: Counter[str] = Counter()
        async for ids in self.examples.iter_ids():
            standing.update((await self._standing(ids, vetoed)).values())
        return DatasetCounts(
            standing["trains"],
            standing["waiting"],
            len(vetoed),
            await self._pairs.count(),
            stats.approx_tokens,
            stats.redactions,
        )


def write_jsonl(file: TempFile, lines: list[dict[str, Any]]) -> None:
    """Append `lines` to `file`, serialised as the export serialises them."""
    file.write("".join(jsonl(line) for line in lines).encode(), len(lines))
