"""Validation: whether a dataset can train, checked the way OpenAI's cookbook does, and what a
run on it would cost. The format rules of one line (format_checks), the tokens of one example
(token_counts), the one pass over a whole dataset and its report (analysis), error kinds in
words for people (problems), and the holdout split (holdout)."""

from __future__ import annotations

from bot.dataset.validation.analysis import (
    BATCH_SIZE,
    MAX_SAMPLES_PER_ERROR,
    MIN_EXAMPLES,
    DatasetReport,
    UnknownModelError,
    analyse_dataset,
    check_batch,
    default_epochs,
    estimate_cost,
    few_examples_advice,
)
from bot.dataset.validation.format_checks import example_errors
from bot.dataset.validation.holdout import split_holdout
from bot.dataset.validation.problems import ERROR_REASONS, describe_problems, problem_words
from bot.dataset.validation.token_counts import assistant_tokens, example_tokens

__all__ = [
    "BATCH_SIZE",
    "ERROR_REASONS",
    "MAX_SAMPLES_PER_ERROR",
    "MIN_EXAMPLES",
    "DatasetReport",
    "UnknownModelError",
    "analyse_dataset",
    "assistant_tokens",
    "check_batch",
    "default_epochs",
    "describe_problems",
    "estimate_cost",
    "example_errors",
    "example_tokens",
    "few_examples_advice",
    "problem_words",
    "split_holdout",
]
