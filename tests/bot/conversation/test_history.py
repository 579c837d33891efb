"""History trimming: the system prompt and the new message always stay; the oldest goes first."""

from bot.conversation.history import build_conversation
from bot.dataset.tokens import count_messages

MODEL = "gpt-4.1-mini"


def long_history(turns: int) -> tuple[list[dict], list[str]]:
    history, refs = [], []
    for i in range(turns):
        history.append({"role": "user", "content": f"question {i} " + "word " * 40})
        history.append({"role": "assistant", "content": f"answer {i} " + "word " * 40})
        refs.append(f"C1|{i}")
    return history, refs


def test_everything_is_kept_within_the_budget():
    history, refs = long_history(2)
    conversation = build_conversation(
        "Be kind.", history, refs, "next?", budget=10_000, model=MODEL
    )
    assert conversation.messages[1:-1] == history
    assert conversation.history_refs == refs


def test_the_oldest_turns_are_dropped_first_to_fit_the_budget():
    history, refs = long_history(10)
    conversation = build_conversation("Be kind.", history, refs, "next?", budget=400, model=MODEL)
    messages = conversation.messages
    assert count_messages(messages, MODEL) <= 400
    assert messages[0] == {"role": "system", "content": "Be kind."}
    assert messages[-1] == {"role": "user", "content": "next?"}
    assert messages[1]["role"] == "user"
    assert messages[-2] == history[-1]  # the newest history survives
    kept_answers = [m for m in messages if m["role"] == "assistant"]
    assert conversation.history_refs == refs[-len(kept_answers) :]


def test_a_new_message_over_the_budget_still_keeps_system_prompt_and_message():
    history, refs = long_history(3)
    conversation = build_conversation(
        "Be kind.", history, refs, "x " * 500, budget=100, model=MODEL
    )
    assert [m["role"] for m in conversation.messages] == ["system", "user"]
    assert conversation.history_refs == []
