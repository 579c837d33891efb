"""`FakeDiscord`, the fake Discord server, assembled from the parts in this package."""

from __future__ import annotations

from tests.fakes._server import FakeServer
from tests.fakes.discord.app_commands import CommandRoutes
from tests.fakes.discord.files import Files
from tests.fakes.discord.gateway import Gateway
from tests.fakes.discord.guild import GuildRoutes
from tests.fakes.discord.interactions import Interactions
from tests.fakes.discord.messages import MessageRoutes
from tests.fakes.discord.payloads import Payloads
from tests.fakes.discord.protocol import API_PREFIX, MESSAGE_CONTENT
from tests.fakes.discord.reading import Reading
from tests.fakes.discord.rest import RestApi
from tests.fakes.discord.state import StoredState
from tests.fakes.discord.user_actions import UserActions


class FakeDiscord(
    Reading,
    UserActions,
    Gateway,
    RestApi,
    GuildRoutes,
    MessageRoutes,
    CommandRoutes,
    Interactions,
    Files,
    Payloads,
    StoredState,
    FakeServer,
):
    """A local fake of Discord's REST API and gateway that the real discord.py talks to.

    Point discord.py at it once, before creating the client:

        discord.http.Route.BASE = fake.api_url
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)

    The fake owns one guild with a text channel and a public thread (`add_guild`
    hosts more, each with its own text channel, for a bot in several servers), the
    bot's user and application, and whatever users tests invent, who are members
    of every guild. Everything the bot does over REST (messages, edits, typing,
    reactions, DMs, threads, command syncs, interaction callbacks and followups) is
    recorded with `time.monotonic()` timestamps; tests inject gateway events
    (messages, reactions, slash commands, autocomplete) and steer the session
    (RECONNECT/RESUME with redelivery, INVALID SESSION). Unknown REST routes are
    recorded and answered 404.

    Like the real Discord, and unlike a plain mock:
      * REST answers carry `Content-Type: application/json` exactly: discord.py
        decodes a body only for that exact header (aiohttp's `json_response`, and
        even `web.Response(text=..., content_type=...)`, append `; charset=utf-8`).
      * A 429 carries a `Via` header, a JSON body with `retry_after` and
        X-RateLimit-* headers; without `Via` discord.py takes it for a Cloudflare
        ban and raises instead of retrying. Successful answers send no rate-limit
        headers, so discord.py never throttles itself against the fake.
      * The bot's own messages, edits and reactions come back over the gateway
        (MESSAGE_CREATE etc.), so a bot that does not ignore itself loops here too;
        ephemeral interaction messages never do. Set `echo_bot_events = False` to
        turn that off.
      * Events are filtered by the intents the client identified with, message
        content is blanked without the MESSAGE_CONTENT intent (except DMs, mentions
        and the bot's own messages), and a privileged intent that is not in
        `privileged_intents_enabled` closes the gateway with 4014.
      * Interaction tokens need no Authorization header; an interaction must be
        answered within `callback_deadline` seconds and only once, and the first
        followup after a deferral replaces the "thinking" message (keeping the
        deferral's ephemerality), as Discord does.
      * Messages over 2000 characters, empty messages and replies to unknown
        messages are refused with Discord's 400 errors.

    Gateway frames are zlib-stream compressed when the client asks for it (it
    does unless `zstandard` is installed, in which case it asks for zstd-stream and
    the fake answers with plain text frames, which discord.py also accepts).

    Run standalone with `python -m tests.fakes.discord_api --port N`.
    """

    def __init__(self, *, heartbeat_interval_ms: int = 41_250) -> None:
        super().__init__()
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.echo_bot_events = True
        self.privileged_intents_enabled = MESSAGE_CONTENT
        # Discord drops an interaction not answered within 3 s; None disables.
        self.callback_deadline: float | None = 3.0

        self._init_state()
        self._init_gateway()
        self._init_rest()
        self.app.router.add_get("/gateway", self._handle_gateway)
        self.app.router.add_get("/attachments/{channel}/{attachment}/{filename}", self._handle_cdn)
        self.app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._handle_api)

    @property
    def api_url(self) -> str:
        """Value for `discord.http.Route.BASE`."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """Value for `DiscordWebSocket.DEFAULT_GATEWAY` (wrap it in yarl.URL)."""
        return f"ws://{self.host}:{self.port}/gateway"

    async def stop(self) -> None:
        await self._close_connections()
        await super().stop()
