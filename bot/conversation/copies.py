"""Copies of conversations kept outside the dataset, and how forgetting reaches them.

A job's export snapshot, the training file a local worker has not taken yet, a comparison's
conversations and its posted pairs all hold text that came from examples and preference pairs.
They hold it as lines or prompts, without the example's id (the training file may carry
TRAINING_SYSTEM_PROMPT instead of the chat prompt), so they are matched by content keys that
leave the system prompt out: `line_key` for a whole line, `prompt_key` for what was asked.
Two conversations that differ only in their system prompt share a key: forgetting one drops
both copies, never fewer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.dataset.export import preference_line
from storage.schemas import Example, PreferencePair, content_id


def line_key(line: dict[str, Any]) -> str:
    """A training line's key: its messages (or a preference line's input and both answers)
    without the system prompt and the weights."""
    if "input" in line:
        messages = [
            *line["input"]["messages"],
            *line.get("preferred_output", []),
            *line.get("non_preferred_output", []),
        ]
    else:
        messages = line.get("messages", [])
    return content_id([_bare(m) for m in messages if m.get("role") != "system"])


def prompt_key(messages: list[dict[str, Any]]) -> str:
    """What was asked: the messages before the reply a line teaches, without the system prompt."""
    if messages and messages[-1].get("role") == "assistant":
        messages = messages[:-1]
    return content_id([_bare(m) for m in messages if m.get("role") != "system"])


def prompt_of_line(line: dict[str, Any]) -> list[dict[str, Any]]:
    """A training line's conversation up to the reply it teaches (a DPO line: its input)."""
    if "input" in line:
        return line["input"]["messages"]
    messages = line["messages"]
    return messages[:-1] if messages and messages[-1]["role"] == "assistant" else messages


def _bare(message: dict[str, Any]) -> dict[str, Any]:
    return {"role": message.get("role"), "content": message.get("content")}


@dataclass
class Removed:
    """What forgetting took away, as the keys its copies are found by."""

    lines: set[str] = field(default_factory=set)
    prompts: set[str] = field(default_factory=set)
    person: str | None = None  # who said "forget me": their typed prompts and picks go too
    replies: set[str] = field(default_factory=set)  # refs of the replies removed with them

    def add_example(self, example: Example) -> None:
        self.replies.add(example.source)
        self.lines.add(line_key({"messages": example.messages}))
        self.prompts.add(prompt_key(example.messages))

    def add_pair(self, pair: PreferencePair) -> None:
        self.lines.add(line_key(preference_line(pair)))
        self.prompts.add(prompt_key(pair.input))

    def __bool__(self) -> bool:
        return bool(self.lines or self.prompts or self.person)


class CopyHolder(Protocol):
    async def withdraw(self, removed: Removed) -> int:
        """Remove the copies of what was removed; how many went."""


def without_lines(content: bytes, dropped: set[str]) -> bytes:
    """A JSONL file without the lines whose key is in `dropped`."""
    if not dropped:
        return content
    return b"".join(
        raw
        for raw in content.splitlines(keepends=True)
        if not (raw.strip() and line_key(json.loads(raw)) in dropped)
    )
