"""An install's state: taken once, refused when forged, altered, replayed or expired."""

import pytest
from redis.asyncio import Redis

from storage.keys import Keys
from storage.oauth_states import RedisOAuthStateStore

SECRET = "state-secret-for-tests"


@pytest.fixture
async def redis(redis_url):
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


def states(redis, secret: str = SECRET, lifetime: int = 600) -> RedisOAuthStateStore:
    return RedisOAuthStateStore(redis, Keys("test"), secret, lifetime=lifetime)


async def test_a_state_is_taken_once(redis, caplog):
    state = await states(redis).async_issue()
    assert await states(redis).async_consume(state)
    assert not await states(redis).async_consume(state)
    assert "used before" in caplog.text and state not in caplog.text


@pytest.mark.parametrize(
    "forge",
    [
        lambda state: "made-up",
        lambda state: "",
        lambda state: state[:-1] + ("0" if state[-1] != "0" else "1"),  # signature altered
        lambda state: state.replace(".", ".9", 1),  # expiry pushed back
    ],
    ids=["made up", "empty", "signature altered", "expiry altered"],
)
async def test_a_state_this_bot_did_not_sign_is_refused_and_the_real_one_still_works(
    redis, forge, caplog
):
    state = await states(redis).async_issue()
    assert not await states(redis).async_consume(forge(state))
    assert "did not sign" in caplog.text
    assert await states(redis).async_consume(state)


async def test_a_state_signed_with_another_secret_is_refused(redis):
    state = await states(redis, "another deployment's secret").async_issue()
    assert not await states(redis).async_consume(state)


async def test_an_expired_state_is_refused(redis, caplog):
    state = await states(redis, lifetime=-1).async_issue()
    assert not await states(redis).async_consume(state)
    assert "expired" in caplog.text


async def test_issuing_states_stores_nothing(redis):
    for _ in range(50):
        await states(redis).async_issue()
    assert await redis.dbsize() == 0
