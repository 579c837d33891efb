"""The format rules of one line of a chat fine-tuning file: the checks of OpenAI's cookbook
data-prep notebook, widened where OpenAI's format is wider (tool calls, tools and `weight`)."""

from __future__ import annotations

from typing import Any

EXAMPLE_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "function_call", "tool_calls", "tool_call_id", "weight", "refusal"}
)
ROLES = frozenset({"system", "user", "assistant", "function", "tool", "developer"})
PLAIN_ROLES = frozenset({"system", "user", "assistant"})


def example_errors(example: Any) -> set[str]:
    """The error kinds of one example; empty when OpenAI would accept its format."""
    if not isinstance(example, dict):
        return {"data_type"}
    errors = set()
    if any(key not in EXAMPLE_KEYS for key in example):
        errors.add("unknown_example_key")
    if "tools" in example and not _valid_tools(example["tools"]):
        errors.add("invalid_tools")
    if "parallel_tool_calls" in example and not isinstance(example["parallel_tool_calls"], bool):
        errors.add("invalid_tools")
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        errors.add("missing_messages_list")
        return errors
    for message in messages:
        if not _is_plain_text_message(message):
            errors |= message_errors(message)
    errors |= _assistant_errors(messages)
    return errors


def offending_values(example: Any) -> dict[str, str]:
    """For the kinds a value causes, the first such value, so a person sees what to fix: the
    key OpenAI does not accept, the role that is not allowed."""
    found: dict[str, str] = {}
    if not isinstance(example, dict):
        return found
    for key in example:
        if key not in EXAMPLE_KEYS:
            found.setdefault("unknown_example_key", str(key))
    messages = example.get("messages")
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict):
            continue
        for key in message:
            if key not in MESSAGE_KEYS:
                found.setdefault("message_unrecognized_key", str(key))
        role = message.get("role")
        if "role" in message and not (isinstance(role, str) and role in ROLES):
            found.setdefault("unrecognized_role", str(role)[:40])
    return found


def _is_plain_text_message(message: Any) -> bool:
    """The common shape, accepted without the full check: role, non-empty text, valid weight.

    For such a message `message_errors` finds nothing; anything else gets the full check.
    """
    if type(message) is not dict:
        return False
    content = message.get("content")
    role = message.get("role")
    if type(content) is not str or not content or type(role) is not str:
        return False
    if role not in PLAIN_ROLES:
        return False
    if len(message) == 2:  # exactly role and content
        return True
    return len(message) == 3 and role == "assistant" and _valid_weight(message.get("weight"))


def message_errors(message: Any) -> set[str]:
    """The error kinds of one message."""
    if not isinstance(message, dict):
        return {"message_missing_key"}
    errors = set()
    role = message.get("role")
    content_key_missing = "content" not in message and not _calls_a_function(message)
    if "role" not in message or content_key_missing:
        errors.add("message_missing_key")
    if role == "tool" and not _non_empty_str(message.get("tool_call_id")):
        errors.add("message_missing_key")
    if any(key not in MESSAGE_KEYS for key in message):
        errors.add("message_unrecognized_key")
    if "role" in message and not (isinstance(role, str) and role in ROLES):
        errors.add("unrecognized_role")
    # An absent content key is already reported above; one reason per fault reads better.
    if not content_key_missing and not _has_content(message):
        errors.add("missing_content")
    if "weight" in message and not (role == "assistant" and _valid_weight(message["weight"])):
        errors.add("invalid_weight")
    if "tool_calls" in message and not (
        role == "assistant" and _valid_tool_calls(message["tool_calls"])
    ):
        errors.add("invalid_tool_calls")
    return errors


def _assistant_errors(messages: list[Any]) -> set[str]:
    replies = [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
    if not replies:
        return {"example_missing_assistant_message"}
    if all(reply.get("weight", 1) == 0 for reply in replies):
        return {"no_trained_assistant_message"}
    return set()


def _calls_a_function(message: dict[str, Any]) -> bool:
    # An assistant turn that only calls a tool may leave content out (or null).
    return bool(message.get("tool_calls")) or bool(message.get("function_call"))


def _has_content(message: dict[str, Any]) -> bool:
    content = message.get("content")
    if content is not None and not isinstance(content, str | list):
        return False
    if content:  # a non-empty string, or a non-empty list of content parts
        return True
    if message.get("role") == "assistant" and _non_empty_str(message.get("refusal")):
        return True
    return message.get("role") != "tool" and _calls_a_function(message)


def _valid_weight(weight: Any) -> bool:
    # bool is an int in Python, but JSON `true` is not a weight OpenAI accepts.
    return type(weight) is int and weight in (0, 1)


def _valid_tool_calls(tool_calls: Any) -> bool:
    return (
        isinstance(tool_calls, list)
        and len(tool_calls) > 0
        and all(_valid_tool_call(call) for call in tool_calls)
    )


def _valid_tool_call(call: Any) -> bool:
    if not isinstance(call, dict) or call.get("type") != "function":
        return False
    function = call.get("function")
    return (
        _non_empty_str(call.get("id"))
        and isinstance(function, dict)
        and _non_empty_str(function.get("name"))
        and isinstance(function.get("arguments"), str)
    )


def _valid_tools(tools: Any) -> bool:
    return isinstance(tools, list) and all(_valid_tool(tool) for tool in tools)


def _valid_tool(tool: Any) -> bool:
    if not isinstance(tool, dict) or tool.get("type") != "function":
        return False
    function = tool.get("function")
    return (
        isinstance(function, dict)
        and _non_empty_str(function.get("name"))
        and isinstance(function.get("parameters", {}), dict)
    )


def _non_empty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value)
