"""The team directory in real Redis: places claimed once, links that move one place, codes that
work once, and a team's removal taking every key under its hash tag and nothing else."""

import pytest
from redis.asyncio import Redis

from storage.keys import DEFAULT_TEAM, Keys
from storage.teams import TeamDirectory, remove_team_data, team_for_new_place

DEPLOYMENT = Keys("acme")


@pytest.fixture
async def directory(redis_url):
    client = Redis.from_url(redis_url, decode_responses=True)
    yield TeamDirectory(client, DEPLOYMENT)
    await client.aclose()


async def test_a_new_place_is_claimed_once_whoever_sees_it_first(directory):
    team = team_for_new_place("slack:T1")
    assert team == "slack-T1"
    assert await directory.claim("slack:T1", team) == team
    # A second process naming another team for the same place finds the first claim.
    assert await directory.claim("slack:T1", "someone-else") == team
    record = await directory.record(team)
    assert record.slack == "slack:T1" and record.admins == []


async def test_moving_a_place_keeps_one_slack_workspace_per_team(directory):
    await directory.claim("slack:T1", "slack-T1")
    await directory.claim("discord:9", "discord-9")
    await directory.move("slack:T1", "discord-9")
    assert await directory.team_of("slack:T1") == "discord-9"
    assert (await directory.record("discord-9")).slack == "slack:T1"
    assert (await directory.record("slack-T1")).slack is None
    assert await directory.places_of("discord-9") == ["discord:9", "slack:T1"]


async def test_a_link_code_works_once_and_guesses_find_nothing(directory):
    code = await directory.issue_code("slack-T1", "slack:T1")
    assert len(code) == 8 and code.isalnum()
    for guess in ("", "x" * 40, "../../etc", code.lower() + "x"):
        assert await directory.take_code(guess) is None
    link = await directory.take_code(code.lower())  # typed in lower case: the same code
    assert (link.team, link.place) == ("slack-T1", "slack:T1")
    assert await directory.take_code(code) is None


async def test_removing_a_team_takes_its_keys_and_nothing_else(directory, redis_url):
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        gone, kept = DEPLOYMENT.team("slack-T1"), DEPLOYMENT.team("slack-T2")
        assert DEPLOYMENT.team(DEFAULT_TEAM) == DEPLOYMENT  # the first team's keys stay put
        for keys in (gone, kept, DEPLOYMENT):
            await client.set(keys.examples, "x")
            await client.set(keys.example("e1"), "x")
        assert await remove_team_data(client, gone) == 2
        assert not await client.exists(gone.examples, gone.example("e1"))
        assert await client.exists(kept.examples, DEPLOYMENT.examples) == 2
    finally:
        await client.aclose()


async def test_records_list_the_first_team_first(directory):
    await directory.ensure("slack-T2")
    await directory.ensure(DEFAULT_TEAM)
    await directory.ensure("discord-1")
    first, *_ = await directory.records()
    assert first.id == DEFAULT_TEAM
