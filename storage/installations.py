"""Slack installations (each workspace's bot token) on Redis, encrypted: Bolt's OAuth flow saves
here and authorizes every event from here (slack_sdk.oauth's `AsyncInstallationStore`).

Bolt ships stores for files, SQL and cloud buckets, none for Redis. Tokens are the keys to a
workspace, so nothing of an installation is stored in the clear: each record is one Fernet token
(AES-128-CBC + HMAC-SHA256) made with `TOKEN_ENCRYPTION_KEY`. Several keys, comma-separated, let
a key be rotated: the first encrypts, any of them decrypts.

Only the bot's record of a workspace is kept (its token and ids): the bot installs with bot
scopes only and Bolt runs bot-only, so the installation record, which names the person who
installed, is never stored (forget-me has nothing to reach here). A reinstall replaces the
token. One key per workspace (a hash: `bot`) and an index of the workspaces installed.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from redis.asyncio import Redis
from slack_bolt.error import BoltError
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore

from storage.keys import Keys

logger = logging.getLogger(__name__)


class AnotherWorkspace(BoltError):
    """A workspace tried to install a deployment that serves as many as it may already (one,
    with TEAMS=one; SLACK_MAX_WORKSPACES otherwise). Bolt's flow shows its failure page for it
    and saves nothing. It carries the token Slack just issued, so that it can be revoked; its
    message names the workspace only."""

    def __init__(self, workspace: str, token: str | None, limit: int) -> None:
        super().__init__(workspace)
        self.token = token
        self.limit = limit


class TokenKeyError(ValueError):
    """TOKEN_ENCRYPTION_KEY is not what Fernet takes; says so without repeating it."""


def token_cipher(keys: str) -> MultiFernet:
    """The cipher for `TOKEN_ENCRYPTION_KEY` (one key, or several comma-separated)."""
    parts = [part.strip() for part in keys.split(",") if part.strip()]
    if not parts:
        raise TokenKeyError("TOKEN_ENCRYPTION_KEY is empty")
    ciphers = []
    for number, part in enumerate(parts, 1):
        try:
            ciphers.append(Fernet(part))
        except (ValueError, TypeError):
            raise TokenKeyError(
                f"TOKEN_ENCRYPTION_KEY key {number} is not a Fernet key (32 url-safe base64 "
                'bytes; make one with: python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())")'
            ) from None
    return MultiFernet(ciphers)


def workspace_id(enterprise_id: str | None, team_id: str | None, enterprise_install=False) -> str:
    """One workspace (or, for an org-wide install, one enterprise)."""
    team = "none" if enterprise_install else (team_id or "none")
    return f"{enterprise_id or 'none'}-{team}"


class RedisInstallationStore(AsyncInstallationStore):
    """`max_workspaces`: how many workspaces may install. One with TEAMS=one (a second would
    share the first one's dataset, model and admins); SLACK_MAX_WORKSPACES with many teams,
    since each installed workspace chats on the operator's model accounts."""

    def __init__(
        self, redis: Redis, keys: Keys, cipher: MultiFernet, *, max_workspaces: int = 0
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._cipher = cipher
        self._max = max_workspaces  # 0: no limit

    @property
    def logger(self) -> logging.Logger:
        return logger

    async def async_save(self, installation: Installation) -> None:
        workspace = workspace_id(
            installation.enterprise_id,
            installation.team_id,
            installation.is_enterprise_install,
        )
        installed = await self.workspaces() if self._max else []
        if self._max and workspace not in installed and len(installed) >= self._max:
            logger.warning("slack: refused an install beyond %d workspaces", self._max)
            raise AnotherWorkspace(workspace, installation.bot_token, self._max)
        await self._write(workspace, bot=installation.to_bot())

    async def async_save_bot(self, bot: Bot) -> None:
        if bot.bot_token is None:
            return
        workspace = workspace_id(bot.enterprise_id, bot.team_id, bot.is_enterprise_install)
        await self._write(workspace, bot=bot)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        workspace = workspace_id(enterprise_id, team_id, is_enterprise_install)
        data = await self._read(workspace, "bot")
        return Bot(**data) if data else None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        """None: only the bot's record is kept (Bolt runs bot-only and never asks)."""
        return None

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.async_delete_all(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        await self.async_delete_all(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """The workspace's tokens go at once (an uninstall, revoked tokens)."""
        workspace = workspace_id(enterprise_id, team_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._keys.slack_installation(workspace))
            pipe.srem(self._keys.slack_installations, workspace)
            await pipe.execute()

    async def workspaces(self) -> list[str]:
        """Every workspace installed (`enterprise-team` ids)."""
        return sorted(await self._redis.smembers(self._keys.slack_installations))

    async def bots(self) -> list[Bot]:
        """The bot of every workspace installed (one that can't be decrypted is left out)."""
        found = [await self._read(workspace, "bot") for workspace in await self.workspaces()]
        return [Bot(**data) for data in found if data]

    async def _write(self, workspace: str, **records: Installation | Bot) -> None:
        fields = {
            name: self._cipher.encrypt(json.dumps(record.__dict__).encode()).decode()
            for name, record in records.items()
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._keys.slack_installation(workspace), mapping=fields)
            pipe.sadd(self._keys.slack_installations, workspace)
            await pipe.execute()

    async def _read(self, workspace: str, field: str) -> dict[str, Any] | None:
        sealed = await self._redis.hget(self._keys.slack_installation(workspace), field)
        if sealed is None:
            return None
        try:
            return json.loads(self._cipher.decrypt(sealed.encode()))
        except InvalidToken:
            # Another key, or a record altered in Redis: as good as no installation.
            logger.error(
                "slack: the installation of %s can't be decrypted with TOKEN_ENCRYPTION_KEY",
                workspace,
            )
            return None
