"""The dataset benchmark's synthetic data is valid and its baseline counts like we do."""

from __future__ import annotations

import json

from bench.dataset import MODEL, cookbook_count, realistic_examples, unique_examples
from bot.dataset.validation import analyse_dataset, example_errors
from bot.training.model_table import default_model_table


def test_synthetic_examples_are_valid_and_count_like_the_cookbook():
    for make in (realistic_examples, unique_examples):
        examples = json.loads(json.dumps(list(make(300))))
        assert all(not example_errors(example) for example in examples)
        report = analyse_dataset(examples, MODEL, default_model_table())
        assert report.trainable == 300
        assert report.tokens_total == cookbook_count(examples)


def test_later_examples_of_a_thread_share_its_earlier_turns():
    examples = list(realistic_examples(300))
    contents = [m["content"] for example in examples for m in example["messages"]]
    assert len(set(contents)) < len(contents) / 1.5
    assert max(len(example["messages"]) for example in examples) >= 9
