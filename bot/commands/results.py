"""What a command returns: platform-free results that each front end renders its own way."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from bot.dataset.tempfiles import TempFile
from bot.dataset.validation import DatasetReport
from storage.jobs import JobRecord
from storage.models import ModelSwap


@dataclass(frozen=True)
class Caller:
    """Who typed a command and where. Each front end decides who is an admin."""

    platform: str
    user: str
    is_admin: bool
    channel: str  # where a job started by this command reports
    place: str = ""  # the workspace or server it came from (`slack:T…`, `discord:…`); "": a DM


@dataclass(frozen=True)
class Sentence:
    """A one-line answer (done, refused, or what went wrong and what to do next)."""

    text: str
    job_id: str | None = None  # the job this answer started, for a front end that follows it
    refused: bool = False  # nothing was done (refused, or failed): the terminal exits non-zero


@dataclass(frozen=True)
class Help:
    """The list of commands, after the reason when the command could not run as typed."""

    problem: str | None = None


@dataclass(frozen=True)
class StatusSummary:
    examples: int  # in the training set: enough votes, no veto
    approx_tokens: int
    model: str
    is_fine_tuned: bool
    model_provider: str | None = None  # who serves it, as people call them
    active_job: JobRecord | None = None
    finished_jobs: list[JobRecord] = field(default_factory=list)
    warning: str | None = None
    spend: str | None = None  # today's spend on model calls, and the budget
    waiting: int = 0  # approved by fewer than `min_votes` people
    vetoed: int = 0
    pairs: int = 0
    min_votes: int = 1
    redactions: int = 0
    training: str | None = None  # the training policy and this month's spend on training


@dataclass(frozen=True)
class Overview:
    """Everything at a glance (Slack's App Home): the status, since when the model is in use,
    and what the next job would use and cost at the configured base model."""

    status: StatusSummary
    model_since: datetime | None = None
    next_job: DatasetReport | None = None  # None: nothing to train yet


@dataclass
class ComparisonRecord:
    """One model's record across comparisons: picks for, against, tied, and by whom."""

    wins: int = 0
    losses: int = 0
    ties: int = 0
    people: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class ModelList:
    current: str
    history: list[ModelSwap]
    records: dict[str, ComparisonRecord] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderView:
    """One provider as `/finetune providers` shows it."""

    name: str
    label: str
    kind: str
    chat: bool
    train: bool
    defaults: list[str]  # "chat", "train": what it is the default for
    reachable: bool
    problem: str | None = None  # why it is unreachable, or what it refused
    models: list[tuple[str, date | None]] = field(default_factory=list)  # id, shutdown date
    listed: int = 0  # models it lists in all (only some are shown)
    in_use: list[str] = field(default_factory=list)  # the bot's models served here


@dataclass(frozen=True)
class ProviderList:
    providers: list[ProviderView]
    source: str  # the file, or "the environment"


@dataclass(frozen=True)
class DatasetFile:
    """The dataset as a file, for the person who asked only. It is a temporary file on disk
    (a large dataset is hundreds of MB): the front end sends it from there, then `discard`s
    it; it is deleted anyway once nothing refers to it."""

    filename: str  # what the person receives it as
    file: TempFile
    examples: int  # lines: examples, or preference pairs
    kind: str = "sft"  # or "dpo"

    @property
    def path(self) -> Path:
        return self.file.path

    @property
    def size(self) -> int:
        """Bytes."""
        return self.file.size

    def read_bytes(self) -> bytes:
        """The whole file in memory: for small files and tests only."""
        return self.file.read_bytes()

    def discard(self) -> None:
        self.file.discard()


CommandResult = (
    Sentence | Help | StatusSummary | DatasetReport | ModelList | DatasetFile | ProviderList
)
