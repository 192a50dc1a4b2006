"""Labels, numbers, dates and money in the audit's locale.

The catalogues are JSON files shipped in the package (``catalogues/<locale>.json``),
one message id to one text each; formats come from Babel's CLDR data, and instants
are shown in the policy's zone. Nothing here decides anything: it only words and
formats figures the audit computed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

#: Policy locale -> (Babel locale, HTML ``lang``, text direction).
LOCALES: dict[str, tuple[str, str, str]] = {
    "en": ("en_US", "en", "ltr"),
    "tr": ("tr_TR", "tr", "ltr"),
    "zh": ("zh_Hans_CN", "zh-Hans", "ltr"),
    "fa": ("fa_IR", "fa", "rtl"),
    "pl": ("pl_PL", "pl", "ltr"),
    "ko": ("ko_KR", "ko", "ltr"),
}
#: Units shown as a percentage: rates and shares.
_RATE_WORDS = ("share of", " per ")
_TIME_UNITS = {"business hours", "hours", "days", "minutes", "business days"}


@cache
def catalogue(locale: str) -> dict[str, str]:
    """The messages of ``locale`` (a key of ``LOCALES``), read from the package."""
    if locale not in LOCALES:
        raise KeyError(f"no catalogue for locale {locale!r}; known: {', '.join(LOCALES)}")
    text = resources.files("slapolicy.report").joinpath(f"catalogues/{locale}.json").read_text(
        encoding="utf-8")
    data: dict[str, str] = json.loads(text)
    return data


@dataclass(frozen=True)
class Formatter:
    """Words and formats for one locale, currency and zone."""

    locale: str = "en"
    zone: str = "UTC"
    currency: str = "USD"
    messages: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def for_locale(cls, locale: str, zone: str = "UTC", currency: str = "USD") -> Formatter:
        return cls(locale, zone, currency, catalogue(locale))

    @property
    def babel(self) -> str:
        return LOCALES[self.locale][0]

    @property
    def lang(self) -> str:
        return LOCALES[self.locale][1]

    @property
    def direction(self) -> str:
        return LOCALES[self.locale][2]

    def t(self, key: str, **values: Any) -> str:
        """The message ``key``, with ``values`` put in (already formatted by the caller)."""
        text = self.messages[key]
        return text.format(**values) if values else text

    # --- numbers ------------------------------------------------------------------------

    def integer(self, value: int | float | None) -> str:
        from babel.numbers import format_decimal

        return "–" if value is None else format_decimal(int(value), locale=self.babel)

    def decimal(self, value: float | None, digits: int = 1) -> str:
        from babel.numbers import format_decimal

        if value is None:
            return "–"
        pattern = "#,##0" + ("." + "#" * digits if digits else "")
        return format_decimal(round(float(value), digits), format=pattern, locale=self.babel)

    def percent(self, value: float | None, digits: int = 1) -> str:
        from babel.numbers import format_percent

        if value is None:
            return "–"
        pattern = "#,##0" + ("." + "#" * digits if digits else "") + "%"
        return format_percent(float(value), format=pattern, locale=self.babel)

    def money(self, value: float | None, currency: str | None = None) -> str:
        from babel.numbers import format_currency

        if value is None:
            return "–"
        v = float(value)
        code = currency or self.currency
        if v != int(v) or abs(v) < 100:
            return format_currency(v, code, locale=self.babel)
        # Whole amounts without cents: the locale's own pattern, decimals dropped.
        from babel import Locale

        pattern = Locale.parse(self.babel).currency_formats["standard"].pattern
        whole = pattern.split(";")[0].replace(".00", "").replace(",00", "")
        return format_currency(v, code, format=whole, locale=self.babel, currency_digits=False)

    def compact_money(self, value: float, currency: str | None = None) -> str:
        from babel.numbers import format_compact_currency

        return format_compact_currency(float(value), currency or self.currency, locale=self.babel,
                                       fraction_digits=1)

    def unit(self, unit: str) -> str:
        key = f"unit.{unit}"
        return self.messages.get(key, unit)

    def quantity(self, value: float | None, unit: str) -> str:
        """A figure with its unit: money, a rate as a percentage, or a number and unit."""
        if value is None:
            return "–"
        if is_money(unit):
            return self.money(value, unit)
        if is_rate(unit):
            return self.percent(value)
        digits = 1 if unit in _TIME_UNITS else 2
        return self.t("quantity", value=self.decimal(value, digits), unit=self.unit(unit))

    # --- dates and instants -------------------------------------------------------------

    def date(self, value: str | date | None) -> str:
        from babel.dates import format_date

        if not value:
            return "–"
        d = date.fromisoformat(value) if isinstance(value, str) else value
        return format_date(d, format="medium", locale=self.babel)

    def month(self, label: str) -> str:
        """``2020-03`` as the month's name and year; other period labels as they are."""
        from babel.dates import format_skeleton

        try:
            d = date.fromisoformat(label + "-01")
        except ValueError:
            return label
        return format_skeleton("yMMMM", d, locale=self.babel)

    def month_short(self, label: str) -> str:
        from babel.dates import format_skeleton

        try:
            d = date.fromisoformat(label + "-01")
        except ValueError:
            return label
        return format_skeleton("yMMM", d, locale=self.babel)

    def instant(self, value: str | None) -> str:
        """An ISO instant (UTC) in the policy's zone, with the zone named."""
        from babel.dates import format_datetime

        if not value:
            return "–"
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        local = dt.astimezone(ZoneInfo(self.zone))
        return format_datetime(local, format="medium", tzinfo=ZoneInfo(self.zone),
                               locale=self.babel) + f" ({self.zone})"


def is_money(unit: str) -> bool:
    return len(unit) == 3 and unit.isalpha() and unit.isupper()


def is_rate(unit: str) -> bool:
    return any(w in f" {unit} " for w in _RATE_WORDS)
