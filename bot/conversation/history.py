"""Build the messages for one model call: system prompt, trimmed thread history, new message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.dataset.tokens import count_messages


@dataclass
class Conversation:
    messages: list[dict[str, Any]]
    # Refs of the earlier bot replies that are assistant messages in `messages`, in order.
    history_refs: list[str] = field(default_factory=list)


def build_conversation(
    system_prompt: str,
    history: list[dict[str, Any]],
    history_refs: list[str],
    user_text: str,
    *,
    budget: int,
    model: str,
) -> Conversation:
    """Keep the system prompt and the new message; drop the oldest history past the budget.

    History is dropped from the front and never starts with an assistant message, so the model
    always sees a conversation that begins with a person speaking.
    """
    system = {"role": "system", "content": system_prompt}
    user = {"role": "user", "content": user_text}
    kept = list(history)
    while kept and (count_messages([system, *kept, user], model) > budget or _starts_wrong(kept)):
        kept.pop(0)
    assistants_left = sum(1 for m in kept if m["role"] == "assistant")
    refs = history_refs[len(history_refs) - assistants_left :] if assistants_left else []
    return Conversation([system, *kept, user], refs)


def _starts_wrong(history: list[dict[str, Any]]) -> bool:
    return history[0]["role"] != "user"
