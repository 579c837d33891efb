"""Dataset benchmark: validate + count tokens for synthetic examples, against the cookbook's loop.

Run: python -m bench.dataset [N ...]   (default 1000 10000). Prints figures, writes JSON.
"""

from __future__ import annotations

import json
import random
import sys
import time
import tracemalloc
from pathlib import Path

from bot.model_table import default_model_table
from bot.tokens import encoding_for
from bot.validation import analyse_dataset

MODEL = "gpt-4.1-mini-2025-04-14"
WORDS = [
    "the",
    "ship",
    "sailed",
    "north",
    "while",
    "our",
    "deploy",
    "pipeline",
    "turned",
    "green",
    "and",
    "everyone",
    "cheered",
]


def synthetic_examples(count: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)

    def sentence(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n))

    examples = []
    for _ in range(count):
        messages = [{"role": "system", "content": sentence(60)}]
        for turn in range(rng.randint(2, 4)):
            messages.append({"role": "user", "content": sentence(rng.randint(30, 120))})
            reply = {"role": "assistant", "content": sentence(rng.randint(30, 120))}
            reply["weight"] = 1 if turn else 0
            messages.append(reply)
        examples.append({"messages": messages})
    return examples


def cookbook_count(examples: list[dict]) -> int:
    """The cookbook notebook's reference loop: format checks, then num_tokens_from_messages."""
    encoding = encoding_for(MODEL)
    total = 0
    for example in examples:
        for message in example["messages"]:
            assert "role" in message and "content" in message
        tokens = 3
        for message in example["messages"]:
            tokens += 3
            for key, value in message.items():
                if key == "weight":  # the notebook would crash encoding an int; skip it like we do
                    continue
                tokens += len(encoding.encode(value))
                if key == "name":
                    tokens += 1
        total += tokens
    return total


def measure(count: int) -> dict:
    examples = synthetic_examples(count)
    table = default_model_table()
    start = time.perf_counter()
    report = analyse_dataset(examples, MODEL, table)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    baseline_tokens = cookbook_count(examples)
    baseline = time.perf_counter() - start
    tracemalloc.start()
    analyse_dataset(iter(examples), MODEL, table)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "examples": count,
        "validate_and_count_seconds": round(ours, 3),
        "cookbook_count_seconds": round(baseline, 3),
        "tokens": report.tokens_total,
        "cookbook_tokens": baseline_tokens,
        "tokens_per_second": int(report.tokens_total / ours),
        "peak_traced_mb": round(peak / 1e6, 2),
    }


def main() -> None:
    counts = [int(arg) for arg in sys.argv[1:]] or [1000, 10000]
    results = [measure(count) for count in counts]
    for row in results:
        ours, baseline = row["validate_and_count_seconds"], row["cookbook_count_seconds"]
        print(
            f"{row['examples']:>7,} examples: validate+count {ours:.2f} s "
            f"({row['tokens_per_second']:,} tok/s), cookbook count {baseline:.2f} s, "
            f"tokens {row['tokens']:,} vs cookbook {row['cookbook_tokens']:,}, "
            f"peak {row['peak_traced_mb']} MB"
        )
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "dataset.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
