"""Checks that the real discord.py client works end to end against FakeDiscord."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator

import aiohttp
import discord
import pytest
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from tests.fakes.discord_api import FakeDiscord

ALICE = 1_300_000_000_000_000_001
MANAGE_GUILD = 1 << 5


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        saved = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
        Route.BASE = server.api_url
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(server.gateway_url)
        try:
            yield server
        finally:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved


def bot_intents() -> discord.Intents:
    intents = discord.Intents.default()
    intents.message_content = True
    return intents


class FastClient(discord.Client):
    """A discord.Client without the waits that only make sense against real Discord."""

    def __init__(self, intents: discord.Intents | None = None) -> None:
        # on_ready otherwise waits 2 s for more GUILD_CREATEs after the last one.
        super().__init__(intents=intents or bot_intents(), guild_ready_timeout=0.05)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # The default sleeps 5 s before every IDENTIFY but the first.
        return None


@contextlib.asynccontextmanager
async def running(client: discord.Client, fake: FakeDiscord) -> AsyncIterator[discord.Client]:
    """Log in, connect in a background task, wait for on_ready; always close."""
    task: asyncio.Task[None] | None = None
    try:
        await client.login(fake.bot_token)
        task = asyncio.create_task(client.connect(reconnect=True))
        ready = asyncio.create_task(client.wait_until_ready())
        await asyncio.wait({ready, task}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            if task.done():
                task.result()  # surfaces the gateway error
            raise AssertionError("client did not become ready")
        yield client
    finally:
        await client.close()
        if task is not None:
            await asyncio.wait_for(task, 5)


def user_messages(received: list[discord.Message]) -> list[int]:
    return [m.id for m in received if m.author.id == ALICE]


async def test_client_logs_in_connects_and_caches_the_guild(fake: FakeDiscord):
    client = FastClient()
    async with running(client, fake):
        assert client.user.id == fake.bot_user_id
        assert client.user.bot
        assert client.application_id == fake.application_id
        guild = client.get_guild(fake.guild_id)
        assert guild is not None
        assert guild.me.id == fake.bot_user_id
        assert guild.default_role.id == fake.guild_id
        channel = client.get_channel(fake.channel_id)
        assert isinstance(channel, discord.TextChannel)
        thread = guild.get_thread(fake.thread_id)
        assert isinstance(thread, discord.Thread)
        assert thread.parent == channel
        assert thread.type is discord.ChannelType.public_thread
        await fake.wait_for(lambda: fake.heartbeats >= 1, what="heartbeat")
        assert client.ws.session_id == await fake.wait_connected()

    assert fake.identify_intents == bot_intents().value
    assert fake.identifies == 1
    assert fake.gateway_queries[0]["v"] == "10"
    assert fake.gateway_queries[0]["compress"] == "zlib-stream"
    login = [(r.method, r.path, r.status) for r in fake.requests[:2]]
    assert login == [("GET", "/users/@me", 200), ("GET", "/oauth2/applications/@me", 200)]


async def test_bad_token_fails_login_and_answers_are_exact_json(fake: FakeDiscord):
    client = FastClient()
    try:
        with pytest.raises(discord.LoginFailure):
            await client.login("not-the-token")
    finally:
        await client.close()

    auth = {"Authorization": f"Bot {fake.bot_token}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{fake.api_url}/users/@me", headers=auth) as response:
            # discord.py decodes JSON only for exactly this header.
            assert response.headers["Content-Type"] == "application/json"
        async with session.get(f"{fake.api_url}/no/such/route", headers=auth) as response:
            assert response.status == 404
            assert (await response.json())["message"] == "404: Not Found"
    assert ("GET", "/no/such/route") in fake.unknown_routes


async def test_mention_gets_a_reply_that_is_then_edited(fake: FakeDiscord):
    client = FastClient()
    received: list[discord.Message] = []

    @client.event
    async def on_message(message: discord.Message) -> None:
        received.append(message)
        if message.author == client.user or not client.user.mentioned_in(message):
            return
        reply = await message.reply("thinking…")
        await reply.edit(content="Once upon a time, a build went green.")

    async with running(client, fake):
        sent = await fake.send_message(
            f"<@{fake.bot_user_id}> tell me a story", author_id=ALICE, mention_bot=True
        )
        reply = await fake.wait_for_bot_message(fake.channel_id, lambda m: len(m.edits) == 2)
        # The bot's own message comes back over the gateway, as on Discord.
        await fake.wait_for(lambda: any(m.author == client.user for m in received))

    assert received[0].content == f"<@{fake.bot_user_id}> tell me a story"
    assert received[0].author.id == ALICE
    assert reply.reply_to == int(sent["id"])
    assert reply.message_reference["channel_id"] == str(fake.channel_id)
    assert reply.type == 19
    assert reply.content == "Once upon a time, a build went green."
    (created, first), (edited, second) = fake.edits_of(reply.id)
    assert (first, second) == ("thinking…", "Once upon a time, a build went green.")
    assert created <= edited


async def test_a_user_reply_references_and_pings_the_bot(fake: FakeDiscord):
    client = FastClient()
    received: list[discord.Message] = []

    @client.event
    async def on_message(message: discord.Message) -> None:
        received.append(message)

    async with running(client, fake):
        answer = await client.get_channel(fake.channel_id).send("Once upon a time…")
        await fake.send_message("and then?", author_id=ALICE, reply_to=answer.id)
        await fake.wait_for(lambda: user_messages(received), what="reply")

    reply = next(m for m in received if m.author.id == ALICE)
    assert reply.type is discord.MessageType.reply
    assert reply.reference.message_id == answer.id
    assert reply.reference.resolved.author == client.user
    assert client.user.mentioned_in(reply)


async def test_typing_in_a_thread_is_recorded(fake: FakeDiscord):
    client = FastClient()

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.author.bot:
            return
        async with message.channel.typing():
            await message.channel.send(f"you said {message.content}")

    async with running(client, fake):
        await fake.send_message("hello thread", author_id=ALICE, channel_id=fake.thread_id)
        answer = await fake.wait_for_bot_message(fake.thread_id)

    assert answer.content == "you said hello thread"
    [typing] = fake.typing_calls
    assert typing.channel_id == fake.thread_id
    assert typing.at <= answer.edits[0][0]


async def test_rate_limited_send_is_retried_then_succeeds(fake: FakeDiscord):
    client = FastClient()
    async with running(client, fake):
        fake.fail_next("POST", r"/channels/\d+/messages", 429, retry_after=0.2)
        message = await client.get_channel(fake.channel_id).send("hello")

        fake.fail_next("GET", r"/users/@me", 429, retry_after=1.5)
        auth = {"Authorization": f"Bot {fake.bot_token}"}
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{fake.api_url}/users/@me", headers=auth) as response,
        ):
            assert response.status == 429
            assert response.headers["Content-Type"] == "application/json"
            assert response.headers["Via"]
            assert response.headers["X-RateLimit-Remaining"] == "0"
            assert response.headers["X-RateLimit-Reset-After"] == "1.500"
            assert response.headers["Retry-After"] == "2"
            body = await response.json()
            assert body == {
                "message": "You are being rate limited.",
                "retry_after": 1.5,
                "global": False,
            }

    attempts = fake.requests_to("POST", rf"/channels/{fake.channel_id}/messages")
    assert [r.status for r in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 0.2
    assert [m.id for m in fake.bot_messages(fake.channel_id)] == [message.id]


async def test_server_error_is_retried_and_forbidden_raises(fake: FakeDiscord):
    client = FastClient()
    async with running(client, fake):
        channel = client.get_channel(fake.channel_id)
        message = await channel.send("draft")
        fake.fail_next("PATCH", r"/channels/\d+/messages/\d+", 500)
        await message.edit(content="final")  # discord.py retries a 500 after 1 s
        fake.fail_next("POST", r"/channels/\d+/messages", 403)
        with pytest.raises(discord.Forbidden) as err:
            await channel.send("not allowed")
        with pytest.raises(discord.HTTPException) as too_long:
            await channel.send("x" * 2001)

    assert err.value.code == 50013
    assert too_long.value.code == 50035
    assert [r.status for r in fake.requests_to("PATCH", r"/channels/\d+/messages/\d+")] == [
        500,
        200,
    ]
    assert [content for _, content in fake.edits_of(message.id)] == ["draft", "final"]


async def test_files_arrive_with_their_bytes_in_channels_and_dms(fake: FakeDiscord):
    client = FastClient()
    data = b'{"messages": []}\n'
    received: list[discord.Message] = []

    @client.event
    async def on_message(message: discord.Message) -> None:
        received.append(message)

    async with running(client, fake):
        sent = await client.get_channel(fake.channel_id).send(
            "here you go", file=discord.File(io.BytesIO(data), filename="dataset.jsonl")
        )
        assert await sent.attachments[0].read() == data

        fake.user(ALICE, "alice")
        alice = await client.fetch_user(ALICE)
        dm = await alice.send(file=discord.File(io.BytesIO(b"dm bytes"), filename="export.jsonl"))

        await fake.send_message("thanks", author_id=ALICE, in_dm=True)
        await fake.wait_for(lambda: user_messages(received), what="DM")

    stored = fake.get_message(sent.id)
    assert [(a.filename, a.content) for a in stored.attachments] == [("dataset.jsonl", data)]
    upload = fake.requests_to("POST", rf"/channels/{fake.channel_id}/messages")[0]
    assert upload.files == ["dataset.jsonl"]
    assert upload.json["content"] == "here you go"
    dm_channel = fake.dm_channel_id(ALICE)
    assert dm.channel.id == dm_channel
    [dm_stored] = fake.bot_messages(dm_channel)
    assert [(a.filename, a.content) for a in dm_stored.attachments] == [
        ("export.jsonl", b"dm bytes")
    ]
    from_alice = next(m for m in received if m.author.id == ALICE)
    assert isinstance(from_alice.channel, discord.DMChannel)
    assert from_alice.channel.id == dm_channel


def finetune_tree(client: discord.Client, seen: dict[str, object]) -> app_commands.CommandTree:
    tree = app_commands.CommandTree(client)
    group = app_commands.Group(name="finetune", description="Fine-tune from the chat")

    @group.command(name="status", description="Dataset and model status")
    async def status(interaction: discord.Interaction, verbose: bool = False) -> None:
        seen["manage_guild"] = interaction.permissions.manage_guild
        seen["verbose"] = verbose
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send("Dataset: 0 examples", ephemeral=True)
        report = discord.File(io.BytesIO(b"{}\n"), filename="status.json")
        await interaction.followup.send(file=report, ephemeral=True)

    @group.command(name="use", description="Switch the model")
    async def use(interaction: discord.Interaction, model: str) -> None:
        await interaction.response.send_message(f"Now using {model}")

    @use.autocomplete("model")
    async def model_choices(interaction: discord.Interaction, current: str):
        models = ["gpt-4.1-mini", "ft:gpt-4.1-mini:team:1"]
        return [app_commands.Choice(name=m, value=m) for m in models if current in m]

    tree.add_command(group, guild=discord.Object(id=FakeDiscord.guild_id))
    return tree


async def test_command_tree_syncs_and_answers_with_ephemeral_followups(fake: FakeDiscord):
    client = FastClient()
    seen: dict[str, object] = {}
    tree = finetune_tree(client, seen)
    guild = discord.Object(id=fake.guild_id)

    async def setup_hook() -> None:
        await tree.sync(guild=guild)

    client.setup_hook = setup_hook
    async with running(client, fake):
        fetched = await tree.fetch_commands(guild=guild)
        run = await fake.invoke_command(
            "finetune", "status", {"verbose": True}, user_id=ALICE, permissions=MANAGE_GUILD
        )
        await fake.wait_for_followup(run, lambda f: f.files)

        typed = await fake.autocomplete("finetune", "use", {"model": "ft"}, "model", user_id=ALICE)
        choices = await fake.wait_for_callback(typed)
        used = await fake.invoke_command(
            "finetune", "use", {"model": "gpt-4.1-mini"}, user_id=ALICE
        )
        public = await fake.wait_for_bot_message(fake.channel_id, lambda m: not m.ephemeral)

    [sync] = fake.command_syncs
    assert sync.guild_id == fake.guild_id
    assert [c["name"] for c in sync.commands] == ["finetune"]
    assert {o["name"] for o in sync.commands[0]["options"]} == {"status", "use"}
    assert [c.id for c in fetched] == [int(fake.commands(fake.guild_id)[0]["id"])]
    assert run.payload["data"]["id"] == fake.commands(fake.guild_id)[0]["id"]

    assert seen == {"manage_guild": True, "verbose": True}
    [deferred] = fake.callbacks_of(run)
    assert (deferred.type, deferred.data) == (5, {"flags": 64})
    first, second = fake.followups_of(run)
    # The first followup fills the deferred "thinking" message.
    assert first.replaced_original
    assert first.message_id == fake.original_response(run).id
    assert (first.content, first.ephemeral) == ("Dataset: 0 examples", True)
    assert second.ephemeral
    assert second.files == [("status.json", b"{}\n")]
    assert fake.original_response(run).content == "Dataset: 0 examples"

    assert choices.type == 8
    assert choices.data["choices"] == [
        {"name": "ft:gpt-4.1-mini:team:1", "value": "ft:gpt-4.1-mini:team:1"}
    ]
    [answer] = fake.callbacks_of(used)
    assert answer.type == 4
    assert public.content == "Now using gpt-4.1-mini"
    assert public.id == fake.original_response(used).id


async def test_raw_reactions_reach_the_client(fake: FakeDiscord):
    client = FastClient()
    added: list[discord.RawReactionActionEvent] = []
    removed: list[discord.RawReactionActionEvent] = []

    @client.event
    async def on_raw_reaction_add(payload: discord.RawReactionActionEvent) -> None:
        added.append(payload)

    @client.event
    async def on_raw_reaction_remove(payload: discord.RawReactionActionEvent) -> None:
        removed.append(payload)

    async with running(client, fake):
        message = await client.get_channel(fake.channel_id).send("rate me")
        await message.add_reaction("👍")
        await fake.add_reaction(message.id, "👍", user_id=ALICE)
        await fake.remove_reaction(message.id, "👍", user_id=ALICE)
        await fake.wait_for(lambda: removed and len(added) == 2, what="reaction events")

    bot_add, alice_add = added
    assert bot_add.user_id == fake.bot_user_id  # the bot's own reaction is echoed
    assert [(r.emoji, r.added) for r in fake.bot_reactions] == [("👍", True)]
    assert alice_add.user_id == ALICE
    assert alice_add.message_id == message.id
    assert alice_add.message_author_id == fake.bot_user_id
    assert alice_add.member.id == ALICE
    assert str(alice_add.emoji) == "👍"
    [alice_remove] = removed
    assert alice_remove.user_id == ALICE
    assert alice_remove.message_author_id is None
    assert alice_remove.member is None
    assert fake.get_message(message.id).reactions["👍"][1] == {fake.bot_user_id}


async def test_resume_redelivers_the_last_event_and_what_was_missed(fake: FakeDiscord):
    client = FastClient()
    received: list[discord.Message] = []
    resumed = asyncio.Event()

    @client.event
    async def on_message(message: discord.Message) -> None:
        received.append(message)

    @client.event
    async def on_resumed() -> None:
        resumed.set()

    async with running(client, fake):
        session = await fake.wait_connected()
        first = await fake.send_message("one", author_id=ALICE)
        await fake.wait_for(lambda: user_messages(received), what="first message")

        await fake.force_resume(replay_last=1, wait=False)
        # Sent while the client is reconnecting: queued and delivered on RESUME.
        second = await fake.send_message("two", author_id=ALICE)
        assert await fake.wait_connected() == session
        await fake.wait_for(lambda: len(user_messages(received)) == 3, what="redelivery")
        await asyncio.wait_for(resumed.wait(), 5)

    first_id, second_id = int(first["id"]), int(second["id"])
    assert user_messages(received) == [first_id, first_id, second_id]
    assert fake.resumes == 1
    assert fake.identifies == 1
    assert [event for event, _ in fake.redelivered] == ["MESSAGE_CREATE", "MESSAGE_CREATE"]
    assert fake.redelivered[0][1] < fake.redelivered[1][1]


async def test_invalid_session_reidentifies_and_forgets_cached_messages(fake: FakeDiscord):
    client = FastClient()
    readies: list[str] = []

    @client.event
    async def on_ready() -> None:
        readies.append(client.ws.session_id)

    async with running(client, fake):
        old_session = await fake.wait_connected()
        sent = await fake.send_message("remember me", author_id=ALICE)
        old_id = int(sent["id"])
        await fake.wait_for(lambda: client._connection._get_message(old_id), what="cached message")

        new_session = await fake.invalidate_session()
        await fake.wait_for(lambda: len(readies) == 2, what="second on_ready")
        assert client._connection._get_message(old_id) is None
        assert list(client.cached_messages) == []

        later = await fake.send_message("new", author_id=ALICE)
        new_id = int(later["id"])
        await fake.wait_for(lambda: client._connection._get_message(new_id), what="new message")

    assert new_session != old_session
    assert readies == [old_session, new_session]
    assert fake.identifies == 2
    assert fake.resumes == 0


async def test_without_message_content_intent_only_mentions_keep_content(fake: FakeDiscord):
    client = FastClient(intents=discord.Intents.default())
    received: list[discord.Message] = []

    @client.event
    async def on_message(message: discord.Message) -> None:
        received.append(message)

    async with running(client, fake):
        await fake.send_message("plain", author_id=ALICE)
        await fake.send_message(f"<@{fake.bot_user_id}> hi", author_id=ALICE)
        await fake.wait_for(lambda: len(received) == 2, what="messages")

    assert [m.content for m in received] == ["", f"<@{fake.bot_user_id}> hi"]


async def test_privileged_intent_not_enabled_closes_with_4014(fake: FakeDiscord):
    intents = bot_intents()
    intents.members = True
    client = FastClient(intents=intents)
    try:
        await client.login(fake.bot_token)
        with pytest.raises(discord.PrivilegedIntentsRequired):
            await asyncio.wait_for(client.connect(reconnect=True), 5)
    finally:
        await client.close()
    assert fake.identifies == 0


async def test_a_second_guild_carries_its_own_id_in_every_event(fake: FakeDiscord):
    second, second_channel = fake.add_guild()
    fake.user(ALICE, "alice")
    client = FastClient()
    tree = app_commands.CommandTree(client)
    received: list[discord.Message] = []
    reactions: list[discord.RawReactionActionEvent] = []
    interactions: list[discord.Interaction] = []

    @tree.command(name="where", description="Which server?", guild=discord.Object(id=second))
    async def where(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"in {interaction.guild.name}")

    async def setup_hook() -> None:
        await tree.sync(guild=discord.Object(id=second))

    @client.event
    async def on_message(message: discord.Message) -> None:
        received.append(message)
        if message.author.id == ALICE:
            await message.reply("seen")

    @client.event
    async def on_raw_reaction_add(payload: discord.RawReactionActionEvent) -> None:
        reactions.append(payload)

    @client.event
    async def on_interaction(interaction: discord.Interaction) -> None:
        interactions.append(interaction)

    client.setup_hook = setup_hook
    async with running(client, fake):
        # READY listed both guilds and a GUILD_CREATE filled each in.
        assert {g.id for g in client.guilds} == {fake.guild_id, second}
        guild = client.get_guild(second)
        assert guild.me.id == fake.bot_user_id
        assert guild.default_role.id == second
        assert [c.id for c in guild.text_channels] == [second_channel]
        assert [c.id for c in client.get_guild(fake.guild_id).text_channels] == [fake.channel_id]
        assert (await guild.fetch_member(ALICE)).guild.id == second
        with pytest.raises(discord.Forbidden):
            await client.fetch_guild(999)

        sent = await fake.send_message("hello there", author_id=ALICE, channel_id=second_channel)
        reply = await fake.wait_for_bot_message(second_channel)
        await fake.add_reaction(int(sent["id"]), "👍", user_id=ALICE)
        thread_id = await fake.create_thread("side", parent_id=second_channel)
        await fake.wait_for(lambda: client.get_channel(thread_id), what="thread")

        run = await fake.invoke_command("where", user_id=ALICE, guild_id=second)
        answer = await fake.wait_for_callback(run)
        await fake.wait_for(lambda: reactions and interactions, what="reaction and interaction")
        with pytest.raises(ValueError):
            await fake.invoke_command("where", user_id=ALICE, guild_id=second, in_dm=True)

    [from_alice] = [m for m in received if m.author.id == ALICE]
    assert sent["guild_id"] == str(second)
    assert from_alice.guild.id == second
    assert from_alice.channel.id == second_channel
    assert isinstance(from_alice.author, discord.Member)
    assert from_alice.author.guild.id == second
    assert reply.guild_id == second
    assert reply.reply_to == from_alice.id
    [reaction] = reactions
    assert reaction.guild_id == second
    assert reaction.member.guild.id == second
    assert client.get_channel(thread_id).guild.id == second

    # Commands synced to the second guild are its alone, and resolve there.
    [sync] = fake.command_syncs
    assert sync.guild_id == second
    assert fake.commands(fake.guild_id) == []
    [command] = fake.commands(second)
    assert run.payload["guild_id"] == str(second)
    assert run.payload["channel_id"] == str(second_channel)
    assert run.payload["data"]["id"] == command["id"]
    assert run.payload["data"]["guild_id"] == str(second)
    [interaction] = interactions
    assert (interaction.guild_id, interaction.channel_id) == (second, second_channel)
    assert answer.data["content"] == "in Fake Guild 2"
