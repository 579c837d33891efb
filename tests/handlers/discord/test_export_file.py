"""The export on Discord: attached from disk, gzip'd when over the server's limit, refused when
even that is too big; the temporary files are gone afterwards in every case."""

from __future__ import annotations

import gzip
from types import SimpleNamespace

import pytest

from bot.commands.results import DatasetFile
from bot.dataset.tempfiles import TempFile
from handlers.discord.commands import _send_file

pytestmark = pytest.mark.usefixtures("temp_dir")


class Followup:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None, bytes | None]] = []

    async def send(self, text: str, *, file=None, ephemeral: bool = False) -> None:
        assert ephemeral
        self.sent.append((text, file.filename if file else None, file.fp.read() if file else None))


def interaction(limit: int) -> SimpleNamespace:
    return SimpleNamespace(guild=SimpleNamespace(filesize_limit=limit), followup=Followup())


def dataset(lines: int) -> tuple[DatasetFile, bytes]:
    file = TempFile()
    line = b'{"messages":[{"role":"user","content":"hi %d"}]}\n'
    content = b"".join(line % n for n in range(lines))
    file.write(content, lines)
    return DatasetFile("dataset-bot.jsonl", file.finish(), lines), content


async def test_a_file_within_the_limit_is_attached_as_it_is(temp_dir):
    asked = interaction(limit=10_000)
    export, content = dataset(10)
    await _send_file(asked, export)
    [(text, filename, sent)] = asked.followup.sent
    assert (filename, sent) == ("dataset-bot.jsonl", content)
    assert "10 examples" in text
    assert list(temp_dir.iterdir()) == []


async def test_a_file_over_the_limit_is_sent_gzipped(temp_dir):
    asked = interaction(limit=2_000)
    export, content = dataset(200)
    assert len(content) > 2_000
    await _send_file(asked, export)
    [(_, filename, sent)] = asked.followup.sent
    assert filename == "dataset-bot.jsonl.gz" and gzip.decompress(sent) == content
    assert list(temp_dir.iterdir()) == []


async def test_a_file_too_big_even_gzipped_is_refused_in_one_sentence(temp_dir):
    asked = interaction(limit=50)
    export, _ = dataset(200)
    await _send_file(asked, export)
    [(text, filename, _)] = asked.followup.sent
    assert filename is None and "larger than Discord lets me send here" in text
    assert list(temp_dir.iterdir()) == []
