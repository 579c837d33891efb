"""Wiring of the core: the stores and services every adapter shares."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from bot.clock import Clock
from bot.commands.service import CommandService
from bot.comparison.compare import Comparer
from bot.comparison.copies import ComparisonCopies
from bot.comparison.views import ComparisonReporters
from bot.config import Settings, SettingsError, environment
from bot.conversation.chat import ChatService
from bot.conversation.curation import Curation, JudgementStores
from bot.conversation.forgetting import Forgetting
from bot.conversation.redaction import Redactor
from bot.conversation.votes import Votes
from bot.dataset.export import Dataset
from bot.errors import REDIS_DOWN
from bot.logs import redact_secrets
from bot.notices import Notices
from bot.providers.config import load_providers
from bot.providers.lifecycle import Lifecycle
from bot.providers.migration import Migrations
from bot.providers.registry import ProviderError, Providers
from bot.providers.shutdown import Fallback
from bot.runtime.answer_queue import AnswerQueue, TeamAnswers
from bot.runtime.loop_lag import LoopLag
from bot.runtime.vote_applier import JournalBell, VoteApplier
from bot.spending import Spending
from bot.trainers import TrainerContext
from bot.training.finetune import FineTuner
from bot.training.ledger import Ledger
from bot.training.model_switch import ModelSwitcher
from bot.training.model_table import ModelTable, load_model_table
from bot.training.policy import TrainingPolicy
from bot.training.reporting import JobReporters
from bot.training.watcher import JobWatcher
from storage.comparisons import ComparisonStore
from storage.connection import RedisHandle, open_redis
from storage.events import SeenEvents
from storage.examples import ExampleStore
from storage.feedback import FeedbackStore
from storage.jobs import JobStore
from storage.keys import Keys
from storage.ledger import LedgerStore
from storage.migrations import MigrationStore
from storage.models import ModelStore
from storage.notices import NoticeStore
from storage.pairs import PairStore
from storage.pending_votes import PendingVotes
from storage.policy import PolicyStore
from storage.provenance import Provenance
from storage.spending import SpendStore
from storage.turns import TurnStore
from storage.vetoes import VetoStore
from storage.vote_journal import VoteJournal

logger = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    redis: Redis
    providers: Providers  # every chat client and trainer, per provider
    clock: Clock
    turns: TurnStore
    examples: ExampleStore
    models: ModelStore
    seen: SeenEvents
    chat: ChatService
    vetoes: VetoStore
    curation: Curation
    votes: Votes  # a reaction taken as a vote, the same on every front end
    forgetting: Forgetting
    dataset: Dataset
    jobs: JobStore
    table: ModelTable  # every model we know, whoever trains it
    finetuner: FineTuner
    switcher: ModelSwitcher
    watcher: JobWatcher
    reporters: JobReporters  # each front end adds its own
    notices: Notices
    comparer: Comparer  # its `reporters`, too
    migrations: Migrations
    lifecycle: Lifecycle
    spending: Spending  # rate per person, daily budget
    commands: CommandService
    lag: LoopLag  # the serving process runs it
    answers: TeamAnswers  # this team's lane of the process' queue
    runtime: Runtime  # what this team shares with every other team of the process
    vote_journal: VoteJournal
    vote_applier: VoteApplier  # the serving process runs it
    ledger: Ledger  # what each job cost

    async def close(self) -> None:
        """Release the model and training clients' connections."""
        await self.reporters.close()
        await self.providers.close()

    async def redis_ok(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except REDIS_DOWN:
            return False


def open_core(settings: Settings) -> tuple[RedisHandle, Services]:
    """Redis and the core services, as every way of running the bot uses them (the server and
    each terminal command): secrets kept out of logs, the model table read, storage opened."""
    redact_secrets(settings.secrets)
    if settings.compare_auto_promote is not None:
        logger.warning(
            "COMPARE_AUTO_PROMOTE=%s now means COMPARE_AUTO_DECIDE=true: the gate decides with a "
            "sequential test (COMPARE_ERROR_RATE, COMPARE_MIN_LIFT); the threshold is not used",
            settings.compare_auto_promote,
        )
    providers = load_providers(settings, environment())
    redact_secrets(providers.secrets)
    try:
        table = load_model_table(settings.model_table_file)
    except ValueError as error:
        raise SettingsError(f"MODEL_TABLE_FILE is invalid: {error}") from None
    redis = open_redis(settings.redis_url, settings.data_dir, cluster=settings.redis_cluster)
    keys = Keys(settings.redis_prefix)
    registry = Providers(
        providers,
        table,
        TrainerContext(redis.client, keys, settings.openai_timeout_seconds, settings.gpu_queue_url),
        timeout_seconds=settings.openai_timeout_seconds,
        temperature=settings.chat_temperature,
        reply_max_tokens=settings.reply_max_tokens,
    )
    check_named_providers(settings, registry)
    return redis, build_services(settings, redis.client, registry, Clock())


@dataclass(frozen=True)
class Runtime:
    """What every team of a process shares: one queue of answers, one measure of the loop, and
    what the providers say of their models' shutdown dates (one listing per provider, not one
    per team)."""

    lag: LoopLag
    answers: AnswerQueue
    journaled: JournalBell  # which teams journaled a vote (many teams: one task applies)
    lifecycle: Lifecycle

    @classmethod
    def of(cls, settings: Settings, providers: Providers, clock: Clock) -> Runtime:
        lag = LoopLag()
        answers = AnswerQueue(settings.answer_workers, lag)
        return cls(lag, answers, JournalBell(), Lifecycle(providers, clock))


def build_services(
    settings: Settings,
    redis: Redis,
    providers: Providers,
    clock: Clock,
    runtime: Runtime | None = None,
) -> Services:
    """One team's services (`settings.redis_prefix` names its keys); `runtime`: the process'
    queue and loop measure, which a second team shares with the first."""
    runtime = runtime or Runtime.of(settings, providers, clock)
    lag = runtime.lag
    keys = Keys(settings.redis_prefix)
    table = providers.table
    jobs = JobStore(redis, keys)
    turns = TurnStore(redis, keys, settings.turn_ttl_seconds)
    examples = ExampleStore(redis, keys)
    vetoes, pairs, provenance = (
        VetoStore(redis, keys),
        PairStore(redis, keys),
        Provenance(keys, redis),
    )
    dataset = Dataset(examples, vetoes, pairs, settings.min_votes)
    models = ModelStore(redis, keys)
    redactor = build_redactor(settings)
    reporters = JobReporters()
    notices = Notices(settings, reporters, jobs, NoticeStore(redis, keys))
    spending = Spending(
        settings, SpendStore(redis, keys), NoticeStore(redis, keys), providers.table, clock
    )
    switcher = ModelSwitcher(
        providers, models, jobs, settings.chat_model, many_teams=settings.many_teams
    )
    feedback = FeedbackStore(redis, keys, settings.turn_ttl_seconds)
    stores = JudgementStores(turns, examples, vetoes, pairs, provenance, feedback)
    curation = Curation(
        stores,
        channels=settings.curate_channels,
        redactor=redactor,
        token_limit=lambda model: _token_limit(table, model),
        pending=PendingVotes(redis, keys),
    )
    chat = ChatService(
        providers,
        turns,
        models,
        system_prompt=lambda: settings.system_prompt,
        default_model=settings.chat_model,
        history_budget=settings.history_token_budget,
        max_message_chars=settings.max_message_chars,
        redactor=redactor,
        fallback=Fallback(providers, models, switcher, notices, clock, settings.chat_model),
        spending=spending,
        on_recorded=curation.apply_pending,
    )
    ledger = Ledger(LedgerStore(redis, keys), clock)
    finetuner = FineTuner(settings, providers, dataset, jobs, reporters, clock, ledger)
    comparisons = ComparisonStore(redis, keys)
    comparer = Comparer(
        settings,
        providers,
        comparisons,
        pairs,
        models,
        jobs,
        finetuner.snapshots,
        dataset,
        table,
        ComparisonReporters(),
        reporters,
        spending,
        switcher,
        redactor,
        clock,
    )
    lifecycle = runtime.lifecycle
    migrations = Migrations(
        settings,
        providers,
        finetuner,
        switcher,
        comparer,
        lifecycle,
        notices,
        MigrationStore(redis, keys),
        jobs,
        clock,
    )
    policy = TrainingPolicy(
        settings, PolicyStore(redis, keys), ledger, jobs, examples, finetuner, notices, clock
    )
    watcher = JobWatcher(
        providers,
        jobs,
        models,
        reporters,
        poll_seconds=settings.job_poll_seconds,
        bot_name=settings.redis_prefix,
        switcher=switcher,
        snapshots=finetuner.snapshots,
        gate=settings.swap_gate,
        comparer=comparer,
        on_tick=lambda: _each(migrations.tick, policy.tick),
        ledger=ledger,
    )
    forgetting = Forgetting(
        stores, copies=[finetuner.snapshots, ComparisonCopies(comparer, comparisons)]
    )
    vote_journal = VoteJournal(redis, keys)
    return Services(
        settings=settings,
        redis=redis,
        providers=providers,
        clock=clock,
        turns=turns,
        examples=examples,
        models=models,
        seen=SeenEvents(redis, keys, settings.event_working_seconds),
        chat=chat,
        vetoes=vetoes,
        curation=curation,
        forgetting=forgetting,
        dataset=dataset,
        jobs=jobs,
        table=table,
        finetuner=finetuner,
        switcher=switcher,
        watcher=watcher,
        reporters=reporters,
        notices=notices,
        comparer=comparer,
        migrations=migrations,
        spending=spending,
        lifecycle=lifecycle,
        commands=CommandService(
            settings,
            providers,
            finetuner,
            switcher,
            watcher,
            dataset,
            forgetting,
            jobs,
            models,
            comparer,
            migrations,
            lifecycle,
            spending,
            policy,
            ledger,
        ),
        lag=lag,
        answers=runtime.answers.lane(settings.redis_prefix),
        runtime=runtime,
        vote_journal=vote_journal,
        vote_applier=VoteApplier(vote_journal, curation, lag),
        votes=Votes(
            curation,
            vote_journal,
            lag,
            on_journaled=lambda: runtime.journaled.ring(settings.redis_prefix),
        ),
        ledger=ledger,
    )


async def _each(*ticks: Callable[[], Awaitable[None]]) -> None:
    """Run each tick in turn; one failing does not stop the others (each is logged)."""
    for tick in ticks:
        try:
            await tick()
        except REDIS_DOWN:
            raise
        except Exception:
            logger.exception("watcher: %s failed", getattr(tick, "__qualname__", tick))


def check_named_providers(settings: Settings, providers: Providers) -> None:
    """Settings that name a provider must name one that can do what they ask."""
    checks = [
        ("MIGRATION_TARGET", settings.migration and settings.migration[0], "train"),
        ("COMPARE_JUDGE_PROVIDER", settings.compare_judge_provider, "chat"),
    ]
    for variable, name, use in checks:
        if not name:
            continue
        try:
            if use == "train":
                providers.training_provider(name)
            else:
                providers.check_chat(providers.ref("judge", name))
        except ProviderError as error:
            raise SettingsError(f"{variable}: {error}") from None


def build_redactor(settings: Settings) -> Redactor | None:
    if not settings.redact_pii:
        return None
    try:
        return Redactor(settings.redact_rules, phone_region=settings.redact_phone_region or None)
    except ValueError as error:
        raise SettingsError(f"REDACT_RULES or REDACT_PHONE_REGION is invalid: {error}") from None


def _token_limit(table: ModelTable, model: str) -> int | None:
    info = table.lookup(model)
    return info.max_tokens_per_example if info else None
