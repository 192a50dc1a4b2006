"""Imports deferred until first use, because building them costs seconds nobody uses.

``jsonschema`` (imported by nbformat for papermill, and by Great Expectations) loads
``rfc3987_syntax`` to check the ``iri`` string format, and that module compiles a Lark
grammar at import: 1.0-1.2 s on this project's machines, in the CLI and again in the audit
kernel, for a format no schema here uses. A stand-in with the same function imports the
real module on its first call, so IRI checks still work, only later.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

_NAME = "rfc3987_syntax"


def _is_valid_syntax(*args: Any, **kwargs: Any) -> Any:
    stand_in = sys.modules.pop(_NAME, None)
    try:
        real = importlib.import_module(_NAME)
    except BaseException:
        if stand_in is not None:
            sys.modules[_NAME] = stand_in
        raise
    return real.is_valid_syntax(*args, **kwargs)


def defer_slow_imports() -> None:
    """Put the stand-ins in place, unless the real modules are loaded already."""
    if _NAME in sys.modules or importlib.util.find_spec(_NAME) is None:
        return
    stand_in = types.ModuleType(_NAME, "deferred by slapolicy: loads on first use")
    stand_in.is_valid_syntax = _is_valid_syntax  # type: ignore[attr-defined]
    sys.modules[_NAME] = stand_in
