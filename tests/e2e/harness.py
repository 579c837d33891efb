"""Drives the real app over HTTP: signed Slack requests into our aiohttp server."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from typing import Any, ClassVar
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from bot.__main__ import assemble
from bot.app import Services
from bot.config import Settings, load_settings
from bot.teams import Teams
from handlers.discord import DiscordBot, run_discord
from handlers.slack import share_connections
from storage.schemas import MessageKey

SIGNING_SECRET = "test-signing-secret"
CHANNEL = "C1"
_ids = itertools.count(1)


def slack_message(channel: str, ts: str) -> MessageKey:
    return MessageKey("slack", channel, ts)


def make_settings(slack, openai_fake, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": slack.bot_token,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": slack.api_url,
        "openai_api_key": openai_fake.api_key,
        "openai_base_url": openai_fake.base_url,
        "system_prompt": "You are Captain Byte, a pirate. Answer like a pirate.",
        "finetune_admins": "UADMIN",
        "openai_timeout_seconds": 5,
        # Every change of a job shows at once; the throttle has its own test.
        "job_status_update_seconds": 0,
        # Tests talk faster than people; the rate limit has its own test.
        "chat_rate_per_minute": 0,
    }
    values.update(overrides)
    return load_settings(**values)


class SlackSender:
    """Signed Slack requests (events, slash commands) to a bot listening at `url`."""

    team = "T1"

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.session = session
        self._ts = itertools.count(1)

    def next_ts(self) -> str:
        return f"1800000000.{next(self._ts):06d}"

    async def post_signed(
        self,
        body: str,
        content_type: str,
        *,
        headers: dict | None = None,
        secret: str | None = None,
        timestamp: int | None = None,
    ) -> aiohttp.ClientResponse:
        timestamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = SignatureVerifier(secret or SIGNING_SECRET).generate_signature(
            timestamp=timestamp, body=body
        )
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature,
            **(headers or {}),
        }
        async with self.session.post(
            f"{self.url}/slack/events", data=body.encode(), headers=all_headers
        ) as response:
            await response.read()
            return response

    async def send_event(
        self, event: dict, *, event_id: str | None = None, retry_num: int | None = None
    ) -> aiohttp.ClientResponse:
        payload = {
            "token": "legacy",
            "team_id": self.team,
            "api_app_id": "A1",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(_ids):08d}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "team_id": self.team,
                    "user_id": "UBOT",
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
        }
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return await self.post_signed(json.dumps(payload), "application/json", headers=headers)

    async def mention(
        self,
        text: str,
        *,
        user: str = "UALICE",
        thread_ts: str | None = None,
        channel: str = CHANNEL,
        event_id: str | None = None,
        retry_num: int | None = None,
    ) -> str:
        """Mention the bot in a channel; returns the ts of the person's message."""
        ts = self.next_ts()
        event = {
            "type": "app_mention",
            "user": user,
            "text": f"<@UBOT> {text}",
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        await self.send_event(event, event_id=event_id, retry_num=retry_num)
        return ts

    async def react(
        self,
        ts: str,
        *,
        user: str = "UALICE",
        reaction: str = "+1",
        removed: bool = False,
        item_user: str = "UBOT",
        channel: str = CHANNEL,
        event_id: str | None = None,
        event_ts: str | None = None,
        retry_num: int | None = None,
    ) -> aiohttp.ClientResponse:
        event = {
            "type": "reaction_removed" if removed else "reaction_added",
            "user": user,
            "reaction": reaction,
            "item_user": item_user,
            "item": {"type": "message", "channel": channel, "ts": ts},
            "event_ts": event_ts or f"{time.time():.6f}",
        }
        return await self.send_event(event, event_id=event_id, retry_num=retry_num)

    async def command(
        self, text: str, response_url: str, *, user: str = "UALICE", channel: str = CHANNEL
    ) -> aiohttp.ClientResponse:
        form = {
            "token": "legacy",
            "team_id": self.team,
            "team_domain": "acme",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/finetune",
            "text": text,
            "api_app_id": "A1",
            "response_url": response_url,
            "trigger_id": f"trigger-{next(_ids)}",
        }
        return await self.post_signed(urlencode(form), "application/x-www-form-urlencoded")

    async def interact(self, payload: dict) -> aiohttp.ClientResponse:
        """An interactivity request (shortcut, modal submission): `payload=<json>`, form-encoded."""
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post_signed(body, "application/x-www-form-urlencoded")

    async def message_shortcut(
        self,
        callback_id: str,
        ts: str,
        response_url: str,
        *,
        user: str = "UALICE",
        channel: str = CHANNEL,
        author: str = "UBOT",
    ) -> str:
        """Run a message shortcut on the message `ts`; returns its trigger id."""
        trigger = f"trigger-{next(_ids)}"
        await self.interact(
            {
                "type": "message_action",
                "callback_id": callback_id,
                "trigger_id": trigger,
                "action_ts": f"{time.time():.6f}",
                "team": {"id": self.team, "domain": "acme"},
                "user": {"id": user, "name": user.lower(), "team_id": self.team},
                "channel": {"id": channel, "name": "general"},
                "message": {"type": "message", "user": author, "ts": ts, "text": "..."},
                "response_url": response_url,
                "token": "legacy",
                "is_enterprise_install": False,
            }
        )
        return trigger

    def _person(self, user: str) -> dict:
        return {"id": user, "name": user.lower(), "team_id": self.team}

    async def _block_actions(self, user: str, where: dict, action: dict) -> str:
        """A button press as Slack sends it (`where`: the message or view it sits on)."""
        trigger = f"trigger-{next(_ids)}"
        await self.interact(
            {
                "type": "block_actions",
                "team": {"id": self.team, "domain": "acme"},
                "user": self._person(user),
                "api_app_id": "A1",
                "token": "legacy",
                "trigger_id": trigger,
                **where,
                "actions": [{"action_ts": f"{time.time():.6f}", **action}],
                "is_enterprise_install": False,
            }
        )
        return trigger

    async def press(
        self,
        ts: str,
        action_id: str,
        value: str,
        *,
        user: str = "UALICE",
        thread_ts: str | None = None,
        channel: str = CHANNEL,
        action_ts: str | None = None,
        kind: str = "button",
    ) -> str:
        """Press a button on the bot's message `ts`, as Slack sends it; returns the trigger."""
        where = {
            "container": {"type": "message", "message_ts": ts, "channel_id": channel},
            "channel": {"id": channel, "name": "general"},
            "message": {"type": "message", "user": "UBOT", "ts": ts, "thread_ts": thread_ts},
        }
        action = {"type": kind, "action_id": action_id, "block_id": "b", "value": value}
        if action_ts:
            action["action_ts"] = action_ts
        return await self._block_actions(user, where, action)

    async def click_feedback(self, ts: str, button: str, **where: Any) -> str:
        """Press 👍 ("good") or 👎 ("bad") under the bot's reply `ts`; returns the trigger id."""
        return await self.press(ts, "reply_feedback", button, kind="feedback_buttons", **where)

    async def open_home(self, user: str = "UALICE") -> None:
        ts = self.next_ts()
        event = {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"}
        await self.send_event({**event, "event_ts": ts})

    async def press_home_button(self, action_id: str, *, user: str = "UALICE") -> str:
        """Press a button on the App Home (as Slack sends it, or forged); returns the trigger."""
        where = {
            "container": {"type": "view", "view_id": "VHOME"},
            "view": {"id": "VHOME", "type": "home", "blocks": []},
        }
        action = {"type": "button", "action_id": action_id, "block_id": "home_admin"}
        return await self._block_actions(user, where, action)

    async def submit_view(
        self,
        view: dict,
        values: dict,
        *,
        user: str = "UALICE",
        selected: dict | None = None,
        conversations: dict | None = None,
    ):
        """Submit a modal that `views.open` was given, with `values` (block -> action -> value)
        typed in, `selected` (block -> the value picked in its select menu) and
        `conversations` (block -> the channel picked in its conversation menu).

        Returns Slack's view of the answer: the parsed JSON body (errors) or None (closed).
        """
        state = {
            block: {action: {"type": "plain_text_input", "value": value}}
            for block, (action, value) in values.items()
        }
        for block, value in (selected or {}).items():
            state[block] = {"value": {"type": "static_select", "selected_option": {"value": value}}}
        for block, channel in (conversations or {}).items():
            state[block] = {
                "value": {"type": "conversations_select", "selected_conversation": channel}
            }
        response = await self.interact(
            {
                "type": "view_submission",
                "team": {"id": self.team, "domain": "acme"},
                "user": {"id": user, "name": user.lower(), "team_id": self.team},
                "api_app_id": "A1",
                "token": "legacy",
                "trigger_id": f"trigger-{next(_ids)}",
                "view": {**view, "id": "V1", "team_id": self.team, "state": {"values": state}},
                "is_enterprise_install": False,
            }
        )
        body = await response.text()
        return json.loads(body) if body.strip() else None


class RunningBot(SlackSender):
    """One app process' worth of wiring, serving HTTP on a free loopback port."""

    def __init__(
        self,
        settings: Settings,
        services: Services,
        runner: web.AppRunner,
        redis_handle: Any,
        url: str,
        discord: DiscordBot | None = None,
        teams: Teams | None = None,
    ) -> None:
        super().__init__(url, aiohttp.ClientSession())
        self.settings = settings
        self.services = services
        self.runner = runner
        self.redis_handle = redis_handle
        self.discord = discord
        self.discord_task: asyncio.Task | None = None
        self.teams = teams
        self.watchers: list[tuple[Services, asyncio.Task]] = []  # each team's, running

    async def react(self, ts: str, **options: Any) -> aiohttp.ClientResponse:
        # A person reacts to a reply they see, and its turn is recorded just after its stream
        # stops: a test reacting the moment it sees the reply waits those milliseconds too.
        reply = MessageKey("slack", options.get("channel", CHANNEL), ts)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(0.5):
                for _ in range(50):
                    if await self.services.turns.get(reply) is not None:
                        break
                    await asyncio.sleep(0.01)
        return await super().react(ts, **options)

    @classmethod
    async def start(
        cls, settings: Settings, *, watch: bool = True, warm: bool = False
    ) -> RunningBot:
        """`warm`: as `python -m bot` starts (warm-up, start-up objects frozen out of the garbage
        collector's way, one shared Slack session), for benchmarks of the first events."""
        bot = assemble(settings)
        await bot.prepare()
        if warm:
            await bot.warm()
        # No access log, as `python -m bot` serves: a request's line is not the bot's to log.
        runner = web.AppRunner(bot.web_app(bot.services.redis_ok), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        url = f"http://127.0.0.1:{port}"
        running = cls(settings, bot.services, runner, bot.redis, url, bot.discord, bot.teams)
        if warm and bot.slack:
            running.slack_session = share_connections(bot.slack)
        if watch:
            # Every team's watcher, as `python -m bot` runs them (a new team's at its start).
            bot.teams.on_team(running._watch)
        if bot.discord:
            running.discord_task = asyncio.create_task(
                run_discord(bot.discord, settings.discord_token)
            )
        cls.running.add(running)
        return running

    slack_session: aiohttp.ClientSession | None = None
    running: ClassVar[set[RunningBot]] = set()  # started and not stopped, in this process

    @property
    def busy(self) -> bool:
        """Answers queued or being given."""
        answers = self.services.answers
        return answers.waiting > 0 or answers.in_progress > 0

    def _watch(self, team: str, services: Services) -> None:
        self.watchers.append((services, asyncio.create_task(services.watcher.run())))

    async def stop_watching(self) -> None:
        for services, task in self.watchers:
            services.watcher.stop()
            await asyncio.gather(task, return_exceptions=True)
        self.watchers.clear()

    async def stop(self) -> None:
        RunningBot.running.discard(self)
        await self.stop_watching()
        await asyncio.wait_for(self.services.answers.join(), 30)
        if self.slack_session:
            await self.slack_session.close()
        if self.discord:
            await self.discord.close()
            # As `python -m bot` stops: a login retry or reconnect still sleeping is cancelled,
            # not waited out (the fake may already be gone).
            self.discord_task.cancel()
            await asyncio.gather(self.discord_task, return_exceptions=True)
        await self.session.close()
        await self.runner.cleanup()
        await self.redis_handle.close()
