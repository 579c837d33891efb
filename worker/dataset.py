"""Our chat JSONL as token ids with an assistant mask that honours per-message weights.

Each conversation is rendered once with the base model's chat template and tokenised with
character offsets; a token counts in the loss only if it lies in the text of an assistant
message with weight 1 (its content and end-of-turn marker, not the role header). Earlier
replies nobody approved (`"weight": 0`) stay as context. The rows carry `input_ids` and
`assistant_masks`, the pre-tokenised columns TRL's SFTTrainer turns into labels.
"""

from __future__ import annotations

import json
from typing import Any

from worker.run import TrainingError

# Keys a chat template may read; `weight` is ours and stays out of the rendering.
_TEMPLATE_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id")


class DatasetError(TrainingError):
    """The training file can't be trained on; `str()` is one sentence for people."""


def read_conversations(content: bytes) -> list[list[dict[str, Any]]]:
    """The `messages` of every JSONL line."""
    conversations = []
    for number, line in enumerate(content.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            messages = json.loads(line)["messages"]
        except (ValueError, KeyError, TypeError):
            message = f"Line {number} of the training file is not a chat example."
            raise DatasetError(message) from None
        if not isinstance(messages, list) or not messages:
            raise DatasetError(f"Line {number} of the training file has no messages.")
        conversations.append(messages)
    if not conversations:
        raise DatasetError("The training file has no examples.")
    return conversations


def tokenize_conversation(tokenizer: Any, messages: list[dict[str, Any]]) -> dict[str, list[int]]:
    """`input_ids` and `assistant_masks` (1 = trained on) for one conversation."""
    clean = [_for_template(m) for m in messages]
    text = _render(tokenizer, clean)
    spans = []
    for index, message in enumerate(messages):
        if message.get("role") != "assistant" or message.get("weight", 1) == 0:
            continue
        through = _render(tokenizer, clean[: index + 1])
        before = _render(tokenizer, clean[:index], generation_prompt=True) if index else ""
        if not (text.startswith(through) and through.startswith(before)):
            raise DatasetError(
                "The base model's chat template does not render conversations turn by turn, "
                "so replies can't be masked; choose a model with a standard chat template."
            )
        spans.append((len(before), len(through)))
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [
        int(any(start < end and stop > begin for begin, end in spans))
        for start, stop in encoded["offset_mapping"]
    ]
    return {"input_ids": list(encoded["input_ids"]), "assistant_masks": mask}


def build_rows(tokenizer: Any, content: bytes, max_length: int) -> list[dict[str, list[int]]]:
    """Tokenised rows, cut to `max_length`; rows left with nothing to learn are dropped."""
    rows = []
    for messages in read_conversations(content):
        row = tokenize_conversation(tokenizer, messages)
        row = {name: values[:max_length] for name, values in row.items()}
        if any(row["assistant_masks"]):
            rows.append(row)
    if not rows:
        raise DatasetError(
            "No example has an approved reply within MAX_SEQ_LENGTH tokens; raise it or "
            "approve shorter conversations."
        )
    return rows


def _for_template(message: dict[str, Any]) -> dict[str, Any]:
    clean = {key: message[key] for key in _TEMPLATE_KEYS if key in message}
    content = clean.get("content")
    if isinstance(content, list):  # OpenAI content parts: keep the text
        clean["content"] = "".join(
            part.get("text", "") for part in content if isinstance(part, dict)
        )
    elif content is None:
        clean["content"] = ""
    return clean


def _render(tokenizer: Any, messages: list[dict[str, Any]], generation_prompt: bool = False) -> str:
    if tokenizer.chat_template is None:
        raise DatasetError("The base model has no chat template; choose an instruct/chat model.")
    try:
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt
        )
    except Exception as exc:  # a template's own raise_exception(), e.g. roles it refuses
        raise DatasetError(
            f"The base model's chat template refused an example ({exc}); check the roles."
        ) from exc
