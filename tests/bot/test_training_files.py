"""The files a start uploads: the same lines, split and ordered exactly as when the whole
dataset was a list in memory, from a spool on disk that is gone afterwards."""

from __future__ import annotations

import gc
import json
import random

import pytest

from bot.dataset.tempfiles import TempFile
from bot.dataset.validation import split_holdout
from bot.training.files import TrainingSpool, line_id

pytestmark = pytest.mark.usefixtures("temp_dir")


def lines(count: int, seed: int = 3) -> list[dict]:
    """Lines with some conversations repeated (same messages, other keys differ)."""
    rng = random.Random(seed)
    made = []
    for n in range(count):
        asked = f"question {rng.randrange(count)}" if rng.random() < 0.1 else f"question {n}"
        made.append(
            {
                "messages": [
                    {"role": "user", "content": asked},
                    {"role": "assistant", "content": f"answer ✓ {asked}", "weight": 1},
                ],
                "n": n,
            }
        )
    return made


def jsonl(items: list[dict]) -> bytes:
    return "".join(
        json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n" for item in items
    ).encode()


def split_in_memory(examples: list[dict], holdout: float | None) -> tuple[bytes, bytes]:
    """How a start split the lines when they were a list (bot/training/finetune.py until now)."""
    if holdout is None:
        holdout = 0.1 if len(examples) >= 100 else 0
    if not holdout:
        return jsonl(examples), b""
    by_id = {line_id(example): example for example in examples}
    training_ids, validation_ids = split_holdout(sorted(by_id), holdout)
    return jsonl([by_id[i] for i in training_ids]), jsonl([by_id[i] for i in validation_ids])


def split_on_disk(examples: list[dict], holdout: float | None) -> tuple[bytes, bytes]:
    spool = TrainingSpool(holdout)
    spool.extend(examples)
    training, validation = spool.split()
    spool.discard()
    with training:
        got = training.read_bytes(), validation.read_bytes() if validation else b""
    if validation:
        validation.discard()
    return got


@pytest.mark.parametrize("count", [0, 1, 5, 99, 100, 150, 1234])
@pytest.mark.parametrize("holdout", [None, 0, 0.2, 0.5])
def test_the_split_from_disk_is_the_split_from_memory(count, holdout, temp_dir):
    examples = lines(count)
    assert split_on_disk(examples, holdout) == split_in_memory(examples, holdout)
    assert list(temp_dir.iterdir()) == []


def test_without_a_holdout_the_training_file_keeps_the_order_of_approval():
    examples = lines(50)
    training, validation = split_on_disk(examples, None)
    assert validation == b""
    assert [json.loads(text)["n"] for text in training.decode().splitlines()] == list(range(50))


def test_a_spool_discarded_halfway_leaves_nothing(temp_dir):
    spool = TrainingSpool(None)
    spool.extend(lines(10))
    assert len(list(temp_dir.iterdir())) == 1
    spool.discard()
    assert list(temp_dir.iterdir()) == []


def test_a_temp_file_nobody_refers_to_is_deleted(temp_dir):
    file = TempFile()
    file.write(b"{}\n", 1)
    assert file.exists
    del file
    gc.collect()
    assert list(temp_dir.iterdir()) == []


def test_a_gzipped_copy_holds_the_same_bytes(temp_dir):
    import gzip

    with TempFile() as file:
        file.write(jsonl(lines(300)), 300)
        with file.gzipped() as packed:
            assert packed.path.name.endswith(".jsonl.gz")
            assert packed.size < file.size
            assert gzip.decompress(packed.read_bytes()) == file.read_bytes()
    assert list(temp_dir.iterdir()) == []
