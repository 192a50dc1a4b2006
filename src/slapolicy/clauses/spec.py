"""What a check is, known from the policy alone: no query engine, no data.

A clause kind turns one clause into checks. Each check *measures* threshold-free
facts (one row per subject in scope) and states here how they are *judged*: the
direction of the comparison, the threshold the policy sets, and how a subject that
is still open (its value can change by the end of the period) may move.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Direction = Literal["at_most", "at_least"]
Level = Literal["row", "aggregate"]
#: How the observed value of an *open* subject can still change: ``up`` only (an
#: elapsed time, a count), so some open subjects are already decided; or ``either``
#: (a rate), so every open subject is pending until it closes.
Moves = Literal["up", "either"]

#: Columns every facts table carries; any others are the breach's evidence.
FACT_COLUMNS = ("subject_id", "rep_id", "observed", "open")

#: What a clause reads (``ClauseKind.reads``): contract table -> the columns of it that
#: ``measure`` reads. A table with no columns is read for its row count only.
Reads = dict[str, frozenset[str]]


def reads_of(*parts: Mapping[str, Iterable[str]], **tables: str | Iterable[str]) -> Reads:
    """Tables and columns read, merged into one ``Reads``.

    Each keyword names a contract table; its value lists the columns, as names or as one
    string of names separated by spaces (``leads="lead_id mql_at"``). ``parts`` are
    declarations to merge in, such as what a shared helper reads
    (``FIRST_ACTIVITY_READS``); ``{}`` adds nothing.
    """
    out: dict[str, set[str]] = {}
    for part in (*parts, tables):
        for table, columns in part.items():
            names = columns.split() if isinstance(columns, str) else columns
            out.setdefault(table, set()).update(names)
    return {table: frozenset(columns) for table, columns in sorted(out.items())}


# What shared helpers outside the pure modules read (``counting`` and ``targets``
# declare theirs beside the helpers).

#: ``common.first_activity``: the activities it joins, besides ``lead_id`` and the start
#: column of the leads it is given.
FIRST_ACTIVITY_READS: Reads = reads_of(activities="lead_id occurred_at")

#: ``AuditContext.person_calendars`` (a person's calendar from ``people.region``).
PERSON_CALENDARS_READS: Reads = reads_of(people="person_id region")


@dataclass(frozen=True)
class CheckSpec:
    """One comparison a clause makes (compiled to a suite, judged by the engine)."""

    name: str
    direction: Direction
    unit: str
    subject_type: str
    level: Level = "row"
    description: str = ""
    moves: Moves = "up"


@dataclass(frozen=True)
class Threshold:
    """The policy's threshold for one check in one period.

    ``value`` applies to every subject, except that where ``by`` names a facts
    column, a subject whose value of that column is a key of ``overrides`` gets
    the override (speed to lead's per-source hours). ``basis`` says in words where
    the number comes from (a parameter, a ramp on a date, a scaled monthly figure).
    """

    value: float
    by: str | None = None
    overrides: tuple[tuple[str, float], ...] = ()
    basis: str = ""

    def __post_init__(self) -> None:
        if self.overrides and self.by is None:
            raise ValueError("threshold overrides need `by`, the facts column they key on")

    def with_value(self, value: float) -> Threshold:
        return Threshold(float(value), self.by, self.overrides, self.basis)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "basis": self.basis}
        if self.by is not None:
            out["by"] = self.by
            out["overrides"] = dict(self.overrides)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Threshold:
        return cls(float(data["value"]), data.get("by"),
                   tuple(sorted((str(k), float(v)) for k, v in (data.get("overrides") or {}).items())),
                   str(data.get("basis", "")))
