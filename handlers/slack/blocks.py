"""Block Kit builders: pure functions from core results to Slack blocks."""

from __future__ import annotations

from dataclasses import dataclass

from bot.commands import usage_lines


@dataclass(frozen=True)
class StatusSummary:
    examples: int
    approx_tokens: int
    model: str
    is_fine_tuned: bool


def build_status_blocks(summary: StatusSummary) -> list[dict]:
    model_note = " (fine-tuned)" if summary.is_fine_tuned else ""
    dataset = (
        f"*Dataset:* {summary.examples:,} example{'s' if summary.examples != 1 else ''}, "
        f"about {summary.approx_tokens:,} tokens"
    )
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": dataset}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*Model in use:* `{summary.model}`{model_note}"},
        },
        {"type": "divider"},
        build_help_block(),
    ]


def build_help_block() -> dict:
    lines = [
        "React to a good bot reply with a curation emoji to add it to the dataset.",
        *usage_lines(),
    ]
    return {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}


def status_text(summary: StatusSummary) -> str:
    """Plain-text fallback for notifications and screen readers."""
    return f"Dataset: {summary.examples} examples. Model in use: {summary.model}."
