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
from itertools import islice
from typing import Any

from bot.dataset.tempfiles import TempFile
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


# Standings kept while an export reads on: later examples of a thread ask about earlier replies,
# which are mostly a few batches back. 20,000 ids are about 3 MB.
STANDINGS_REMEMBERED = 20_000


class Dataset:
    def __init__(
        self, examples: ExampleStore, vetoes: VetoStore, pairs: PairStore, min_votes: int = 1
    ) -> None:
        self.examples = examples
        self._vetoes = vetoes
        self._pairs = pairs
        self.min_votes = min_votes

    async def training_batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        """Each example that trains as a fine-tuning line (`{"messages": [...]}`), a batch at a
        time in the order of approval. Earlier replies keep weight 1 only if their own example
        trains; the approved-reply index is read for each batch's refs only."""
        standings = Standings(self.examples, await self._vetoes.vetoed_ids(), self.min_votes)
        async for batch in self.examples.iter_batches():
            standing = await standings.of([example.id for example in batch], listed=True)
            training = [example for example in batch if standing[example.id] == "trains"]
            approved = await standings.approved(
                [ref for example in training for ref in example.history_refs]
            )
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
        standings = Standings(self.examples, vetoed, self.min_votes, remember=0)
        standing: Counter[str | None] = Counter()
        async for ids in self.examples.iter_ids():
            standing.update((await standings.of(ids, listed=True)).values())
        return DatasetCounts(
            standing["trains"],
            standing["waiting"],
            len(vetoed),
            await self._pairs.count(),
            stats.approx_tokens,
            stats.redactions,
        )


class Standings:
    """Each example's standing, decided from the judgements during one read of the dataset:
    "trains" (enough votes, or imported by an operator who curated it, and no veto), "waiting"
    (fewer than `min_votes` people), "vetoed", or None (not, or no longer, an example; or
    nobody approves it). Asked of Redis a batch at a time, so nothing holds every id; the
    latest `remember` are kept, as later examples of a thread ask about replies just read."""

    def __init__(
        self,
        examples: ExampleStore,
        vetoed: set[str],
        min_votes: int,
        remember: int | None = None,
    ) -> None:
        self._examples = examples
        self._vetoed = vetoed
        self._min_votes = min_votes
        self._remember = STANDINGS_REMEMBERED if remember is None else remember
        self._known: dict[str, str | None] = {}

    async def of(self, example_ids: list[str], listed: bool = False) -> dict[str, str | None]:
        """The standing of each id; `listed`: the ids were just read from the dataset itself."""
        ids = list(dict.fromkeys(example_ids))
        found = {i: self._known[i] for i in ids if i in self._known}
        asked = [i for i in ids if i not in found]
        if not listed:
            present = dict(zip(asked, await self._examples.in_dataset(asked), strict=True))
            found |= {i: None for i in asked if not present[i]}
            asked = [i for i in asked if present[i]]
        voters = await self._examples.voters(asked)
        imported = await self._examples.imported_among(asked)
        for example_id, n, is_imported in zip(asked, voters, imported, strict=True):
            found[example_id] = self._decide(example_id, n, is_imported)
        self._keep({i: found[i] for i in ids if i not in self._known})
        return found

    async def approved(self, refs: list[str]) -> set[str]:
        """Those of the reply refs whose own example trains (their weight stays 1)."""
        refs = list(dict.fromkeys(refs))
        example_ids = await self._examples.examples_of_replies(refs)
        standing = await self.of([i for i in example_ids if i])
        return {
            ref
            for ref, example_id in zip(refs, example_ids, strict=True)
            if example_id and standing[example_id] == "trains"
        }

    def _decide(self, example_id: str, voters: int, is_imported: bool) -> str | None:
        if example_id in self._vetoed:
            return "vetoed"
        if voters >= self._min_votes or is_imported:
            return "trains"
        return "waiting" if voters else None

    def _keep(self, decided: dict[str, str | None]) -> None:
        self._known |= decided
        for oldest in list(islice(self._known, max(0, len(self._known) - self._remember))):
            del self._known[oldest]


def write_jsonl(file: TempFile, lines: list[dict[str, Any]]) -> None:
    """Append `lines` to `file`, serialised as the export serialises them."""
    file.write("".join(jsonl(line) for line in lines).encode(), len(lines))
