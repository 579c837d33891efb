"""`dataset import` and `dataset validate` stay within bounds whatever a line holds: nesting
10,000 deep, 60 MB on one line, numbers and escapes Python's json reads but can't carry on with;
each is one line's error. What an import stores is redacted like chat."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tests.e2e import test_cli
from tests.e2e.test_cli import ROOT, bot, chat_line

cli_env = test_cli.cli_env  # the fixture: the CLI on the test Redis and the OpenAI stand-in

DEEP = 10_000
NO_REDACT = "--no-redact"


def deep_list() -> str:
    return '{"messages": ' + "[" * DEEP + "]" * DEEP + "}"


def deep_dict() -> str:
    content = '{"a": ' * DEEP + "1" + "}" * DEEP
    return (
        '{"messages": [{"role": "user", "content": ' + content + "}, "
        '{"role": "assistant", "content": "hi"}]}'
    )


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def problem_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("line ")]


async def test_lines_nested_too_deep_are_line_errors_in_validate_and_import(cli_env, tmp_path):
    good = [chat_line(f"question {n}", f"answer {n}") for n in range(10)]
    file = write(tmp_path / "deep.jsonl", [good[0], deep_list(), deep_dict(), *good[1:]])
    expected = [
        "line 2: is nested too deeply (more than 64 levels of brackets)",
        "line 3: is nested too deeply (more than 64 levels of brackets)",
    ]

    code, out, err = await bot(cli_env, "dataset", "validate", str(file))
    assert "Traceback" not in err and problem_lines(out) == expected
    assert code == 0 and "Usable: 10 of 12 lines" in out
    code, out, err = await bot(cli_env, "dataset", "validate", str(file), "--json")
    report = json.loads(out)
    assert report["invalid"] == 2 and report["errors"] == {"unreadable_line": 2}
    assert report["error_samples"] == {"unreadable_line": [1, 2]}  # 0-based line numbers
    assert problem_lines(err) == expected

    code, out, err = await bot(cli_env, "dataset", "import", str(file))
    assert code == 1 and "Traceback" not in err and problem_lines(err) == expected
    assert "Nothing was imported: 2 of 12 lines have problems" in out
    code, out, err = await bot(cli_env, "dataset", "import", str(file), "--skip-invalid")
    assert code == 0 and "Traceback" not in err
    assert "Imported 10 new examples" in out and "2 invalid, from 12 lines" in out


async def test_nesting_inside_a_string_does_not_reach_a_later_walk(cli_env, tmp_path):
    # Tool-call arguments are JSON text; redaction reads them, and must not recurse 10,000 deep.
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": "[" * DEEP + "]" * DEEP},
    }
    example = {
        "messages": [
            {"role": "user", "content": "look it up"},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "found"},
            {"role": "assistant", "content": "done"},
        ]
    }
    file = write(tmp_path / "args.jsonl", [json.dumps(example)])
    code, out, err = await bot(cli_env, "dataset", "validate", str(file), "--json")
    assert "Traceback" not in err and json.loads(out)["trainable"] == 1
    code, out, err = await bot(cli_env, "dataset", "import", str(file))
    assert code == 0 and "Imported 1 new example" in out, err


async def test_an_over_long_line_is_a_line_error_in_validate_and_import(cli_env, tmp_path):
    env = {**cli_env, "MAX_IMPORT_LINE_BYTES": "2048"}
    long = chat_line("tell me everything " * 200, "no")  # about 4 KB
    file = write(tmp_path / "long.jsonl", [chat_line("a", "b"), long, chat_line("c", "d")])
    expected = [
        f"line 2: is {len(long):,} bytes long; a line may have up to 2,048 (MAX_IMPORT_LINE_BYTES)"
    ]
    _, out, err = await bot(env, "dataset", "validate", str(file))
    assert problem_lines(out) == expected and "Usable: 2 of 3 lines" in out, err
    code, out, err = await bot(env, "dataset", "import", str(file), "--skip-invalid")
    assert code == 0 and problem_lines(err) == expected
    assert "Imported 2 new examples" in out and "1 invalid, from 3 lines" in out


async def test_validating_a_60_mb_line_does_not_hold_it_in_memory(cli_env, tmp_path):
    small = write(tmp_path / "small.jsonl", [chat_line("a", "b")])
    huge = chat_line("hello world " * 5_000_000, "x")  # 60 MB
    big = write(tmp_path / "big.jsonl", [chat_line("a", "b"), huge, chat_line("c", "d")])
    baseline, _ = await peak_memory_mb(cli_env, "dataset", "validate", str(small))
    peak, out = await peak_memory_mb(cli_env, "dataset", "validate", str(big))
    assert f"line 2: is {len(huge):,} bytes long" in out
    # Reading the line whole took 650 MB (3.1 GB for other shapes); read past, it costs a
    # buffer of MAX_IMPORT_LINE_BYTES at most.
    assert peak - baseline < 64, (baseline, peak)


async def peak_memory_mb(env: dict[str, str], *args: str) -> tuple[float, str]:
    """Run `python -m bot *args` under a parent that reports its child's peak resident memory."""
    measure = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "print(done.stdout + done.stderr)\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        measure,
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    kilobytes, _, output = out.decode().partition("\n")
    return int(kilobytes) / 1024, output


async def test_lines_python_reads_but_json_does_not_allow_get_one_message_each(cli_env, tmp_path):
    odd = {
        "{not json": "is not valid JSON (Expecting property name enclosed in double quotes",
        chat_line("a", "b").replace('"b"}', '"b", "weight": NaN}'): (
            "is not valid JSON (NaN is not a JSON value)"
        ),
        chat_line("a", "b").replace('"b"}', '"b", "weight": ' + "1" * 5000 + "}"): (
            "is not valid JSON (a number is too long)"
        ),
        chat_line("a", "b").replace('"a"', '"a\\ud800"'): (
            "is not valid JSON (a \\u escape is half of a surrogate pair)"
        ),
    }
    file = write(tmp_path / "odd.jsonl", [chat_line("x", "y"), *odd])
    _, validated, err = await bot(cli_env, "dataset", "validate", str(file))
    assert "Traceback" not in err
    code, _, imported = await bot(cli_env, "dataset", "import", str(file))
    assert code == 1 and "Traceback" not in imported
    # The same words for the same problem, whichever command found it.
    assert problem_lines(validated) == problem_lines(imported)
    for number, (message, said) in enumerate(
        zip(problem_lines(imported), odd.values(), strict=True), 2
    ):
        assert message.startswith(f"line {number}: {said}")
    assert "not a JSON object" not in validated  # one message for one problem


def pasted_line() -> str:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "email", "arguments": json.dumps({"to": "ann@example.com"})},
    }
    return json.dumps(
        {
            "messages": [
                {"role": "user", "content": "mail ann@example.com, cc <@U024BE7LH>"},
                {"role": "assistant", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sent"},
                {"role": "assistant", "content": "Sent to ann@example.com for <@U024BE7LH>."},
            ]
        }
    )


async def test_an_imported_file_is_redacted_like_chat(cli_env, tmp_path):
    file = write(tmp_path / "pii.jsonl", [pasted_line()])
    code, out, err = await bot(cli_env, "dataset", "import", str(file))
    assert code == 0, err
    assert "Redacted like chat (REDACT_PII): 5 replaced (email 3, mention 2)." in out
    _, stats, _ = await bot(cli_env, "dataset", "stats")
    assert "5 redactions made" in stats  # counted with those made in chat
    _, exported, _ = await bot(cli_env, "dataset", "export")
    [example] = [json.loads(line) for line in exported.splitlines()]
    assert "example.com" not in exported and "U024BE7LH" not in exported
    messages = example["messages"]
    assert messages[0]["content"] == "mail [email], cc @user1"
    assert messages[3]["content"] == "Sent to [email] for @user1."
    # Arguments stay JSON that the tool could read.
    assert json.loads(messages[1]["tool_calls"][0]["function"]["arguments"]) == {"to": "[email]"}


async def test_with_redaction_off_an_import_says_so_and_keeps_the_text(cli_env, tmp_path):
    file = write(tmp_path / "pii.jsonl", [pasted_line()])
    code, out, _ = await bot({**cli_env, "REDACT_PII": "false"}, "dataset", "import", str(file))
    assert code == 0 and "Not redacted: REDACT_PII is off." in out
    _, exported, _ = await bot(cli_env, "dataset", "export")
    assert json.loads(exported) == json.loads(pasted_line())


async def test_a_trusted_file_is_imported_as_it_is_with_no_redact(cli_env, tmp_path):
    file = write(tmp_path / "pii.jsonl", [pasted_line()])
    code, out, _ = await bot(cli_env, "dataset", "import", str(file), NO_REDACT)
    assert code == 0 and "Not redacted: --no-redact keeps a trusted file exactly as it is." in out
    _, exported, _ = await bot(cli_env, "dataset", "export")
    assert json.loads(exported) == json.loads(pasted_line())
