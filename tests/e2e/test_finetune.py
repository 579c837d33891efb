"""Fine-tuning from the chat, end to end: start, follow, swap, fail, cancel, roll back."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import inspect
import json
import time

from tests.e2e.test_core_loop import bot_replies, replies, settle

ADMIN = "UADMIN"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"test-webhook-secret").decode()
FAST = {"job_poll_seconds": 0.1}


async def seed_examples(bot, slack, count: int) -> None:
    """`count` distinct conversations, each approved with a reaction."""
    before = len(bot_replies(slack))
    for i in range(count):
        await bot.mention(f"question number {i}")
    posted = await replies(slack, before + count)
    for reply in posted[before:]:
        await bot.react(reply.ts)
    await settle()
    assert (await bot.services.examples.stats()).examples == count


async def command(bot, slack, text: str, *, user: str = ADMIN) -> str:
    name = f"cmd-{time.monotonic_ns()}"
    await bot.command(text, slack.response_url(name), user=user)
    call = await slack.wait_for("response_url", lambda c: c.params.get("_name") == name, timeout=15)
    return call.params.get("text", "") + json.dumps(call.params.get("blocks", []))


async def eventually(check, timeout: float = 10.0):
    """`check()`'s first truthy result within `timeout` seconds of wall-clock time: a check
    that itself hangs (a command to a dead Redis node) is cut off at the deadline too."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        result = check()
        if inspect.isawaitable(result):
            try:
                result = await asyncio.wait_for(result, left)
            except TimeoutError:
                break
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met in {timeout:g} s")


def announcements(slack) -> list[str]:
    return [
        c.params["text"]
        for c in slack.calls_to("chat.postMessage")
        if "Fine-tuning finished" in c.params.get("text", "")
        or "Fine-tuning job" in c.params.get("text", "")
    ]


async def test_start_trains_follows_and_swaps_to_the_new_model(start_bot, slack, openai_fake):
    bot = await start_bot(**FAST)
    await seed_examples(bot, slack, 10)

    answer = await command(bot, slack, "start suffix=pirate")
    assert "Started fine-tuning job" in answer
    [request] = openai_fake.job_requests
    assert request["model"] == "gpt-4.1-mini-2025-04-14"
    assert request["suffix"] == "pirate"
    assert (
        request["method"]["supervised"]["hyperparameters"]["n_epochs"] == 10
    )  # cookbook heuristic
    assert request["metadata"]["bot"] == bot.settings.redis_prefix
    training = openai_fake.files[request["training_file"]]
    assert training.purpose == "fine-tune"
    lines = [json.loads(line) for line in training.content.decode().splitlines()]
    assert len(lines) == 10 and all(line["messages"][-1]["weight"] == 1 for line in lines)
    job_id = openai_fake.latest_job()["id"]
    # What was uploaded is kept with the job, byte for byte.
    assert await bot.services.jobs.load_export(job_id, "training") == training.content

    status = slack.calls_to("chat.postMessage")[-1]
    assert "Est. cost" in json.dumps(status.params["blocks"])
    openai_fake.set_job(job_id, "running")
    openai_fake.add_job_event(
        job_id, "Step 5/20", type="metrics", data={"step": 5, "total_steps": 20, "train_loss": 0.42}
    )

    def shows_step_5(call) -> bool:
        return "25% (step 5 of 20)" in json.dumps(call.params.get("blocks"))

    update = await slack.wait_for("chat.update", shows_step_5, timeout=10)
    assert update.params["ts"] == status.response["ts"]

    openai_fake.set_job(job_id, "succeeded", trained_tokens=12345)
    tuned = openai_fake.latest_job()["fine_tuned_model"]
    await eventually(lambda: announcements(slack))
    [announcement] = announcements(slack)
    assert tuned in announcement and "12,345" in announcement

    await bot.mention("and now?")
    await eventually(lambda: openai_fake.chat_requests[-1]["messages"][-1]["content"] == "and now?")
    assert openai_fake.chat_requests[-1]["model"] == tuned
    assert tuned in await command(bot, slack, "status")


async def test_a_non_admin_start_spends_nothing(bot, slack, openai_fake):
    await seed_examples(bot, slack, 10)
    for text in ("start", "cancel", "use gpt-4o-mini", "rollback"):
        assert "Only fine-tune admins" in await command(bot, slack, text, user="UALICE")
    assert openai_fake.files == {} and openai_fake.job_requests == []


async def test_two_admins_starting_together_start_one_job(start_bot, slack, openai_fake):
    bot = await start_bot(finetune_admins="UADMIN,UADMIN2")
    await seed_examples(bot, slack, 10)
    answers = await asyncio.gather(
        command(bot, slack, "start"), command(bot, slack, "start", user="UADMIN2")
    )
    assert sum("Started fine-tuning job" in a for a in answers) == 1
    assert any("already" in a or "being started" in a for a in answers)
    assert len(openai_fake.job_requests) == 1


async def test_too_few_examples_are_refused_with_how_many_more(bot, slack, openai_fake):
    await seed_examples(bot, slack, 3)
    answer = await command(bot, slack, "start")
    assert "7 more" in answer
    assert openai_fake.files == {}


async def test_a_closed_fine_tuning_organisation_is_told_plainly(bot, slack, openai_fake):
    await seed_examples(bot, slack, 10)
    openai_fake.refuse_training = True
    answer = await command(bot, slack, "start")
    assert "no longer accepts new fine-tuning jobs" in answer
    assert openai_fake.jobs == {}
    openai_fake.refuse_training = False
    assert "Started fine-tuning job" in await command(bot, slack, "start")  # lock was released


async def test_bad_start_arguments_get_a_reason_and_the_usage(bot, slack, openai_fake):
    for text, reason in [
        ("start epochs=0", "epochs must be a whole number"),
        ("start epochs=three", "epochs must be a whole number"),
        ("start colour=blue", "`colour` is not an option"),
        ("start model=gpt-9-ultra", "not a model I can fine-tune"),
        ("start suffix=has/slash", "suffix must be"),
        ("start holdout=0.9", "holdout must be"),
    ]:
        answer = await command(bot, slack, text)
        assert reason in answer and "Usage:" in answer, text
    assert openai_fake.files == {}


async def test_a_failed_job_is_reported_and_the_model_stays(start_bot, slack, openai_fake):
    bot = await start_bot(**FAST)
    await seed_examples(bot, slack, 10)
    await command(bot, slack, "start")
    job_id = openai_fake.latest_job()["id"]
    openai_fake.set_job(job_id, "failed", error="Training file has invalid lines")
    [announcement] = await eventually(lambda: announcements(slack))
    assert "failed" in announcement and "invalid lines" in announcement
    assert bot.settings.chat_model in await command(bot, slack, "status")


async def test_cancel_stops_the_job_and_says_so(start_bot, slack, openai_fake):
    bot = await start_bot(**FAST)
    await seed_examples(bot, slack, 10)
    await command(bot, slack, "start")
    job_id = openai_fake.latest_job()["id"]
    assert "cancel" in await command(bot, slack, "cancel")
    assert openai_fake.jobs[job_id]["status"] == "cancelled"
    [announcement] = await eventually(lambda: announcements(slack))
    assert "cancelled" in announcement
    assert "No fine-tuning job is running" in await command(bot, slack, "cancel")


async def test_a_job_openai_no_longer_knows_is_reported_once(start_bot, slack, openai_fake):
    bot = await start_bot(**FAST)
    await seed_examples(bot, slack, 10)
    await command(bot, slack, "start")
    openai_fake.forget_job(openai_fake.latest_job()["id"])
    [announcement] = await eventually(lambda: announcements(slack))
    assert "no longer knows" in announcement
    await asyncio.sleep(0.5)
    assert len(announcements(slack)) == 1


def signed_webhook(job_id: str, status: str, secret: str = WEBHOOK_SECRET) -> tuple[str, dict]:
    body = json.dumps(
        {
            "id": "evt_1",
            "object": "event",
            "created_at": int(time.time()),
            "type": f"fine_tuning.job.{status}",
            "data": {"id": job_id},
        }
    )
    webhook_id, timestamp = "wh_1", str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        "Content-Type": "application/json",
    }
    return body, headers


async def test_a_signed_webhook_swaps_at_once_and_a_forged_one_changes_nothing(
    start_bot, slack, openai_fake
):
    bot = await start_bot(openai_webhook_secret=WEBHOOK_SECRET, job_poll_seconds=3600)
    await seed_examples(bot, slack, 10)
    await command(bot, slack, "start")
    job_id = openai_fake.latest_job()["id"]
    openai_fake.set_job(job_id, "succeeded", trained_tokens=99)

    forged_body, headers = signed_webhook(job_id, "succeeded", secret="whsec_" + "A" * 24)
    async with bot.session.post(
        f"{bot.url}/openai/webhook", data=forged_body, headers=headers
    ) as r:
        assert r.status == 400
    async with bot.session.post(
        f"{bot.url}/openai/webhook", data=forged_body, headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 400
    await settle()
    assert announcements(slack) == []

    body, headers = signed_webhook(job_id, "succeeded")
    async with bot.session.post(f"{bot.url}/openai/webhook", data=body, headers=headers) as r:
        assert r.status == 200
    assert (await bot.services.models.active()).model == openai_fake.latest_job()[
        "fine_tuned_model"
    ]
    assert len(announcements(slack)) == 1


async def test_two_processes_share_one_watcher_and_both_swap(start_bot, slack, openai_fake):
    first = await start_bot(job_poll_seconds=0.2)
    second = await start_bot(job_poll_seconds=0.2)
    await seed_examples(first, slack, 10)
    await command(first, slack, "start")
    job_id = openai_fake.latest_job()["id"]

    holders = {b: b.services.watcher.holder for b in (first, second)}
    await asyncio.sleep(0.5)
    keys = first.services.jobs._keys
    owner = await first.services.redis.get(keys.watcher_lease)
    assert owner in holders.values()
    holder = first if owner == holders[first] else second
    other = second if holder is first else first

    # The holder dies without handing over; the other takes over once the lease expires.
    for _, task in holder.watchers:
        task.cancel()
    holder.watchers.clear()
    await eventually(lambda: _owner_is(first, keys, holders[other]), timeout=5)

    openai_fake.set_job(job_id, "succeeded")
    tuned = openai_fake.latest_job()["fine_tuned_model"]
    await eventually(lambda: announcements(slack))
    await asyncio.sleep(0.5)
    assert len(announcements(slack)) == 1
    for bot in (first, second):
        await bot.mention(f"hello from {id(bot)}")
        await eventually(
            lambda b=bot: (
                openai_fake.chat_requests[-1]["messages"][-1]["content"] == f"hello from {id(b)}"
            )
        )
        assert openai_fake.chat_requests[-1]["model"] == tuned


async def _owner_is(bot, keys, holder: str) -> bool:
    return await bot.services.redis.get(keys.watcher_lease) == holder


async def test_rollback_and_use_switch_the_model_back_for_the_next_reply(
    start_bot, slack, openai_fake
):
    bot = await start_bot(**FAST)
    await seed_examples(bot, slack, 10)
    await command(bot, slack, "start")
    job_id = openai_fake.latest_job()["id"]
    openai_fake.set_job(job_id, "succeeded")
    tuned = openai_fake.latest_job()["fine_tuned_model"]
    await eventually(lambda: announcements(slack))

    assert "rolled me back" in await command(bot, slack, "rollback")
    await bot.mention("after rollback")
    await eventually(
        lambda: openai_fake.chat_requests[-1]["messages"][-1]["content"] == "after rollback"
    )
    assert openai_fake.chat_requests[-1]["model"] == bot.settings.chat_model

    models = await command(bot, slack, "models")
    assert tuned in models and job_id in models
    assert "switched me to" in await command(bot, slack, f"use {tuned}")
    assert "don't know the model" in await command(bot, slack, "use ft:gpt-4o:nobody::nothing")
    assert (await bot.services.models.active()).model == tuned


async def test_validate_reports_tokens_and_cost_without_spending(bot, slack, openai_fake):
    await seed_examples(bot, slack, 10)
    report = await command(bot, slack, "validate epochs=2")
    assert "Ready to train" in report and "10 of 10 examples" in report
    assert "*Epochs:* 2" in report and "*Est. cost:* $" in report
    assert openai_fake.files == {}


async def test_the_training_prompt_replaces_the_chat_prompt_after_a_swap(
    start_bot, slack, openai_fake
):
    bot = await start_bot(training_system_prompt="Pirate.", **FAST)
    await seed_examples(bot, slack, 10)
    await command(bot, slack, "start")
    request = openai_fake.job_requests[0]
    first_line = json.loads(
        openai_fake.files[request["training_file"]].content.decode().splitlines()[0]
    )
    assert first_line["messages"][0] == {"role": "system", "content": "Pirate."}
    openai_fake.set_job(openai_fake.latest_job()["id"], "succeeded")
    [announcement] = await eventually(lambda: announcements(slack))
    assert "fewer prompt tokens" in announcement

    await bot.mention("ahoy")
    await eventually(lambda: openai_fake.chat_requests[-1]["messages"][-1]["content"] == "ahoy")
    assert openai_fake.chat_requests[-1]["messages"][0]["content"] == "Pirate."
