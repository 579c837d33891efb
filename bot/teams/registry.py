"""Every team a process serves (TEAMS=many): which team a place belongs to, and each team's
own services.

A team owns a dataset, an active model and its history, a job, admins, a policy and a budget:
one `Services`, built on the team's own keys (`Keys.team`) and settings (its admins), sharing
the process' providers, answer queue and loop measure with every other team. A team's services
are built the first time one of its places is heard from (or at start, for the known ones), and
kept; each front end and the serving process hear of every team built (`on_team`), to give it
reporters and background work.

With TEAMS=one every place is the first team, as before teams: nothing is looked up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from bot.app import Services, build_services
from bot.config import Settings
from bot.errors import REDIS_DOWN
from bot.faces import ChatFace
from bot.teams.desk import TeamDesk
from bot.teams.settings import apply_record, team_settings
from storage.keys import DEFAULT_TEAM, Keys
from storage.teams import TeamDirectory, TeamRecord, remove_team_data, team_for_new_place

logger = logging.getLogger(__name__)

# How long a process trusts what it read of the directory and of a team's record: a link made,
# or an admin added, in another process is seen here within this.
FRESH_SECONDS = 15.0

ACTIVITY_SECONDS = 60.0

TeamListener = Callable[[str, Services], None]


class Teams:
    def __init__(self, default: Services, directory: TeamDirectory | None) -> None:
        self.default = default
        self.settings = default.settings
        # The deployment's own values, before any team's record is laid over the first team's.
        self._deployment = default.settings.model_copy()
        self.directory = directory  # None: TEAMS=one
        self._built: dict[str, Services] = {DEFAULT_TEAM: default}
        self._faces: dict[str, ChatFace] = {DEFAULT_TEAM: ChatFace.of(default)}
        self._places: dict[str, tuple[float, str]] = {}  # place -> (read at, team)
        self._records_read: dict[str, float] = {}  # team -> when its record was read
        self._building: dict[str, asyncio.Lock] = {}
        self._listeners: list[TeamListener] = []
        self._touched: dict[str, float] = {}  # team -> when its activity was last written
        if directory is not None:
            default.commands.teams = TeamDesk(self)

    @property
    def many(self) -> bool:
        return self.directory is not None

    @property
    def face_of_default(self) -> ChatFace:
        """The first team's face: what TEAMS=one hands every event, and what a deployment-wide
        check (a replayed signature, a Discord interaction seen twice) asks."""
        return self._faces[DEFAULT_TEAM]

    def faces(self) -> list[ChatFace]:
        """Every team's face this process has built."""
        return list(self._faces.values())

    @property
    def built(self) -> dict[str, Services]:
        return dict(self._built)

    def on_team(self, listener: TeamListener) -> None:
        """Call `listener` for every team built, those built already included."""
        self._listeners.append(listener)
        for team, services in list(self._built.items()):
            listener(team, services)

    # Places -----------------------------------------------------------------------------------

    async def team_of(self, place: str) -> str:
        """The team `place` belongs to; a new place gets a team of its own."""
        if self.directory is None:
            return DEFAULT_TEAM
        now = time.monotonic()
        read_at, team = self._places.get(place, (0.0, ""))
        if now - read_at < FRESH_SECONDS:
            return team
        try:
            team = await self.directory.team_of(place)
        except REDIS_DOWN:
            if not read_at:
                raise
            return team  # as last read: the event's own storage calls say storage is down
        if team is None:
            team = await self.directory.claim(place, team_for_new_place(place))
            logger.info("teams: %s is new; it is team %s", place, team)
        self._places[place] = (now, team)
        return team

    def moved(self, place: str, team: str) -> None:
        """This process moved `place` (a link): seen at once here, elsewhere when fresh."""
        self._places[place] = (time.monotonic(), team)

    async def face(self, place: str) -> ChatFace:
        """What a front end hands the event from `place` to."""
        if self.directory is None:
            return self._faces[DEFAULT_TEAM]
        team = await self.team_of(place)
        await self.services(team)
        await self._touch(team)
        return self._faces[team]

    async def _touch(self, team: str) -> None:
        """When the team was last heard from, for the operator (`python -m bot teams`): at
        most once a minute per team and process."""
        now = time.time()
        if now - self._touched.get(team, 0.0) >= ACTIVITY_SECONDS:
            self._touched[team] = now
            await self.directory.touch(team, now)

    # Services ---------------------------------------------------------------------------------

    async def services(self, team: str) -> Services:
        """The team's services, built the first time (its record read, and re-read when stale)."""
        services = self._built.get(team)
        if services is not None:
            if (
                self.directory
                and time.monotonic() - self._records_read.get(team, 0) > FRESH_SECONDS
            ):
                await self._refresh(team, services)
            return services
        lock = self._building.setdefault(team, asyncio.Lock())
        async with lock:
            if team not in self._built:
                self._add(team, await self.directory.ensure(team) if self.directory else None)
        return self._built[team]

    async def _refresh(self, team: str, services: Services) -> None:
        self._records_read[team] = time.monotonic()
        record = await self.directory.record(team)
        self.apply(team, services.settings, record)

    @property
    def deployment(self) -> Settings:
        """The deployment's own settings, before any team's record is laid over them."""
        return self._deployment

    def apply(self, team: str, settings: Settings, record: TeamRecord | None) -> None:
        """`record` over the team's `settings`, in place."""
        admins = self._deployment.finetune_admins if team == DEFAULT_TEAM else frozenset()
        apply_record(settings, self._deployment, admins, record)

    async def start(self, slack_workspaces: list[str] = ()) -> None:
        """At start: the data kept before teams adopted (`slack_workspaces`: the workspaces
        installed then), and every known team built."""
        if self.directory is None:
            return
        guilds = [f"discord:{guild}" for guild in sorted(self.settings.discord_guilds)]
        await self.adopt([*(f"slack:{w}" for w in slack_workspaces), *guilds])
        self.build(await self.directory.records())

    def build(self, records: list[TeamRecord]) -> None:
        """Each team of `records` built from the record as read: no round trip per team."""
        for record in records:
            if record.id not in self._built or record.id == DEFAULT_TEAM:
                self._add(record.id, record)

    def _add(self, team: str, record: TeamRecord | None) -> None:
        self._records_read[team] = time.monotonic()
        if team == DEFAULT_TEAM:
            self.apply(team, self.default.settings, record)
            return
        default = self.default
        services = build_services(
            team_settings(self._deployment, team, record),
            default.redis,
            default.providers,
            default.clock,
            default.runtime,
        )
        services.commands.teams = TeamDesk(self)
        self._built[team] = services
        self._faces[team] = ChatFace.of(services)
        for listener in self._listeners:
            listener(team, services)

    # Installs ----------------------------------------------------------------------------------

    async def installed(self, place: str, installer: str | None) -> str:
        """A workspace installed the app (again): its team, with the installer among its admins
        and no removal pending."""
        team = await self.team_of(place)
        record = await self.directory.ensure(team)
        if installer and installer not in record.admins:
            record.admins.append(installer)
        record.uninstalled_at = None
        await self.directory.save(record)
        if team in self._built:
            self.apply(team, self._built[team].settings, record)
        return team

    async def uninstalled(self, place: str) -> None:
        """The app left a workspace: its team's data goes after UNINSTALL_GRACE_DAYS, unless
        the workspace installs again first."""
        team = await self.team_of(place)
        record = await self.directory.ensure(team)
        record.uninstalled_at = time.time()
        await self.directory.save(record)
        days = self.settings.uninstall_grace_days
        logger.info("teams: team %s is removed in %d days unless installed again", team, days)

    async def remove_uninstalled(self, now: float) -> list[str]:
        """Remove every team whose grace after an uninstall has passed; returns their ids."""
        grace = self.settings.uninstall_grace_days * 86400
        removed = []
        for record in await self.directory.records():
            if record.uninstalled_at is None or record.uninstalled_at + grace > now:
                continue
            if record.id == DEFAULT_TEAM:
                continue  # the deployment's own keys: an operator removes them, not a timer
            await self.remove(record.id)
            removed.append(record.id)
        return removed

    async def remove(self, team: str) -> int:
        """Everything of a team: its places, its record and its data. Returns keys removed."""
        if team == DEFAULT_TEAM:
            raise ValueError("the first team holds the deployment's own keys; it stays")
        services = self._built.pop(team, None)
        self._faces.pop(team, None)
        if services is not None:
            services.watcher.stop()
        self._places = {p: v for p, v in self._places.items() if v[1] != team}
        await self.directory.forget(team)
        removed = await remove_team_data(
            self.default.redis, Keys(self.settings.redis_prefix).team(team)
        )
        logger.info("teams: team %s was removed (%d keys)", team, removed)
        return removed

    # The data kept before teams -------------------------------------------------------------

    async def adopt(self, places: list[str]) -> None:
        """Once, at the first start with TEAMS=many: the places that fed the data kept before
        teams (the configured Discord servers, the installed workspace) are the first team's,
        so its dataset, model and jobs stay theirs. Nothing is copied: the first team keeps the
        deployment's own keys. Run again after a crash, it does the same."""
        directory = self.directory
        if directory is None or await directory.adopted():
            return
        await directory.ensure(DEFAULT_TEAM)
        if places and await self._has_data():
            for place in places:
                await directory.claim(place, DEFAULT_TEAM)
            logger.info(
                "teams: the data kept before teams is the first team's now, with %s",
                ", ".join(places),
            )
        await directory.mark_adopted(places)

    async def _has_data(self) -> bool:
        """Anything a team would miss: examples, a job, a model swapped in."""
        services = self.default
        return bool(
            (await services.examples.stats()).examples
            or await services.jobs.active_job_id()
            or await services.jobs.finished(1)
            or await services.models.history(1)
        )

    async def check_job(self, job_id: str) -> None:
        """An OpenAI webhook about `job_id`: the team whose job it is brings it up to date."""
        for services in list(self._built.values()):
            await services.watcher.check(job_id)

    async def close(self) -> None:
        for team, services in self._built.items():
            if team != DEFAULT_TEAM:
                await services.reporters.close()
        await self.default.close()
