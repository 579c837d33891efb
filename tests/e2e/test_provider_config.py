"""PROVIDERS_FILE through the real command line (`python -m bot providers` as a subprocess):
what an operator sees when the file is wrong (one line naming the file and line, or the
variable; exit code 1; no traceback; never a key), the listing of several providers, and the
one-provider variables that work without the file."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

import pytest

from bot.config import SettingsError
from bot.providers.config import read_providers_file
from tests.conftest import free_port
from tests.e2e.test_cli import ROOT, bot

SECRET = "sk-secret-XYZ-7d1c0ffee"  # what must never be printed
HEX_SECRET = "a3f9c2d1e4b5a6978812ab34cd56ef78"  # a key with no telltale prefix (Azure's shape)
KINDS = ("openai", "azure", "together", "fireworks", "compatible", "local")


@pytest.fixture
def env(redis_url, tmp_path) -> dict[str, str]:
    """No model variables at all: each test says where its models are."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("SLACK_", "DISCORD_", "OPENAI_", "REDIS_", "CHAT_", "TRAIN_", "PROVIDERS_")
        )
    }
    env.update(PYTHONPATH=str(ROOT), REDIS_URL=redis_url, DATA_DIR=str(tmp_path / "data"))
    return env


def closed_url() -> str:
    """An address nothing listens on: connections are refused at once."""
    return f"http://127.0.0.1:{free_port()}/v1"


def providers_file(tmp_path: Path, text: str, name: str = "providers.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


async def run(env: dict[str, str], file: Path | None, *args: str, **variables: str):
    """`python -m bot providers` (or `args`) with PROVIDERS_FILE=file; (code, out, err)."""
    env = {**env, **variables}
    if file is not None:
        env["PROVIDERS_FILE"] = str(file)
    return await bot(env, *(args or ("providers",)), cwd=Path(env["DATA_DIR"]).parent)


def configuration_error(code: int, out: str, err: str) -> str:
    """The one line an operator reads when the configuration is wrong."""
    assert code == 1, (code, out, err)
    assert "Traceback" not in out + err, err
    assert out == "", out
    [line] = err.strip().splitlines()
    assert line.startswith("Configuration error: "), line
    return line


def line_number(message: str, path: Path) -> int:
    found = re.search(rf"{re.escape(str(path))} line (\d+)", message)
    assert found, message
    return int(found.group(1))


GOOD_OPENAI = """\
[providers.openai]
kind = "openai"
api_key_env = "OPENAI_KEY"
chat = true
train = true
"""


# The messages come from bot/providers/config.py; each kind of mistake goes through the command
# line once or twice (about a second per run), and its variants in-process, where the same
# message is raised.


def in_process(tmp_path: Path, text: str, **environ: str) -> tuple[Path, str]:
    """The message read_providers_file gives for `text`, as the command line prints it."""
    path = providers_file(tmp_path, text)
    with pytest.raises(SettingsError) as raised:
        read_providers_file(path, environ)
    return path, f"Configuration error: {raised.value}"


# 1. Not TOML ------------------------------------------------------------------------------------


NOT_TOML = {
    "bare-word": (GOOD_OPENAI + "\n[providers.gpu]\nkind = local\n", 8),
    "table-twice": (GOOD_OPENAI + '\n[providers.openai]\nkind = "openai"\n', 7),
    # tomllib says "at end of document" for these; the message adds where they open.
    "unclosed-string": ('[providers.openai]\nkind = "openai"\napi_key_env = \'OPENAI_KEY\n', 3),
    "unclosed-multiline-string": (
        GOOD_OPENAI + 'models_dir = """/srv\n\n[defaults]\nchat = "openai"\n',
        6,
    ),
    "unclosed-array-after-a-closed-one": (
        '[providers.a]\nkind = "local"\nx = [\n  1,\n]\ny = [1,\n',
        6,
    ),
}


def assert_not_toml(message: str, path: Path, line: int) -> None:
    assert f"PROVIDERS_FILE {path}" in message and "not valid TOML" in message
    assert re.search(rf"\bline {line}\b", message), message


async def test_a_file_that_is_not_toml_is_named_with_the_line(env, tmp_path):
    cases = ["bare-word", "unclosed-string"]
    paths = [providers_file(tmp_path, NOT_TOML[case][0], f"{case}.toml") for case in cases]
    results = await asyncio.gather(*(run(env, path, OPENAI_KEY=SECRET) for path in paths))
    for case, path, result in zip(cases, paths, results, strict=True):
        assert_not_toml(configuration_error(*result), path, NOT_TOML[case][1])


@pytest.mark.parametrize("case", NOT_TOML)
def test_not_toml_variants(tmp_path, case):
    text, line = NOT_TOML[case]
    path, message = in_process(tmp_path, text, OPENAI_KEY=SECRET)
    assert_not_toml(message, path, line)


# 2. Unknown kind --------------------------------------------------------------------------------


UNKNOWN_KIND = {
    "header": (
        GOOD_OPENAI + '\n[providers.gpu]\nkind = "vllm"\nbase_url = "http://vllm:8000/v1"\n',
        7,
    ),
    "quoted-header": (GOOD_OPENAI + '\n[ providers . "gpu" ]\nkind = "vllm"\n', 7),
    "inline-table": (GOOD_OPENAI + '\n[providers]\ngpu = { kind = "vllm" }\n', 8),
    "dotted-keys": ('providers.gpu.kind = "vllm"\n', 1),
    "no-kind-at-all": (GOOD_OPENAI + '\n[providers.gpu]\nbase_url = "http://x/v1"\n', 7),
}


def assert_unknown_kind(message: str, path: Path, line: int) -> None:
    assert line_number(message, path) == line
    assert all(kind in message for kind in KINDS), message


async def test_an_unknown_kind_names_the_line_and_the_known_kinds(env, tmp_path):
    text, line = UNKNOWN_KIND["header"]
    path = providers_file(tmp_path, text)
    message = configuration_error(*await run(env, path, OPENAI_KEY=SECRET))
    assert_unknown_kind(message, path, line)
    assert "'vllm'" in message


@pytest.mark.parametrize("case", UNKNOWN_KIND)
def test_unknown_kind_variants(tmp_path, case):
    text, line = UNKNOWN_KIND[case]
    path, message = in_process(tmp_path, text, OPENAI_KEY=SECRET)
    assert_unknown_kind(message, path, line)


# 3. api_key_env naming a variable that is unset -------------------------------------------------


async def test_an_unset_key_variable_is_named_with_its_provider(env, tmp_path):
    path = providers_file(
        tmp_path,
        GOOD_OPENAI + '\n[providers.gpu]\nkind = "local"\nbase_url = "http://vllm:8000/v1"\n'
        'api_key_env = "VLLM_API_KEY"\n',
    )
    values = [{}, {"VLLM_API_KEY": ""}, {"VLLM_API_KEY": "   "}]  # unset, empty, blank
    results = await asyncio.gather(
        *(run(env, path, OPENAI_KEY=SECRET, **value) for value in values)
    )
    for result in results:
        message = configuration_error(*result)
        assert "VLLM_API_KEY" in message and "is not set" in message
        assert "providers.gpu" in message and line_number(message, path) == 7
        assert SECRET not in message


# 4. [defaults] ----------------------------------------------------------------------------------


TWO = (
    GOOD_OPENAI
    + """
[providers.gpu]
kind = "local"
base_url = "http://vllm:8000/v1"
chat = true
train = false
"""
)
CAN_CHAT_ONLY = TWO.replace("chat = true\ntrain = false", "chat = false\ntrain = true")
DEFAULTS = {  # [defaults] is line 13; what the message must say
    "chat-unknown": (TWO, 'chat = "claude"', ["chat", "claude", "openai", "gpu"]),
    "train-unknown": (TWO, 'train = "together"', ["train", "together"]),
    "train-cannot": (TWO, 'train = "gpu"', ["train", "gpu", "train = false"]),
    "chat-fine-train-cannot": (TWO, 'chat = "openai"\ntrain = "gpu"', ["gpu", "train = false"]),
    "chat-cannot": (CAN_CHAT_ONLY, 'chat = "gpu"', ["chat", "gpu", "chat = false"]),
}


def assert_defaults(message: str, path: Path, said: list[str]) -> None:
    assert line_number(message, path) == 13  # [defaults]
    assert all(word in message for word in said), message


async def test_defaults_name_a_provider_that_can_do_it(env, tmp_path):
    cases = ["chat-unknown", "train-cannot"]
    paths = [
        providers_file(tmp_path, f"{DEFAULTS[case][0]}\n[defaults]\n{DEFAULTS[case][1]}\n", case)
        for case in cases
    ]
    results = await asyncio.gather(*(run(env, path, OPENAI_KEY=SECRET) for path in paths))
    for case, path, result in zip(cases, paths, results, strict=True):
        assert_defaults(configuration_error(*result), path, DEFAULTS[case][2])


@pytest.mark.parametrize("case", DEFAULTS)
def test_defaults_variants(tmp_path, case):
    text, defaults, said = DEFAULTS[case]
    path, message = in_process(tmp_path, f"{text}\n[defaults]\n{defaults}\n", OPENAI_KEY=SECRET)
    assert_defaults(message, path, said)


# 5. A file that isn't there ---------------------------------------------------------------------


async def test_a_providers_file_that_does_not_exist_is_named(env, tmp_path):
    path = tmp_path / "nowhere" / "providers.toml"
    message = configuration_error(*await run(env, path))
    assert f"PROVIDERS_FILE {path}" in message and "No such file" in message


async def test_a_directory_or_an_empty_providers_file_is_said_plainly(env, tmp_path):
    directory, empty = await asyncio.gather(run(env, tmp_path), run(env, None, PROVIDERS_FILE=""))
    message = configuration_error(*directory)
    assert f"PROVIDERS_FILE {tmp_path}" in message and "directory" in message
    assert "PROVIDERS_FILE is empty" in configuration_error(*empty)


# 6. Keys never printed --------------------------------------------------------------------------


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text and HEX_SECRET not in text, text
        assert "Traceback" not in text, text


async def test_a_key_is_never_printed(env, tmp_path, openai_fake):
    openai_fake.api_key = SECRET
    reachable = providers_file(
        tmp_path,
        f'[providers.openai]\nkind = "openai"\nbase_url = "{openai_fake.base_url}"\n'
        'api_key_env = "OPENAI_KEY"\ntrain = true\n',
        "reachable.toml",
    )
    unreachable = providers_file(
        tmp_path,
        f'[providers.openai]\nkind = "openai"\nbase_url = "{closed_url()}"\n'
        'api_key_env = "OPENAI_KEY"\ntrain = true\n',
        "unreachable.toml",
    )
    runs = [
        (name, command)
        for name in ("reachable", "unreachable")
        for command in (("providers",), ("providers", "--json"), ("finetune", "providers"))
    ]
    files = {"reachable": reachable, "unreachable": unreachable}
    results = await asyncio.gather(
        *(run(env, files[name], *command, OPENAI_KEY=SECRET) for name, command in runs)
    )
    for (code, out, err), what in zip(results, runs, strict=True):
        assert code == 0, (what, err)
        assert_no_secret(out, err)
    outputs = {what: out for what, (_, out, _) in zip(runs, results, strict=True)}
    assert "; reachable" in outputs["reachable", ("providers",)]
    assert "gpt-4o-mini" in outputs["reachable", ("providers", "--json")]
    assert "; unreachable" in outputs["unreachable", ("providers",)]
    assert "did not answer" in outputs["unreachable", ("finetune", "providers")]

    # A wrong key: the provider refuses, and the variable is named, never its value.
    openai_fake.api_key = "sk-the-right-one"
    code, out, err = await run(env, reachable, OPENAI_KEY=SECRET)
    assert code == 0 and "HTTP 401" in out and "OPENAI_KEY" in out
    assert_no_secret(out, err)


async def test_a_key_pasted_as_api_key_env_is_refused_without_repeating_it(env, tmp_path):
    pasted = [SECRET, HEX_SECRET, f"{HEX_SECRET}=="]  # a prefix; none, and a valid name; neither
    paths = [
        providers_file(
            tmp_path,
            f'[providers.azure]\nkind = "azure"\nbase_url = "https://x.openai.azure.com"\n'
            f'api_key_env = "{key}"\n',
            f"pasted-{number}.toml",
        )
        for number, key in enumerate(pasted)
    ]
    results = await asyncio.gather(*(run(env, path) for path in paths))
    for path, (code, out, err) in zip(paths, results, strict=True):
        message = configuration_error(code, out, err)
        assert_no_secret(out, err)
        assert line_number(message, path) == 1 and "api_key_env" in message


async def test_a_key_in_the_legacy_variables_is_never_printed(env, tmp_path):
    code, out, err = await run(env, None, OPENAI_API_KEY=SECRET, OPENAI_BASE_URL=closed_url())
    assert code == 0, err
    assert "; unreachable" in out
    assert_no_secret(out, err)


# 7. Two providers listed ------------------------------------------------------------------------


async def test_providers_lists_each_with_what_it_can_do_and_its_models(env, tmp_path, openai_fake):
    # The fake lists `shutdown_date` per model in GET /v1/models.
    openai_fake.shutdown_dates = {"gpt-4o-mini": "2026-09-30"}
    openai_fake.models = {"gpt-4o-mini", "gpt-4.1-mini-2025-04-14"}
    gone = closed_url()
    path = providers_file(
        tmp_path,
        f"""\
[providers.openai]
kind = "openai"
base_url = "{openai_fake.base_url}"
api_key_env = "OPENAI_KEY"
chat = true
train = true

[providers.gpu]
kind = "compatible"
base_url = "{gone}"
chat = true
train = false

[defaults]
chat = "gpu"
train = "openai"
""",
    )
    (code, out, err), as_json = await asyncio.gather(
        run(env, path, OPENAI_KEY=openai_fake.api_key),
        run(env, path, "providers", "--json", OPENAI_KEY=openai_fake.api_key),
    )
    assert code == as_json[0] == 0 and "Traceback" not in err + as_json[2], err
    lines = out.splitlines()
    assert lines[0] == f"Providers ({path}):"
    [openai_line] = [line for line in lines if line.startswith("• openai:")]
    [gpu_line] = [line for line in lines if line.startswith("• gpu:")]
    assert "(openai)" in openai_line and "chat and train" in openai_line
    assert "default for train" in openai_line and openai_line.endswith("; reachable")
    assert re.search(r"\(compatible\), chat, default for chat; unreachable$", gpu_line), gpu_line
    # The reachable one's models, with the dates they shut down; where the other did not answer.
    assert "    gpt-4o-mini: shuts down 2026-09-30" in lines
    assert "2 models listed, 1 with no shutdown date" in out
    assert "did not answer (APIConnectionError); check its base_url in" in out
    assert gone.rstrip("/") not in out  # anyone may ask; the address can be an internal host

    listing = json.loads(as_json[1])
    assert listing["source"] == str(path)
    views = {view["name"]: view for view in listing["providers"]}
    assert list(views) == ["openai", "gpu"]
    assert {k: views["openai"][k] for k in ("kind", "chat", "train", "reachable")} == {
        "kind": "openai",
        "chat": True,
        "train": True,
        "reachable": True,
    }
    assert {k: views["gpu"][k] for k in ("kind", "chat", "train", "reachable")} == {
        "kind": "compatible",
        "chat": True,
        "train": False,
        "reachable": False,
    }
    assert sorted(map(tuple, views["openai"]["models"])) == [
        ("gpt-4.1-mini-2025-04-14", None),
        ("gpt-4o-mini", "2026-09-30"),
    ]
    assert views["gpu"]["models"] == []


# 8. The one-provider variables ------------------------------------------------------------------


async def test_without_providers_file_the_openai_variables_make_one_provider(
    env, tmp_path, openai_fake
):
    code, out, err = await run(
        env, None, OPENAI_API_KEY=openai_fake.api_key, OPENAI_BASE_URL=openai_fake.base_url
    )
    assert code == 0 and "Traceback" not in err, err
    lines = out.splitlines()
    assert lines[0] == "Providers (the environment):"
    [provider] = [line for line in lines if line.startswith("• ")]
    assert provider.startswith("• openai:") and "(openai)" in provider
    assert "chat and train" in provider and "default for chat and train" in provider
    assert provider.endswith("; reachable")


async def test_the_same_listing_from_finetune_providers(env, tmp_path, openai_fake):
    variables = {"OPENAI_API_KEY": openai_fake.api_key, "OPENAI_BASE_URL": openai_fake.base_url}
    first, second = await asyncio.gather(
        run(env, None, "providers", **variables),
        run(env, None, "finetune", "providers", **variables),
    )
    assert first[0] == second[0] == 0 and first[1] == second[1]
