"""Dataset checks, token counts, epochs, cost and the holdout split."""

from __future__ import annotations

import json
import statistics

import pytest

from bot.dataset.tokens import TokenCounter, count_messages, count_text, encoding_for
from bot.dataset.validation import (
    BATCH_SIZE,
    ERROR_REASONS,
    MAX_SAMPLES_PER_ERROR,
    UnknownModelError,
    analyse_dataset,
    assistant_tokens,
    default_epochs,
    estimate_cost,
    example_errors,
    example_tokens,
    split_holdout,
)
from bot.training.model_table import ModelTable, default_model_table

MODEL = "gpt-4.1-mini"


@pytest.fixture
def table():
    return default_model_table()


def chat(
    user: str = "How do I reset my password?", reply: str = "Use the link on the login page."
) -> dict:
    return {
        "messages": [
            {"role": "system", "content": "You are the team's helpful assistant."},
            {"role": "user", "content": user},
            {"role": "assistant", "content": reply},
        ]
    }


def tool_calling_chat() -> dict:
    return {
        "messages": [
            {"role": "system", "content": "You can look up the weather."},
            {"role": "user", "content": "Is it raining in Oslo?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": '{"rain": true}'},
            {"role": "assistant", "content": "Yes, it is raining in Oslo; take an umbrella."},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Current weather for a city",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    },
                },
            }
        ],
        "parallel_tool_calls": False,
    }


def with_message(message: dict) -> dict:
    example = chat()
    example["messages"].insert(1, message)
    return example


def valid_call() -> dict:
    return {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


# --- accepted formats --------------------------------------------------------------------------


def test_plain_chat_example_is_accepted():
    assert example_errors(chat()) == set()


def test_tool_calling_examples_are_accepted():
    assert example_errors(tool_calling_chat()) == set()


def test_tool_call_without_a_content_key_is_accepted():
    example = tool_calling_chat()
    del example["messages"][2]["content"]
    assert example_errors(example) == set()


def test_parallel_tool_calls_and_legacy_functions_are_accepted():
    example = tool_calling_chat()
    example["messages"][2]["tool_calls"].append(
        {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    )
    example["messages"].insert(
        4, {"role": "tool", "tool_call_id": "call_2", "content": '{"rain": false}'}
    )
    example["parallel_tool_calls"] = True
    example["functions"] = [{"name": "get_weather", "parameters": {"type": "object"}}]
    assert example_errors(example) == set()


def test_weight_examples_are_accepted():
    example = {
        "messages": [
            {"role": "user", "content": "Draft a reply."},
            {"role": "assistant", "content": "A first, weaker draft.", "weight": 0},
            {"role": "user", "content": "Shorter, please."},
            {"role": "assistant", "content": "Here it is.", "weight": 1},
        ]
    }
    assert example_errors(example) == set()


def test_developer_role_name_and_content_parts_are_accepted():
    example = chat()
    example["messages"][0] = {"role": "developer", "content": "Be brief."}
    example["messages"][1] = {
        "role": "user",
        "name": "ana",
        "content": [{"type": "text", "text": "Hi"}],
    }
    assert example_errors(example) == set()


def test_assistant_refusal_counts_as_content():
    example = with_message({"role": "assistant", "content": None, "refusal": "I can't help."})
    assert example_errors(example) == set()


# --- one test per error kind -------------------------------------------------------------------

BAD_EXAMPLES = {
    "data_type": ["not", "a", "dict"],
    "missing_messages_list": {"messages": []},
    "message_missing_key": with_message({"role": "user"}),
    "message_unrecognized_key": with_message({"role": "user", "content": "hi", "mood": "glad"}),
    "unrecognized_role": with_message({"role": "robot", "content": "beep"}),
    "missing_content": with_message({"role": "user", "content": ""}),
    "example_missing_assistant_message": {"messages": [{"role": "user", "content": "Hello?"}]},
    "invalid_weight": with_message({"role": "assistant", "content": "ok", "weight": 2}),
    "invalid_tool_calls": with_message(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {}}}
            ],
        }
    ),
    "invalid_tools": {**chat(), "tools": [{"type": "function", "function": {"description": "x"}}]},
    "unknown_example_key": {**chat(), "metadata": {"channel": "C123"}},
    "no_trained_assistant_message": {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello", "weight": 0},
        ]
    },
}


@pytest.mark.parametrize("kind", sorted(BAD_EXAMPLES))
def test_each_error_kind_is_reported_alone_with_a_reason(kind):
    assert example_errors(BAD_EXAMPLES[kind]) == {kind}
    assert ERROR_REASONS[kind]


def test_every_error_kind_has_a_test_and_a_reason():
    assert set(ERROR_REASONS) == set(BAD_EXAMPLES) | {"too_many_tokens"}


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ({"role": "tool", "content": "42"}, "message_missing_key"),
        ({"content": "who am I?"}, "message_missing_key"),
        ({"role": "assistant", "content": None}, "missing_content"),
        ({"role": "tool", "tool_call_id": "c1", "content": ""}, "missing_content"),
        ({"role": "user", "content": 42}, "missing_content"),
        ({"role": ["user"], "content": "hi"}, "unrecognized_role"),
        ({"role": "user", "content": "hi", "weight": 1}, "invalid_weight"),
        ({"role": "assistant", "content": "ok", "weight": True}, "invalid_weight"),
        ({"role": "assistant", "content": "ok", "weight": 0.5}, "invalid_weight"),
        ({"role": "user", "content": "hi", "tool_calls": [valid_call()]}, "invalid_tool_calls"),
        ({"role": "assistant", "content": "ok", "tool_calls": []}, "invalid_tool_calls"),
        (
            {"role": "assistant", "content": None, "tool_calls": [{**valid_call(), "id": ""}]},
            "invalid_tool_calls",
        ),
        (
            {"role": "assistant", "content": None, "tool_calls": [{**valid_call(), "type": "x"}]},
            "invalid_tool_calls",
        ),
    ],
)
def test_other_malformed_messages_are_reported(message, kind):
    assert example_errors(with_message(message)) == {kind}


@pytest.mark.parametrize(
    "example",
    [
        {"messages": "hello"},
        {"messages": None},
        {"tools": []},
    ],
)
def test_messages_that_are_not_a_list_are_reported(example):
    assert "missing_messages_list" in example_errors(example)


def test_malformed_tools_and_parallel_flag_are_reported():
    assert example_errors({**chat(), "tools": {"type": "function"}}) == {"invalid_tools"}
    assert example_errors({**chat(), "parallel_tool_calls": "yes"}) == {"invalid_tools"}


# --- token counts ------------------------------------------------------------------------------


def test_hello_world_counts_like_the_cookbook():
    enc = encoding_for(MODEL)
    expected = 3 + 3 + len(enc.encode("user")) + len(enc.encode("hello world"))
    assert expected == 9
    assert count_messages([{"role": "user", "content": "hello world"}], MODEL) == 9


def test_example_tokens_add_framing_values_and_names():
    enc = encoding_for(MODEL)
    example = chat("What is 2+2?", "4")
    example["messages"][1]["name"] = "ana"
    expected = 3  # reply priming
    for message in example["messages"]:
        expected += 3 + sum(len(enc.encode(value)) for value in message.values())
    expected += 1  # the name
    assert example_tokens(example, MODEL) == expected


def test_tool_definitions_are_counted_as_json_text():
    example = tool_calling_chat()
    tools_json = json.dumps(example["tools"], ensure_ascii=False, separators=(",", ":"))
    expected = count_messages(example["messages"], MODEL) + len(
        encoding_for(MODEL).encode(tools_json)
    )
    assert example_tokens(example, MODEL) == expected


def test_weight_does_not_change_the_token_count():
    weighted = chat()
    weighted["messages"][2]["weight"] = 1
    assert example_tokens(weighted, MODEL) == example_tokens(chat(), MODEL)


def test_assistant_tokens_skip_replies_with_weight_zero():
    enc = encoding_for(MODEL)
    messages = [
        {"role": "user", "content": "hello world"},
        {"role": "assistant", "content": "ignored draft", "weight": 0},
        {"role": "assistant", "content": "Hi there!"},
    ]
    assert assistant_tokens(messages, MODEL) == len(enc.encode("Hi there!"))


def test_gpt_3_5_counts_with_cl100k():
    messages = [{"role": "user", "content": "hello world"}]
    enc = encoding_for("gpt-3.5-turbo")
    assert enc.name == "cl100k_base"
    expected = 6 + len(enc.encode("user")) + len(enc.encode("hello world"))
    assert count_messages(messages, "gpt-3.5-turbo") == expected


# --- epochs and cost ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_examples", "epochs"),
    [
        (1, 25),  # 100 // 1, capped at 25
        (4, 25),
        (5, 20),
        (10, 10),
        (33, 3),  # 99 < 100, so 100 // 33
        (34, 3),  # 102: the target of 3 holds
        (100, 3),
        (5000, 3),
        (8333, 3),  # 24,999 <= 25,000
        (8334, 2),  # 25,002 > 25,000, so 25,000 // 8,334
        (12500, 2),
        (12501, 1),
        (20000, 1),
        (100000, 1),
    ],
)
def test_default_epochs_follow_the_cookbook(n_examples, epochs):
    assert default_epochs(n_examples) == epochs


def test_default_epochs_needs_an_example():
    with pytest.raises(ValueError):
        default_epochs(0)


def test_a_million_tokens_on_gpt_4_1_mini_cost_five_dollars(table):
    assert estimate_cost(1_000_000, table.lookup(MODEL)) == pytest.approx(5.00)
    assert estimate_cost(2_000_000, table.lookup("gpt-4.1-nano")) == pytest.approx(3.00)


def test_cost_is_unknown_without_a_price(table):
    info = table.lookup(MODEL).model_copy(update={"training_price_per_million": None})
    assert estimate_cost(1_000_000, info) is None


# --- the dataset report ------------------------------------------------------------------------


def test_report_counts_tokens_epochs_and_cost(table):
    examples = [chat(reply="word " * n) for n in range(1, 61)]
    lengths = [example_tokens(example, MODEL) for example in examples]
    report = analyse_dataset(iter(examples), MODEL, table)
    assert report.model == "gpt-4.1-mini-2025-04-14"
    assert (report.total, report.trainable, report.invalid) == (60, 60, 0)
    assert report.tokens_total == sum(lengths)
    assert (report.tokens_min, report.tokens_max) == (min(lengths), max(lengths))
    assert report.tokens_mean == pytest.approx(statistics.mean(lengths))
    assert report.tokens_median == statistics.median(lengths)
    assert report.n_epochs == 3
    assert report.billed_tokens == sum(lengths) * 3
    assert report.estimated_cost_usd == pytest.approx(sum(lengths) * 3 / 1e6 * 5)
    assert report.assistant_tokens == sum(
        assistant_tokens(example["messages"], MODEL) for example in examples
    )
    assert report.can_train and report.refusal is None and report.warnings == []


def test_median_of_an_odd_count_is_the_middle_length(table):
    examples = [chat(reply="word " * n) for n in (1, 1, 5, 9, 40, 41, 41, 41, 80, 100, 120)]
    lengths = [example_tokens(example, MODEL) for example in examples]
    report = analyse_dataset(examples, MODEL, table)
    assert report.tokens_median == statistics.median(lengths)


def test_given_epochs_override_the_heuristic(table):
    report = analyse_dataset([chat()] * 20, MODEL, table, epochs=2)
    assert report.n_epochs == 2
    assert report.billed_tokens == 2 * report.tokens_total


def test_epochs_below_one_are_rejected(table):
    with pytest.raises(ValueError, match="epochs"):
        analyse_dataset([chat()] * 20, MODEL, table, epochs=0)


def test_too_long_examples_are_dropped_with_a_count(table):
    short_limit = table.lookup(MODEL).model_copy(update={"max_tokens_per_example": 60})
    small_table = ModelTable([short_limit])
    examples = [chat() for _ in range(12)]
    for index in (3, 7, 11):
        examples[index] = chat(reply="far too long " * 40)
    report = analyse_dataset(examples, MODEL, small_table)
    assert report.dropped_too_long == 3
    assert report.errors == {"too_many_tokens": 3}
    assert report.error_samples == {"too_many_tokens": [3, 7, 11]}
    assert report.trainable == 9
    assert report.tokens_max <= 60
    assert report.warnings[0] == (
        "3 examples were left out for being longer than the 60-token limit of "
        "gpt-4.1-mini-2025-04-14."
    )
    assert not report.can_train  # 9 left: the refusal is about the count, not the length


def test_invalid_examples_are_skipped_with_counts_per_kind(table):
    examples = [chat() for _ in range(12)]
    examples.append(with_message({"role": "user", "content": ""}))
    examples.append(with_message({"role": "robot", "content": "beep"}))
    report = analyse_dataset(examples, MODEL, table)
    assert report.trainable == 12 and report.invalid == 2
    assert report.errors == {"missing_content": 1, "unrecognized_role": 1}
    assert report.error_samples == {"missing_content": [12], "unrecognized_role": [13]}
    assert report.warnings[0] == (
        "2 examples were skipped: 1 has a message with empty content (example 13); "
        "1 has a message whose role is not system, user, assistant, tool, function or developer "
        "(`robot`) (example 14)."
    )
    assert report.can_train


def test_error_samples_are_capped_but_counts_stay_exact(table):
    examples = [chat() for _ in range(10)] + [{"messages": []}] * 25
    report = analyse_dataset(examples, MODEL, table)
    assert report.errors["missing_messages_list"] == 25
    assert report.error_samples["missing_messages_list"] == list(
        range(10, 10 + MAX_SAMPLES_PER_ERROR)
    )


def test_fewer_than_ten_examples_are_refused_saying_how_many_more(table):
    report = analyse_dataset([chat()] * 7, MODEL, table)
    assert not report.can_train
    assert report.refusal == (
        "The dataset has 7 usable examples; a fine-tuning job needs at least 10, "
        "so approve 3 more replies first."
    )


def test_refusal_reads_well_for_nine_and_for_none(table):
    nine = analyse_dataset([chat()] * 9, MODEL, table)
    assert nine.refusal.endswith("so approve 1 more reply first.")
    empty = analyse_dataset([], MODEL, table)
    assert empty.refusal.startswith("The dataset has 0 usable examples;")
    assert (empty.n_epochs, empty.billed_tokens, empty.tokens_median) == (0, 0, None)


def test_a_dataset_of_only_invalid_examples_is_refused(table):
    report = analyse_dataset([{"messages": []}] * 15, MODEL, table)
    assert not report.can_train
    assert report.refusal.startswith("The dataset has 0 usable examples")
    assert report.warnings[0].startswith("15 examples were skipped")


def test_fewer_than_fifty_examples_are_warned(table):
    report = analyse_dataset([chat()] * 20, MODEL, table)
    assert report.can_train
    assert report.warnings == [
        "Only 20 examples are usable; fine-tuning usually improves clearly from 50 to 100 "
        "good examples, so consider approving more replies."
    ]
    assert analyse_dataset([chat()] * 50, MODEL, table).warnings == []


def test_tool_calling_and_weighted_examples_train(table):
    weighted = chat()
    weighted["messages"][2]["weight"] = 1
    report = analyse_dataset([tool_calling_chat(), weighted] * 5, MODEL, table)
    assert report.trainable == 10 and report.errors == {}
    assert report.can_train


def test_fine_tuned_model_id_is_analysed_as_its_base(table):
    report = analyse_dataset([chat()] * 10, "ft:gpt-4.1-mini-2025-04-14:acme:bot:abc123", table)
    assert report.model == "gpt-4.1-mini-2025-04-14"


def test_dataset_is_read_in_a_single_pass(table):
    examples = (chat() for _ in range(12))  # a generator can only be read once
    assert analyse_dataset(examples, MODEL, table).trainable == 12


def test_unknown_model_is_an_error_listing_known_models(table):
    with pytest.raises(UnknownModelError) as caught:
        analyse_dataset([chat()] * 10, "gpt-2", table)
    error = caught.value
    assert error.model == "gpt-2"
    assert "gpt-4.1-mini-2025-04-14" in error.known_names
    assert str(error).startswith("gpt-2 is not a model we know how to fine-tune; known models")
    assert "gpt-4o-mini-2024-07-18" in str(error)
    assert isinstance(error, ValueError)


# --- the batched, remembering count matches the one-at-a-time reference ------------------------


def varied_examples() -> list:
    """Every shape the counter walks: names, tool calls, content parts, weights, special-token
    text, a thread whose examples share their earlier turns, and malformed ones in between."""
    named = chat("Who am I?", "You are Ana.")
    named["messages"][1]["name"] = "ana"
    parts = with_message({"role": "user", "content": [{"type": "text", "text": "hi there"}]})
    special = chat("What is <|endoftext|>?", "A special token, counted here as text.")
    refusal = with_message({"role": "assistant", "content": None, "refusal": "I can't help."})
    thread = [{"role": "system", "content": "You are the team's helpful assistant."}]
    threaded = []
    for turn in range(8):
        thread = [
            *[{**m, "weight": 0} if m["role"] == "assistant" else m for m in thread],
            {"role": "user", "content": f"Question number {turn} about the deploy?"},
            {"role": "assistant", "content": f"Answer {turn}: roll back, then redeploy."},
        ]
        threaded.append({"messages": [dict(m) for m in thread]})
    return [
        chat(),
        tool_calling_chat(),
        named,
        parts,
        special,
        refusal,
        {"messages": []},
        *threaded,
        with_message({"role": "robot", "content": "beep"}),
        chat(reply="word " * 300),
    ]


@pytest.mark.parametrize("model", [MODEL, "gpt-3.5-turbo"])
def test_report_tokens_equal_the_per_example_reference(table, model):
    examples = varied_examples() * 3
    valid = [example for example in examples if not example_errors(example)]
    report = analyse_dataset(examples, model, table)
    assert report.trainable == len(valid)
    assert report.tokens_total == sum(example_tokens(example, model) for example in valid)
    assert report.assistant_tokens == sum(
        assistant_tokens(example["messages"], model) for example in valid
    )


def test_examples_spanning_several_batches_keep_their_numbers_and_order(table):
    examples = [chat(reply=f"reply {n}") for n in range(BATCH_SIZE * 2 + 7)]
    bad = [5, BATCH_SIZE + 1, BATCH_SIZE * 2 + 3]
    for index in bad:
        examples[index] = {"messages": []}
    kept: list = []
    report = analyse_dataset(iter(examples), MODEL, table, keep=kept)
    assert report.error_samples == {"missing_messages_list": bad}
    assert kept == [example for index, example in enumerate(examples) if index not in bad]
    assert report.tokens_total == sum(example_tokens(example, MODEL) for example in kept)


def test_token_counter_counts_like_count_text_and_forgets_within_its_cap():
    texts = [f"text number {n} " * (n % 7 + 1) for n in range(500)] + ["<|endoftext|>", ""]
    counter = TokenCounter(encoding_for(MODEL), max_chars=2_000)
    for start in range(0, len(texts), 100):
        counter.count_all(texts[start : start + 100])
        assert counter._chars <= 2_000 + sum(map(len, texts[start : start + 100]))
    assert [counter.count(text) for text in texts] == [count_text(text, MODEL) for text in texts]


# --- holdout -----------------------------------------------------------------------------------


def ids(n: int) -> list[str]:
    return [f"T{index:05d}" for index in range(n)]


def test_holdout_split_is_deterministic_and_order_independent():
    first = split_holdout(ids(200), 0.1)
    assert split_holdout(ids(200), 0.1) == first
    _, reversed_validation = split_holdout(list(reversed(ids(200))), 0.1)
    assert set(reversed_validation) == set(first[1])


def test_holdout_split_sizes_and_covers_every_id():
    training, validation = split_holdout(ids(200), 0.1)
    assert len(validation) == 20 and len(training) == 180
    assert set(training) | set(validation) == set(ids(200))
    assert not set(training) & set(validation)
    assert training == [id_ for id_ in ids(200) if id_ in set(training)]  # input order kept


def test_holdout_keeps_one_for_validation_from_two_examples():
    training, validation = split_holdout(ids(2), 0.1)
    assert len(training) == 1 and len(validation) == 1
    assert split_holdout(ids(1), 0.5) == (ids(1), [])
    assert split_holdout([], 0.2) == ([], [])


def test_holdout_changes_little_when_examples_are_added():
    _, before = split_holdout(ids(1000), 0.1)
    _, after = split_holdout(ids(1010), 0.1)
    assert len(set(before) & set(after)) >= 95


@pytest.mark.parametrize("fraction", [0, -0.1, 0.51, 1, float("nan")])
def test_holdout_rejects_bad_fractions(fraction):
    with pytest.raises(ValueError, match="fraction"):
        split_holdout(ids(10), fraction)


def test_holdout_rejects_duplicate_ids():
    with pytest.raises(ValueError, match="unique"):
        split_holdout(["a", "b", "a"], 0.5)
