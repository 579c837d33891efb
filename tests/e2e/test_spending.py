"""Spending has limits: a per-person rate of model calls, a cap on every answer's tokens, a daily
budget, and comparisons from non-admins only of models the bot knows."""

from __future__ import annotations

import json
from datetime import date

from tests.e2e.test_compare import TUNED, answers_by_model, said
from tests.e2e.test_core_loop import bot_replies, settle
from tests.e2e.test_finetune import command, eventually


async def test_one_person_flooding_the_bot_gets_a_calm_sentence_and_no_more_model_calls(
    start_bot, slack, openai_fake
):
    bot = await start_bot(chat_rate_per_minute=3)
    for i in range(8):
        await bot.mention(f"flood {i}", user="UMALLORY")
    await eventually(lambda: said(slack, "as often as I answer one person"))
    await eventually(lambda: len(bot_replies(slack)) >= 4)
    await settle()
    assert len(openai_fake.chat_requests) == 3
    assert len(said(slack, "as often as I answer one person")) == 1  # said once, not 5 times

    # Someone else is answered as usual.
    await bot.mention("my turn", user="UBOB")
    await eventually(lambda: len(openai_fake.chat_requests) == 4)


async def test_every_model_call_caps_the_answer_in_the_words_its_provider_takes(
    start_bot, slack, openai_fake
):
    openai_fake.reply = answers_by_model
    bot = await start_bot(reply_max_tokens=300, compare_judge_model="gpt-4o-mini")
    await bot.mention("short please")
    await eventually(lambda: openai_fake.chat_requests)
    await command(bot, slack, f"compare model={TUNED} the tide?")
    # The chat call, both answers of the comparison and the judge.
    await eventually(lambda: len(openai_fake.chat_requests) == 4)
    assert all(r.get("max_completion_tokens") == 300 for r in openai_fake.chat_requests)
    assert not any("max_tokens" in r for r in openai_fake.chat_requests)

    # An OpenAI-compatible server (CHAT_BASE_URL) gets the older `max_tokens`.
    other = await start_bot(
        redis_prefix="other", chat_base_url=openai_fake.base_url, chat_api_key="sk-test"
    )
    await other.mention("and you?")
    await eventually(lambda: len(openai_fake.chat_requests) == 5)
    assert openai_fake.chat_requests[-1]["max_tokens"] == 1024  # REPLY_MAX_TOKENS' default


async def test_the_daily_budget_stops_model_calls_says_so_once_and_resets_the_next_day(
    start_bot, slack, openai_fake
):
    openai_fake.reply = "A long pirate answer, " * 10
    bot = await start_bot(chat_budget_daily="150 tokens")
    bot.services.clock.set_today(date(2026, 12, 7))
    await bot.mention("first")
    await bot.mention("second")
    await eventually(lambda: len(bot_replies(slack)) == 2)
    status = await command(bot, slack, "status", user="UALICE")
    assert "spent today: $0.00" in status and "of the daily budget 150 tokens" in status, status

    calls = len(openai_fake.chat_requests)
    await bot.mention("third", user="UALICE")
    await bot.mention("fourth", user="UALICE")
    await eventually(lambda: said(slack, "today's budget for model calls"))
    await settle()
    assert len(openai_fake.chat_requests) == calls
    assert len(said(slack, "today's budget for model calls")) == 1

    bot.services.clock.set_today(date(2026, 12, 8))
    await bot.mention("a new day")
    await eventually(lambda: len(openai_fake.chat_requests) == calls + 1)


async def test_a_dollar_budget_counts_at_the_model_tables_prices(start_bot, slack, openai_fake):
    openai_fake.reply = "Arr! " * 200
    bot = await start_bot(chat_budget_daily="$0.0005")  # gpt-4.1-mini: $0.40 / $1.60 per 1M
    await bot.mention("how much?")
    await eventually(lambda: len(bot_replies(slack)) == 1)
    spent = await bot.services.commands.status()
    assert "spent today: $0.00" in spent.spend and "of the daily budget $0.00" in spent.spend
    assert (await bot.services.spending.today()).usd > 0.0005
    await bot.mention("and more?")
    await eventually(lambda: said(slack, "today's budget for model calls ($0.00"))


async def test_non_admins_compare_only_models_the_bot_knows(start_bot, slack, openai_fake):
    openai_fake.reply = answers_by_model
    bot = await start_bot()
    answer = await command(bot, slack, "compare model=gpt-4o-2024-08-06 pay for me", user="UALICE")
    assert "I only compare models I have used or trained" in answer
    await settle()
    assert openai_fake.chat_requests == []

    # A model the bot used is fine for anyone; any model is fine for an admin.
    openai_fake.models.add(TUNED)
    await command(bot, slack, f"use {TUNED}")
    answer = await command(bot, slack, "compare model=gpt-4.1-mini which?", user="UALICE")
    assert "Both answers are posted" in answer, answer
    answer = await command(bot, slack, "compare model=gpt-4o-2024-08-06 which?")
    assert "Both answers are posted" in answer, answer


async def test_a_compare_prompt_is_redacted_before_it_is_stored_or_sent(
    start_bot, slack, openai_fake
):
    openai_fake.reply = answers_by_model
    bot = await start_bot()
    card = "4111 1111 1111 1111"
    await command(bot, slack, f"compare model={TUNED} my card is {card}, which plan?")
    await eventually(lambda: len(openai_fake.chat_requests) == 2)
    assert all(card not in str(r["messages"]) for r in openai_fake.chat_requests)
    # The pair posted for people to pick shows the prompt as stored: redacted.
    posted = [m for m in slack.messages.values() if "which plan?" in json.dumps(m.blocks or [])]
    assert posted and all(card not in json.dumps(m.blocks) for m in posted)
    assert any("[card]" in json.dumps(m.blocks) for m in posted)
