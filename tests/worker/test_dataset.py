"""Our JSONL as token ids: only approved (weight 1) assistant replies count in the loss."""

import pytest

from tests.conftest import needs
from tests.worker.conftest import example_lines, to_jsonl
from worker.dataset import DatasetError, build_rows, tokenize_conversation

pytestmark = [pytest.mark.slow, needs("transformers")]


@pytest.fixture(scope="module")
def tokenizer(tiny_base):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_base)


def trained_text(tokenizer, row) -> list[str]:
    return [
        tokenizer.convert_ids_to_tokens(token)
        for token, trained in zip(row["input_ids"], row["assistant_masks"], strict=True)
        if trained
    ]


def test_only_the_approved_reply_and_its_end_marker_are_trained(tokenizer):
    messages = example_lines(1)[0]["messages"]
    assert [m.get("weight") for m in messages if m["role"] == "assistant"] == [0, 1]

    row = tokenize_conversation(tokenizer, messages)

    assert len(row["input_ids"]) == len(row["assistant_masks"])
    assert trained_text(tokenizer, row) == [
        *["once", "upon", "a", "time", "build", "0", "went", "green"],
        "<|end|>",
    ]


def test_an_earlier_reply_approved_itself_is_trained_too(tokenizer):
    messages = example_lines(1)[0]["messages"]
    messages[2]["weight"] = 1
    trained = trained_text(tokenizer, tokenize_conversation(tokenizer, messages))
    assert trained[:6] == ["meh", "whatever", "nobody", "liked", "this", "<|end|>"]


def test_role_headers_system_and_user_text_are_never_trained(tokenizer):
    row = tokenize_conversation(tokenizer, example_lines(1)[0]["messages"])
    trained = set(trained_text(tokenizer, row))
    assert not trained & {"<|assistant|>", "<|user|>", "<|system|>", "hello", "friendly", "meh"}


def test_rows_cut_before_any_approved_reply_leave_nothing_to_train(tokenizer):
    content = to_jsonl(example_lines(2))
    assert len(build_rows(tokenizer, content, max_length=512)) == 2
    with pytest.raises(DatasetError, match="MAX_SEQ_LENGTH"):
        build_rows(tokenizer, content, max_length=8)


def test_a_line_that_is_not_an_example_is_named(tokenizer):
    with pytest.raises(DatasetError, match="Line 2"):
        build_rows(tokenizer, to_jsonl(example_lines(1)) + b"not json\n", max_length=512)
