"""REST routes for application commands: bulk overwrite (recorded as syncs), create, list, get
and delete, globally or in a hosted guild."""

from __future__ import annotations

import re
import time
from typing import Any

from aiohttp import web

from tests.fakes.discord.models import CommandSync
from tests.fakes.discord.rest import ApiError, json_response, unknown


class CommandRoutes:
    """FakeDiscord's REST handlers for application commands."""

    def _command_scope(self, match: re.Match[str]) -> int | None:
        if int(match["app"]) != self.application_id:
            raise ApiError(403, "Missing Access", 50001)
        self._check_guild(match["guild"])
        return int(match["guild"]) if match["guild"] else None

    def _register(self, scope: int | None, command: dict[str, Any], known: dict[str, Any]):
        # Overwriting keeps the id of a command with the same name, as Discord does.
        name = command.get("name", "")
        # Slash commands have lower-case names without spaces; user and message commands
        # (types 2 and 3, shown in menus) may have spaces and capitals.
        if command.get("type", 1) == 1:
            valid = re.fullmatch(r"[-_\w]{1,32}", name) and name == name.lower()
        else:
            valid = 1 <= len(name) <= 32
        if not valid:
            error = {"name": {"_errors": [{"code": "APPLICATION_COMMAND_INVALID_NAME"}]}}
            raise ApiError(400, "Invalid Form Body", 50035, error)
        old = known.get(name)
        registered = {
            "type": 1,
            "description": "",
            "options": [],
            "default_member_permissions": None,
            "nsfw": False,
            **command,
            "id": old["id"] if old else str(self.new_id()),
            "application_id": str(self.application_id),
            "version": str(self.new_id()),
        }
        if scope is not None:
            registered["guild_id"] = str(scope)
        return registered

    async def _get_commands(self, request, match, payload, files) -> web.Response:
        return json_response(self.commands(self._command_scope(match)))

    async def _put_commands(self, request, match, payload, files) -> web.Response:
        scope = self._command_scope(match)
        if not isinstance(payload, list):
            raise ApiError(400, "Invalid Form Body", 50035)
        known = self._commands.get(scope, {})
        registered = [self._register(scope, command, known) for command in payload]
        self._commands[scope] = {c["name"]: c for c in registered}
        self.command_syncs.append(CommandSync(scope, payload, time.monotonic()))
        return json_response(registered)

    async def _post_command(self, request, match, payload, files) -> web.Response:
        scope = self._command_scope(match)
        known = self._commands.setdefault(scope, {})
        registered = self._register(scope, payload or {}, known)
        status = 200 if registered["name"] in known else 201
        known[registered["name"]] = registered
        return json_response(registered, status)

    def _find_command(self, match: re.Match[str]) -> tuple[int | None, dict[str, Any]]:
        scope = self._command_scope(match)
        for command in self.commands(scope):
            if command["id"] == match["cmd"]:
                return scope, command
        raise unknown("application command", 10063)

    async def _get_command(self, request, match, payload, files) -> web.Response:
        return json_response(self._find_command(match)[1])

    async def _delete_command(self, request, match, payload, files) -> web.Response:
        scope, command = self._find_command(match)
        del self._commands[scope][command["name"]]
        return web.Response(status=204)
