"""A local fake of Discord's REST API and gateway for tests: `FakeDiscord` (see `fake.py`)."""

from tests.fakes.discord.fake import FakeDiscord
from tests.fakes.discord.models import (
    Attachment,
    BotReaction,
    CommandSync,
    Followup,
    HostedGuild,
    InteractionCallback,
    Invocation,
    RecordedRequest,
    StoredMessage,
    TypingCall,
)

__all__ = [
    "Attachment",
    "BotReaction",
    "CommandSync",
    "FakeDiscord",
    "Followup",
    "HostedGuild",
    "InteractionCallback",
    "Invocation",
    "RecordedRequest",
    "StoredMessage",
    "TypingCall",
]
