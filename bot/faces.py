"""What each front end is handed: the core's operations, never its stores.

The composition roots (`bot/__main__.py` for the server, `handlers/cli/` for the terminal)
hold the whole `Services`, run its background loops and register the front ends' reporters;
Slack, Discord and the terminal get one of these faces. A face is frozen and holds nothing
else, so a front end that reaches past it fails at once, in every test that drives it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.app import Services, build_redactor
from bot.commands.service import CommandService
from bot.config import Settings
from bot.conversation.chat import ChatService
from bot.conversation.curation import Curation
from bot.conversation.forgetting import Forgetting
from bot.conversation.votes import Votes
from bot.dataset.desk import DatasetDesk
from bot.runtime.answer_queue import TeamAnswers
from storage.events import SeenEvents


@dataclass(frozen=True)
class ChatFace:
    """What a chat front end (Slack, Discord, the terminal's chat) calls."""

    settings: Settings
    commands: CommandService  # every /finetune command, picks, promote, the start form's checks
    chat: ChatService  # an answer
    curation: Curation  # reactions and corrections
    votes: Votes  # a reaction taken as a vote: saved, journaled when saturated, retried
    forgetting: Forgetting  # a deleted message
    seen: SeenEvents  # a platform's retries and replays, handled once
    answers: TeamAnswers  # answers wait their turn here (each team in its own lane)

    @classmethod
    def of(cls, services: Services) -> ChatFace:
        return cls(
            settings=services.settings,
            commands=services.commands,
            chat=services.chat,
            curation=services.curation,
            votes=services.votes,
            forgetting=services.forgetting,
            seen=services.seen,
            answers=services.answers,
        )


@dataclass(frozen=True)
class TerminalFace:
    """What `python -m bot dataset …` and `python -m bot finetune …` call."""

    settings: Settings
    commands: CommandService
    dataset: DatasetDesk

    @classmethod
    def of(cls, services: Services) -> TerminalFace:
        desk = DatasetDesk(
            services.examples,
            services.dataset,
            services.finetuner,
            services.forgetting,
            services.providers,
            redactor=build_redactor(services.settings),
            max_line_bytes=services.settings.max_import_line_bytes,
        )
        return cls(settings=services.settings, commands=services.commands, dataset=desk)
