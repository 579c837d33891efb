"""The dataset as the operator's terminal works on it (`python -m bot dataset …`): import,
check, export, count, list, show and remove, each one call, so the terminal never reaches
the stores behind them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from bot.conversation.forgetting import Forgetting
from bot.conversation.redaction import Redactor
from bot.dataset import file_checks, importing
from bot.dataset.export import Dataset, DatasetCounts
from bot.dataset.tempfiles import TempFile
from bot.dataset.validation import DatasetReport
from bot.providers.registry import Providers
from bot.training.finetune import FineTuner
from bot.training.model_table import ModelTable
from storage.examples import ExampleStore
from storage.schemas import Example


@dataclass(frozen=True)
class ExampleRow:
    """One example as a list shows it: the last thing a person asked in it."""

    id: str
    source: str
    tokens: int
    asked: str


class DatasetDesk:
    def __init__(
        self,
        examples: ExampleStore,
        dataset: Dataset,
        finetuner: FineTuner,
        forgetting: Forgetting,
        providers: Providers,
        *,
        redactor: Redactor | None,
        max_line_bytes: int,
    ) -> None:
        self._examples = examples
        self._dataset = dataset
        self._finetuner = finetuner
        self._forgetting = forgetting
        self._providers = providers
        self._redactor = redactor
        self._max_line_bytes = max_line_bytes

    def training_table(self, model: str) -> ModelTable:
        """The models the default training provider trains (the local worker: any, `model`
        too); every model we know when nothing here trains."""
        if self._providers.default_train is None:
            return self._providers.table
        return self._providers.training_table(None, model)

    async def import_file(
        self,
        path: Path,
        model: str,
        *,
        skip_invalid: bool,
        progress: Callable[[int], None],
        redact: bool = True,
    ) -> importing.ImportReport:
        """`redact=False` (`--no-redact`) keeps a trusted file as it is; otherwise what people
        wrote is redacted like chat when REDACT_PII is on."""
        return await importing.import_file(
            path,
            self._examples,
            model,
            self.training_table(model),
            skip_invalid=skip_invalid,
            progress=progress,
            redactor=self._redactor if redact else None,
            max_line_bytes=self._max_line_bytes,
        )

    async def validate(self, model: str, epochs: int | None) -> DatasetReport:
        return await self._finetuner.validate(model, epochs)

    async def check_file(
        self, path: Path, model: str, epochs: int | None, notes: list[str]
    ) -> tuple[DatasetReport, file_checks.Unreadable]:
        table = self.training_table(model)
        return await asyncio.to_thread(
            file_checks.check_file, path, model, table, epochs, notes, self._max_line_bytes
        )

    async def export_file(self, kind: str) -> TempFile:
        return await self._dataset.export_file(kind)

    async def counts(self) -> DatasetCounts:
        return await self._dataset.counts()

    async def rows(self, limit: int, source: str | None = None) -> list[ExampleRow]:
        rows = []
        async for example in self._matching(source):
            asked = next(
                (m.get("content") for m in reversed(example.messages) if m["role"] == "user"), ""
            )
            text = asked if isinstance(asked, str) else json.dumps(asked)
            rows.append(ExampleRow(example.id, example.origin, example.tokens, text))
            if len(rows) >= limit:
                break
        return rows

    async def get(self, example_id: str) -> Example | None:
        return await self._examples.get(example_id)

    async def remove(self, example_ids: list[str]) -> list[str]:
        """Through forgetting, so every copy of them goes too; returns the ids removed."""
        return await self._forgetting.remove_examples(example_ids)

    async def _matching(self, source: str | None) -> AsyncIterator[Example]:
        async for example in self._examples.iter_examples():
            if source is None or example.origin == source:
                yield example
