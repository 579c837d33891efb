"""The worker's side of the GPU queue, played by hand: SAQ's own calls and our records, the
way `worker/loop.py` makes them, without training anything."""

from __future__ import annotations

from pathlib import Path

from saq import Job, Status
from saq.utils import now

from storage.gpu_queue import SUCCEEDED, GpuQueue


class HandWorker:
    def __init__(self, gpu: GpuQueue, worker_id: str = "w1") -> None:
        self.gpu = gpu
        self.id = worker_id

    async def report_in(self, ttl: int = 60) -> None:
        """What SAQ's worker writes every few seconds while it lives."""
        await self.gpu.saq.worker_info(self.id, queue_key=self.gpu.saq.name, ttl=ttl)

    async def take(self, heartbeat: int | None = None) -> Job:
        """Dequeue the oldest job and start it, as SAQ's worker does."""
        job = await self.gpu.saq.dequeue(timeout=1)
        assert job is not None, "nothing queued"
        job.started = now()
        job.attempts += 1
        job.worker_id = self.id
        if heartbeat is not None:
            job.heartbeat = heartbeat
        await job.update(status=Status.ACTIVE)
        return job

    async def succeed(self, job: Job, adapter: Path) -> None:
        fields = {
            "output_model": adapter.name,
            "adapter_path": str(adapter),
            "trained_tokens": 1200,
            "step": 6,
            "total_steps": 6,
            "train_loss": 1.25,
        }
        await self.gpu.record(job.key, "Adapter saved.", **fields)
        await job.finish(Status.COMPLETE, result={"outcome": SUCCEEDED, **fields})
