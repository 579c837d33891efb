"""The job watcher on fakeredis against a stand-in trainer: a job that succeeds swaps the model
once, one that fails or is lost keeps it and frees the one-job lock, a start whose answer was
lost is adopted or given up, and only the lease holder polls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.providers.registry import Providers
from bot.trainers.base import JobGone, JobProgress, JobSpec, Trainer, output_model
from bot.training.model_switch import ModelSwitcher
from bot.training.snapshots import JobSnapshots
from bot.training.watcher import JobWatcher
from storage.jobs import JobRecord, JobStore
from storage.models import ModelStore
from tests.bot.core.conftest import KEYS, MODEL, PREFIX, a_job, build_providers, make_settings

TUNED = "ft:gpt-4.1-mini-2025-04-14:acme::tuned"
JOB = "ftjob-1"


class StandInTrainer:
    """The `Trainer` protocol, answering from a script: each job's states in the order the
    backend reports them (the last one repeats), and jobs it no longer knows."""

    name = "openai"
    label = "Stand-in AI"
    training_closes = None
    supports_dpo = False

    def __init__(self) -> None:
        self.states: dict[str, list[JobProgress]] = {}
        self.gone: set[str] = set()
        self.found: JobProgress | None = None  # what `find_job` finds
        self.polls = 0
        self.deleted_files: list[str] = []

    def script(self, job_id: str, *states: JobProgress) -> None:
        self.states[job_id] = list(states)

    async def job(self, job_id: str) -> JobProgress:
        self.polls += 1
        if job_id in self.gone:
            raise JobGone("Stand-in AI no longer knows this job.")
        states = self.states[job_id]
        return states.pop(0) if len(states) > 1 else states[0]

    async def find_job(self, spec: JobSpec) -> JobProgress | None:
        return self.found

    async def serving_model(self, job: JobProgress) -> str:
        return output_model(job, self.label)

    async def delete_file(self, file_id: str) -> None:
        self.deleted_files.append(file_id)

    async def upload(self, path: Path, filename: str) -> str:
        raise AssertionError("the watcher never uploads")

    async def create_job(self, spec: JobSpec) -> JobProgress:
        raise AssertionError("the watcher never creates a job")

    async def cancel(self, job_id: str) -> None:
        raise AssertionError("the watcher never cancels")

    async def replace_file(self, file_id: str, content: bytes) -> bool:
        return False

    async def close(self) -> None:
        pass


class ProvidersWithStandIn(Providers):
    """The configured providers, with the stand-in trainer behind the training provider."""

    stand_in: Trainer

    def trainer(self, name: str | None = None) -> Trainer:
        self.training_provider(name)  # refuses as the real one does
        return self.stand_in


class Channel:
    """A front end's job reporter: what it showed and said where the job was started."""

    def __init__(self) -> None:
        self.said: list[str] = []
        self.shown: list[str] = []  # the job's status each time its message was redrawn

    async def show_job(self, job: JobRecord) -> str | None:
        self.shown.append(job.status)
        return "status-message"

    async def announce(self, job: JobRecord, text: str) -> None:
        self.said.append(text)

    async def post(self, channel: str, text: str) -> None:
        self.said.append(text)

    async def show_chart(self, job: JobRecord, png: bytes) -> None:
        pass

    async def close(self) -> None:
        pass


class Bot:
    """One bot process's watcher, sharing Redis (and the backend) with any other."""

    def __init__(self, redis, trainer: StandInTrainer, gate: str = "auto") -> None:
        settings = make_settings(swap_gate=gate)
        self.providers = build_providers(settings, redis, ProvidersWithStandIn)
        self.providers.stand_in = trainer
        self.jobs = JobStore(redis, KEYS)
        self.models = ModelStore(redis, KEYS)
        self.channel = Channel()
        self.watcher = JobWatcher(
            self.providers,
            self.jobs,
            self.models,
            self.channel,
            poll_seconds=0.05,
            bot_name=PREFIX,
            switcher=ModelSwitcher(self.providers, self.models, self.jobs, MODEL),
            snapshots=JobSnapshots(self.jobs, self.providers),
            gate=gate,
        )


@pytest.fixture
def trainer() -> StandInTrainer:
    return StandInTrainer()


@pytest.fixture
def bot(redis, trainer) -> Bot:
    return Bot(redis, trainer)


async def started(bot: Bot, job_id: str = JOB) -> JobRecord:
    """A job the backend accepted: recorded, holding the one-job lock, followed."""
    job = a_job(job_id)
    await bot.jobs.save(job)
    assert await bot.jobs.try_lock("pending-start", 3600) is None
    assert await bot.jobs.adopt("pending-start", job_id)
    return job


def progress(status: str, **fields) -> JobProgress:
    return JobProgress(id=JOB, status=status, **fields)


# A job's end --------------------------------------------------------------------------------


async def test_a_job_that_succeeds_switches_the_model_once_and_says_so(redis, bot, trainer):
    await started(bot)
    trainer.script(
        JOB,
        progress("running"),
        progress("running"),
        progress("succeeded", output_model=TUNED, trained_tokens=2900),
    )

    await bot.watcher.check(JOB)
    await bot.watcher.check(JOB)
    assert await bot.models.active() is None, "still training: the model stays"

    await bot.watcher.check(JOB)
    active = await bot.models.active()
    assert (active.model, active.job_id) == (TUNED, JOB)
    [announced] = bot.channel.said
    assert f"I now answer with `{TUNED}`" in announced and "2,900 trained tokens" in announced

    # A webhook, and another process's watcher, see the same end: nothing happens twice.
    await bot.watcher.check(JOB)
    await Bot(redis, trainer).watcher.check(JOB)
    assert len(await bot.models.history()) == 1
    assert len(bot.channel.said) == 1


async def test_a_finished_job_frees_the_lock_and_its_uploaded_file(bot, trainer):
    await started(bot)
    trainer.script(JOB, progress("succeeded", output_model=TUNED))

    await bot.watcher.check(JOB)

    assert await bot.jobs.lock_holder() is None
    assert await bot.jobs.active_job_id() is None
    assert trainer.deleted_files == ["file-training"]
    assert [job.id for job in await bot.jobs.finished()] == [JOB]


async def test_a_failed_job_keeps_the_model_and_says_why(bot, trainer):
    await started(bot)
    trainer.script(JOB, progress("running"), progress("failed", error="The file has no lines."))

    await bot.watcher.check(JOB)
    await bot.watcher.check(JOB)

    assert await bot.models.active() is None
    assert bot.channel.said == [
        f"Fine-tuning job `{JOB}` failed: The file has no lines. I keep using the current model."
    ]
    assert await bot.jobs.lock_holder() is None


async def test_a_cancelled_job_keeps_the_model(bot, trainer):
    await started(bot)
    trainer.script(JOB, progress("cancelled"))

    await bot.watcher.check(JOB)

    assert await bot.models.active() is None
    assert bot.channel.said == [
        f"Fine-tuning job `{JOB}` was cancelled; I keep using the current model."
    ]


async def test_a_job_the_backend_no_longer_knows_frees_the_lock_and_is_reported_once(bot, trainer):
    await started(bot)
    trainer.gone.add(JOB)

    await bot.watcher.check(JOB)
    await bot.watcher.check(JOB)

    assert (await bot.jobs.get(JOB)).status == "lost"
    assert await bot.jobs.lock_holder() is None
    assert await bot.jobs.active_job_id() is None
    assert await bot.jobs.try_lock("pending-next", 3600) is None, "a new start may go ahead"
    [announced] = bot.channel.said
    assert "no longer knows this job" in announced and "keep using the current model" in announced
    assert await bot.models.active() is None


async def test_a_success_that_names_no_model_keeps_the_current_one(bot, trainer):
    await started(bot)
    trainer.script(JOB, progress("succeeded", output_model=None))

    await bot.watcher.check(JOB)

    assert await bot.models.active() is None
    [announced] = bot.channel.said
    assert announced.startswith(f"Job `{JOB}` finished, but I keep the current model")


async def test_with_the_manual_gate_a_success_is_announced_but_not_swapped(redis, trainer):
    bot = Bot(redis, trainer, gate="manual")
    await started(bot)
    trainer.script(JOB, progress("succeeded", output_model=TUNED))

    await bot.watcher.check(JOB)

    assert await bot.models.active() is None
    [announced] = bot.channel.said
    assert f"`/finetune use {TUNED}`" in announced
    assert (await bot.jobs.get(JOB)).fine_tuned_model == TUNED


async def test_a_running_jobs_message_is_redrawn_only_when_its_progress_changes(bot, trainer):
    await started(bot)
    trainer.script(
        JOB,
        progress("queued"),
        progress("queued"),
        progress("running", step=5, total_steps=30, train_loss=1.5),
        progress("running", step=5, total_steps=30, train_loss=1.5),
    )

    for _ in range(4):
        await bot.watcher.check(JOB)

    assert bot.channel.shown == ["queued", "running"]
    job = await bot.jobs.get(JOB)
    assert (job.step, job.total_steps, job.train_loss) == (5, 30, 1.5)


# Several processes --------------------------------------------------------------------------


async def test_only_the_process_holding_the_lease_polls_the_backend(redis, bot, trainer):
    other = Bot(redis, trainer)
    await started(bot)
    trainer.script(JOB, progress("running"))

    await bot.watcher.tick()
    await other.watcher.tick()
    await bot.watcher.tick()

    assert trainer.polls == 2


# A start whose answer was lost --------------------------------------------------------------


async def unconfirmed_start(bot: Bot, ref: str = "pending-lost") -> JobRecord:
    """A start that took the lock and asked the backend, whose answer never came back."""
    job = a_job(ref, status="unconfirmed", created_at=datetime.now(UTC) - timedelta(minutes=1))
    await bot.jobs.save(job)
    assert await bot.jobs.try_lock(ref, 3600) is None
    return job


async def test_a_job_created_though_its_answer_was_lost_is_found_and_followed(bot, trainer):
    await unconfirmed_start(bot)
    trainer.found = JobProgress(id="ftjob-found", status="running")

    await bot.watcher.tick()

    assert await bot.jobs.active_job_id() == "ftjob-found"
    assert await bot.jobs.lock_holder() == "ftjob-found"
    [announced] = bot.channel.said
    assert "did create job `ftjob-found`" in announced


async def test_a_start_the_backend_never_created_frees_the_lock_and_says_so(bot, trainer):
    await unconfirmed_start(bot)
    trainer.found = None

    await bot.watcher.tick()

    assert await bot.jobs.lock_holder() is None
    assert (await bot.jobs.get("pending-lost")).status == "failed"
    [announced] = bot.channel.said
    assert "never created the job" in announced and "`/finetune start` tries again" in announced
