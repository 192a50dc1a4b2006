"""Value types used in policy files, each with declared bounds: durations, money,
counts and rates.

A bound is the widest value a policy can mean. Beyond it a figure is a typo (an extra
zero, a unit left out) that would silently change verdicts, so it is refused at load.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer

#: Longest duration a policy may state: time limits and meetings within a year.
DURATION_MAX = timedelta(days=366)
#: Largest amount of money (targets, rewards, lead values): a thousand billion.
MONEY_MAX = Decimal(10) ** 12
#: Largest count (leads, attempts, opportunities, attendees) a policy may set.
COUNT_MAX = 10_000_000

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
        return _not_negative(_seconds(float(value), f"{value:g}s"))
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
            return _not_negative(_seconds(seconds, clip(value.strip())))
    raise ValueError(
        f"{clip(repr(value))} is not a duration; write a number and a unit: "
        "90s, 30m, 1h, 24h, 7d or 2w"
    )


def _seconds(seconds: float, written: str) -> timedelta:
    if abs(seconds) > DURATION_MAX.total_seconds():
        raise ValueError(f"a duration of {written} is longer than the longest a policy may "
                         f"state ({format_duration(DURATION_MAX)}); a number alone is seconds: "
                         "write its unit, e.g. 1h or 7d")
    return timedelta(seconds=seconds)


def _not_negative(value: timedelta) -> timedelta:
    # A negative time limit would make every subject breach (or none): never a policy.
    if value < timedelta(0):
        raise ValueError(f"a duration cannot be negative ({value.total_seconds():g}s); "
                         "write how long, e.g. 1h")
    if value > DURATION_MAX:
        raise ValueError(f"a duration of {format_duration(value)} is longer than the longest "
                         f"a policy may state ({format_duration(DURATION_MAX)})")
    return value


def clip(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters: an error quotes a value, never echoes a file."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


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
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an amount of money; write 5000 or 5_000")
    if isinstance(value, str):
        value = value.replace(",", "").replace("_", "").replace("$", "").strip()
    try:
        out = Decimal(str(value))
    except Exception as e:
        raise ValueError(f"{clip(repr(value))} is not an amount of money; "
                         "write 5000 or 5_000") from e
    if not out.is_finite():
        raise ValueError(f"{value!r} is not an amount of money; write 5000 or 5_000")
    if out < 0:
        raise ValueError("an amount of money cannot be negative")
    if out > MONEY_MAX:
        raise ValueError(f"{out:,.0f} is more than the largest amount a policy may state "
                         f"({MONEY_MAX:,.0f}); check for extra zeros")
    return out


def _currency(value: str) -> str:
    if not (len(value) == 3 and value.isascii() and value.isalpha() and value.isupper()):
        raise ValueError(f"{clip(repr(value))} is not a currency code; write its three capital "
                         "letters (ISO 4217), e.g. USD, EUR")
    return value


#: An ISO 4217 currency code such as USD.
Currency = Annotated[str, AfterValidator(_currency)]


def _ident(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", value):
        raise ValueError(f"{clip(repr(value))} is not an id: use lower-case letters, digits and "
                         "dashes, starting with a letter or digit, e.g. speed-to-lead")
    return value


#: The id of a policy or clause: it names files and folders, so it is kept plain.
Ident = Annotated[str, AfterValidator(_ident)]


Money = Annotated[
    Decimal,
    BeforeValidator(_money),
    PlainSerializer(lambda d: format(d.normalize(), "f"), return_type=str),
]


#: A share between 0 and 1 (a conversion rate, a compliance share).
Rate = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
#: A count a month or per subject (MQLs, opportunities): 0 to ``COUNT_MAX``.
Count = Annotated[float, Field(ge=0, le=COUNT_MAX, allow_inf_nan=False)]
#: A whole count (attempts, attendees): 1 to ``COUNT_MAX``.
WholeCount = Annotated[int, Field(ge=1, le=COUNT_MAX)]
#: A figure in the policy's money (a revenue target): 0 to ``MONEY_MAX``.
Amount = Annotated[float, Field(ge=0, le=float(MONEY_MAX), allow_inf_nan=False)]
#: A target or ramp point whose unit the policy names (money, a rate, days).
Figure = Annotated[float, Field(ge=-float(MONEY_MAX), le=float(MONEY_MAX), allow_inf_nan=False)]
