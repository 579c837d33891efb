"""The core's services on fakeredis: a fresh in-memory Redis per test (its Lua scripts run with
`lupa`), settings given explicitly (no environment, no `.env`), and builders for turns.

For fast unit tests of the core's rules; what needs a real Redis server (persistence, faults,
Cluster) is tested in tests/e2e."""

from __future__ import annotations

import itertools
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import fakeredis
import pytest
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from redis.asyncio import Redis

from bot.app import Services, build_services
from bot.clock import Clock
from bot.config import Settings
from bot.conversation.curation import Curation, JudgementStores
from bot.dataset.export import Dataset
from bot.providers.config import load_providers
from bot.providers.registry import Providers
from bot.trainers import TrainerContext
from bot.training.model_table import load_model_table
from storage.examples import ExampleStore
from storage.feedback import FeedbackStore
from storage.jobs import JobRecord
from storage.keys import Keys
from storage.pairs import PairStore
from storage.pending_votes import PendingVotes
from storage.provenance import Provenance
from storage.schemas import MessageKey, Turn
from storage.turns import TurnStore
from storage.vetoes import VetoStore

PREFIX = "core"
KEYS = Keys(PREFIX)
MODEL = "gpt-4.1-mini"
SYSTEM = "You are a pirate."
CHANNEL = "C1"
TURN_TTL_SECONDS = 3600
_THREAD_STARTS = itertools.count(1_700_000_000, 1000)  # each conversation's own timestamps


def closed_port() -> int:
    """A loopback port nobody listens on: a model call sent there is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _GivenSettings(Settings):
    """Settings from the test's arguments only: the machine's environment and `.env` are
    never read, so what a test sees does not depend on where it runs."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def make_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "openai_api_key": "sk-core-tests",
        # The one provider chats and trains here; the status's shutdown lookup is refused.
        "openai_base_url": f"http://127.0.0.1:{closed_port()}/v1",
        "redis_prefix": PREFIX,
        "chat_model": MODEL,
        "system_prompt": SYSTEM,
        "redact_pii": False,
        "finetune_admins": frozenset({"UADMIN"}),
        "turn_ttl_days": 1,
    }
    return _GivenSettings(**(values | overrides))


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
    yield client
    await client.aclose()


def build_providers(
    settings: Settings, redis: Redis, kind: type[Providers] = Providers
) -> Providers:
    """The providers as `bot.app.open_core` builds them, from the settings alone."""
    return kind(
        load_providers(settings, {}),
        load_model_table(None),
        TrainerContext(redis, Keys(settings.redis_prefix), settings.openai_timeout_seconds),
        timeout_seconds=settings.openai_timeout_seconds,
    )


def build_core(redis: Redis, **overrides: object) -> Services:
    """Every core service, wired by `bot.app.build_services` as the bot wires them."""
    settings = make_settings(**overrides)
    return build_services(settings, redis, build_providers(settings, redis), Clock())


def judgement_stores(redis: Redis) -> JudgementStores:
    return JudgementStores(
        TurnStore(redis, KEYS, TURN_TTL_SECONDS),
        ExampleStore(redis, KEYS),
        VetoStore(redis, KEYS),
        PairStore(redis, KEYS),
        Provenance(KEYS, redis),
        FeedbackStore(redis, KEYS, TURN_TTL_SECONDS),
    )


@pytest.fixture
def stores(redis: Redis) -> JudgementStores:
    return judgement_stores(redis)


@pytest.fixture
def curation(stores: JudgementStores, redis: Redis) -> Curation:
    """Curation as the bot builds it: every channel curated, reactions on a reply still
    streaming held until its turn is recorded."""
    return Curation(stores, pending=PendingVotes(redis, KEYS))


@pytest.fixture
def dataset(stores: JudgementStores) -> Dataset:
    """The dataset with a quorum of one (MIN_VOTES' default)."""
    return Dataset(stores.examples, stores.vetoes, stores.pairs, min_votes=1)


@pytest.fixture
def chat(stores: JudgementStores) -> Conversation:
    return Conversation(stores.turns)


@dataclass
class Conversation:
    """A Slack thread with the bot: builds each turn the way chat records it (the messages the
    model saw, where its text came from, who wrote it)."""

    turns: TurnStore
    channel: str = CHANNEL
    thread: str | None = None
    history: list[dict] = field(default_factory=list)  # what the next turn's model sees
    history_refs: list[str] = field(default_factory=list)  # the bot replies in `history`
    last: Turn | None = None
    start: int = field(default_factory=lambda: next(_THREAD_STARTS))
    sent: int = 0

    def _ts(self) -> str:
        self.sent += 1
        return f"{self.start + self.sent}.000100"

    def next_reply(self) -> MessageKey:
        """Where the bot's answer to the next question is posted: while it streams, its turn
        is not recorded yet."""
        return MessageKey("slack", self.channel, f"{self.start + self.sent + 2}.000100")

    async def ask(self, user: str, text: str, reply: str, *, parts: int = 1) -> Turn:
        """`user` writes `text` and the bot answers `reply` (posted as `parts` messages)."""
        asked = self._ts()
        first = self._ts()
        later = [self._ts() for _ in range(parts - 1)]
        self.thread = self.thread or asked
        previous = self.last
        messages = [
            {"role": "system", "content": SYSTEM},
            *self.history,
            {"role": "user", "content": text},
        ]
        here = [MessageKey("slack", self.channel, ts).ref for ts in (asked, first)]
        turn = Turn(
            team="T1",
            channel=self.channel,
            thread_ts=self.thread,
            ts=first,
            part_ids=later,
            user=user,
            model=MODEL,
            messages=messages,
            reply=reply,
            history_refs=list(self.history_refs),
            asked=asked,
            message_refs=list(
                dict.fromkeys([*(previous.provenance_refs if previous else []), *here])
            ),
            people=list(dict.fromkeys([*(previous.people if previous else []), user])),
        )
        await self.turns.record(turn)
        self.history += [
            {"role": "user", "content": text},
            {"role": "assistant", "content": reply},
        ]
        self.history_refs.append(turn.ref)
        self.last = turn
        return turn


def asked_key(turn: Turn) -> MessageKey:
    """The person's message that a turn answers."""
    return MessageKey(turn.platform, turn.channel, turn.asked)


async def trained(dataset: Dataset) -> list[tuple[str, str]]:
    """What the training file teaches: each line's last question and the reply it trains."""
    lines = [line async for line in dataset.training_lines()]
    return [
        (
            next(m["content"] for m in reversed(line["messages"]) if m["role"] == "user"),
            line["messages"][-1]["content"],
        )
        for line in lines
    ]


async def stored_text(redis: Redis) -> str:
    """Every key and value in Redis, as one text to search for what must be gone."""
    found = []
    async for key in redis.scan_iter(count=1000):
        kind = await redis.type(key)
        if kind == "string":
            value = await redis.get(key)
        elif kind == "hash":
            value = await redis.hgetall(key)
        elif kind == "set":
            value = await redis.smembers(key)
        elif kind == "zset":
            value = await redis.zrange(key, 0, -1)
        elif kind == "list":
            value = await redis.lrange(key, 0, -1)
        else:
            value = kind
        found.append(f"{key} {value}")
    return "\n".join(found)


async def traces_of(redis: Redis, person: str) -> list[str]:
    """The keys that still name `person`, besides the opted-out list that must remember them."""
    return [
        line
        for line in (await stored_text(redis)).splitlines()
        if person in line and not line.startswith(f"{KEYS.opted_out} ")
    ]


def a_job(job_id: str, status: str = "running", **fields) -> JobRecord:
    """A job record as a start writes it (fields override)."""
    return JobRecord(
        id=job_id,
        provider="openai",
        status=status,
        base_model="gpt-4.1-mini-2025-04-14",
        epochs=3,
        started_by="UADMIN",
        channel="C1",
        examples=10,
        tokens=1000,
        billed_tokens=3000,
        **{"training_file": "file-training", **fields},
    )
