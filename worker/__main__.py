"""`python -m worker [--once]`: read settings, open Redis, take and train jobs until stopped."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from worker.config import SettingsError, WorkerSettings, load_settings
from worker.loop import Worker

logger = logging.getLogger("worker")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__)
    parser.add_argument(
        "--once", action="store_true", help="handle at most one queued job, then exit"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 2
    try:
        from worker.training import train
    except ImportError as exc:
        print(
            f"worker: the training libraries are missing ({exc.name}); "
            'install them with pip install ".[local]"',
            file=sys.stderr,
        )
        return 2
    return asyncio.run(_serve(settings, train, once=args.once))


async def _serve(settings: WorkerSettings, train, *, once: bool) -> int:
    settings.local_models_dir.mkdir(parents=True, exist_ok=True)
    # SIGINT and SIGTERM stop the worker after the current training step (SAQ's handlers).
    worker = Worker(settings, train)
    if problem := await worker.reachable():
        print(f"worker: can't reach Redis at REDIS_URL: {problem}", file=sys.stderr)
        return 2
    logger.info(
        "worker: %s taking jobs of bot %s, adapters under %s",
        worker.id,
        settings.redis_prefix,
        settings.local_models_dir.resolve(),
    )
    await worker.run(once=once)
    return 0


if __name__ == "__main__":
    sys.exit(main())
