"""What an audit finds: clause results and breach records, written deterministically.

The files written here are hashed by later steps, so they hold no run times, and
the same inputs give the same bytes: rows sorted, floats rounded to 6 places,
keys sorted, UTF-8 with ``\\n`` line ends.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

Status = Literal["pass", "warn", "fail", "error"]
Severity = Literal["warn", "fail"]

BREACH_COLUMNS = (
    "clause_id", "check", "subject_type", "subject_id", "rep_id", "team", "person_id",
    "observed", "threshold", "unit", "severity", "status", "reason", "evidence",
)


@dataclass(frozen=True)
class Breach:
    clause_id: str
    check: str
    subject_type: str
    subject_id: str
    rep_id: str | None
    team: str
    person_id: str | None
    observed: float | None
    threshold: float | None
    unit: str
    severity: Severity
    status: Literal["open", "excused"] = "open"
    reason: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.clause_id, self.check, self.subject_type, self.subject_id)


@dataclass(frozen=True)
class ClauseResult:
    clause_id: str
    kind: str
    title: str
    owner: str
    status: Status
    subject_type: str
    unit: str
    subjects: int = 0
    compliant: int = 0
    breaches: int = 0
    excused: int = 0
    pending: int = 0
    compliance: float | None = None
    threshold: float | None = None
    observed: dict[str, float | None] = field(default_factory=dict)
    mostly: float = 1.0
    fail_below: float | None = None
    message: str = ""
    checks: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditResult:
    policy_id: str
    policy_version: str
    policy_hash: str
    period: str
    period_start: str
    period_end: str
    as_of: str
    data: dict[str, Any]
    clauses: list[ClauseResult]
    breaches: list[Breach]
    standing: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> Status:
        order = ["pass", "warn", "fail", "error"]
        return max((c.status for c in self.clauses), key=order.index, default="pass")

    def summary(self) -> dict[str, Any]:
        counts = {s: sum(c.status == s for c in self.clauses)
                  for s in ("pass", "warn", "fail", "error")}
        return {"status": self.status, "clauses": counts,
                "breaches": sum(b.status == "open" for b in self.breaches),
                "excused": sum(b.status == "excused" for b in self.breaches)}

    def to_json(self) -> str:
        body = {
            "policy": {"id": self.policy_id, "version": self.policy_version,
                       "content_hash": self.policy_hash},
            "period": {"label": self.period, "start": self.period_start, "end": self.period_end,
                       "as_of": self.as_of},
            "data": self.data,
            "summary": self.summary(),
            "clauses": [asdict(c) for c in sorted(self.clauses, key=lambda c: c.clause_id)],
            "standing": self.standing,
        }
        return json.dumps(_clean(body), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def breaches_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(BREACH_COLUMNS)
        for b in sorted(self.breaches, key=Breach.sort_key):
            row = asdict(b)
            row["evidence"] = json.dumps(_clean(b.evidence), sort_keys=True,
                                         separators=(",", ":"), ensure_ascii=False)
            w.writerow(["" if row[c] is None else _fmt(row[c]) for c in BREACH_COLUMNS])
        return buf.getvalue()

    def write(self, folder: Path) -> dict[str, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        out = {"results.json": folder / "results.json", "breaches.csv": folder / "breaches.csv"}
        out["results.json"].write_text(self.to_json(), encoding="utf-8", newline="\n")
        out["breaches.csv"].write_text(self.breaches_csv(), encoding="utf-8", newline="\n")
        return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return _num(value)
    return str(value)


def _num(value: float) -> str:
    rounded = round(value, 6)
    return str(int(rounded)) if rounded == int(rounded) else repr(rounded)


def _clean(value: Any) -> Any:
    """JSON-safe, deterministic: rounded floats, ISO instants, no NaN."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else round(value, 6)
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _clean(value.item())
    return value


def load_results(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
