"""Several providers at once, from a PROVIDERS_FILE: chat on one, a job on another, a comparison
across them, the swap, `use` and rollback across them, all in one running bot; the provider
list; a model its provider switched off; and the errors a wrong provider gets."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from tests.e2e.test_backends import LLAMA
from tests.e2e.test_compare import answers_by_model, pair_messages, shown
from tests.e2e.test_core_loop import bot_replies, replies
from tests.e2e.test_finetune import ADMIN, FAST, announcements, command, eventually, seed_examples

BASE = "gpt-4.1-mini-2025-04-14"
TUNED = f"ft:{BASE}:acme::tuned"


def openai_provider(openai_fake, *, train: bool = True) -> str:
    """The `[providers.openai]` table of a PROVIDERS_FILE, pointing at the OpenAI stand-in."""
    return f"""
[providers.openai]
kind = "openai"
base_url = "{openai_fake.base_url}"
api_key_env = "OPENAI_API_KEY"
chat = true
train = {str(train).lower()}
"""


def providers_file(tmp_path: Path, openai_fake, together, *, train: str = "openai") -> Path:
    path = tmp_path / "providers.toml"
    path.write_text(
        openai_provider(openai_fake)
        + f"""
[providers.together]
kind = "together"
base_url = "{together.base_url}"
api_key_env = "TOGETHER_API_KEY"
chat = true
train = true

[defaults]
chat = "openai"
train = "{train}"
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def two_providers(tmp_path, openai_fake, together, monkeypatch) -> Path:
    monkeypatch.setenv("OPENAI_API_KEY", openai_fake.api_key)
    monkeypatch.setenv("TOGETHER_API_KEY", together.api_key)
    openai_fake.reply = answers_by_model
    return providers_file(tmp_path, openai_fake, together)


async def ask(bot, slack, question: str) -> str:
    before = len(bot_replies(slack))
    await bot.mention(question)
    return (await replies(slack, before + 1))[before].text.strip()


async def test_chat_on_openai_train_on_together_compare_swap_use_and_roll_back_across_them(
    start_bot, slack, openai_fake, together, two_providers
):
    bot = await start_bot(providers_file=two_providers, chat_model=BASE, **FAST)
    await seed_examples(bot, slack, 10)
    assert openai_fake.chat_requests and not together.chat_requests  # chat on the default

    # A job on the other provider, named in the command; OpenAI trains nothing.
    answer = await command(bot, slack, f"start provider=together model={LLAMA}")
    assert "with Together AI" in answer, answer
    assert not openai_fake.job_requests
    job = together.latest_job()
    assert job["model"] == LLAMA
    together.set_job(job["id"], "completed", token_count=1000)
    [announced] = await eventually(lambda: announcements(slack))
    tuned = job["model_output_name"]
    assert tuned in announced

    # The tuned model answers from Together, without a restart.
    assert await ask(bot, slack, "where now?") == f"Answer from {tuned}"
    assert together.chat_requests[-1]["model"] == tuned

    # A comparison across the two: each side asked where it is served.
    asked_openai = len(openai_fake.chat_requests)
    await command(bot, slack, f"compare model={BASE} provider=openai the tide?", user="UALICE")
    [pair] = await eventually(lambda: pair_messages(slack))
    assert sorted(shown(pair).values()) == sorted([f"Answer from {BASE}", f"Answer from {tuned}"])
    assert openai_fake.chat_requests[asked_openai]["model"] == BASE

    # Rollback crosses back to OpenAI; `use` crosses to Together again.
    rolled = await command(bot, slack, "rollback")
    assert f"to `{BASE}` on OpenAI" in rolled, rolled
    assert await ask(bot, slack, "and back?") == f"Answer from {BASE}"
    used = await command(bot, slack, f"use {tuned} provider=together")
    assert "on Together AI" in used, used
    assert await ask(bot, slack, "and again?") == f"Answer from {tuned}"

    # `models` shows where each lives.
    models = await command(bot, slack, "models")
    assert tuned in models and BASE in models


async def test_a_job_is_followed_where_it_started_after_the_default_moves(
    start_bot, slack, openai_fake, together, two_providers, tmp_path
):
    bot = await start_bot(providers_file=two_providers, chat_model=BASE, **FAST)
    await seed_examples(bot, slack, 10)
    assert "Started fine-tuning job" in await command(bot, slack, "start")
    job_id = openai_fake.latest_job()["id"]
    await bot.stop()

    # The operator makes Together the default trainer and restarts; the OpenAI job goes on.
    moved = providers_file(tmp_path, openai_fake, together, train="together")
    bot = await start_bot(providers_file=moved, chat_model=BASE, **FAST)
    openai_fake.set_job(job_id, "succeeded", trained_tokens=1000, fine_tuned_model=TUNED)
    await eventually(lambda: announcements(slack))
    assert (await bot.services.models.active()).model == TUNED
    assert await ask(bot, slack, "tuned?") == f"Answer from {TUNED}"


async def test_the_provider_list_shows_each_provider_what_it_does_and_shutdown_dates(
    start_bot, slack, openai_fake, together, two_providers
):
    openai_fake.shutdown_dates[BASE] = "2027-01-14"
    bot = await start_bot(providers_file=two_providers, chat_model=BASE, **FAST)
    listing = await command(bot, slack, "providers", user="UALICE")
    assert "`openai`: OpenAI (openai), chat and train, default for chat and train; reachable" in (
        listing
    ), listing
    assert "`together`: Together AI (together), chat and train; reachable" in listing
    assert f"`{BASE}`: shuts down 2027-01-14" in listing
    # The keys never show.
    assert openai_fake.api_key not in listing and together.api_key not in listing


async def test_the_status_warns_of_the_active_models_shutdown_with_the_days_left(
    start_bot, slack, openai_fake, two_providers
):
    openai_fake.shutdown_dates[BASE] = "2027-01-14"
    bot = await start_bot(providers_file=two_providers, chat_model=BASE, **FAST)
    bot.services.clock.set_today(date(2026, 12, 25))
    status = await command(bot, slack, "status", user="UALICE")
    assert f"`{BASE}` on OpenAI shuts down on 2027-01-14 (in 20 days)" in status, status

    # Further off than MIGRATION_WARNING_DAYS, a configured model within 60 days is still named.
    bot.services.clock.set_today(date(2026, 12, 7))
    status = await command(bot, slack, "status", user="UALICE")
    assert "shuts down on" not in status
    assert f"CHAT_MODEL `{BASE}` on 2027-01-14 (38 days from now)" in status, status


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("start provider=nowhere", "`nowhere`"),
        ("use some-model provider=nowhere", "`nowhere`"),
        ("compare model=x provider=nowhere hi", "`nowhere`"),
        (f"start provider=together model={BASE}", BASE),
    ],
)
async def test_a_provider_or_model_that_does_not_fit_gets_a_clear_refusal_and_nothing_starts(
    start_bot, slack, openai_fake, together, two_providers, text, expected
):
    bot = await start_bot(providers_file=two_providers, chat_model=BASE, **FAST)
    await seed_examples(bot, slack, 10)
    answer = await command(bot, slack, text)
    assert expected in answer, answer
    if "nowhere" in text:
        assert "openai" in answer and "together" in answer, answer  # the names it knows
    assert not openai_fake.job_requests and not together.job_requests
    assert await bot.services.models.active() is None


async def test_a_provider_that_only_chats_is_not_asked_to_train(
    start_bot, slack, openai_fake, tmp_path, monkeypatch
):
    monkeypatch.setenv("OPENAI_API_KEY", openai_fake.api_key)
    path = tmp_path / "providers.toml"
    path.write_text(openai_provider(openai_fake, train=False), encoding="utf-8")
    bot = await start_bot(providers_file=path, chat_model=BASE, **FAST)
    await seed_examples(bot, slack, 10)
    answer = await command(bot, slack, "start provider=openai")
    assert answer.startswith("Provider `openai` is not configured to train"), answer
    assert not openai_fake.job_requests


async def test_the_bot_sends_the_configured_temperature(start_bot, slack, openai_fake):
    bot = await start_bot(chat_temperature=0)
    await ask(bot, slack, "steady?")
    assert openai_fake.chat_requests[-1]["temperature"] == 0
    other = await start_bot(redis_prefix="other")
    await ask(other, slack, "free?")
    assert "temperature" not in openai_fake.chat_requests[-1]


async def test_after_a_shutdown_the_newest_model_that_still_serves_answers_and_it_is_said_once(
    start_bot, slack, openai_fake, together, two_providers
):
    bot = await start_bot(
        providers_file=two_providers, chat_model=BASE, job_channel="slack:CJOBS", **FAST
    )
    # History: the base, then a Together model, then the OpenAI fine-tune now in use.
    together.served_models.add("acme/llama-tuned")
    await command(bot, slack, "use acme/llama-tuned provider=together")
    openai_fake.models.add(TUNED)
    await command(bot, slack, f"use {TUNED} provider=openai")
    assert await ask(bot, slack, "tuned?") == f"Answer from {TUNED}"

    openai_fake.shut_down(TUNED)
    # Every mention is answered, by the newest model in the history that still serves.
    assert await ask(bot, slack, "still there?") == "Answer from acme/llama-tuned"
    assert await ask(bot, slack, "and now?") == "Answer from acme/llama-tuned"
    active = await bot.services.models.active()
    assert (active.model, active.provider) == ("acme/llama-tuned", "together")

    notices = [
        c.params["text"]
        for c in slack.calls_to("chat.postMessage")
        if c.params["channel"] == "CJOBS" and "stopped answering" in c.params["text"]
    ]
    assert len(notices) == 1, notices
    assert TUNED in notices[0] and "acme/llama-tuned" in notices[0]
    assert "/finetune migrate" in notices[0]


async def test_a_model_whose_provider_left_the_configuration_is_not_lost(
    start_bot, slack, openai_fake, together, two_providers, tmp_path
):
    bot = await start_bot(providers_file=two_providers, chat_model=BASE, **FAST)
    together.served_models.add("acme/llama-tuned")
    await command(bot, slack, "use acme/llama-tuned provider=together")
    await bot.stop()

    # Together is taken out of the file: the bot still answers (with the configured model) and
    # says why; the history keeps the Together model for when it comes back.
    only_openai = tmp_path / "only-openai.toml"
    only_openai.write_text(
        two_providers.read_text().split("[providers.together]")[0]
        + '[defaults]\nchat = "openai"\ntrain = "openai"\n',
        encoding="utf-8",
    )
    bot = await start_bot(providers_file=only_openai, chat_model=BASE, **FAST)
    assert await ask(bot, slack, "who answers?") == f"Answer from {BASE}"
    answer = await command(bot, slack, "use acme/llama-tuned provider=together")
    assert answer.startswith("`together` is not a configured provider"), answer
    history = [swap.model for swap in await bot.services.models.history(limit=10)]
    assert "acme/llama-tuned" in history


async def test_an_admin_picks_the_provider_in_the_home_start_form(
    start_bot, slack, openai_fake, together, two_providers
):
    bot = await start_bot(providers_file=two_providers, chat_model=BASE, **FAST)
    await seed_examples(bot, slack, 10)
    await bot.press_home_button("home_start", user=ADMIN)
    form = (await slack.wait_for("views.update")).params["view"]
    assert "Train on" in json.dumps(form)

    # A model the chosen provider does not train is shown at its field; nothing starts.
    mismatch = {"provider": "together", "model": BASE, "method": "supervised"}
    answer = await bot.submit_view(form, {}, user=ADMIN, selected=mismatch)
    assert answer["response_action"] == "errors" and BASE in answer["errors"]["model"]
    assert not together.job_requests and not openai_fake.job_requests

    chosen = {"provider": "together", "model": LLAMA, "method": "supervised"}
    assert await bot.submit_view(form, {}, user=ADMIN, selected=chosen) is None
    await eventually(lambda: together.job_requests)
    assert together.job_requests[0]["model"] == LLAMA and not openai_fake.job_requests
