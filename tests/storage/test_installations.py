"""Slack installations in real Redis: found by workspace, encrypted at rest, gone on uninstall."""

import time

import pytest
from cryptography.fernet import Fernet
from redis.asyncio import Redis
from slack_sdk.oauth.installation_store import Installation

from storage.installations import RedisInstallationStore, TokenKeyError, token_cipher
from storage.keys import Keys

KEY = Fernet.generate_key().decode()
TOKEN = "xoxb-1-secret-token-of-acme"


def installation(team: str = "T1", token: str = TOKEN) -> Installation:
    return Installation(
        app_id="A1",
        enterprise_id=None,
        team_id=team,
        team_name="Acme",
        bot_token=token,
        bot_id="B1",
        bot_user_id="UBOT",
        bot_scopes="app_mentions:read,chat:write",
        user_id="UINSTALLER",
        installed_at=time.time(),
    )


@pytest.fixture
async def redis(redis_url):
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


def store(redis, key: str = KEY) -> RedisInstallationStore:
    return RedisInstallationStore(redis, Keys("test"), token_cipher(key))


async def test_a_saved_installation_is_found_by_its_workspace_and_only_by_it(redis):
    await store(redis).async_save(installation("T1"))
    bot = await store(redis).async_find_bot(enterprise_id=None, team_id="T1")
    assert bot.bot_token == TOKEN and bot.bot_user_id == "UBOT"
    # Nothing of the person who installed is kept: only the bot's record.
    assert await store(redis).async_find_installation(enterprise_id=None, team_id="T1") is None
    [sealed] = (await redis.hgetall(Keys("test").slack_installation("none-T1"))).values()
    assert b"UINSTALLER" not in token_cipher(KEY).decrypt(sealed.encode())
    assert await store(redis).async_find_bot(enterprise_id=None, team_id="T2") is None
    assert await store(redis).workspaces() == ["none-T1"]


async def test_no_token_is_in_redis_in_the_clear(redis):
    await store(redis).async_save(installation())
    dump = [await redis.dump(key) for key in await redis.keys("*")]
    assert dump and not any(TOKEN.encode() in value for value in dump)
    assert not any(b"UINSTALLER" in value for value in dump)


async def test_a_reinstall_replaces_the_token(redis):
    await store(redis).async_save(installation(token="xoxb-old"))
    await store(redis).async_save(installation(token="xoxb-new"))
    bot = await store(redis).async_find_bot(enterprise_id=None, team_id="T1")
    assert bot.bot_token == "xoxb-new"


async def test_an_uninstall_removes_the_workspace_tokens_at_once(redis):
    await store(redis).async_save(installation("T1"))
    await store(redis).async_save(installation("T2"))
    await store(redis).async_delete_all(enterprise_id=None, team_id="T1")
    assert await store(redis).async_find_bot(enterprise_id=None, team_id="T1") is None
    assert await store(redis).async_find_installation(enterprise_id=None, team_id="T1") is None
    assert (await store(redis).async_find_bot(enterprise_id=None, team_id="T2")).bot_token
    assert await store(redis).workspaces() == ["none-T2"]


async def test_a_rotated_key_still_reads_what_the_old_one_wrote(redis):
    await store(redis).async_save(installation())
    rotated = f"{Fernet.generate_key().decode()},{KEY}"
    bot = await store(redis, rotated).async_find_bot(enterprise_id=None, team_id="T1")
    assert bot.bot_token == TOKEN


async def test_a_wrong_key_finds_no_installation_and_says_so_without_the_token(redis, caplog):
    await store(redis).async_save(installation())
    other = store(redis, Fernet.generate_key().decode())
    assert await other.async_find_bot(enterprise_id=None, team_id="T1") is None
    assert "can't be decrypted" in caplog.text and TOKEN not in caplog.text


@pytest.mark.parametrize(
    "key",
    ["", "not-a-key", "x" * 44, f"{KEY},short"],
    ids=["empty", "not base64", "33 bytes", "a good key then a short one"],
)
def test_a_key_fernet_does_not_take_is_refused_without_repeating_it(key):
    with pytest.raises(TokenKeyError) as error:
        token_cipher(key)
    assert "TOKEN_ENCRYPTION_KEY" in str(error.value)
    assert not any(part and part in str(error.value) for part in key.split(","))


async def test_the_installed_bots_are_listed_for_a_start_to_find_its_token(redis):
    await store(redis).async_save(installation("T1"))
    [bot] = await store(redis).bots()
    assert bot.bot_token == TOKEN and bot.team_id == "T1"
    assert await store(redis, Fernet.generate_key().decode()).bots() == []
