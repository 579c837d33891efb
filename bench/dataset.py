"""Dataset benchmark: validate + count tokens (+ export) against the cookbook's reference loop.

The synthetic data looks like what curation stores: one bot, so one system prompt; threads of
1-8 turns whose approved replies each become an example carrying the thread's earlier turns
(so later examples share their prefix with earlier ones); examples of different threads
interleaved, as approvals arrive. A second data set with no repeated text at all shows what is
left of the speed-up when nothing repeats.

Run: python -m bench dataset [--sizes 1000 10000 100000] [--export-sizes 1000 10000 100000]
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

from bench.common import redis_server
from bot.dataset.export import Dataset, jsonl
from bot.dataset.tokens import encoding_for
from bot.dataset.validation import analyse_dataset
from bot.training.model_table import default_model_table

MODEL = "gpt-4.1-mini-2025-04-14"

# Common English words first (drawn more often), then the team's own vocabulary.
WORDS = (  # noqa: SIM905 (one readable paragraph)
    "the to and a of is it you that in for this we on with be can if your as are have i not "
    "will at or but so do our from by an all there about what when should just one out then "
    "it's need up more make sure also like now which would could after before new check run "
    "also because only first next here step time use way still please thanks yes no maybe "
    "deploy pipeline build release rollback staging production branch merge review test tests "
    "latency error errors timeout retry cache redis queue worker workers service endpoint "
    "customer ticket billing invoice refund password login account team meeting schedule "
    "tomorrow incident alert dashboard metrics logs config variable secret token database "
    "migration schema index query slow fast memory cpu disk container kubernetes pod node "
    "cluster region replica backup restore feature flag experiment users request response "
    "latest version upgrade dependency package python typescript api webhook slack channel "
    "thread message reply approve vote dataset model fine-tune prompt answer question"
).split()
PUNCTUATION = ["", "", "", "", "", ",", ",", ".", ".", "?", ":"]


class TextMaker:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        # Zipf-like weights: early (common) words far more often than later ones.
        self.weights = [1 / (rank + 1) ** 0.9 for rank in range(len(WORDS))]
        self.serial = 0

    def sentence(self, n_words: int) -> str:
        words = self.rng.choices(WORDS, self.weights, k=n_words)
        marks = self.rng.choices(PUNCTUATION, k=n_words)
        text = " ".join(w + m for w, m in zip(words, marks, strict=True))
        return text[0].upper() + text[1:] + "."

    def user_message(self) -> str:
        text = self.sentence(self.rng.randint(8, 60))
        if self.rng.random() < 0.3:
            self.serial += 1
            text += f" See PR #{self.serial} and `svc-{self.rng.randint(100, 9999)}`."
        return text

    def reply(self) -> str:
        parts = [self.sentence(self.rng.randint(15, 70)) for _ in range(self.rng.randint(1, 3))]
        if self.rng.random() < 0.4:
            parts.append("\n".join(f"- {self.sentence(self.rng.randint(4, 14))}" for _ in range(3)))
        if self.rng.random() < 0.15:
            parts.append(f"```\nkubectl rollout undo deploy/api-{self.rng.randint(1, 99)}\n```")
        return "\n\n".join(parts)


def realistic_examples(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """`count` training lines, lazily; see the module docstring."""
    rng = random.Random(seed)
    maker = TextMaker(rng)
    system = {"role": "system", "content": maker.sentence(90)}
    active: list[Iterator[dict[str, Any]]] = []
    made = 0
    while made < count:
        # About 30 conversations going on at once, whose approvals interleave.
        while len(active) < 30:
            active.append(_thread_examples(rng, maker, system))
        pick = rng.randrange(len(active))
        example = next(active[pick], None)
        if example is None:
            active.pop(pick)
            continue
        made += 1
        yield example


def _thread_examples(
    rng: random.Random, maker: TextMaker, system: dict[str, str]
) -> Iterator[dict[str, Any]]:
    turns = rng.choices([1, 2, 3, 4, 5, 6, 7, 8], [35, 25, 15, 10, 6, 4, 3, 2])[0]
    approved = [rng.random() < 0.5 for _ in range(turns)]
    approved[-1] = True  # a thread nobody approved never reaches the dataset
    earlier: list[dict[str, Any]] = []  # user/assistant pairs so far, as the model saw them
    for turn in range(turns):
        user = {"role": "user", "content": maker.user_message()}
        reply = maker.reply()
        if approved[turn]:
            # Like bot.dataset.export.training_messages: earlier replies train only if approved.
            history = [
                {**m, "weight": 1 if approved[i // 2] else 0} if m["role"] == "assistant" else m
                for i, m in enumerate(earlier)
            ]
            final = {"role": "assistant", "content": reply, "weight": 1}
            yield {"messages": [system, *history, user, final]}
        earlier += [user, {"role": "assistant", "content": reply}]


def unique_examples(count: int, seed: int = 11) -> Iterator[dict[str, Any]]:
    """Examples with no repeated text at all (a different system prompt each): the worst case."""
    rng = random.Random(seed)
    maker = TextMaker(rng)
    for _ in range(count):
        messages: list[dict[str, Any]] = [{"role": "system", "content": maker.sentence(90)}]
        turns = rng.randint(1, 3)
        for turn in range(turns):
            messages.append({"role": "user", "content": maker.user_message()})
            weight = 1 if turn == turns - 1 else 0
            messages.append({"role": "assistant", "content": maker.reply(), "weight": weight})
        yield {"messages": messages}


def cookbook_count(examples: list[dict[str, Any]]) -> int:
    """The cookbook's num_tokens_from_messages, summed over the dataset: the baseline.

    3 tokens per message, `encoding.encode` per value, 1 more for a name, 3 to prime the reply.
    `weight` is skipped: the notebook would crash encoding an int.
    """
    encoding = encoding_for(MODEL)
    total = 0
    for example in examples:
        num_tokens = 0
        for message in example["messages"]:
            num_tokens += 3
            for key, value in message.items():
                if key == "weight":
                    continue
                num_tokens += len(encoding.encode(value))
                if key == "name":
                    num_tokens += 1
        num_tokens += 3
        total += num_tokens
    return total


def _best_of(runs: int, work) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    return best, result


def _peak_mb(work) -> float:
    gc.collect()
    tracemalloc.start()
    work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return round(peak / 1e6, 2)


def measure(kind: str, count: int) -> dict[str, Any]:
    make = realistic_examples if kind == "realistic" else unique_examples
    # Through JSON, like examples read from Redis: equal texts are not the same objects.
    examples = json.loads(json.dumps(list(make(count))))
    table = default_model_table()
    encoding_for(MODEL).encode("warm up")
    runs = 2 if count <= 10_000 else 1
    ours, report = _best_of(runs, lambda: analyse_dataset(examples, MODEL, table))
    baseline, baseline_tokens = _best_of(runs, lambda: cookbook_count(examples))
    if report.tokens_total != baseline_tokens or report.trainable != count:
        raise AssertionError(
            f"token totals differ: ours {report.tokens_total:,}, cookbook {baseline_tokens:,}"
        )
    messages = sum(len(example["messages"]) for example in examples)
    # Memory: the analysis over a lazy stream, so only what the analysis holds is measured.
    streamed_peak = _peak_mb(lambda: analyse_dataset(make(count), MODEL, table))
    return {
        "data": kind,
        "examples": count,
        "messages": messages,
        "tokens": report.tokens_total,
        "cookbook_tokens": baseline_tokens,
        "ours_seconds": round(ours, 3),
        "cookbook_seconds": round(baseline, 3),
        "speedup": round(baseline / ours, 2),
        "ours_tokens_per_second": int(report.tokens_total / ours),
        "cookbook_tokens_per_second": int(baseline_tokens / baseline),
        "streamed_peak_mb": streamed_peak,
    }


async def _fill_store(url: str, count: int):
    from redis.asyncio import Redis

    from storage.examples import ExampleStore
    from storage.keys import Keys
    from storage.schemas import Example, content_id

    # Generous: under tracemalloc, reading a 100k-entry reply takes longer than the 5 s default.
    client = Redis.from_url(url, decode_responses=True, socket_timeout=120)
    await client.flushall()
    store = ExampleStore(client, Keys("bench"))
    pending = []
    for n, line in enumerate(realistic_examples(count)):
        messages = [{k: v for k, v in m.items() if k != "weight"} for m in line["messages"]]
        example = Example(
            id=content_id(messages),
            messages=messages,
            model=MODEL,
            source=f"C1|{n}",
            history_refs=[],
        )
        pending.append(store.vote(example, "U1", str(n)))
        if len(pending) == 50:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)
    return client, store


async def measure_export(url: str, count: int) -> dict[str, Any]:
    """The training export streamed from real Redis: time and peak traced memory."""
    from storage.keys import Keys
    from storage.pairs import PairStore
    from storage.vetoes import VetoStore

    client, store = await _fill_store(url, count)
    keys = Keys("bench")
    dataset = Dataset(store, VetoStore(client, keys), PairStore(client, keys))

    async def export() -> int:
        size = 0
        async for line in dataset.training_lines():
            size += len(jsonl(line))
        return size

    gc.collect()
    start = time.perf_counter()
    size = await export()
    seconds = time.perf_counter() - start
    gc.collect()
    tracemalloc.start()
    await export()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    await client.flushall()
    await client.aclose()
    return {
        "examples": count,
        "jsonl_mb": round(size / 1e6, 1),
        "export_seconds": round(seconds, 3),
        "examples_per_second": int(count / seconds),
        "export_peak_mb": round(peak / 1e6, 2),
    }


def run(sizes: list[int], redis_sizes: list[int]) -> dict[str, Any]:
    rows = []
    for kind in ("realistic", "unique"):
        for count in sizes:
            row = measure(kind, count)
            rows.append(row)
            print(
                f"{kind:>9} {count:>7,} examples ({row['tokens']:,} tokens): "
                f"ours {row['ours_seconds']:.2f} s ({row['ours_tokens_per_second']:,} tok/s), "
                f"cookbook {row['cookbook_seconds']:.2f} s "
                f"({row['cookbook_tokens_per_second']:,} tok/s): {row['speedup']}x; "
                f"totals identical; streamed peak {row['streamed_peak_mb']} MB",
                flush=True,
            )
    exports = []
    if redis_sizes:
        with redis_server() as server:
            for count in redis_sizes:
                row = asyncio.run(measure_export(server.url, count))
                exports.append(row)
                print(
                    f"   export {count:>7,} examples from Redis ({row['jsonl_mb']} MB JSONL): "
                    f"{row['export_seconds']:.2f} s ({row['examples_per_second']:,}/s), "
                    f"peak {row['export_peak_mb']} MB",
                    flush=True,
                )
    realistic = [row for row in rows if row["data"] == "realistic"]
    verdict = {
        "speedup_target": 3.0,
        "speedup_met_realistic": bool(realistic) and all(row["speedup"] >= 3 for row in realistic),
        "min_speedup_realistic": min((row["speedup"] for row in realistic), default=None),
        "min_speedup_unique": min(
            (row["speedup"] for row in rows if row["data"] == "unique"), default=None
        ),
    }
    if not rows:
        return {"analyse": rows, "export": exports}
    print(
        f"  target >= 3x on realistic data: "
        f"{'met' if verdict['speedup_met_realistic'] else 'MISSED'} "
        f"(min {verdict['min_speedup_realistic']}x; no-repeat worst case "
        f"{verdict['min_speedup_unique']}x)"
    )
    return {"analyse": rows, "export": exports, "verdict": verdict}
