"""Kept for existing imports and `python -m`: the fake Discord lives in `tests/fakes/discord/`."""

from tests.fakes._server import run_standalone
from tests.fakes.discord import FakeDiscord

__all__ = ["FakeDiscord"]

if __name__ == "__main__":
    run_standalone(FakeDiscord, "Fake Discord REST API and gateway for tests")
