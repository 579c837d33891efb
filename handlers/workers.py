"""Several bot processes behind one port (`WEB_CONCURRENCY=N`).

One Python process serves one core. With N > 1 this process only supervises: it starts N
copies of the bot, each listening on PORT with SO_REUSEPORT, so the kernel spreads Slack's
connections over them; it passes SIGTERM/SIGINT on, restarts a copy that dies, and exits once
they have all stopped. Everything they share already lives in Redis (retry dedupe, the start
lock, the lease that lets one of them follow jobs, the active model), so the copies need no
other coordination. Discord allows one gateway session per bot here, so only the first copy
connects to it. Without REDIS_URL the supervisor starts the embedded Redis and the copies
share it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from bot.config import Settings
from storage.connection import RedisHandle, open_redis

logger = logging.getLogger("bot")

# Set in each copy's environment: its number, which also tells it that it is a copy.
WORKER_ENV = "BOT_WORKER"
# A copy that dies is restarted after this long, so a crash loop doesn't spin.
RESTART_DELAY_SECONDS = 1.0
# A copy that exits 2 found a configuration error; restarting can't fix it.
CONFIGURATION_ERROR = 2
# After SIGTERM each copy stops in about IN_FLIGHT_GRACE_SECONDS; one still running then is
# killed.
STOP_WAIT_SECONDS = 15.0
POLL_SECONDS = 0.1


def worker_index() -> int | None:
    """This process's number when it is one of several copies, else None."""
    value = os.environ.get(WORKER_ENV)
    return int(value) if value is not None else None


@dataclass
class Supervisor:
    settings: Settings
    children: dict[int, subprocess.Popen] = field(default_factory=dict)
    stop_requested: float | None = None  # when a signal came
    embedded_redis: RedisHandle | None = None  # held, or the server stops at once

    def run(self) -> int:
        """Until every copy has stopped; the exit code to leave with."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._request_stop)
        env = self._shared_env()
        for index in range(self.settings.web_concurrency):
            self._start(index, env)
        logger.info("workers: %d processes serve port %d", len(self.children), self.settings.port)
        code = 0
        while self.children:
            time.sleep(POLL_SECONDS)
            if self.stop_requested and time.monotonic() > self.stop_requested + STOP_WAIT_SECONDS:
                for child in self.children.values():
                    child.kill()
            for index, child in list(self.children.items()):
                if (exit_code := child.poll()) is None:
                    continue
                del self.children[index]
                if self.stop_requested:
                    continue
                if exit_code == CONFIGURATION_ERROR:
                    logger.error("workers: process %d found a configuration error", index)
                    code = CONFIGURATION_ERROR
                    self._request_stop(signal.SIGTERM, None)
                    continue
                logger.warning("workers: process %d exited (%s); restarting it", index, exit_code)
                time.sleep(RESTART_DELAY_SECONDS)
                self._start(index, env)
        return code

    def _shared_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if not self.settings.redis_url:
            # Started here; it stops when this process exits, after the copies.
            self.embedded_redis = open_redis(None, self.settings.data_dir)
            env["REDIS_URL"] = f"unix://{self.embedded_redis.embedded.socket_file}"
        return env

    def _start(self, index: int, env: dict[str, str]) -> None:
        self.children[index] = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"], env={**env, WORKER_ENV: str(index)}
        )

    def _request_stop(self, signum, frame) -> None:
        if self.stop_requested is None:
            self.stop_requested = time.monotonic()
            logger.info("workers: stopping %d processes", len(self.children))
            for child in self.children.values():
                child.send_signal(signal.SIGTERM)
