"""Redacting an imported example as chat redacts a turn before it stores it (REDACT_PII): what
people and the model wrote, with tool-call arguments kept valid JSON."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from bot.conversation.redaction import Redactor
from bot.dataset.jsonl_lines import parse


def redact_example(example: Any, redactor: Redactor) -> Counter[str]:
    """Redact, in place, what people and the model wrote in an example, as chat does before it
    stores a turn: text content and text parts, refusals, tool-call arguments. One conversation
    shares one set of `@userN` placeholders. Returns the redactions made, by rule."""
    counts: Counter[str] = Counter()
    people: dict[str, str] = {}

    def redact(text: str) -> str:
        redacted = redactor.redact(text, people)
        counts.update(redacted.counts)
        return redacted.text

    messages = example.get("messages") if isinstance(example, dict) else None
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        for key in ("content", "refusal"):
            if isinstance(message.get(key), str):
                message[key] = redact(message[key])
        content = message.get("content")
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                part["text"] = redact(part["text"])
        functions = [message.get("function_call")]
        if isinstance(calls := message.get("tool_calls"), list):
            functions += [call.get("function") for call in calls if isinstance(call, dict)]
        for function in functions:
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                function["arguments"] = _redact_arguments(function["arguments"], redact)
    return counts


def _redact_arguments(text: str, redact: Callable[[str], str]) -> str:
    """Arguments are JSON text: their string values are redacted, so they stay JSON (a value
    redacted in the raw text could take a quote or a digit string with it)."""
    value, problem = parse(text)
    if problem is not None or not isinstance(value, dict | list):
        return redact(text)
    changed = False

    def walk(node: Any) -> Any:
        nonlocal changed
        if isinstance(node, str):
            redacted = redact(node)
            changed = changed or redacted != node
            return redacted
        if isinstance(node, dict):
            return {key: walk(item) for key, item in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    redacted = walk(value)  # as deep as `parse` allows, no deeper
    return json.dumps(redacted, ensure_ascii=False) if changed else text
