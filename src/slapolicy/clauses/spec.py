"""What a check is, known from the policy alone: no query engine, no data.

A clause kind turns one clause into checks. Each check *measures* threshold-free
facts (one row per subject in scope) and states here how they are *judged*: the
direction of the comparison, the threshold the policy sets, and how a subject that
is still open (its value can change by the end of the period) may move.
"""

from __future__ import annotations

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
