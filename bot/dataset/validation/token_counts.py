"""The tokens of one well-formed example: all of them as OpenAI bills them (the cookbook's
count plus tool definitions), and those the model is trained to produce."""

from __future__ import annotations

import json
from typing import Any

from bot.dataset.tokens import as_text, count_messages, encoding_for

# What an assistant message is trained to produce, for the assistant token count.
TRAINED_KEYS = ("content", "tool_calls", "function_call")


def example_tokens(example: dict[str, Any], model: str) -> int:
    """Tokens of a well-formed example: its messages as the cookbook counts them, plus the
    tool definitions as JSON text, since OpenAI bills those too."""
    total = count_messages(example["messages"], model)
    for key in ("tools", "functions"):
        if example.get(key):
            total += _text_tokens(example[key], model)
    return total


def assistant_tokens(messages: list[dict[str, Any]], model: str) -> int:
    """Tokens the model is trained to produce: assistant turns whose weight is not 0."""
    return sum(
        _text_tokens(message.get(key), model)
        for message in messages
        if message.get("role") == "assistant" and message.get("weight", 1) != 0
        for key in TRAINED_KEYS
        if message.get(key)
    )


def _text_tokens(value: Any, model: str) -> int:
    # Same serialisation as bot.dataset.tokens, so structured values count the same way everywhere.
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return len(encoding_for(model).encode(value, disallowed_special=()))


def example_texts(example: dict[str, Any]) -> tuple[list[str], list[str], int]:
    """What a well-formed example's tokens are made of, from one walk over it.

    The texts counted (every message value but `weight`, then tool definitions as JSON), the
    texts of trained assistant replies among them, and the fixed tokens: 3 of framing per
    message, 3 priming the reply, 1 per name. The sums equal `example_tokens` and
    `assistant_tokens`, without encoding an assistant reply twice.
    """
    texts: list[str] = []
    trained: list[str] = []
    messages = example["messages"]
    framing = 3 + 3 * len(messages)
    for message in messages:
        is_trained = message.get("role") == "assistant" and message.get("weight", 1) != 0
        for key, value in message.items():
            if key == "weight":
                continue
            text = value if type(value) is str else as_text(value)
            texts.append(text)
            if key == "name":
                framing += 1
            elif is_trained and value and key in TRAINED_KEYS:
                trained.append(text)
    for key in ("tools", "functions"):
        if example.get(key):
            texts.append(as_text(example[key]))
    return texts, trained, framing
