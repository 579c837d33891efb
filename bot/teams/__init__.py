"""Many teams on one deployment (TEAMS=many): each Slack workspace and Discord server its own
dataset, model, admins and budget (`Teams`), linked and set by their admins (`TeamDesk`)."""

from bot.teams.registry import Teams
from bot.teams.settings import team_settings

__all__ = ["Teams", "team_settings"]
