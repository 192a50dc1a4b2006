"""What an audit finds: clause results and breach records, written deterministically.

The files written here are hashed by later steps, so they hold no run times, and
the same inputs give the same bytes: rows sorted, floats rounded to 6 places,
keys sorted, UTF-8 with ``\\n`` line ends.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

Status = Literal["pass", "warn", "not_measured", "fail", "error"]
Severity = Literal["warn", "fail"]
BREACH_ORDER = 'clause_id, "check", subject_type, subject_id, rep_id'
STATUSES: tuple[Status, ...] = ("pass", "warn", "not_measured", "fail", "error")


@dataclass(frozen=True)
class Breach:
    """One row of ``breaches.parquet``, read back for display or tests (never built per
    breach while auditing: the engine writes the files)."""

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
    folder: Path
    standing: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> Status:
        return max((c.status for c in self.clauses), key=STATUSES.index, default="not_measured")

    @property
    def breaches_file(self) -> Path:
        return self.folder / "breaches.parquet"

    def summary(self) -> dict[str, Any]:
        counts = {s: sum(c.status == s for c in self.clauses) for s in STATUSES}
        return {"status": self.status, "clauses": counts,
                "breaches": sum(c.breaches for c in self.clauses),
                "excused": sum(c.excused for c in self.clauses)}

    def read_breaches(self, *, clause_id: str | None = None, limit: int | None = None,
                      order: str | None = None) -> list[Breach]:
        """Breach rows from ``breaches.parquet`` (all of them unless ``limit``)."""
        import duckdb

        where = "" if clause_id is None else "WHERE clause_id = ?"
        order_by = order or BREACH_ORDER
        sql = (f"SELECT * FROM read_parquet(?) {where} ORDER BY {order_by}"
               + ("" if limit is None else f" LIMIT {int(limit)}"))
        args = [str(self.breaches_file)] + ([] if clause_id is None else [clause_id])
        con = duckdb.connect()
        try:
            cur = con.execute(sql, args)
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        finally:
            con.close()
        return [Breach(**{**r, "evidence": json.loads(r["evidence"] or "{}")}) for r in rows]

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

    def write(self, folder: Path) -> dict[str, Path]:
        """Write ``results.json`` into ``folder``; the engine wrote the breaches and facts
        into ``self.folder`` (copied over when ``folder`` is another place)."""
        import shutil

        folder.mkdir(parents=True, exist_ok=True)
        out = {"results.json": folder / "results.json"}
        if folder.resolve() != self.folder.resolve():
            for name in ("breaches.parquet", "breaches.csv"):
                shutil.copyfile(self.folder / name, folder / name)
            shutil.copytree(self.folder / "facts", folder / "facts", dirs_exist_ok=True)
        out["breaches.parquet"] = folder / "breaches.parquet"
        out["breaches.csv"] = folder / "breaches.csv"
        out["results.json"].write_text(self.to_json(), encoding="utf-8", newline="\n")
        return out


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
