"""Progress bars for `pack`: bytes read and tokenized, then tokens written into shards."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn


class PackProgress:
    def __init__(self, enabled: bool = True) -> None:
        console = Console(stderr=True)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeRemainingColumn(),
            console=console,
            disable=not (enabled and console.is_terminal),
        )
        self._read = self._write = None
        self._tokens = self._docs = 0

    def __enter__(self) -> "PackProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def start_reading(self, total_bytes: int) -> None:
        self._read = self._progress.add_task("tokenizing", total=total_bytes, detail="")

    def read(self, n_bytes: int) -> None:
        self._progress.advance(self._read, n_bytes)

    def unit_done(self, marker: dict) -> None:
        self._docs += len(marker["lengths"])
        self._tokens += sum(marker["lengths"])
        self._progress.update(self._read, detail=f"{self._docs:,} docs, {self._tokens:,} tokens")

    def start_writing(self, total_tokens: int) -> None:
        self._progress.update(self._read, completed=self._progress.tasks[self._read].total)
        self._write = self._progress.add_task("writing shards", total=total_tokens, detail="")

    def wrote(self, n_tokens: int) -> None:
        self._progress.advance(self._write, n_tokens)
