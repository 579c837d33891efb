"""What a team's admins change of it from the chat (`/finetune link`, `/finetune settings`):
the command service's `TeamDesk`, over the deployment's teams."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.errors import Refused
from storage.teams import LINK_CODE_SECONDS

if TYPE_CHECKING:
    from bot.teams.registry import Teams

logger = logging.getLogger(__name__)


class TeamDesk:
    def __init__(self, teams: Teams) -> None:
        self._teams = teams

    # Links ------------------------------------------------------------------------------------

    async def offer(self, place: str) -> str:
        """`/finetune link` where a team is: a one-time code for another place to join it."""
        code = await self._teams.directory.issue_code(await self._teams.team_of(place), place)
        minutes = LINK_CODE_SECONDS // 60
        return (
            f"Link code: `{code}`. Within {minutes} minutes, an admin types `/finetune link "
            f"{code}` in the Slack workspace or Discord server that should join this team; "
            "from then on both share one dataset, model, admins and budget."
        )

    async def join(self, place: str, code: str) -> str:
        """`/finetune link <code>`: `place` joins the team that showed the code."""
        link = await self._teams.directory.take_code(code)
        if link is None:
            raise Refused(
                "That code is unknown, used, or older than 10 minutes: show a new one with "
                "`/finetune link` where the team is."
            )
        if link.place == place:
            raise Refused("That code was shown here: type it in the place that should join.")
        current = await self._teams.team_of(place)
        if current == link.team:
            return "This is already one team with the place that showed the code."
        joining = await self._teams.directory.record(link.team)
        if place.startswith("slack:") and joining is not None and joining.slack:
            raise Refused(
                "That team has a Slack workspace already, and a team has one: link a Discord "
                "server to it, or keep the two workspaces apart."
            )
        await self._teams.directory.move(place, link.team)
        self._teams.moved(place, link.team)
        logger.info("teams: %s joined team %s (it was team %s)", place, link.team, current)
        return (
            f"Linked: this place is in the team of {_place_words(link.place)} now, with its "
            f"dataset and model. What was curated here before stays with the old team "
            f"(`{current}`), unused; the operator can remove it."
        )

    # Settings ---------------------------------------------------------------------------------

    async def settings_of(self, place: str) -> str:
        team = await self._teams.team_of(place)
        settings = (await self._teams.services(team)).settings
        reactions = _reactions_of(settings, place)
        prompt = settings.system_prompt
        shown = prompt if len(prompt) <= 300 else prompt[:300] + "…"
        return (
            f"This team's system prompt: “{shown}” ({len(prompt):,} characters). A reply is "
            f"approved here with {', '.join(sorted(reactions))}. Admins change them with "
            '`/finetune settings prompt="…" emoji=a,b`, or `reset` to the defaults.'
        )

    async def change_settings(
        self, place: str, prompt: str | None, emoji: str | None, reset: bool
    ) -> str:
        """A team's system prompt and (for the front end `place` is on) its approving emoji,
        within the deployment's limits."""
        team = await self._teams.team_of(place)
        record = await self._teams.directory.ensure(team)
        slack = place.startswith("slack:")
        if reset:
            record.system_prompt = None
            if slack:
                record.curate_reactions = None
            else:
                record.discord_curate_reactions = None
        if prompt is not None:
            record.system_prompt = self._checked_prompt(prompt)
        if emoji is not None:
            chosen = _checked_emoji(emoji)
            if chosen & _reject_reactions(self._teams.deployment, place):
                raise Refused("An emoji that vetoes a reply can't also approve one.")
            if slack:
                record.curate_reactions = sorted(chosen)
            else:
                record.discord_curate_reactions = sorted(chosen)
        await self._teams.directory.save(record)
        services = await self._teams.services(team)
        self._teams.apply(team, services.settings, record)
        logger.info("teams: team %s changed its settings", team)
        return "Saved. " + await self.settings_of(place)

    def _checked_prompt(self, prompt: str) -> str:
        limit = self._teams.settings.team_prompt_max_chars
        if limit == 0:
            raise Refused("The operator sets the system prompt here (SYSTEM_PROMPT).")
        prompt = prompt.strip()
        if not prompt:
            raise Refused("The system prompt can't be empty; `reset` goes back to the default.")
        if len(prompt) > limit:
            raise Refused(f"That prompt has {len(prompt):,} characters; the limit is {limit:,}.")
        return prompt


def _place_words(place: str) -> str:
    platform, _, place_id = place.partition(":")
    return f"Slack workspace {place_id}" if platform == "slack" else f"Discord server {place_id}"


MAX_EMOJI = 5
_EMOJI = re.compile(r"^[^\s,<>@#&`*_~|]{1,64}$|^[a-z0-9_+'-]{1,64}$")


def _checked_emoji(given: str) -> frozenset[str]:
    """Up to MAX_EMOJI reactions, comma-separated: Slack's names (`+1`, `:star:`) or Discord's
    emoji. Nothing that could mention, link or format."""
    chosen = frozenset(part.strip().strip(":") for part in given.split(",") if part.strip())
    if not chosen:
        raise Refused("Name at least one emoji, e.g. `emoji=+1,star`.")
    if len(chosen) > MAX_EMOJI:
        raise Refused(f"At most {MAX_EMOJI} emoji approve a reply.")
    if bad := sorted(e for e in chosen if not _EMOJI.match(e)):
        raise Refused(f"`{bad[0][:64]}` is not an emoji name.")
    return chosen


def _reactions_of(settings: Settings, place: str) -> frozenset[str]:
    if place.startswith("slack:"):
        return settings.curate_reactions
    return settings.discord_curate_reactions


def _reject_reactions(settings: Settings, place: str) -> frozenset[str]:
    if place.startswith("slack:"):
        return settings.reject_reactions
    return settings.discord_reject_reactions
