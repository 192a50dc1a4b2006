"""Custom clause code runs guarded: it may fail, but it cannot end the process.

A plug-in module (or an entry-point kind) that calls ``sys.exit(0)`` or
``os._exit(0)`` would otherwise end ``slapolicy compile`` or the audit's kernel with
exit code 0 and nothing audited. Inside ``guarded``, both become a
``PluginExitError`` (exit code 3) naming the step, so the run stops as failed.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from slapolicy.errors import PluginExitError

#: The methods of the ``ClauseKind`` contract that run a kind's own code.
KIND_METHODS = ("check_policy", "checks", "threshold", "measure", "reads", "expectation",
                "row_check")


class _ExitCalled(BaseException):
    """Raised in place of ``os._exit`` while custom code runs."""

    def __init__(self, code: int) -> None:
        self.code = code
        super().__init__(code)


@contextmanager
def guarded(what: str) -> Iterator[None]:
    """Run custom code: ``sys.exit`` and ``os._exit`` in it raise ``PluginExitError``."""
    real_exit = os._exit

    def refuse(code: int) -> NoReturn:
        raise _ExitCalled(code)

    os._exit = refuse  # type: ignore[assignment]
    try:
        yield
    except SystemExit as e:
        raise PluginExitError(
            f"{what} called sys.exit({e.code!r}): the run stopped there, nothing was audited",
            hint="a clause kind must return or raise, never end the process; fix the module",
        ) from None
    except _ExitCalled as e:
        raise PluginExitError(
            f"{what} called os._exit({e.code!r}): the run stopped there, nothing was audited",
            hint="a clause kind must return or raise, never end the process; fix the module",
        ) from None
    finally:
        os._exit = real_exit


def guard_kind(kind: Any) -> Any:
    """Guard every contract method of a custom kind instance (in place); return it."""
    for name in KIND_METHODS:
        method = getattr(kind, name, None)
        if callable(method):
            setattr(kind, name, _guarded_method(method, f"clause kind {kind.name!r} ({name})"))
    return kind


def _guarded_method(method: Callable[..., Any], what: str) -> Callable[..., Any]:
    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> Any:
        with guarded(what):
            return method(*args, **kwargs)

    return run
