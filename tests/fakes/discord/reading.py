"""Test-side API for reading what the fake recorded and waiting for it (discord.py answers
events in background tasks)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any, TypeVar

from tests.fakes.discord.models import (
    Followup,
    InteractionCallback,
    Invocation,
    RecordedRequest,
    StoredMessage,
)

T = TypeVar("T")


class Reading:
    """FakeDiscord's read-only views of stored state, and waits on them."""

    def get_message(self, message_id: int) -> StoredMessage:
        try:
            return self.messages[message_id]
        except KeyError:
            raise AssertionError(f"no message {message_id} in the fake") from None

    def messages_in(self, channel_id: int, *, include_deleted: bool = False) -> list[StoredMessage]:
        """Every message in the channel, oldest first (ephemeral ones included)."""
        return [
            m
            for m in self.messages.values()
            if m.channel_id == channel_id and (include_deleted or not m.deleted)
        ]

    def bot_messages(
        self, channel_id: int | None = None, *, ephemeral: bool | None = None
    ) -> list[StoredMessage]:
        """Messages by the bot (REST and interaction responses), oldest first.

        `ephemeral=False` keeps only what everyone in the channel can see.
        """
        return [
            m
            for m in self.messages.values()
            if m.author_id == self.bot_user_id
            and not m.deleted
            and (channel_id is None or m.channel_id == channel_id)
            and (ephemeral is None or m.ephemeral == ephemeral)
        ]

    def edits_of(self, message_id: int) -> list[tuple[float, str]]:
        """(monotonic time, content) for the creation and every edit."""
        return list(self.get_message(message_id).edits)

    def requests_to(self, method: str, path_regex: str) -> list[RecordedRequest]:
        pattern = re.compile(path_regex)
        return [
            r for r in self.requests if r.method == method.upper() and pattern.fullmatch(r.path)
        ]

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """The application commands currently registered in that scope."""
        return list(self._commands.get(guild_id, {}).values())

    def callbacks_of(self, interaction: Invocation | int) -> list[InteractionCallback]:
        iid = _interaction_id(interaction)
        return [c for c in self.interaction_callbacks if c.interaction_id == iid]

    def followups_of(self, interaction: Invocation | int) -> list[Followup]:
        iid = _interaction_id(interaction)
        return [f for f in self.followups if f.interaction_id == iid]

    def original_response(self, interaction: Invocation | int) -> StoredMessage | None:
        state = self._interactions.get(_interaction_id(interaction))
        return self.messages.get(state.original_id) if state and state.original_id else None

    async def wait_for(
        self, predicate: Callable[[], T], timeout: float = 5.0, *, what: str = "condition"
    ) -> T:
        """Poll `predicate()` until it returns something truthy, and return that.

        Polls because discord.py answers events in background tasks.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if loop.time() >= deadline:
                recent = [(r.method, r.path, r.status) for r in self.requests[-8:]]
                raise AssertionError(f"no {what} within {timeout}s; recent requests: {recent}")
            await asyncio.sleep(0.01)

    async def wait_for_bot_message(
        self,
        channel_id: int | None = None,
        predicate: Callable[[StoredMessage], bool] | None = None,
        timeout: float = 5.0,
    ) -> StoredMessage:
        """The first bot message (in `channel_id`, matching `predicate`)."""

        def find() -> StoredMessage | None:
            for message in self.bot_messages(channel_id):
                if predicate is None or predicate(message):
                    return message
            return None

        return await self.wait_for(find, timeout, what="matching bot message")

    async def wait_for_request(
        self, method: str, path_regex: str, timeout: float = 5.0
    ) -> RecordedRequest:
        """The first answered request to `method` on a path fully matching `path_regex`."""

        def find() -> RecordedRequest | None:
            done = [r for r in self.requests_to(method, path_regex) if r.status is not None]
            return done[0] if done else None

        return await self.wait_for(find, timeout, what=f"{method} {path_regex}")

    async def wait_for_callback(
        self, interaction: Invocation | int, timeout: float = 5.0
    ) -> InteractionCallback:
        def find() -> InteractionCallback | None:
            found = self.callbacks_of(interaction)
            return found[0] if found else None

        return await self.wait_for(find, timeout, what="interaction callback")

    async def wait_for_followup(
        self,
        interaction: Invocation | int,
        predicate: Callable[[Followup], bool] | None = None,
        timeout: float = 5.0,
    ) -> Followup:
        def find() -> Followup | None:
            for followup in self.followups_of(interaction):
                if predicate is None or predicate(followup):
                    return followup
            return None

        return await self.wait_for(find, timeout, what="followup")


def _interaction_id(interaction: Invocation | int) -> int:
    return interaction.id if isinstance(interaction, Invocation) else int(interaction)
