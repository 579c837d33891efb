"""A job between its start and the backend's answer: the name the one-job lock holds meanwhile
(`PENDING_PREFIX`), the spec that creates the job and finds it again (`spec_for`), and taking
the backend's job under its own id (`adopt`), which a start and the watcher's recovery both do."""

from __future__ import annotations

from bot.trainers.base import JobSpec
from storage.jobs import JobRecord, JobStore

PENDING_PREFIX = "pending-"  # the lock names a start by this until the backend names the job


async def adopt(jobs: JobStore, job: JobRecord, job_id: str, status: str) -> bool:
    """Record the backend's job under its own id and hand it the lock, exactly once.

    Both the start itself and the watcher's recovery may find the job; the record is written
    first (the same for both), then only the one that moves the lock goes on.
    """
    ref = job.id
    await jobs.save(job.model_copy(update={"id": job_id, "status": status}))
    if not await jobs.adopt(ref, job_id):
        return False
    await jobs.rename_export(ref, job_id)
    await jobs.delete(ref)
    job.id, job.status = job_id, status
    return True


def spec_for(job: JobRecord, bot: str) -> JobSpec:
    """What creating `job` asks of the backend; the same spec finds it again later."""
    return JobSpec(
        ref=job.id,
        base_model=job.base_model,
        epochs=job.epochs,
        suffix=job.suffix,
        training_file=job.training_file or "",
        validation_file=job.validation_file,
        dataset_sha256=job.export_sha256 or "",
        bot=bot,
        method=job.method,
        beta=job.beta,
    )
