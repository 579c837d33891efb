"""Answers in a Slack thread: a status while the model thinks, then the answer streamed in
with Slack's chat streaming, ended by the feedback buttons (or by an apology). Everything the
model wrote goes out escaped: its `<!channel>` or `<https://…|…>` is shown, never acted on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient

from handlers.slack.blocks import build_feedback_block
from handlers.slack.escaping import escape, fitting

logger = logging.getLogger(__name__)

THINKING = "is thinking…"
# The first text shows at once; after it, what the model wrote is sent at most this often,
# which keeps chat.appendStream well inside its rate limit on long answers.
APPEND_INTERVAL_SECONDS = 0.5
# chat.appendStream and chat.stopStream take at most 12,000 characters of markdown per call.
APPEND_MAX_CHARS = 12_000
MARKDOWN_BLOCK_MAX_CHARS = 12_000


class StreamedThreadReply:
    """The chat core's `ReplyTarget` for a Slack thread.

    In channels Slack needs to know who the streamed answer is for (`recipient_user_id`,
    `recipient_team_id`). If the stream breaks (Slack expires an idle stream, or refuses an
    append), the message is finished with chat.update instead, so it always ends.
    """

    streams = True

    def __init__(
        self,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str,
        *,
        user: str,
        team: str,
        feedback: bool,
        interval: float = APPEND_INTERVAL_SECONDS,
    ) -> None:
        self._client = client
        self._channel = channel
        self._thread_ts = thread_ts
        self._recipient = {"recipient_user_id": user, "recipient_team_id": team} if team else {}
        self._feedback = feedback
        self._interval = interval
        self._stream: AsyncChatStream | None = None
        self._sent = 0  # characters of the answer already sent to Slack
        self._last_sent = float("-inf")
        self._broken = False  # the stream failed; the end goes through chat.update
        self._shown = ""  # what the person sees of the answer
        self._thinking: asyncio.Task | None = None

    def show_thinking(self) -> None:
        """The thread's status line until the first text arrives (Slack clears it then).
        Set while the model is already being asked; the first text waits for it."""
        self._thinking = asyncio.create_task(self._set_thinking())

    async def _set_thinking(self) -> None:
        try:
            await self._client.assistant_threads_setStatus(
                channel_id=self._channel, thread_ts=self._thread_ts, status=THINKING
            )
        except SlackClientError as error:
            logger.info("slack: thinking status not shown (%s)", _reason(error))

    async def _status_set(self) -> None:
        if self._thinking is not None:
            with contextlib.suppress(Exception):
                await self._thinking

    async def show_partial(self, text: str) -> None:
        if self._broken or time.monotonic() - self._last_sent < self._interval:
            return
        await self._send(text)

    async def post(self, text: str) -> list[str]:
        blocks = [build_feedback_block()] if self._feedback else None
        if not self._broken:
            try:
                await self._send(text, final=True, blocks=blocks)
                return [self._stream.ts]
            except SlackClientError as error:
                logger.warning("slack: stream did not end (%s); finishing it", _reason(error))
        return [await self._finish_without_stream(text, blocks)]

    async def say(self, text: str) -> None:
        await self._status_set()
        await self._client.chat_postMessage(
            channel=self._channel, thread_ts=self._thread_ts, text=escape(text)
        )

    async def fail(self, apology: str) -> None:
        """End what was shown with the apology, so no message is left half-written."""
        if self._stream is None or self._stream.ts is None:
            await self.say(apology)
            return
        ending = f"\n\n_{escape(apology)}_"
        if not self._broken:
            try:
                await self._stream.stop(markdown_text=ending)
                return
            except SlackClientError as error:
                logger.warning("slack: stream did not end (%s)", _reason(error))
        await self._client.chat_update(
            channel=self._channel, ts=self._stream.ts, text=escape(self._shown) + ending
        )

    async def _send(self, text: str, *, final: bool = False, blocks: list | None = None) -> None:
        """Send what Slack has not seen of `text`, escaped; on `final`, stop the stream with
        `blocks`. `_sent` counts characters of `text`; the limits count escaped ones."""
        if self._stream is None:
            await self._status_set()
            # buffer_size=1: the helper sends each append at once; the pacing is ours.
            self._stream = await self._client.chat_stream(
                channel=self._channel, thread_ts=self._thread_ts, buffer_size=1, **self._recipient
            )
        new = text[self._sent :]
        try:
            while new and (not final or fitting(new, APPEND_MAX_CHARS) < len(new)):
                size = fitting(new, APPEND_MAX_CHARS)
                piece, new = new[:size], new[size:]
                await self._stream.append(markdown_text=escape(piece))
                self._sent += len(piece)
        except SlackClientError as error:
            if final:
                raise
            # An append failed: keep collecting the answer and finish it in one update.
            logger.warning("slack: stream append failed (%s)", _reason(error))
            self._broken = True
            return
        finally:
            self._shown = text[: self._sent]
            self._last_sent = time.monotonic()
        if final:
            await self._stream.stop(markdown_text=escape(new) or None, blocks=blocks)
            self._sent = len(text)

    async def _finish_without_stream(self, text: str, blocks: list | None) -> str:
        """The whole answer in one message: the streamed one updated, or a new one."""
        shown = escape(text[: fitting(text, MARKDOWN_BLOCK_MAX_CHARS)])
        body = [{"type": "markdown", "text": shown}, *(blocks or [])]
        if self._stream is not None and self._stream.ts:
            await self._client.chat_update(
                channel=self._channel, ts=self._stream.ts, text=shown, blocks=body
            )
            return self._stream.ts
        posted = await self._client.chat_postMessage(
            channel=self._channel, thread_ts=self._thread_ts, text=shown, blocks=body
        )
        return posted["ts"]


def _reason(error: SlackClientError) -> str:
    if isinstance(error, SlackApiError):
        return str(error.response.get("error"))
    return type(error).__name__
