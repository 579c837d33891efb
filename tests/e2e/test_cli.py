"""The command line through its real entry point (`python -m bot …` as a subprocess), against
real Redis and the OpenAI stand-in: help without configuration, chat piped, datasets in and out."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import click
import pytest

from handlers.cli import build_cli
from tests.bot_process import run_bot
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_env(redis_url, openai_fake, tmp_path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "DISCORD_", "OPENAI_", "REDIS_", "CHAT_", "TRAIN_"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        REDIS_URL=redis_url,
        OPENAI_API_KEY=openai_fake.api_key,
        OPENAI_BASE_URL=openai_fake.base_url,
        SYSTEM_PROMPT="You are Captain Byte, a pirate.",
    )
    return env


async def bot(env: dict[str, str], *args: str, stdin: str = "", cwd: Path | None = None):
    """Run `python -m bot *args`; return (exit code, stdout, stderr)."""
    return await run_bot(env, *args, stdin=stdin, cwd=cwd or ROOT)


def chat_line(user: str, answer: str, *, weight: int | None = None) -> str:
    reply = {"role": "assistant", "content": answer}
    if weight is not None:
        reply["weight"] = weight
    return json.dumps({"messages": [{"role": "user", "content": user}, reply]})


async def test_help_works_with_no_configuration_at_all(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPENAI_"))}
    env["PYTHONPATH"] = str(ROOT)
    for args in (
        ["--help"],
        ["dataset", "--help"],
        ["dataset", "import", "--help"],
        ["finetune", "start", "--help"],
        ["chat", "--help"],
    ):
        code, out, err = await bot(env, *args, cwd=tmp_path)
        assert code == 0 and "Usage:" in out and err == "", args


async def test_chat_piped_answers_votes_and_runs_commands(cli_env, openai_fake, tmp_path):
    openai_fake.reply = "Arr, the deploy be green."
    code, out, err = await bot(
        cli_env,
        "chat",
        stdin="how is the deploy?\n/good\n/finetune status\n/finetune export\n",
        cwd=tmp_path,
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Arr, the deploy be green."
    assert lines[1] == "Saved: the last reply is an example now."
    assert "Dataset: 1 example, about" in out
    # The export is written where the terminal is, and says so.
    [written] = list(tmp_path.glob("*.jsonl"))
    assert f"Wrote 1 example in OpenAI chat JSONL to {written}." in lines
    assert json.loads(written.read_text())["messages"][-1]["content"] == "Arr, the deploy be green."
    assert "you>" not in out  # prompts are for terminals (and go to stderr)
    assert openai_fake.chat_requests[0]["messages"][-1] == {
        "role": "user",
        "content": "how is the deploy?",
    }

    # The terminal and the chat front ends share one dataset.
    code, out, _ = await bot(cli_env, "dataset", "export")
    [line] = [json.loads(text) for text in out.splitlines()]
    assert line["messages"][-1] == {
        "role": "assistant",
        "content": "Arr, the deploy be green.",
        "weight": 1,
    }


async def test_bad_then_new_conversation(cli_env, openai_fake, tmp_path):
    code, out, _ = await bot(cli_env, "chat", stdin="first\n/bad\n/new\nsecond\n/good\n")
    assert code == 0
    assert "Vetoed: the last reply will not train." in out
    code, out, _ = await bot(cli_env, "dataset", "export")
    [line] = [json.loads(text) for text in out.splitlines()]
    assert [m["content"] for m in line["messages"] if m["role"] == "user"] == ["second"]


async def test_import_validates_every_line_and_imports_all_or_nothing(cli_env, tmp_path):
    good = [chat_line(f"question {n}", f"answer {n}") for n in range(3)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([good[0], "{not json", json.dumps({"messages": []}), good[1]]))
    code, out, err = await bot(cli_env, "dataset", "import", str(bad))
    assert code == 1
    assert "line 2: is not valid JSON" in err and "line 3: has no list of messages" in err
    assert "Nothing was imported" in out
    _, exported, _ = await bot(cli_env, "dataset", "export")
    assert exported == ""

    code, out, err = await bot(cli_env, "dataset", "import", str(bad), "--skip-invalid")
    assert code == 0 and "Imported 2 new examples" in out and "2 invalid" in out


async def test_imported_weights_export_as_they_came_and_duplicates_are_counted(cli_env, tmp_path):
    history = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello", "weight": 1},
            {"role": "user", "content": "bye"},
            {"role": "assistant", "content": "see you", "weight": 0},
        ],
        "parallel_tool_calls": False,
    }
    file = tmp_path / "in.jsonl"
    file.write_text(json.dumps(history) + "\n" + chat_line("a", "b") + "\n")
    assert (await bot(cli_env, "dataset", "import", str(file)))[0] == 0
    _, out, _ = await bot(cli_env, "dataset", "export")
    assert [json.loads(t) for t in out.splitlines()] == [history, json.loads(chat_line("a", "b"))]

    # The same file again: duplicates; the same conversation with other weights: an update.
    history["messages"][4]["weight"] = 1
    file.write_text(json.dumps(history) + "\n" + chat_line("a", "b") + "\n")
    _, out, _ = await bot(cli_env, "dataset", "import", str(file))
    assert "Imported 0 new examples, updated 1, skipped 1 already stored" in out
    _, out, _ = await bot(cli_env, "dataset", "export")
    assert json.loads(out.splitlines()[0]) == history


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"", "The file is empty"),
        (b"\n\n  \n", "The file is empty"),
        (b'{"messages": "caf\xe9"}\n', "Line 1 is not UTF-8 text"),
    ],
)
async def test_unreadable_files_get_one_sentence(cli_env, tmp_path, content, said):
    file = tmp_path / "odd.jsonl"
    file.write_bytes(content)
    code, _, err = await bot(cli_env, "dataset", "import", str(file))
    assert code == 1 and said in err and "Traceback" not in err


async def test_a_bom_crlf_and_blank_lines_are_tolerated(cli_env, tmp_path):
    file = tmp_path / "windows.jsonl"
    file.write_bytes(
        b"\xef\xbb\xbf" + (chat_line("a", "b") + "\r\n\r\n" + chat_line("c", "d") + "\r\n").encode()
    )
    code, out, err = await bot(cli_env, "dataset", "import", str(file))
    assert code == 0 and "Imported 2 new examples" in out
    assert "byte order mark" in err and "CRLF" in err and "1 blank line was skipped" in err


async def test_validate_a_file_reports_figures_and_problems_with_line_numbers(cli_env, tmp_path):
    lines = [chat_line(f"question {n}", f"answer {n}") for n in range(12)]
    lines.insert(4, json.dumps({"messages": [{"role": "robot", "content": "beep"}]}))
    file = tmp_path / "train.jsonl"
    file.write_text("\n".join(lines) + "\n")
    code, out, _ = await bot(cli_env, "dataset", "validate", str(file), "--json")
    report = json.loads(out)
    assert code == 0 and report["trainable"] == 12 and report["total"] == 13
    code, out, _ = await bot(cli_env, "dataset", "validate", str(file))
    # The problem names the value to fix.
    assert (
        "whose role is not system, user, assistant, tool, function or developer (`robot`) (line 5)"
        in out
    )
    small = tmp_path / "small.jsonl"
    small.write_text("\n".join(lines[:3]) + "\n")
    code, out, _ = await bot(cli_env, "dataset", "validate", str(small))
    assert code == 1 and "needs at least 10" in out


async def test_list_show_remove_and_stats(cli_env, tmp_path):
    file = tmp_path / "in.jsonl"
    file.write_text(chat_line("first question", "one") + "\n" + chat_line("second", "two") + "\n")
    await bot(cli_env, "dataset", "import", str(file))
    code, out, _ = await bot(cli_env, "dataset", "list", "--json", "--source", "import")
    rows = json.loads(out)
    assert [row["asked"] for row in rows] == ["first question", "second"]
    code, out, _ = await bot(cli_env, "dataset", "show", rows[0]["id"])
    assert json.loads(out)["messages"][-1]["content"] == "one"
    code, _, err = await bot(cli_env, "dataset", "remove", rows[0]["id"])
    assert code == 1 and "--yes" in err  # not a terminal: no silent removal
    code, out, _ = await bot(cli_env, "dataset", "remove", rows[0]["id"], "--yes")
    assert code == 0 and "Removed 1 example" in out
    code, out, _ = await bot(cli_env, "dataset", "stats", "--json")
    assert json.loads(out)["in_set"] == 1


async def test_finetune_start_from_the_terminal_follows_the_job(cli_env, openai_fake, tmp_path):
    file = tmp_path / "in.jsonl"
    file.write_text("\n".join(chat_line(f"q{n}", f"a{n}") for n in range(10)) + "\n")
    await bot(cli_env, "dataset", "import", str(file))
    code, out, err = await bot(cli_env, "finetune", "start", "--suffix", "crew", "--no-follow")
    assert code == 0 and "Started fine-tuning job" in out, err
    [request] = openai_fake.job_requests
    assert request["suffix"] == "crew"
    code, out, _ = await bot(cli_env, "finetune", "status")
    assert "Fine-tuning gpt-4.1-mini-2025-04-14" in out


def cookbook_figures(dataset: list[dict], encoding_name: str) -> dict:
    """What the cookbook's data-prep notebook computes, written from its code: tokens per
    example (3 per message, 1 per name, 3 priming the reply), assistant tokens, the epoch
    heuristic and the billed tokens."""
    import statistics

    import tiktoken

    from bot.dataset.tokens import encoding

    enc = encoding(encoding_name)
    assert isinstance(enc, tiktoken.Encoding)
    lengths, assistant = [], 0
    for example in dataset:
        tokens = 3
        for message in example["messages"]:
            tokens += 3
            for key, value in message.items():
                tokens += len(enc.encode(value))
                if key == "name":
                    tokens += 1
            if message["role"] == "assistant":
                assistant += len(enc.encode(message["content"]))
        lengths.append(tokens)
    n = len(dataset)
    epochs = 3
    if 3 * n < 100:
        epochs = min(25, 100 // n)
    elif 3 * n > 25000:
        epochs = max(1, 25000 // n)
    billing = sum(min(65536, length) for length in lengths)
    return {
        **notebook_counts(dataset, enc),
        "tokens_total": sum(lengths),
        "tokens_min": min(lengths),
        "tokens_max": max(lengths),
        "tokens_median": statistics.median(lengths),
        "tokens_mean": statistics.mean(lengths),
        "assistant_tokens": assistant,
        "n_epochs": epochs,
        "billed_tokens": epochs * billing,
    }


def notebook_counts(dataset: list[dict], enc) -> dict:
    """The notebook's "data warnings and token counts": examples missing a system or a user
    message, and its distributions (`print_distribution`: min / max, mean / median, and what it
    prints as "p5 / p95": `np.quantile(values, 0.1)` and `(values, 0.9)`)."""
    numpy = pytest.importorskip("numpy")

    def spread(values: list[int]) -> dict:
        return {
            "min": min(values),
            "max": max(values),
            "mean": float(numpy.mean(values)),
            "median": float(numpy.median(values)),
            "p10": float(numpy.quantile(values, 0.1)),
            "p90": float(numpy.quantile(values, 0.9)),
        }

    roles = [{m["role"] for m in example["messages"]} for example in dataset]
    assistant = [
        sum(len(enc.encode(m["content"])) for m in ex["messages"] if m["role"] == "assistant")
        for ex in dataset
    ]
    return {
        "missing_system": sum("system" not in r for r in roles),
        "missing_user": sum("user" not in r for r in roles),
        "messages_per_example": spread([len(example["messages"]) for example in dataset]),
        "assistant_tokens_per_example": spread(assistant),
    }


async def test_validate_figures_equal_the_cookbooks_on_its_toy_chat_shape(cli_env, tmp_path):
    # The shape of the cookbook's toy_chat_fine_tuning.jsonl: Marv, a factual chatbot that is
    # also sarcastic.
    system = "Marv is a factual chatbot that is also sarcastic."
    pairs = [
        ("What's the capital of France?", "Paris, as if everyone doesn't know that already."),
        ("Who wrote 'Romeo and Juliet'?", "Oh, just some guy named William Shakespeare."),
        ("How far is the Moon from Earth?", "Around 384,400 kilometers. Give or take."),
        ("What's the boiling point of water?", "100°C at sea level. Shocking, I know."),
        ("Who painted the Mona Lisa?", "Leonardo da Vinci. Maybe you've heard of him."),
        ("What is 2 + 2?", "Four. I'll wait while you check with a calculator."),
        ("Which planet is the largest?", "Jupiter. It's hard to miss."),
        ("What's the speed of light?", "About 299,792 km per second. Try to keep up."),
        ("Who discovered penicillin?", "Alexander Fleming, by leaving his lab messy."),
        ("What's H2O?", "Water. Riveting chemistry, isn't it?"),
        ("How many continents are there?", "Seven, unless you're feeling creative."),
    ]
    dataset = [
        {
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
            ]
        }
        for question, answer in pairs
    ]
    # Two without the system message, one conversation of two turns: the counts differ.
    for example in dataset[:2]:
        del example["messages"][0]
    dataset[2]["messages"] += [
        {"role": "user", "content": "And the capital of Italy?"},
        {"role": "assistant", "content": "Rome. Next you'll ask about Spain."},
    ]
    file = tmp_path / "toy_chat_fine_tuning.jsonl"
    file.write_text("".join(json.dumps(line) + "\n" for line in dataset))
    code, out, _ = await bot(cli_env, "dataset", "validate", str(file), "--json")
    report = json.loads(out)
    assert code == 0
    expected = cookbook_figures(dataset, "o200k_base")
    for key, value in expected.items():
        assert report[key] == (pytest.approx(value) if isinstance(value, dict) else value), key
    # The text report shows the same figures, the mean included.
    _, text, _ = await bot(cli_env, "dataset", "validate", str(file))
    assert "Examples missing a system message: 2 · missing a user message: 0" in text
    spread = expected["messages_per_example"]
    assert f"Messages per example: min 2, max 5, mean {spread['mean']:.1f}" in text
    assert f"mean {expected['tokens_mean']:.1f}" in text


async def test_chat_needs_no_training_key_until_a_job_is_started(cli_env, openai_fake, tmp_path):
    env = {**cli_env, "TRAIN_BACKEND": "together"}  # Together needs TRAIN_API_KEY; none is set
    code, out, err = await bot(env, "chat", stdin="hello\n/finetune start\n")
    assert code == 0, err
    assert out.splitlines()[0] == "Reply 1"
    assert "TRAIN_API_KEY is required for TRAIN_BACKEND=together; set it to start a job" in out


async def test_imported_examples_count_as_in_the_set_whatever_the_quorum(cli_env, tmp_path):
    env = {**cli_env, "MIN_VOTES": "2"}
    file = tmp_path / "in.jsonl"
    file.write_text(chat_line("one", "1") + "\n" + chat_line("two", "2") + "\n")
    await bot(env, "dataset", "import", str(file))
    _, out, _ = await bot(env, "dataset", "stats", "--json")
    counts = json.loads(out)
    assert counts["in_set"] == 2 and counts["waiting"] == 0
    _, exported, _ = await bot(env, "dataset", "export")
    assert len(exported.splitlines()) == 2


async def test_compare_in_the_terminal_shows_both_answers(cli_env, openai_fake, tmp_path):
    openai_fake.reply = lambda body: f"Answer from {body['model']}"
    tuned = "ft:gpt-4.1-mini-2025-04-14:acme::t"
    code, out, err = await bot(
        cli_env, "chat", stdin=f"/finetune compare model={tuned} what's new?\n", cwd=tmp_path
    )
    assert code == 0, err
    assert "> what's new?" in out
    assert f"Answer from {tuned}" in out and "Both answers are posted" in out
    assert sum(line.startswith(("A: ", "B: ")) for line in out.splitlines()) == 2


async def test_an_unchanged_env_example_copy_lets_the_terminal_work_and_names_all_placeholders(
    cli_env, openai_fake, tmp_path
):
    # As the README says: copy .env.example, change nothing, talk to a local model server.
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    env = {k: v for k, v in cli_env.items() if k != "OPENAI_API_KEY"}
    local = {**env, "CHAT_BASE_URL": openai_fake.base_url, "CHAT_API_KEY": openai_fake.api_key}
    openai_fake.reply = "Ahoy from the local model."

    code, out, err = await bot(local, "chat", stdin="hello\n", cwd=tmp_path)
    assert code == 0, err
    assert "Ahoy from the local model." in out
    code, out, err = await bot(env, "dataset", "stats", cwd=tmp_path)
    assert code == 0, err

    # The bot itself needs them all: one line names every one in the way.
    code, _, err = await bot(env, "serve", cwd=tmp_path)
    assert code != 0
    assert (
        "SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET and OPENAI_API_KEY are still the placeholders" in err
    )


async def test_the_terminal_chat_says_what_an_unknown_command_is_and_helps_in_its_own_words(
    cli_env, openai_fake, tmp_path
):
    code, out, err = await bot(
        cli_env, "chat", stdin="/godo\n/finetune help\n/etc/hosts is what?\n", cwd=tmp_path
    )
    assert code == 0, err
    assert "Unknown command /godo; /help lists them." in err
    assert "/good saves the last reply as an example" in out and "emoji" not in out
    # A path is a message, not a command: only it reached the model.
    [request] = openai_fake.chat_requests
    assert request["messages"][-1]["content"] == "/etc/hosts is what?"


async def test_refusals_and_failures_exit_non_zero_in_one_line_without_a_traceback(
    cli_env, tmp_path
):
    code, out, err = await bot(cli_env, "finetune", "use", "no-such-model")
    assert code == 1 and "I don't know the model no-such-model" in out
    unreachable = {**cli_env, "OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1"}
    code, out, err = await bot(unreachable, "finetune", "use", "another-model")
    assert code == 1 and "couldn't reach" in out and "Traceback" not in out + err
    # Something nobody foresaw: one line, the exit code, and --verbose for the details.
    target = tmp_path / "no-such-dir" / "out.jsonl"
    code, out, err = await bot(cli_env, "dataset", "export", "--output", str(target))
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1].endswith("run it again with --verbose for the details.")
    code, _, err = await bot(cli_env, "--verbose", "dataset", "export", "--output", str(target))
    assert code == 1 and "FileNotFoundError" in err and "the details are above" in err


async def test_counts_read_as_words_one_line_one_example(cli_env, tmp_path):
    one = tmp_path / "one.jsonl"
    one.write_text(chat_line("question", "answer") + "\n")
    code, out, _ = await bot(cli_env, "dataset", "import", str(one))
    assert code == 0 and "Imported 1 new example, updated 0," in out and "from 1 line." in out
    _, out, _ = await bot(cli_env, "dataset", "stats")
    assert out.startswith("1 example in the training set,") and "0 preference pairs" in out
    broken = tmp_path / "broken.jsonl"
    broken.write_text(chat_line("another", "answer") + "\n{not json\n")
    code, out, _ = await bot(cli_env, "dataset", "import", str(broken))
    assert code == 1 and "Nothing was imported: 1 of 2 lines has problems." in out


async def test_an_empty_list_says_so_and_a_list_has_headers(cli_env, tmp_path):
    code, out, err = await bot(cli_env, "dataset", "list")
    assert code == 0 and out == "" and "No examples in the dataset yet." in err
    one = tmp_path / "one.jsonl"
    one.write_text(chat_line("what is the tide?", "High at noon.") + "\n")
    await bot(cli_env, "dataset", "import", str(one))
    code, out, _ = await bot(cli_env, "dataset", "list")
    header, row = out.splitlines()
    assert header.split() == ["ID", "SOURCE", "TOKENS", "ASKED"]
    assert row.split()[1] == "import" and row.endswith("what is the tide?")


def test_every_command_line_option_says_what_it_does():
    def commands(group, path=()):
        for name, command in group.commands.items():
            yield (*path, name), command
            if isinstance(command, click.Group):
                yield from commands(command, (*path, name))

    for path, command in commands(build_cli(serve=lambda: None)):
        assert command.help, path
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, (*path, param.name)


class Terminal:
    """`python -m bot chat` in a pseudo-terminal, as a person runs it."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self._master, slave = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "chat"],
            env=env,
            cwd=cwd,
            stdin=slave,
            stdout=slave,
            stderr=slave,
        )
        os.close(slave)
        self.seen = ""

    async def wait_for(self, text: str, timeout: float = 15) -> str:
        async def more() -> None:
            chunk = await asyncio.to_thread(os.read, self._master, 4096)
            self.seen += chunk.decode(errors="replace")

        async with asyncio.timeout(timeout):
            while text not in self.seen:
                await more()
        return self.seen

    def type(self, line: str) -> None:
        os.write(self._master, f"{line}\n".encode())

    def close(self) -> int:
        try:
            return self.process.wait(timeout=15)
        finally:
            os.close(self._master)


async def test_a_terminal_shows_thinking_and_ctrl_c_cancels_only_the_pending_reply(
    cli_env, openai_fake, tmp_path
):
    terminal = Terminal(cli_env, tmp_path)
    try:
        await terminal.wait_for("you> ")
        openai_fake.reply, openai_fake.reply_delay = "A slow answer.", 30.0
        terminal.type("tell me slowly")
        await terminal.wait_for("thinking…")
        terminal.process.send_signal(signal.SIGINT)
        await terminal.wait_for("(cancelled; the reply was not kept)")
        await terminal.wait_for("you> ", timeout=15)  # the session goes on

        openai_fake.reply, openai_fake.reply_delay = "A quick answer.", 0.0
        before = len(terminal.seen)
        terminal.type("and now quickly")
        await terminal.wait_for("A quick answer.")
        shown = terminal.seen[before:]
        # "thinking…" stood until the first words replaced it.
        assert shown.index("thinking…") < shown.index("\r\x1b[K") < shown.index("A quick")
        terminal.type("/quit")
    finally:
        code = terminal.close()
    assert code == 0
    assert "A slow answer." not in terminal.seen and "Traceback" not in terminal.seen


async def test_the_policy_and_the_ledger_from_the_terminal(cli_env):
    code, out, _ = await bot(cli_env, "finetune", "policy", "--every", "50", "--budget", "20")
    assert code == 0 and "every 50 new examples (0 so far)" in out and "$20.00 monthly" in out
    code, out, _ = await bot(cli_env, "finetune", "policy", "--schedule", "someday")
    assert code == 1 and "someday is not a schedule; write mon 09:00" in out
    code, out, _ = await bot(cli_env, "finetune", "ledger")
    assert code == 0 and "No job has been started yet" in out
