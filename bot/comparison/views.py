"""What every front end shows of a comparison: the reporter each one implements, a pair in
words (`pair_view`), each side's figures, the pick labels, and the conversation as one side
sees it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from storage.comparisons import Answer, ComparedPair, Comparison


class ComparisonReporter(Protocol):
    async def show_pair(self, comparison: Comparison, pair: ComparedPair, number: int) -> str:
        """Post one pair with its pick buttons; return the message id."""

    async def announce(self, comparison: Comparison, text: str, *, promote: bool = False) -> None:
        """Say something where the comparison is shown; `promote` adds the admins' button."""

    async def withdraw_pair(self, comparison: Comparison, pair: ComparedPair) -> None:
        """Take a posted pair down (its conversation was forgotten): `WITHDRAWN` replaces it."""


WITHDRAWN = "This conversation was removed from the comparison at someone's request."


class ComparisonReporters:
    """Each comparison is shown on the front end it was asked from (`Comparison.platform`)."""

    def __init__(self) -> None:
        self._by_platform: dict[str, ComparisonReporter] = {}

    def add(self, platform: str, reporter: ComparisonReporter) -> None:
        self._by_platform[platform] = reporter

    def of(self, comparison: Comparison) -> ComparisonReporter | None:
        return self._by_platform.get(comparison.platform)

    async def announce(self, comparison: Comparison, text: str, *, promote: bool = False) -> None:
        reporter = self.of(comparison)
        if reporter:
            await reporter.announce(comparison, text, promote=promote)


@dataclass(frozen=True)
class PairView:
    """What every front end shows of a pair: the same words, its own layout."""

    title: str
    asked: str
    sides: list[tuple[str, Answer]]  # ("A", answer), ("B", answer) in the stored order
    judge: str | None  # the judge model's verdict, in words


def pair_view(comparison: Comparison, pair: ComparedPair, number: int) -> PairView:
    total = len(comparison.pair_ids) + len(comparison.to_answer)
    title = "Which answer is better?" if total == 1 else f"Conversation {number} of {total}"
    if pair.conversation.seen_in_training:
        title += " (seen in training)"
    messages = pair.conversation.messages
    asked = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    first, second = (
        (pair.candidate, pair.current) if pair.candidate_is_a else (pair.current, pair.candidate)
    )
    verdicts = {"a": "A is better", "b": "B is better", "same": "about the same"}
    judge = f"Judge model: {verdicts[pair.judge]} (people's picks decide)" if pair.judge else None
    return PairView(title, asked, [("A", first), ("B", second)], judge)


def answer_figures(answer: Answer) -> str:
    """Each side's cost in prompt tokens and its latency: the saving is measured, not claimed."""
    if answer.text is None:
        return f"⚠️ No answer: {answer.error}"
    return f"{answer.prompt_tokens:,} prompt tokens · {answer.latency_ms:,} ms"


PICK_LABELS = {"a": "A is better", "b": "B is better", "same": "Same", "bad": "Both bad"}


def with_system_prompt(messages: list[dict[str, Any]], prompt: str) -> list[dict[str, Any]]:
    """The conversation as one side sees it: its own system prompt, then the rest."""
    rest = [{"role": m["role"], "content": m["content"]} for m in messages if m["role"] != "system"]
    return [{"role": "system", "content": prompt}, *rest]


def transcript(messages: list[dict[str, Any]]) -> str:
    """The conversation as plain lines, without the system prompt (for the judge model)."""
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages if m["role"] != "system")
