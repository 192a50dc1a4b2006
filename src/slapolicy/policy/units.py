"""Value types used in policy files: durations and money."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """Accept ``90s``, ``30m``, ``1h``, ``24h``, ``7d``, ``2w``, or a number of seconds."""
    if isinstance(value, timedelta):
        return _not_negative(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a duration; write a number and a unit: "
                             "90s, 30m, 1h, 24h, 7d or 2w")
        return _not_negative(timedelta(seconds=value))
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return timedelta(seconds=float(m.group(1)) * _UNIT_SECONDS[m.group(2)])
    raise ValueError(
        f"{value!r} is not a duration; write a number and a unit: 90s, 30m, 1h, 24h, 7d or 2w"
    )


def _not_negative(value: timedelta) -> timedelta:
    # A negative time limit would make every subject breach (or none): never a policy.
    if value < timedelta(0):
        raise ValueError(f"a duration cannot be negative ({value.total_seconds():g}s); "
                         "write how long, e.g. 1h")
    return value


def format_duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    for unit in ("w", "d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]


def _money(value: Any) -> Decimal:
    if isinstance(value, str):
        value = value.replace(",", "").replace("_", "").replace("$", "").strip()
    try:
        out = Decimal(str(value))
    except Exception as e:
        raise ValueError(f"{value!r} is not an amount of money; write 5000 or 5_000") from e
    if out < 0:
        raise ValueError("an amount of money cannot be negative")
    return out


Money = Annotated[
    Decimal,
    BeforeValidator(_money),
    PlainSerializer(lambda d: format(d.normalize(), "f"), return_type=str),
]
