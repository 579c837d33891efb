"""`python -m bot chat`: talk to the bot in the terminal, with the same core and storage.

Each line is a message in one conversation; `/new` starts another, `/good` and `/bad` vote or
veto the last reply, `/finetune …` runs the same commands as in Slack (the operator is an
admin). Piped, stdout carries only what the bot says; prompts and logs go to stderr.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import TextIO

import click

from bot.commands import wording
from bot.commands.results import CommandResult, DatasetFile, Help
from bot.comparison.views import answer_figures, pair_view
from bot.conversation.chat import Incoming
from bot.conversation.curation import Outcome
from bot.errors import StorageUnavailable
from bot.faces import ChatFace
from handlers.cli.render import job_line, plain, render
from handlers.cli.runtime import OPERATOR, core, settings_or_exit
from storage.comparisons import ComparedPair, Comparison
from storage.jobs import JobRecord
from storage.schemas import MessageKey

HELP = (
    "Type a message to talk to the bot. /good or /bad judges its last reply, /new starts a new "
    "conversation, /finetune <command> runs a command (/finetune help lists them), /quit ends."
)
THINKING = "thinking…"
CLEAR_LINE = "\r\x1b[K"  # back to the line's start, and clear it
# How curation works here: the chat front ends say "react with an emoji".
TERMINAL_HINT = "Here, /good saves the last reply as an example and /bad keeps it out of training."
CHAT_WORDS = frozenset({"/quit", "/exit", "/new", "/help", "/good", "/bad", "/finetune"})
# A first word like `/word` is a command; `/etc/hosts is…` is a message.
COMMAND_WORD = re.compile(r"/[A-Za-z][A-Za-z-]*")


def message_id() -> str:
    return str(time.time_ns())


class TerminalReply:
    """Prints the answer; in a terminal it streams in as the model writes it, after a
    "thinking…" line that its first words replace."""

    def __init__(self, out: TextIO, *, streams: bool) -> None:
        self.streams = streams
        self._out = out
        self._shown = 0
        self._thinking = False

    def show_thinking(self) -> None:
        if self.streams:
            self._out.write(THINKING)
            self._out.flush()
            self._thinking = True

    def _clear_thinking(self) -> None:
        if self._thinking:
            self._out.write(CLEAR_LINE)
            self._thinking = False

    async def show_partial(self, text: str) -> None:
        self._clear_thinking()
        self._out.write(text[self._shown :])
        self._out.flush()
        self._shown = len(text)

    async def post(self, text: str) -> list[str]:
        self._clear_thinking()
        self._out.write(f"{text[self._shown :]}\n")
        self._out.flush()
        return [message_id()]

    def cancelled(self) -> None:
        self._clear_thinking()
        self._out.write(f"{chr(10) if self._shown else ''}(cancelled; the reply was not kept)\n")
        self._out.flush()

    async def say(self, text: str) -> None:
        self._clear_thinking()
        self._out.write(f"{text}\n")
        self._out.flush()

    async def fail(self, apology: str) -> None:
        await self.say(f"\n{apology}" if self._shown else apology)


class TerminalJobReporter:
    """Follows a job started from the terminal: progress on stderr, the outcome on stdout."""

    async def show_job(self, job: JobRecord) -> str | None:
        click.echo(job_line(job), err=True)
        return job.status_message_ts or "terminal"

    async def announce(self, job: JobRecord, text: str) -> None:
        click.echo(plain(text))

    async def show_chart(self, job: JobRecord, png: bytes) -> None:
        pass  # a terminal shows no pictures; the job's lines carry the losses

    async def close(self) -> None:
        pass


class TerminalComparisonReporter:
    """`/finetune compare` in the terminal: both answers, labelled as everyone else sees them
    (picking is for the chat, where the team is)."""

    async def show_pair(self, comparison: Comparison, pair: ComparedPair, number: int) -> str:
        view = pair_view(comparison, pair, number)
        lines = [view.title, f"> {view.asked}"]
        for label, answer in view.sides:
            lines += [f"{label}: {answer.text or '—'}", f"   ({answer_figures(answer)})"]
        click.echo("\n".join(lines))
        return "terminal"

    async def announce(self, comparison: Comparison, text: str, *, promote: bool = False) -> None:
        click.echo(plain(text))


class Session:
    def __init__(self, core: ChatFace, out: TextIO, *, interactive: bool) -> None:
        self._core = core
        self._out = out
        self._interactive = interactive
        self.conversation = uuid.uuid4().hex[:12]
        self.last_reply: str | None = None

    async def handle(self, line: str) -> bool:
        """Handle one line; False when the session ends."""
        text = line.strip()
        if text in ("/quit", "/exit"):
            return False
        if text == "/new":
            self.conversation, self.last_reply = uuid.uuid4().hex[:12], None
            click.echo("(a new conversation)", err=True)
        elif text == "/help":
            click.echo(HELP, err=True)
        elif text in ("/good", "/bad"):
            await self._judge("vote" if text == "/good" else "veto")
        elif text.split(maxsplit=1)[0] == "/finetune":
            result = await self._core.commands.run_text(text.removeprefix("/finetune"), OPERATOR)
            for line_out in self._shown(result):
                click.echo(line_out, file=self._out)
        elif COMMAND_WORD.fullmatch(word := text.split(maxsplit=1)[0]) and word not in CHAT_WORDS:
            click.echo(f"Unknown command {word}; /help lists them.", err=True)
        elif text:
            await self._answer(text)
        return True

    def _shown(self, result: CommandResult) -> list[str]:
        """A command's answer as the terminal says it: help in the terminal's words, and an
        export written to the working directory."""
        if isinstance(result, Help) and not result.problem:
            return [TERMINAL_HINT, "", *render(result)[2:]]
        if isinstance(result, DatasetFile):
            target = Path.cwd() / result.filename
            with result.file:
                shutil.copyfile(result.path, target)
            return [f"Wrote {wording.file_contents(result)} to {target}."]
        return render(result)

    async def _answer(self, text: str) -> None:
        incoming = Incoming(
            platform="local",
            team="",
            channel="terminal",
            thread_ts=self.conversation,
            user=OPERATOR.user,
            text=text,
            message_id=message_id(),
        )
        reply = TerminalReply(self._out, streams=self._interactive)
        reply.show_thinking()
        try:
            turn = await self._core.chat.reply(incoming, reply)
        except asyncio.CancelledError:
            reply.cancelled()  # Ctrl-C: the reply goes; whoever cancelled decides what next
            raise
        if turn is not None:
            self.last_reply = turn.ts

    async def _judge(self, judgement: str) -> None:
        if self.last_reply is None:
            click.echo("There is no reply to judge yet.", err=True)
            return
        key = MessageKey("local", "terminal", self.last_reply)
        try:
            result = await self._core.curation.react(
                key, OPERATOR.user, judgement, True, f"{time.time():.6f}"
            )
        except StorageUnavailable:
            click.echo("Storage is unavailable; nothing was saved.", file=self._out)
            return
        words = {
            Outcome.ADDED: "Saved: the last reply is an example now.",
            Outcome.VETOED: "Vetoed: the last reply will not train.",
            Outcome.UNCHANGED: "Already saved.",
        }
        click.echo(words.get(result.outcome, "That reply is no longer recorded."), file=self._out)


async def handled(session: Session, line: str, interactive: bool) -> bool:
    """`session.handle(line)`; in a terminal, Ctrl-C meanwhile cancels that line's work (a
    reply the model is still writing) and the session goes on. At the prompt, Ctrl-C ends the
    session as usual."""
    if not interactive:
        return await session.handle(line)
    loop = asyncio.get_running_loop()
    work = asyncio.ensure_future(session.handle(line))
    loop.add_signal_handler(signal.SIGINT, work.cancel)
    try:
        return await work
    except asyncio.CancelledError:
        if asyncio.current_task().cancelling():
            raise
        return True
    finally:
        loop.remove_signal_handler(signal.SIGINT)


async def run_chat() -> None:
    settings = settings_or_exit("chat")
    interactive = sys.stdin.isatty()
    async with core(settings) as services:
        services.reporters.add("local", TerminalJobReporter())
        services.comparer.reporters.add("local", TerminalComparisonReporter())
        watcher = asyncio.create_task(services.watcher.run())
        session = Session(ChatFace.of(services), sys.stdout, interactive=interactive)
        if interactive:
            click.echo(HELP, err=True)
        try:
            while True:
                if interactive:
                    click.echo("you> ", nl=False, err=True)
                line = await asyncio.to_thread(sys.stdin.readline)
                if not line or not await handled(session, line, interactive):
                    break
        finally:
            services.watcher.stop()
            await asyncio.gather(watcher, return_exceptions=True)
