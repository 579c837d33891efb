"""Worker tests run offline, on a tiny model built here and on JSONL in our export format."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# Read by huggingface_hub when it is first imported: nothing in these tests may download.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SYSTEM = "You are a friendly, concise assistant for this team."


def example_lines(count: int) -> list[dict]:
    """`count` exported lines, each with an unapproved earlier reply (weight 0)."""
    from bot.dataset.export import training_messages
    from storage.schemas import Example

    lines = []
    for number in range(count):
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"hello there number {number}"},
            {"role": "assistant", "content": "meh whatever nobody liked this"},
            {"role": "user", "content": "tell me about the deploy pipeline"},
            {"role": "assistant", "content": f"once upon a time build {number} went green"},
        ]
        example = Example(
            id=f"ex{number}",
            messages=messages,
            history_refs=[f"C1|{number}.1"],
            model="tiny-base",
            source=f"C1|{number}.2",
        )
        lines.append({"messages": training_messages(example, approved_refs=set())})
    return lines


def to_jsonl(lines: list[dict]) -> bytes:
    return "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines).encode()


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers", reason='needs the [local] extra: pip install ".[local]"')
    from tests.worker.tiny_model import build_tiny_model

    texts = [m["content"] for line in example_lines(4) for m in line["messages"]]
    return build_tiny_model(tmp_path_factory.mktemp("tiny-base"), texts)
