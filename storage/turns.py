"""Turns: every bot reply with the exact messages the model saw. They expire; examples don't.

In a thread every turn repeats the system prompt and the history before it, and its reply
comes back as the next turn's last assistant message. So a turn's messages and reply are stored
once per conversation, in a hash of texts keyed by a content id, and the stored turn names them
by id: Redis grows with the new text of each turn, not with the length of the thread. Records
written before that, with their texts inline, still read.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from storage import scripts
from storage.keys import Keys
from storage.provenance import Provenance
from storage.schemas import MessageKey, Turn

logger = logging.getLogger(__name__)

# Deleting a turn while another turn of the same conversation is being recorded retries; this
# many times in a row would mean the conversation never stops changing.
_DELETE_ATTEMPTS = 20

# How a stored turn says its messages and reply are text ids (older records have no marker).
_TEXT_IDS = 2

# Delete a turn and every text of its conversation that no live turn names any more (a deleted
# message's text must not outlive the turns that held it). The other turns are passed as keys,
# as Redis Cluster wants every key a script touches declared; if the set changed since it was
# read, nothing is done and the caller reads it again.
# KEYS: the turn, the conversation's turn set, its texts, then every other turn in the set.
# Returns 1 if the turn existed, 0 if not, -1 to retry.
_DELETE = (
    f"local FORMAT = {_TEXT_IDS}\n"
    + """
local others = #KEYS - 3
if redis.call('SCARD', KEYS[2]) - redis.call('SISMEMBER', KEYS[2], KEYS[1]) ~= others then
  return -1
end
for i = 4, #KEYS do
  if redis.call('SISMEMBER', KEYS[2], KEYS[i]) == 0 then return -1 end
end
local existed = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], KEYS[1])
local named = {}
for i = 4, #KEYS do
  local raw = redis.call('GET', KEYS[i])
  local turn = raw and cjson.decode(raw)
  if turn and turn['format'] == FORMAT then
    for _, id in ipairs(turn['messages']) do named[id] = true end
    named[turn['reply']] = true
  elseif not turn then
    redis.call('SREM', KEYS[2], KEYS[i])
  end
end
for _, id in ipairs(redis.call('HKEYS', KEYS[3])) do
  if not named[id] then redis.call('HDEL', KEYS[3], id) end
end
return existed
"""
)


def turn_item(turn: Turn) -> str:
    """How the provenance index names a turn."""
    return f"turn:{turn.platform}:{turn.channel}:{turn.ts}"


def turn_key(item: str) -> MessageKey:
    _, platform, channel, ts = item.split(":", 3)
    return MessageKey(platform, channel, ts)


def text_id(text: str) -> str:
    """A message's id in its conversation's texts: 72 bits of its JSON's sha256, so two
    different messages of one conversation sharing an id is out of reach."""
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()[:9]).decode()


def _message_json(message: dict[str, Any]) -> str:
    # Key order kept: the stored message is the one the model was sent, not a re-sorted copy.
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


def _conversation(record: dict[str, Any]) -> MessageKey:
    return MessageKey(record.get("platform", "slack"), record["channel"], record["thread_ts"])


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class TurnStore:
    def __init__(self, redis: Redis, keys: Keys, ttl_seconds: int) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl = ttl_seconds
        self._provenance = Provenance(keys)
        self._delete = scripts.register(redis, _DELETE)

    async def record(self, turn: Turn, redactions: int = 0) -> None:
        """Store the turn, its texts, its parts and make it the thread's latest, in one round
        trip. Texts already stored for the conversation are not written again."""
        thread = MessageKey(turn.platform, turn.channel, turn.thread_ts)
        key = self._keys.turn(turn.key)
        record = turn.model_dump(mode="json")
        reply = {"role": "assistant", "content": record["reply"]}
        texts = [_message_json(message) for message in [*record["messages"], reply]]
        ids = [text_id(text) for text in texts]
        record.update(format=_TEXT_IDS, messages=ids[:-1], reply=ids[-1])
        texts_key = self._keys.turn_texts(thread)
        turns_key = self._keys.conversation_turns(thread)
        async with self._redis.pipeline(transaction=True) as pipe:
            for text, message in zip(ids, texts, strict=True):
                pipe.hsetnx(texts_key, text, message)
            # Turn TTLs are all the same: the texts live as long as the newest turn.
            pipe.expire(texts_key, self._ttl)
            pipe.sadd(turns_key, key)
            pipe.expire(turns_key, self._ttl)
            pipe.set(
                key, json.dumps(record, ensure_ascii=False, separators=(",", ":")), ex=self._ttl
            )
            pipe.set(self._keys.thread(thread), turn.ts, ex=self._ttl)
            if turn.part_ids:
                parts = {part.ref: turn.ts for part in turn.part_keys}
                pipe.hset(self._keys.reply_parts, mapping=parts)
            if redactions:
                pipe.hincrby(self._keys.dataset_stats, "redactions", redactions)
            self._provenance.add_turn(
                pipe, turn_item(turn), turn.provenance_refs, turn.people or [turn.user], self._ttl
            )
            await pipe.execute()

    async def delete(self, message: MessageKey) -> bool:
        """Delete the turn, and the texts no other live turn of its conversation names."""
        key = self._keys.turn(message)
        raw = await self._redis.get(key)
        if raw is None:
            return False
        conversation = _conversation(json.loads(raw))
        turns_key = self._keys.conversation_turns(conversation)
        texts_key = self._keys.turn_texts(conversation)
        for _ in range(_DELETE_ATTEMPTS):
            others = [m for m in map(_text, await self._redis.smembers(turns_key)) if m != key]
            deleted = await self._delete(keys=[key, turns_key, texts_key, *others])
            if deleted != -1:
                return bool(deleted)
        raise WatchError("the conversation kept changing while one of its turns was deleted")

    async def first_part(self, message: MessageKey) -> MessageKey:
        """The message that names the turn: itself, or the first part of its split reply."""
        first = await self._redis.hget(self._keys.reply_parts, message.ref)
        return MessageKey(message.platform, message.channel, _text(first)) if first else message

    async def get(self, message: MessageKey) -> Turn | None:
        """The turn of a bot reply, found from any of the messages it was posted as."""
        raw = await self._redis.get(self._keys.turn(message))
        if raw is None:
            first = await self.first_part(message)
            raw = await self._redis.get(self._keys.turn(first)) if first != message else None
        return await self._read(raw) if raw else None

    async def latest_in_thread(self, conversation: MessageKey) -> Turn | None:
        ts = await self._redis.get(self._keys.thread(conversation))
        if not ts:
            return None
        return await self.get(MessageKey(conversation.platform, conversation.channel, _text(ts)))

    async def _read(self, raw: str | bytes) -> Turn | None:
        record = json.loads(raw)
        if record.pop("format", None) == _TEXT_IDS:
            texts_key = self._keys.turn_texts(_conversation(record))
            texts = await self._redis.hmget(texts_key, [*record["messages"], record["reply"]])
            if any(text is None for text in texts):
                # Only if the texts expired first (the turn TTL was shortened since): the turn
                # can no longer say what the model saw, so it counts as expired too.
                logger.warning("turns: a turn's texts are gone; treating it as expired")
                return None
            *messages, reply = [json.loads(text) for text in texts]
            record.update(messages=messages, reply=reply["content"])
        return Turn.model_validate(record)
