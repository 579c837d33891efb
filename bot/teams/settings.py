"""The settings a team's services see: the deployment's, with the team's own keys, admins,
system prompt and approving emoji laid over them."""

from __future__ import annotations

from bot.config import Settings
from storage.keys import DEFAULT_TEAM
from storage.teams import TeamRecord


def team_settings(settings: Settings, team: str, record: TeamRecord | None) -> Settings:
    """The settings one team's services see: its own keys and admins. The deployment's
    FINETUNE_ADMINS, DISCORD_FINETUNE_ADMINS and JOB_CHANNEL are the first team's only: a
    Slack user id of one workspace means nothing in another."""
    if team == DEFAULT_TEAM:
        update = {}
    else:
        update = {
            "redis_prefix": f"{settings.redis_prefix}.{team}",
            "finetune_admins": frozenset(),
            "discord_finetune_admins": frozenset(),
            "job_channel": None,
        }
    copy = settings.model_copy(update=update)
    apply_record(copy, settings, frozenset(), record)
    return copy


def apply_record(
    team: Settings, deployment: Settings, admins: frozenset[str], record: TeamRecord | None
) -> None:
    """A team's record over its settings, in place: every service of the team holds this one
    object, so an admin added or a prompt changed holds at once, in every service. `admins`:
    the team's admins besides its record's (the first team's: FINETUNE_ADMINS); `deployment`:
    what a setting the team did not set falls back to."""
    if record is None:
        return
    team.finetune_admins = admins | frozenset(record.admins)
    team.system_prompt = record.system_prompt or deployment.system_prompt
    team.curate_reactions = _chosen(record.curate_reactions, deployment.curate_reactions)
    team.discord_curate_reactions = _chosen(
        record.discord_curate_reactions, deployment.discord_curate_reactions
    )


def _chosen(own: list[str] | None, otherwise: frozenset[str]) -> frozenset[str]:
    return frozenset(own) if own else otherwise
