"""The steps of an audit run: each one named as it starts, and each one time-limited.

The current step is written to ``<output>/.step`` so that the process running the
notebook can say where a run stopped when the kernel dies or passes the run's time
limit. Each step (reading the data, measuring or judging one clause, ...) has its own
limit, ``SLAPOLICY_STEP_SECONDS`` (default 30 minutes; ``slapolicy audit`` and
``run-due`` set it from ``--step-limit``): a clause that hangs stops the run with
exit code 3 naming the step, instead of holding the run (and its lock) forever.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from slapolicy.errors import TimeLimitError

STEP_FILE = ".step"
STEP_SECONDS_ENV = "SLAPOLICY_STEP_SECONDS"
RUN_SECONDS_ENV = "SLAPOLICY_RUN_SECONDS"
DEFAULT_STEP_SECONDS = 1800.0
DEFAULT_RUN_SECONDS = 4 * 3600.0
#: Set by the CLI for the audit kernel: where a crash in native code writes the Python
#: trace of every thread (the kernel's own stderr is not kept).
FAULT_LOG_ENV = "SLAPOLICY_FAULT_LOG"
_fault_file: object = None


def record_faults() -> None:
    """Write the trace of a fatal signal (SIGSEGV, SIGABRT, ...) to ``$SLAPOLICY_FAULT_LOG``."""
    import faulthandler

    global _fault_file
    path = os.environ.get(FAULT_LOG_ENV)
    if not path or _fault_file is not None:
        return
    try:
        _fault_file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the process
    except OSError:
        return
    faulthandler.enable(file=_fault_file, all_threads=True)


def limit_from_env(name: str, default: float) -> float:
    """A limit in seconds from the environment; 0 or less means none (``inf``)."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise TimeLimitError(f"{name}={text!r} is not a number of seconds",
                             hint=f"set {name} to seconds, e.g. 1800; 0 means no limit") from None
    return value if value > 0 else float("inf")


class _Expired(BaseException):
    """Raised by the step timer; ``Steps.step`` turns it into ``TimeLimitError``."""


class Steps:
    """Names each step of a run in ``folder`` (if given) and enforces the step limit."""

    def __init__(self, folder: Path | None, limit: float | None = None) -> None:
        self.folder = folder
        self.limit = limit if limit is not None else limit_from_env(STEP_SECONDS_ENV,
                                                                    DEFAULT_STEP_SECONDS)
        if folder is not None:
            record_faults()

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / STEP_FILE).write_text(name + "\n", encoding="utf-8")
        armed = (self.limit != float("inf") and hasattr(signal, "setitimer")
                 and threading.current_thread() is threading.main_thread())
        if not armed:
            yield
            return
        limit = self.limit
        expired = False

        def expire(signum: int, frame: FrameType | None) -> None:
            nonlocal expired
            expired = True
            # Not an Exception: library code that catches Exception (and rewords it)
            # must not turn "out of time" into some other error, or swallow it.
            raise _Expired

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            yield
        except BaseException as e:
            if not expired:
                raise
            raise TimeLimitError(
                f"the step {name!r} passed its time limit of {limit:g} s; the run stopped "
                "there", step=name, seconds=limit,
                hint="find why it is slow or hangs (a custom clause kind?), or allow more with "
                     f"--step-limit SECONDS ({STEP_SECONDS_ENV})") from (
                None if isinstance(e, _Expired) else e)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


    def finish(self) -> None:
        """Every step done: the folder holds only the audit's own files."""
        if self.folder is not None:
            (self.folder / STEP_FILE).unlink(missing_ok=True)


def current_step(folder: Path) -> str | None:
    """The step a run in ``folder`` was in, if it named one."""
    path = folder / STEP_FILE
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None
