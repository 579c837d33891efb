"""Settings, read once from the environment (and `.env`) by one pydantic-settings model.

Longer than 400 lines because it is the one place every setting is declared (about ninety, each
with the comment that says what it does), as shared/DESIGN.md asks, with the checks of what
each way of running needs beside them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from dotenv import dotenv_values
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.training.schedule import Schedule

DEFAULT_SYSTEM_PROMPT = (
    "You are a friendly, concise assistant for this team. Answer clearly and warmly."
)


# The OpenAI SDK refuses to build a client without a key. Terminal commands that never call a
# provider (or a local server that ignores keys) still build one; `require` guards the calls.
NO_KEY = "not-set"

TrainBackend = Literal["openai", "compatible", "azure", "together", "local"]

# What each kind of Slack token starts with; only the kind is ever named, never the value.
_SLACK_TOKEN_KINDS = {
    "xoxb-": "a bot token (xoxb-…)",
    "xapp-": "an app-level token (xapp-…)",
    "xoxp-": "a user token (xoxp-…)",
    "xoxe-": "a refresh token (xoxe-…)",
}
# .env.example's values are "xoxb-...", "sk-..." and "..."; no real credential holds "...".
_PLACEHOLDER_MARKS = ("...", "…")
# The values .env.example ships with: a variable still holding one was never filled in.
_EXAMPLE_VALUES = frozenset({"xoxb-...", "xapp-...", "sk-...", "..."})
# Which credentials each way of running uses: a placeholder matters only where it is used.
_FRONT_END_CREDENTIALS = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_CLIENT_SECRET",
    "SLACK_STATE_SECRET",
    "TOKEN_ENCRYPTION_KEY",
    "DISCORD_TOKEN",
    "OPENAI_WEBHOOK_SECRET",
    "HEALTHZ_TOKEN",
)


MAX_SUGGESTED_PROMPTS = 4  # Slack shows up to four
DEFAULT_SUGGESTED_PROMPTS = (
    "What can you help me with?",
    "Draft a short, friendly reply to a customer who is waiting on a refund.",
    "Explain this error message and how to fix it:",
)


class SettingsError(Exception):
    """A setting is missing or wrong; the message names the variable in one line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # Each front end whose token is set runs; at least one must be.
    slack_bot_token: str = ""
    slack_signing_secret: str = ""
    slack_app_token: str = ""
    slack_api_url: str = "https://slack.com/api/"
    # Installed from a link instead of SLACK_BOT_TOKEN (Bolt's OAuth flow at /slack/install):
    # the workspace's token is kept in Redis, encrypted with TOKEN_ENCRYPTION_KEY (Fernet keys,
    # comma-separated to rotate).
    slack_client_id: str = ""
    slack_client_secret: str = ""
    slack_state_secret: str = ""
    token_encryption_key: str = ""
    # Where the install page's "Add to Slack" leads (tests: the Slack stand-in).
    slack_authorize_url: str = "https://slack.com/oauth/v2/authorize"
    # "many": each Slack workspace and each Discord server is its own team (its own dataset,
    # model, admins and budget; bot/teams/), linked with `/finetune link`. "one": everything
    # this deployment serves is one team, as before teams. Unset: "many" when installed from a
    # link, else "one".
    teams: Literal["one", "many"] | None = None
    # Days an uninstalled workspace's team is kept, so installing again finds it as it was.
    uninstall_grace_days: int = Field(default=30, ge=0)
    # How many Slack workspaces may install from the link (TEAMS=many): each chats on the
    # operator's model accounts, within its own DAILY_BUDGET. 0: no limit.
    slack_max_workspaces: int = Field(default=100, ge=0)
    # The longest system prompt a team's admins may set (`/finetune settings`); 0: they can't.
    team_prompt_max_chars: int = Field(default=4000, ge=0, le=100_000)
    discord_token: str = ""
    discord_finetune_admins: Annotated[frozenset[str], NoDecode] = frozenset()
    discord_curate_reactions: Annotated[frozenset[str], NoDecode] = frozenset({"👍", "✅"})
    discord_guild_id: int | None = None  # one server: an alias of DISCORD_GUILD_IDS
    # The servers this bot serves; in any other it says so and does nothing (bots are public).
    discord_guild_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    discord_api_url: str = "https://discord.com/api/v10"
    discord_gateway_url: str = "wss://gateway.discord.gg/"
    openai_api_key: str = ""
    openai_base_url: str | None = None
    # Chat and training are configured apart: a model trained in one place may be served
    # from another (Together, vLLM with LoRA adapters, Azure). Unset, both use OPENAI_*.
    chat_base_url: str | None = None
    chat_api_key: str = ""
    train_backend: TrainBackend = "openai"
    train_base_url: str | None = None
    train_api_key: str = ""
    train_api_version: str = "2025-04-01-preview"  # Azure OpenAI only
    train_alternative: TrainBackend | None = None  # suggested when the backend is closing
    local_models_dir: Path = Path("data/models")
    # Several providers at once (bot/providers/config.py); unset: the variables above.
    providers_file: Path | None = None
    # Where `/finetune migrate` retrains: "<provider>:<base model>", split at the first colon.
    migration_target: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]+:.+$")
    # Warn this many days before the active model (or its base) shuts down; with
    # MIGRATE_AUTOMATICALLY, start the migration MIGRATION_START_DAYS before.
    migration_warning_days: int = Field(default=30, ge=0)
    migration_start_days: int = Field(default=21, ge=1)
    migrate_automatically: bool = False
    # Where notices that belong to no job go ("slack:C0123" or "discord:1234"); unset: the
    # channel of the latest job.
    job_channel: str | None = Field(default=None, pattern=r"^(slack|discord):\S+$")
    redis_url: str | None = None
    # REDIS_URL names one node of a Redis Cluster: use the cluster client.
    redis_cluster: bool = False
    # A plain Redis for the local GPU workers' queue (SAQ), which can't live on a cluster;
    # unset: the bot's own Redis. The workers' REDIS_URL names the same one.
    gpu_queue_url: str | None = None
    redis_prefix: str = Field(default="finetune", pattern=r"^[A-Za-z0-9_.-]+$")
    data_dir: Path = Path("data")
    port: int = Field(default=3000, ge=1, le=65535)
    # Bot processes sharing PORT (SO_REUSEPORT); one process serves about one core.
    web_concurrency: int = Field(default=1, ge=1, le=64)
    chat_model: str = "gpt-4.1-mini"
    # Sampling temperature of chat and comparison answers; unset: the provider's default.
    chat_temperature: float | None = Field(default=None, ge=0, le=2)
    # The cap on every answer's tokens (chat, comparisons, the judge): what one call can cost.
    # With HISTORY_TOKEN_BUDGET it must fit the model's context: vLLM refuses a request whose
    # prompt plus max_tokens exceeds its --max-model-len (3000 + 1024 fits 4096).
    reply_max_tokens: int = Field(default=1024, ge=16, le=200_000)
    # Model calls one person may cause in a minute (mentions, DMs, comparisons); 0: no limit.
    chat_rate_per_minute: int = Field(default=20, ge=0)
    # What model calls may cost a day (UTC): "5" or "$5" in dollars at the model table's prices
    # (models without a price add nothing), or "2000000 tokens"; unset: no cap.
    chat_budget_daily: str | None = Field(
        default=None, pattern=r"^\s*\$?\s*\d+(\.\d+)?\s*(tokens)?\s*$"
    )
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    system_prompt_file: Path | None = None
    curate_reactions: Annotated[frozenset[str], NoDecode] = frozenset({"+1", "white_check_mark"})
    reject_reactions: Annotated[frozenset[str], NoDecode] = frozenset({"-1"})
    discord_reject_reactions: Annotated[frozenset[str], NoDecode] = frozenset({"👎"})
    # Quorum: distinct people who must approve an example before it trains.
    min_votes: int = Field(default=1, ge=1)
    # Redaction before anything is stored (bot/conversation/redaction/).
    redact_pii: bool = True
    redact_rules: Annotated[frozenset[str], NoDecode] = frozenset(
        {"email", "phone", "card", "ssn", "secret", "iban", "mention"}
    )
    redact_phone_region: str = "US"  # how numbers written without a country code are read
    # Channels (Slack or Discord ids) where reactions curate; empty: everywhere.
    curate_channels: Annotated[frozenset[str], NoDecode] = frozenset()
    finetune_admins: Annotated[frozenset[str], NoDecode] = frozenset()
    # Who may take the dataset out of the chat (`export`); the CLI, on the operator's machine,
    # always may.
    export_access: Literal["admins", "everyone"] = "admins"
    # Offered in the bot's DM (Slack's agent view); "|" between prompts, at most 4.
    suggested_prompts: Annotated[tuple[str, ...], NoDecode] = DEFAULT_SUGGESTED_PROMPTS
    history_token_budget: int = Field(default=3000, ge=100)
    max_message_chars: int = Field(default=20000, ge=1)
    # `dataset import` and `dataset validate` refuse a longer line (read past, never held whole).
    max_import_line_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    turn_ttl_days: int = Field(default=30, ge=1)
    job_poll_seconds: float = Field(default=30, gt=0)
    # What happens when a job succeeds: auto (swap at once), compare (the team compares the
    # two models first and an admin, or the gate's test, decides), manual (no swap).
    swap_gate: Literal["auto", "compare", "manual"] = "auto"
    compare_prompts: int = Field(default=10, ge=1, le=50)
    # The gate decides by itself with a sequential test on people's picks
    # (bot/comparison/sequential.py): promote when the new model wins with error at most
    # COMPARE_ERROR_RATE, reject when it is not better by COMPARE_MIN_LIFT.
    compare_auto_decide: bool = False
    # The old threshold rule; any value now turns COMPARE_AUTO_DECIDE on (said once at start).
    compare_auto_promote: float | None = Field(default=None, gt=0, le=1)
    compare_error_rate: float = Field(default=0.05, gt=0, le=0.5)
    compare_min_lift: float = Field(default=0.05, ge=0.01, le=0.4)
    compare_min_votes: int = Field(default=3, ge=1)  # distinct people before a promotion
    # A gate that decides by itself and has not after this many days ends with no decision.
    compare_max_days: int = Field(default=7, ge=1)
    # Continuous training (bot/training/policy.py), off unless one of the first two is set; an
    # admin's `/finetune policy` replaces these. A job the policy starts is always compared,
    # and the gate decides by itself.
    train_every_examples: int | None = Field(default=None, ge=1)
    train_schedule: str | None = None  # "mon 09:00" or "daily 09:00", UTC
    train_budget_monthly: float | None = Field(default=None, ge=0)
    compare_judge_model: str | None = None
    compare_judge_provider: str | None = None  # unset: the default chat provider
    # The judge model's picks count in the gate's test as one more voice; otherwise they are
    # shown beside people's (with how often it agreed with them) and decide nothing.
    judge_decides: bool = False
    # An answer in progress holds its event against redeliveries this long between renewals;
    # after a crash, a redelivery later than this is answered by another process.
    event_working_seconds: float = Field(default=10, gt=0)
    # At most this many answers are written at once; more mentions wait their turn (answered
    # late, never dropped), and one that waited longer than LATE_REPLY_SECONDS says so.
    answer_workers: int = Field(default=64, ge=1)
    late_reply_seconds: float = Field(default=15, ge=0)
    # A job's Slack status message is redrawn at most this often (chat.update's rate limit).
    job_status_update_seconds: float = Field(default=3, ge=0)
    finetune_base_model: str = "gpt-4.1-mini-2025-04-14"
    training_system_prompt: str | None = None
    openai_webhook_secret: str | None = None
    # /healthz shows its details (pid, loop lag, queue) only to a request carrying this token
    # (`Authorization: Bearer …` or `?token=…`); unset: it says only whether the bot is ready.
    healthz_token: str | None = None
    model_table_file: Path | None = None
    openai_timeout_seconds: float = Field(default=60, gt=0)

    @field_validator(
        "curate_reactions",
        "finetune_admins",
        "discord_curate_reactions",
        "discord_finetune_admins",
        "reject_reactions",
        "discord_reject_reactions",
        "curate_channels",
        "redact_rules",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            # Slack reports emoji names without colons; accept ":+1:" as typed by people too.
            return frozenset(part.strip().strip(":") for part in value.split(",") if part.strip())
        return value

    @field_validator("train_schedule")
    @classmethod
    def _check_schedule(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return Schedule.parse(value).spec  # a ValueError names the setting in one line

    @field_validator("discord_guild_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("suggested_prompts", mode="before")
    @classmethod
    def _split_bars(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(part.strip() for part in value.split("|") if part.strip())
        if isinstance(value, tuple) and len(value) > MAX_SUGGESTED_PROMPTS:
            raise ValueError(f"SUGGESTED_PROMPTS takes at most {MAX_SUGGESTED_PROMPTS} prompts")
        return value

    @model_validator(mode="after")
    def _check_mode_and_prompt(self) -> Settings:
        if not self.curate_reactions:
            raise ValueError("CURATE_REACTIONS needs at least one emoji name")
        if not self.discord_curate_reactions:
            raise ValueError("DISCORD_CURATE_REACTIONS needs at least one emoji")
        if self.curate_reactions & self.reject_reactions:
            raise ValueError("CURATE_REACTIONS and REJECT_REACTIONS share an emoji")
        if self.system_prompt_file is not None:
            try:
                self.system_prompt = self.system_prompt_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"SYSTEM_PROMPT_FILE cannot be read ({exc.strerror})") from None
        if not self.system_prompt.strip():
            raise ValueError("SYSTEM_PROMPT is empty")
        if not self.slack_api_url.endswith("/"):
            self.slack_api_url += "/"
        return self

    def _check_real(self, names: list[str]) -> None:
        """One line naming every credential among `names` that was never filled in."""
        values = self._credentials()
        found = [name for name in dict.fromkeys(names) if _looks_unset(values[name])]
        if not found:
            return
        if any(values[name] not in _EXAMPLE_VALUES for name in found):
            # Typed by hand (`OPENAI_API_KEY=sk-…` copied from a README): not .env.example's.
            raise ValueError(
                f"{_listed(found)} {'looks' if len(found) == 1 else 'look'} like a placeholder "
                "(an ellipsis, “...” or “…”, where the real value goes); set the real value"
            )
        if len(found) == 1:
            raise ValueError(
                f"{found[0]} is still the placeholder from .env.example; set it to the real value"
            )
        raise ValueError(
            f"{_listed(found)} are still the placeholders from .env.example; set them to the "
            "real values"
        )

    def _check_front_end(self) -> None:
        if self.slack_oauth:
            self._check_slack_install()
        if self.teams == "many" and self.slack_bot_token:
            raise ValueError(
                "TEAMS=many needs Slack installed from a link (SLACK_CLIENT_ID instead of "
                "SLACK_BOT_TOKEN): each workspace is a team, and one token serves one workspace"
            )
        if self.slack_enabled and not self.slack_app_token and not self.slack_signing_secret:
            raise ValueError(
                "SLACK_SIGNING_SECRET is required in HTTP mode (SLACK_APP_TOKEN unset)"
            )
        if self.discord_token and not self.discord_guilds:
            raise ValueError(
                "DISCORD_GUILD_IDS must name the servers this bot serves (DISCORD_GUILD_ID for "
                "one): Discord bots are public by default, and the owner of any server that "
                "adds it would be a fine-tune admin there"
            )
        bot_kind = _slack_token_kind(self.slack_bot_token)
        if bot_kind and not self.slack_bot_token.startswith("xoxb-"):
            raise ValueError(
                f"SLACK_BOT_TOKEN is {bot_kind}; it needs the Bot User OAuth Token (xoxb-…) "
                "from the app's OAuth & Permissions page"
            )
        app_kind = _slack_token_kind(self.slack_app_token)
        if app_kind and not self.slack_app_token.startswith("xapp-"):
            raise ValueError(
                f"SLACK_APP_TOKEN is {app_kind}; it needs an app-level token (xapp-…) with "
                "connections:write, or leave it empty for HTTP mode"
            )

    def _check_slack_install(self) -> None:
        from storage.installations import token_cipher

        missing = [
            name
            for name, value in (
                ("SLACK_CLIENT_SECRET", self.slack_client_secret),
                ("SLACK_STATE_SECRET", self.slack_state_secret),
                ("TOKEN_ENCRYPTION_KEY", self.token_encryption_key),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"SLACK_CLIENT_ID (installing from a link) needs {_listed(missing)}")
        if self.slack_app_token:
            raise ValueError(
                "SLACK_CLIENT_ID (installing from a link) needs HTTP mode, for Slack's redirect "
                "back to /slack/oauth_redirect: leave SLACK_APP_TOKEN empty"
            )
        token_cipher(self.token_encryption_key)  # a key Fernet refuses, said in one line

    def require(self, *needs: str) -> None:
        """Check what a way of running needs: "front_end" (a Slack or Discord token), "chat" (a
        model to talk to), "training" (a backend to train on). Raises SettingsError.
        With PROVIDERS_FILE, the file's own checks cover chat and training."""
        try:
            # Every placeholder in the way is named at once, before what else is missing.
            used = list(_FRONT_END_CREDENTIALS) if "front_end" in needs else []
            if self.providers_file is None and "chat" in needs:
                used.append("CHAT_API_KEY" if self.chat_api_key else "OPENAI_API_KEY")
            if self.providers_file is None and "training" in needs:
                used.append("TRAIN_API_KEY" if self.train_api_key else "OPENAI_API_KEY")
            self._check_real(used)
            if "front_end" in needs:
                if not (self.slack_enabled or self.discord_enabled):
                    raise ValueError(
                        "SLACK_BOT_TOKEN or SLACK_CLIENT_ID (for Slack) or DISCORD_TOKEN (for "
                        "Discord) is required; none is set"
                    )
                self._check_front_end()
            if self.providers_file is not None:
                return
            if "chat" in needs and not (self.chat_key or self.chat_base_url):
                raise ValueError(
                    "OPENAI_API_KEY (or CHAT_BASE_URL for another OpenAI-compatible server) is "
                    "required but not set"
                )
            if "training" in needs:
                self._check_training()
        except ValueError as error:
            raise SettingsError(str(error)) from None

    def _check_training(self) -> None:
        needs_key = {"together": "TRAIN_API_KEY", "azure": "TRAIN_API_KEY"}
        if self.train_backend == "compatible" and not self.train_base_url:
            raise ValueError("TRAIN_BASE_URL is required for TRAIN_BACKEND=compatible")
        if self.train_backend in needs_key and not self.train_api_key:
            raise ValueError(
                f"{needs_key[self.train_backend]} is required for TRAIN_BACKEND="
                f"{self.train_backend}"
            )
        if self.train_backend == "openai" and not self.train_key:
            raise ValueError(
                "OPENAI_API_KEY (or TRAIN_API_KEY) is required for TRAIN_BACKEND=openai"
            )
        if self.train_backend == "azure" and not self.train_base_url:
            raise ValueError(
                "TRAIN_BASE_URL (your Azure OpenAI endpoint) is required for TRAIN_BACKEND=azure"
            )

    @property
    def discord_guilds(self) -> frozenset[int]:
        """Every server the Discord front end serves: DISCORD_GUILD_IDS and DISCORD_GUILD_ID."""
        alias = {self.discord_guild_id} if self.discord_guild_id else set()
        return self.discord_guild_ids | alias

    @property
    def budget(self) -> tuple[float, str] | None:
        """CHAT_BUDGET_DAILY as (amount, "usd" or "tokens")."""
        if not self.chat_budget_daily:
            return None
        text = self.chat_budget_daily.replace("$", "").strip()
        if text.endswith("tokens"):
            return float(text.removesuffix("tokens").strip()), "tokens"
        return float(text), "usd"

    @property
    def secrets(self) -> list[str]:
        """Every configured credential, to keep out of logs (each of several token keys too)."""
        keys = [key.strip() for key in self.token_encryption_key.split(",") if key.strip()]
        return [*self._credentials().values(), *keys]

    def _credentials(self) -> dict[str, str]:
        return {
            "SLACK_BOT_TOKEN": self.slack_bot_token,
            "SLACK_SIGNING_SECRET": self.slack_signing_secret,
            "SLACK_APP_TOKEN": self.slack_app_token,
            "SLACK_CLIENT_SECRET": self.slack_client_secret,
            "SLACK_STATE_SECRET": self.slack_state_secret,
            "TOKEN_ENCRYPTION_KEY": self.token_encryption_key,
            "DISCORD_TOKEN": self.discord_token,
            "OPENAI_API_KEY": self.openai_api_key,
            "CHAT_API_KEY": self.chat_api_key,
            "TRAIN_API_KEY": self.train_api_key,
            "OPENAI_WEBHOOK_SECRET": self.openai_webhook_secret or "",
            "HEALTHZ_TOKEN": self.healthz_token or "",
        }

    @property
    def gate_decides(self) -> bool:
        """Whether the comparison gate promotes or rejects by itself (its sequential test)."""
        return self.compare_auto_decide or self.compare_auto_promote is not None

    @property
    def chat_key(self) -> str:
        return self.chat_api_key or self.openai_api_key

    @property
    def chat_url(self) -> str | None:
        return self.chat_base_url or self.openai_base_url

    @property
    def train_key(self) -> str:
        return self.train_api_key or self.openai_api_key

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token) or self.slack_oauth

    @property
    def many_teams(self) -> bool:
        return self.teams == "many" if self.teams else self.slack_oauth

    @property
    def slack_oauth(self) -> bool:
        """Installed from a link (SLACK_CLIENT_ID) rather than with SLACK_BOT_TOKEN."""
        return bool(self.slack_client_id) and not self.slack_bot_token

    @property
    def discord_enabled(self) -> bool:
        return bool(self.discord_token)

    @property
    def socket_mode(self) -> bool:
        return self.slack_enabled and bool(self.slack_app_token)

    @property
    def migration(self) -> tuple[str, str] | None:
        """MIGRATION_TARGET as (provider, base model)."""
        if not self.migration_target:
            return None
        provider, _, model = self.migration_target.partition(":")
        return provider, model

    @property
    def turn_ttl_seconds(self) -> int:
        return self.turn_ttl_days * 86400

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.finetune_admins


def environment() -> dict[str, str]:
    """The variables a setting may name (a provider's `api_key_env`): `.env`, then the process
    environment over it, as pydantic-settings reads its own."""
    values = {key: value for key, value in dotenv_values(".env").items() if value is not None}
    return {**values, **os.environ}


def load_settings(*, front_end_required: bool = True, **overrides: object) -> Settings:
    """Build settings, turning pydantic's report into one line that names the variable. The
    bot needs a front end, a chat model and a training backend; terminal commands say what
    they need themselves (`Settings.require`)."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    if front_end_required:
        settings.require("front_end", "chat", "training")
    return settings


def _looks_unset(value: str) -> bool:
    return any(mark in value for mark in _PLACEHOLDER_MARKS)


def _listed(names: list[str]) -> str:
    """`A`, `A and B`, `A, B and C`."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _slack_token_kind(token: str) -> str | None:
    """What kind of Slack token this is, by its prefix; None for a prefix we don't know."""
    kinds = (kind for prefix, kind in _SLACK_TOKEN_KINDS.items() if token.startswith(prefix))
    return next(kinds, None)


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    if not error["loc"]:
        return str(error["msg"]).removeprefix("Value error, ")
    name = str(error["loc"][0]).upper()
    if error["type"] == "missing":
        return f"{name} is required but not set"
    return f"{name} is invalid: {error['msg']}"
