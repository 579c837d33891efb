"""Splitting long answers for Discord's 2,000-character messages."""

from __future__ import annotations

import pytest

from handlers.discord.events import emoji_name
from handlers.discord.replies import split_message


def test_a_short_answer_is_one_part():
    assert split_message("Arr, all be well.") == ["Arr, all be well."]


def test_parts_break_at_paragraphs_before_lines_before_words():
    paragraph = "word " * 300  # 1,500 characters
    parts = split_message(paragraph.strip() + "\n\n" + paragraph.strip(), limit=2000)
    assert parts == [paragraph.strip(), paragraph.strip()]

    lines = "\n".join(["a line of text"] * 200)
    assert all(part.endswith("text") for part in split_message(lines)[:-1])


def test_no_part_cuts_a_word_and_no_text_is_lost():
    text = " ".join(f"word{n}" for n in range(1000))
    parts = split_message(text, limit=200)
    assert all(len(part) <= 200 for part in parts)
    assert " ".join(parts).split() == text.split()


def test_a_word_longer_than_a_part_is_cut_hard():
    parts = split_message("x" * 450, limit=200)
    assert [len(part) for part in parts] == [196, 196, 58]  # room kept for a code fence
    assert "".join(parts) == "x" * 450


def test_a_code_block_cut_in_two_is_closed_and_reopened_in_its_language():
    code = "```python\n" + "\n".join(f"print({n})" for n in range(300)) + "\n```"
    parts = split_message("Here is the script:\n\n" + code, limit=500)
    assert len(parts) > 2
    assert all(len(part) <= 500 for part in parts)
    assert all(part.count("```") % 2 == 0 for part in parts)
    assert all(part.startswith("```python\n") for part in parts[1:])
    joined = "\n".join(part.removeprefix("```python\n").removesuffix("\n```") for part in parts)
    assert [line for line in joined.splitlines() if line.startswith("print")] == [
        f"print({n})" for n in range(300)
    ]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("👍", "👍"),
        ("👍🏽", "👍"),
        ("👍🏿", "👍"),
        ("✅", "✅"),
        ("\u2705\ufe0f", "✅"),
        (":goodbot:", "goodbot"),
        ("goodbot", "goodbot"),
    ],
)
def test_skin_tones_and_colons_do_not_change_an_emoji(given, expected):
    assert emoji_name(given) == expected
