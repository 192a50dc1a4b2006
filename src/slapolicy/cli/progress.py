"""A progress bar over the periods a command audits, for a person at a terminal.

It writes to standard error and only when that is a terminal: a scheduler's log and
``--json`` output on standard output stay clean. Each finished period shows its label
and how long it took.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import IO, Any


class PeriodProgress:
    """``with PeriodProgress(total, "auditing") as bar: ... bar.done("2020-01")``."""

    def __init__(self, total: int | None, what: str, stream: IO[str] | None = None) -> None:
        from tqdm import tqdm

        self.stream = stream or sys.stderr
        self._bar: Any = tqdm(total=total, desc=what, unit="period", file=self.stream,
                              disable=not self.stream.isatty(), leave=True,
                              dynamic_ncols=True, mininterval=0)
        self._started = time.monotonic()

    def done(self, label: str) -> None:
        now = time.monotonic()
        self._bar.set_postfix_str(f"{label} in {now - self._started:.1f} s", refresh=False)
        self._bar.update(1)
        self._started = now

    def __enter__(self) -> PeriodProgress:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._bar.close()
