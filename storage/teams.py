"""Which team each place belongs to, and each team's record (storage for bot/teams/).

A *place* is where people talk to the bot: a Slack workspace (`slack:T…`) or a Discord server
(`discord:…`). Each belongs to exactly one team; a new place gets a team of its own, named after
it, and `/finetune link` moves a place into another team by rewriting its one entry.

These keys are the deployment's (its own hash tag); everything a team keeps is under the team's.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import AsyncIterator

from pydantic import BaseModel, Field
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from storage.keys import DEFAULT_TEAM, Keys

LINK_CODE_SECONDS = 600
_PLACE = re.compile(r"(slack|discord):[A-Za-z0-9_-]{1,64}")
# Letters people can't misread when they copy a code from one app into another.
_CODE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class TeamRecord(BaseModel):
    id: str
    created_at: float
    admins: list[str] = Field(default_factory=list)  # Slack user ids (an installer among them)
    # Set with `/finetune settings`; None: the deployment's.
    system_prompt: str | None = None
    curate_reactions: list[str] | None = None  # Slack's emoji names
    discord_curate_reactions: list[str] | None = None
    uninstalled_at: float | None = None  # its Slack workspace uninstalled the app
    slack: str | None = None  # its Slack workspace (`slack:T…`): a team has at most one


class LinkCode(BaseModel):
    team: str
    place: str  # where it was shown: the code joins another place to this team


def team_for_new_place(place: str) -> str:
    """A new place's own team, named after it (`slack:T1` -> `slack-T1`), so that two processes
    seeing a new place at once name the same team. The name goes into the team's hash tag:
    anything but a platform's plain id is refused."""
    if not _PLACE.fullmatch(place):
        raise ValueError(f"not a place: {place[:80]!r}")
    return place.replace(":", "-")


class TeamDirectory:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    # Places ---------------------------------------------------------------------------------

    async def team_of(self, place: str) -> str | None:
        return await self._redis.hget(self._keys.team_places, place)

    async def claim(self, place: str, team: str) -> str:
        """`place`'s team: the one it has, else `team` (recorded, with a record if new)."""
        if await self._redis.hsetnx(self._keys.team_places, place, team):
            await self._joined(place, team)
            return team
        return await self.team_of(place) or team

    async def move(self, place: str, team: str) -> None:
        before = await self.team_of(place)
        await self._redis.hset(self._keys.team_places, place, team)
        left = await self.record(before) if before and place.startswith("slack:") else None
        if left and left.slack == place:
            left.slack = None
            await self.save(left)
        await self._joined(place, team)

    async def _joined(self, place: str, team: str) -> None:
        record = await self.ensure(team)
        if place.startswith("slack:") and record.slack != place:
            record.slack = place  # what the team's posts outside events are sent with
            await self.save(record)

    async def places(self) -> dict[str, str]:
        """Every place and its team."""
        return await self._redis.hgetall(self._keys.team_places)

    async def places_of(self, team: str) -> list[str]:
        return sorted(place for place, owner in (await self.places()).items() if owner == team)

    # Records --------------------------------------------------------------------------------

    async def ensure(self, team: str) -> TeamRecord:
        record = TeamRecord(id=team, created_at=time.time())
        await self._redis.hsetnx(self._keys.team_records, team, record.model_dump_json())
        return await self.record(team) or record

    async def record(self, team: str) -> TeamRecord | None:
        raw = await self._redis.hget(self._keys.team_records, team)
        return TeamRecord.model_validate_json(raw) if raw else None

    async def records(self) -> list[TeamRecord]:
        found = await self._redis.hgetall(self._keys.team_records)
        return sorted(
            (TeamRecord.model_validate_json(raw) for raw in found.values()),
            key=lambda record: (record.id != DEFAULT_TEAM, record.created_at),
        )

    async def save(self, record: TeamRecord) -> None:
        await self._redis.hset(self._keys.team_records, record.id, record.model_dump_json())

    async def forget(self, team: str) -> None:
        """The team's entry and its places; its data is removed by `remove_team_data`."""
        places = await self.places_of(team)
        if places:
            await self._redis.hdel(self._keys.team_places, *places)
        await self._redis.hdel(self._keys.team_records, team)
        await self._redis.hdel(self._keys.team_activity, team)

    async def touch(self, team: str, when: float) -> None:
        await self._redis.hset(self._keys.team_activity, team, f"{when:.0f}")

    async def activity(self) -> dict[str, float]:
        """Team id -> when it was last heard from."""
        found = await self._redis.hgetall(self._keys.team_activity)
        return {team: float(when) for team, when in found.items()}

    # Linking --------------------------------------------------------------------------------

    async def issue_code(self, team: str, place: str) -> str:
        code = "".join(secrets.choice(_CODE_LETTERS) for _ in range(8))
        link = LinkCode(team=team, place=place).model_dump_json()
        await self._redis.set(self._keys.link_code(code), link, ex=LINK_CODE_SECONDS)
        return code

    async def take_code(self, code: str) -> LinkCode | None:
        """The code's link, once: a second use (or a guess) finds nothing."""
        if not code.isalnum() or len(code) > 16:
            return None
        raw = await self._redis.getdel(self._keys.link_code(code.upper()))
        return LinkCode.model_validate_json(raw) if raw else None

    # The data kept before teams -----------------------------------------------------------

    async def adopted(self) -> bool:
        return bool(await self._redis.exists(self._keys.teams_adopted))

    async def mark_adopted(self, places: list[str]) -> None:
        await self._redis.set(self._keys.teams_adopted, json.dumps(places))


async def team_keys(redis: Redis, keys: Keys) -> AsyncIterator[bytes]:
    """Every key under `keys`' hash tag (one team's data), on every master of a cluster."""
    pattern = f"bot:{{{keys.prefix}}}:*"
    if isinstance(redis, RedisCluster):
        # All of a team's keys share one slot, so they live on one master: SCAN each.
        for node in redis.get_primaries():
            async for key in redis.scan_iter(match=pattern, count=1000, target_nodes=node):
                yield key
        return
    async for key in redis.scan_iter(match=pattern, count=1000):
        yield key


async def remove_team_data(redis: Redis, keys: Keys) -> int:
    """Delete everything one team keeps; returns how many keys went."""
    removed = 0
    batch: list[bytes] = []
    async for key in team_keys(redis, keys):
        batch.append(key)
        if len(batch) == 500:
            removed += await redis.delete(*batch)
            batch.clear()
    if batch:
        removed += await redis.delete(*batch)
    return removed
