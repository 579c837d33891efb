"""Answers on Discord: replies that stream in by editing, split at the 2,000-character limit."""

from __future__ import annotations

import time

import discord

MESSAGE_LIMIT = 2000
EDIT_INTERVAL_SECONDS = 1.0  # Discord allows about 5 edits per 5 s in a channel
FENCE = "```"
_CLOSE = "\n" + FENCE
# The model's text never pings anyone; the reply notifies only the person it answers.
ANSWER_MENTIONS = discord.AllowedMentions(everyone=False, users=False, roles=False)
NO_MENTIONS = discord.AllowedMentions.none()


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut text into parts of at most `limit` characters at a paragraph, line or word break
    (never inside a word, unless one word alone is longer than a part). A code block cut in
    two is closed at the end of one part and opened again, same language, in the next."""
    parts: list[str] = []
    fence: str | None = None  # the fence line (```python) open where `rest` begins
    rest = text
    while True:
        prefix = f"{fence}\n" if fence else ""
        if len(prefix) + len(rest) <= limit:
            parts.append(prefix + rest)
            return parts
        cut, skip = _best_cut(rest, limit - len(prefix) - len(_CLOSE))
        chunk = prefix + rest[:cut]
        fence = _open_fence(chunk)
        parts.append(chunk + _CLOSE if fence else chunk)
        rest = rest[cut + skip :]


def _best_cut(text: str, budget: int) -> tuple[int, int]:
    """Where to cut within `budget` characters, and how many break characters to drop."""
    window = text[: budget + 1]
    for separator in ("\n\n", "\n", " "):
        position = window.rfind(separator, 0, budget)
        # A break in the first half would leave a stub of a part; look for a smaller one.
        if position > budget // 2 or (separator == " " and position > 0):
            return position, len(separator)
    return budget, 0


def _open_fence(chunk: str) -> str | None:
    """The code fence still open at the end of `chunk`, if any."""
    fence = None
    for line in chunk.split("\n"):
        stripped = line.strip()
        if stripped.startswith(FENCE):
            fence = None if fence else stripped
    return fence


class StreamedReply:
    """A reply to a person's message that grows as the model streams (the chat core's
    `ReplyTarget`). The first text shows at once; later edits come at most once a second."""

    streams = True

    def __init__(self, source: discord.Message, *, interval: float = EDIT_INTERVAL_SECONDS):
        self._source = source
        self._interval = interval
        self._messages: list[discord.Message] = []
        self._shown: list[str] = []
        self._last_shown = float("-inf")

    @property
    def has_shown_text(self) -> bool:
        return bool(self._messages)

    async def show_partial(self, text: str) -> None:
        if time.monotonic() - self._last_shown >= self._interval:
            await self._show(split_message(text))

    async def post(self, text: str) -> list[str]:
        await self._show(split_message(text))
        return [str(message.id) for message in self._messages]

    async def say(self, text: str) -> None:
        await self._source.reply(text, allowed_mentions=ANSWER_MENTIONS)

    async def fail(self, apology: str) -> None:
        """End what was shown with the apology, so no message is left half-written."""
        if not self._messages:
            await self.say(apology)
            return
        ended = f"{self._shown[-1]}\n\n*{apology}*"
        if len(ended) <= MESSAGE_LIMIT:
            await self._messages[-1].edit(content=ended, allowed_mentions=ANSWER_MENTIONS)
        else:
            await self._source.channel.send(apology, allowed_mentions=NO_MENTIONS)

    async def _show(self, parts: list[str]) -> None:
        for index, part in enumerate(parts):
            if index < len(self._messages):
                if self._shown[index] != part:
                    await self._messages[index].edit(content=part, allowed_mentions=ANSWER_MENTIONS)
                    self._shown[index] = part
                continue
            if index == 0:
                message = await self._source.reply(part, allowed_mentions=ANSWER_MENTIONS)
            else:
                message = await self._source.channel.send(part, allowed_mentions=NO_MENTIONS)
            self._messages.append(message)
            self._shown.append(part)
        self._last_shown = time.monotonic()
