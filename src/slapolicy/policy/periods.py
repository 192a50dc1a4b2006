"""Audit periods: months by default, weeks and quarters where a policy asks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from slapolicy.errors import PeriodError

PeriodUnit = Literal["week", "month", "quarter"]
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True, order=True)
class Period:
    """A closed range of local dates ``[start, end)`` with a label such as ``2026-10``."""

    start: date
    end: date
    unit: PeriodUnit
    label: str

    @classmethod
    def parse(cls, label: str, unit: PeriodUnit = "month") -> Period:
        text = str(label).strip()
        if m := _MONTH.match(text):
            year, month = int(m.group(1)), int(m.group(2))
            if not 1 <= month <= 12:
                raise PeriodError(f"period {label!r}: month {month} is not 1-12",
                                  hint="write a month as YYYY-MM, e.g. 2026-10")
            start = date(year, month, 1)
            p = cls(start, _add_months(start, 1), "month", f"{year:04d}-{month:02d}")
        elif m := _QUARTER.match(text):
            year, q = int(m.group(1)), int(m.group(2))
            start = date(year, 3 * (q - 1) + 1, 1)
            p = cls(start, _add_months(start, 3), "quarter", f"{year:04d}-Q{q}")
        elif m := _WEEK.match(text):
            year, week = int(m.group(1)), int(m.group(2))
            try:
                start = date.fromisocalendar(year, week, 1)
            except ValueError as e:
                raise PeriodError(f"period {label!r}: {year} has no ISO week {week}",
                                  hint="write a week as YYYY-Www, e.g. 2026-W05") from e
            p = cls(start, start + timedelta(days=7), "week", f"{year:04d}-W{week:02d}")
        else:
            raise PeriodError(
                f"period {label!r} is not a month (2026-10), a quarter (2026-Q4) "
                "or an ISO week (2026-W05)",
                hint="pass --period in one of those forms",
            )
        if p.unit != unit:
            raise PeriodError(
                f"period {label!r} is a {p.unit}, but the policy audits by {unit}",
                hint=f"pass a {unit} label, or change `periods.unit` in the policy",
            )
        return p

    @classmethod
    def containing(cls, day: date, unit: PeriodUnit = "month") -> Period:
        """The period of ``unit`` that holds ``day``."""
        if unit == "month":
            return cls.parse(day.strftime("%Y-%m"), "month")
        if unit == "quarter":
            return cls.parse(f"{day.year}-Q{(day.month - 1) // 3 + 1}", "quarter")
        iso = day.isocalendar()
        return cls.parse(f"{iso.year}-W{iso.week:02d}", "week")

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end

    def bounds_utc(self, zone: str) -> tuple[datetime, datetime]:
        """The period's start and end as naive UTC instants, for local midnight in ``zone``."""
        tz = ZoneInfo(zone)

        def at(d: date) -> datetime:
            return datetime.combine(d, time(0), tz).astimezone(UTC).replace(tzinfo=None)

        return at(self.start), at(self.end)

    def previous(self) -> Period:
        if self.unit == "month":
            return Period.parse(_add_months(self.start, -1).strftime("%Y-%m"), "month")
        if self.unit == "quarter":
            s = _add_months(self.start, -3)
            return Period.parse(f"{s.year}-Q{(s.month - 1) // 3 + 1}", "quarter")
        s = self.start - timedelta(days=7)
        iso = s.isocalendar()
        return Period.parse(f"{iso.year}-W{iso.week:02d}", "week")

    def next(self) -> Period:
        if self.unit == "month":
            return Period.parse(self.end.strftime("%Y-%m"), "month")
        if self.unit == "quarter":
            return Period.parse(f"{self.end.year}-Q{(self.end.month - 1) // 3 + 1}", "quarter")
        iso = self.end.isocalendar()
        return Period.parse(f"{iso.year}-W{iso.week:02d}", "week")

    def __str__(self) -> str:
        return self.label


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def check_in_force(period: Period, effective_from: date, effective_until: date | None,
                   policy_id: str) -> None:
    """Refuse a period the policy does not cover: its verdicts would be a policy's that
    was not in force (before ``effective_from`` or after ``effective_until``)."""
    if period.end <= effective_from:
        raise PeriodError(
            f"period {period.label} ends before {policy_id} takes effect ({effective_from})",
            hint=f"audit a period from {effective_from} on, or change effective_from")
    if effective_until is not None and period.start > effective_until:
        raise PeriodError(
            f"period {period.label} starts after {policy_id} ends ({effective_until})",
            hint="audit it under the policy in force then, or extend effective_until")
