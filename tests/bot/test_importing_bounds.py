"""The bounds of reading a JSONL line: how deep it may nest, how long it may be."""

from __future__ import annotations

import json

from bot.conversation.redaction import Redactor
from bot.dataset.example_redaction import redact_example
from bot.dataset.jsonl_lines import MAX_DEPTH, TOO_DEEP, parse, read_lines


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_nesting_up_to_the_limit_parses_and_one_more_level_does_not():
    assert parse(nested(MAX_DEPTH)) == (json.loads(nested(MAX_DEPTH)), None)
    assert parse(nested(MAX_DEPTH + 1)) == (None, TOO_DEEP)
    assert parse('{"a": ' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1)) == (None, TOO_DEEP)


def test_brackets_inside_strings_are_text_not_nesting():
    text = json.dumps({"content": "[" * 500 + '\\"{' * 500, "more": ["]" * 500]})
    assert parse(text) == (json.loads(text), None)


def test_an_over_long_line_is_skipped_and_the_lines_after_it_keep_their_numbers(tmp_path):
    file = tmp_path / "lines.jsonl"
    limit = 1024
    at_limit = json.dumps({"a": "x" * (limit - 9)})
    assert len(at_limit) == limit
    file.write_text("\n".join(["[1]", "[" + "2," * 5000 + "2]", at_limit, "", "[3]"]) + "\n")
    read = list(read_lines(file, notes := [], limit))
    assert [(number, problem is None) for number, _, problem in read] == [
        (1, True),
        (2, False),
        (3, True),
        (5, True),
    ]
    assert read[1][2] == (
        "is 10,003 bytes long; a line may have up to 1,024 (MAX_IMPORT_LINE_BYTES)"
    )
    assert read[3][1] == [3] and notes == ["1 blank line was skipped."]


def test_redacted_tool_call_arguments_stay_json():
    arguments = json.dumps({"to": ["ann@example.com"], "card": 4111111111111111})
    example = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "ann@example.com"}]},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"arguments": arguments}}
                ],
            },
        ]
    }
    counts = redact_example(example, Redactor())
    assert counts == {"email": 2}
    assert example["messages"][0]["content"][0]["text"] == "[email]"
    called = example["messages"][1]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(called) == {"to": ["[email]"], "card": 4111111111111111}
