"""Votes taken faster than they can be applied. When the bot is saturated (a burst after an
outage, several busy workspaces), saving a vote before its ack (a turn read, an example built
and counted, a script) would push every ack past Slack's 3 s. Then the reaction is written here
instead, one XADD, and acknowledged: it is in Redis, so nothing acknowledged is lost. Every
bot process applies journaled votes when it has time; one that dies mid-way leaves its entries
pending, and another claims them after a while (votes are idempotent, so applying one twice
changes nothing)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from storage.keys import Keys
from storage.schemas import MessageKey

GROUP = "apply"
# An entry a consumer took this long ago without finishing is another's to apply.
CLAIM_IDLE_MS = 30_000


@dataclass(frozen=True)
class JournaledVote:
    platform: str
    channel: str
    ts: str
    user: str
    judgement: str  # "vote" or "veto"
    added: str  # "1" for a reaction added, "0" for one removed
    event_time: str

    @classmethod
    def of(
        cls, reply: MessageKey, user: str, judgement: str, added: bool, event_time: str
    ) -> JournaledVote:
        # Stream fields are strings.
        return cls(
            reply.platform, reply.channel, reply.id, user, judgement, str(int(added)), event_time
        )

    @property
    def reply(self) -> MessageKey:
        return MessageKey(self.platform, self.channel, self.ts)


Entry = tuple[str, JournaledVote]  # the stream entry's id and the vote


class VoteJournal:
    def __init__(self, redis: Redis, keys: Keys, claim_idle_ms: int = CLAIM_IDLE_MS) -> None:
        self._redis = redis
        self._key = keys.vote_journal
        self._claim_idle_ms = claim_idle_ms

    async def add(self, vote: JournaledVote) -> None:
        await self._redis.xadd(self._key, asdict(vote))

    async def open(self) -> None:
        """The consumer group, made once for all processes (it exists after the first)."""
        try:
            await self._redis.xgroup_create(self._key, GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def take(
        self, consumer: str, count: int, block_ms: int, *, claim_idle_ms: int | None = None
    ) -> list[Entry]:
        """Entries a dead consumer left first (idle `claim_idle_ms`, by default CLAIM_IDLE_MS),
        then new ones (waiting up to `block_ms`; 0 is not at all, where Redis would wait for
        ever)."""
        idle = self._claim_idle_ms if claim_idle_ms is None else claim_idle_ms
        reply = await self._redis.xautoclaim(
            self._key, GROUP, consumer, idle, start_id="0-0", count=count
        )
        entries = list(reply[1])  # Redis 7 adds a third element: ids deleted meanwhile
        if not entries:
            read = await self._redis.xreadgroup(
                GROUP, consumer, {self._key: ">"}, count=count, block=block_ms or None
            )
            entries = [entry for _, stream_entries in read for entry in stream_entries]
        return [(entry_id, JournaledVote(**fields)) for entry_id, fields in entries]

    async def done(self, entry_ids: list[str]) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(self._key, GROUP, *entry_ids)
            pipe.xdel(self._key, *entry_ids)
            await pipe.execute()

    async def waiting(self) -> int:
        return await self._redis.xlen(self._key)
