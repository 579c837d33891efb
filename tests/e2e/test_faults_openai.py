"""OpenAI failing while answering chat: an apology in the thread, nothing recorded, safe retries."""

from __future__ import annotations

import pytest

from bot.conversation.chat import MODEL_ERROR_APOLOGY
from tests.e2e.harness import CHANNEL, slack_message
from tests.e2e.test_core_loop import bot_replies, replies, settle

# The SDK waits this long before a retry when told to; keeps the retried cases fast.
RETRY_SOON = {"retry-after-ms": "10"}
SDK_ATTEMPTS = 3  # build_openai_client: max_retries=2


async def answer_to(bot, slack, text: str) -> tuple[str, object]:
    before = len(bot_replies(slack))
    thread = await bot.mention(text)
    return thread, (await replies(slack, before + 1, timeout=10))[before]


@pytest.mark.parametrize(
    ("fault", "attempts"),
    [
        pytest.param({"status": 429, "times": SDK_ATTEMPTS, "headers": RETRY_SOON}, 3, id="429"),
        pytest.param({"status": 500, "times": SDK_ATTEMPTS, "headers": RETRY_SOON}, 3, id="500"),
        # A 200 whose JSON is cut off: not an error the SDK retries; one attempt, one apology.
        pytest.param({"status": "malformed"}, 1, id="malformed-json"),
        # A 200 that is JSON but not a completion.
        pytest.param({"status": 200, "body": {"choices": []}}, 1, id="no-choices"),
        # Errors the SDK must not retry: they would fail the same way again.
        pytest.param({"status": 400}, 1, id="400"),
        pytest.param({"status": 401}, 1, id="401"),
    ],
)
async def test_a_failed_model_call_gets_an_apology_and_records_nothing(
    bot, slack, openai_fake, fault, attempts
):
    openai_fake.fail_chat(**fault)
    thread, apology = await answer_to(bot, slack, "what's the weather at sea?")

    assert apology.text == MODEL_ERROR_APOLOGY
    assert apology.thread_ts == thread
    assert len(openai_fake.chat_requests) == attempts
    assert await bot.services.turns.get(slack_message(CHANNEL, apology.ts)) is None
    assert await bot.services.turns.latest_in_thread(slack_message(CHANNEL, thread)) is None

    # Approving the apology adds nothing to the dataset.
    await bot.react(apology.ts)
    await settle()
    assert (await bot.services.examples.stats()).examples == 0

    # The next message in the same thread works, with no trace of the failed exchange.
    before = len(openai_fake.chat_requests)
    await bot.mention("try again", thread_ts=thread)
    answered = (await replies(slack, 2))[1]
    assert answered.text == f"Reply {before + 1}"
    assert [m["role"] for m in openai_fake.chat_requests[-1]["messages"]] == ["system", "user"]


async def test_a_rate_limit_that_clears_is_retried_and_answered(bot, slack, openai_fake):
    openai_fake.fail_chat(429, times=2, headers=RETRY_SOON)
    _, reply = await answer_to(bot, slack, "hello")
    assert reply.text == "Reply 3"  # the third attempt succeeded
    assert len(openai_fake.chat_requests) == 3
    await settle()
    turn = await bot.services.turns.get(slack_message(CHANNEL, reply.ts))
    assert turn is not None and turn.reply == "Reply 3"


async def test_a_model_that_never_answers_in_time_gets_an_apology(start_bot, slack, openai_fake):
    bot = await start_bot(openai_timeout_seconds=0.2)
    openai_fake.reply_delay = 1.0
    _, apology = await answer_to(bot, slack, "are you asleep?")
    assert apology.text == MODEL_ERROR_APOLOGY
    assert len(openai_fake.chat_requests) == SDK_ATTEMPTS  # timeouts are retried by the SDK
    await settle()
    assert await bot.services.turns.get(slack_message(CHANNEL, apology.ts)) is None
