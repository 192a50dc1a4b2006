"""What the audit page shows, gathered from one audit's results and files.

Every figure here is read from what the audit wrote (``AuditResult``, its
``standing``, ``breaches.parquet``, the kept facts, earlier periods'
``results.json``): this module counts and sorts for display, and judges nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slapolicy.audit.results import AuditResult
    from slapolicy.policy.document import PolicyDocument

#: The columns of the embedded breach table, in order.
TABLE_COLUMNS = ("clause_id", "check", "team", "rep_id", "subject_id", "observed", "threshold",
                 "unit", "status", "excess")
#: How far beyond its threshold a breach is, comparable across clauses (share of the threshold).
_EXCESS = ("CASE WHEN threshold IS NULL OR observed IS NULL THEN NULL "
           "WHEN threshold = 0 THEN abs(observed) "
           "ELSE round(abs(observed - threshold) / abs(threshold), 6) END")
#: Response-time buckets, as multiples of the threshold; the threshold is the fourth edge.
BUCKETS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 24.0)


@dataclass(frozen=True)
class Count:
    key: str
    open: int
    excused: int = 0
    label: str = ""


@dataclass(frozen=True)
class PeriodPoint:
    period: str
    stage: int | None
    shared: str | None
    goals: dict[str, dict[str, float | None]]


@dataclass(frozen=True)
class Distribution:
    clause_id: str
    unit: str
    threshold: float
    edges: list[float]
    counts: list[int]


@dataclass
class ReportData:
    result: AuditResult
    policy_title: str
    currency: str
    zone: str
    goal_units: dict[str, str]
    by_clause: list[Count] = field(default_factory=list)
    by_team: list[Count] = field(default_factory=list)
    by_rep: list[Count] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    history: list[PeriodPoint] = field(default_factory=list)
    distribution: Distribution | None = None

    @property
    def standing(self) -> dict[str, Any]:
        return self.result.standing or {}


def gather(result: AuditResult, doc: PolicyDocument | None = None,
           audits: Path | None = None) -> ReportData:
    """Everything the page shows for ``result``; ``audits`` is where earlier periods are."""
    policy = doc.policy if doc is not None else None
    zone = "UTC"
    goal_units: dict[str, str] = {}
    if policy is not None:
        zone = policy.calendars[policy.default_calendar].time_zone
        units = {c.clause_id: c.unit for c in result.clauses}
        for g in policy.goals.items:
            if g.measure and g.measure.clause in units:
                goal_units[g.id] = units[g.measure.clause]
    data = ReportData(result, policy.title if policy else result.policy_id,
                      policy.currency if policy else "USD", zone, goal_units)
    _breaches(data)
    data.history = _history(result, audits)
    data.distribution = _distribution(result)
    return data


def _breaches(data: ReportData) -> None:
    import duckdb

    path = data.result.breaches_file
    if not path.exists():
        return
    con = duckdb.connect()
    try:
        target = str(path.resolve()).replace("'", "''")
        con.execute(f"CREATE VIEW b AS SELECT * FROM read_parquet('{target}')")
        counts = ("count(*) FILTER (WHERE status = 'open'), "
                  "count(*) FILTER (WHERE status = 'excused')")
        data.by_clause = [Count(k, o, x) for k, o, x in con.execute(
            f"SELECT clause_id, {counts} FROM b GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()]
        data.by_team = [Count(k or "", o, x) for k, o, x in con.execute(
            f"SELECT team, {counts} FROM b GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()]
        data.by_rep = [Count(k or "", o, x, t or "") for k, t, o, x in con.execute(
            f"SELECT rep_id, any_value(team ORDER BY team), {counts} FROM b "
            "WHERE rep_id IS NOT NULL GROUP BY 1 ORDER BY 3 DESC, 1").fetchall()]
        # Grouped by team and rep, worst first within each; evidence stays in breaches.csv.
        data.rows = con.execute(
            'SELECT clause_id, "check", team, coalesce(rep_id, \'\'), subject_id, observed, '
            f"threshold, unit, status, {_EXCESS} AS excess FROM b "
            "ORDER BY team, rep_id NULLS LAST, excess DESC NULLS LAST, clause_id, subject_id"
        ).fetchall()
    finally:
        con.close()


def _history(result: AuditResult, audits: Path | None) -> list[PeriodPoint]:
    """Earlier periods as their audits recorded them, then this one."""
    from slapolicy.audit.history import results_path

    standing = result.standing or {}
    points: list[PeriodPoint] = []
    for label in (standing.get("history") or {}).get("periods") or []:
        path = results_path(audits, result.policy_id, label) if audits else None
        if path is None:
            continue
        earlier = json.loads(path.read_text(encoding="utf-8")).get("standing") or {}
        points.append(_point(label, earlier))
    if standing:
        points.append(_point(result.period, standing))
    return points


def _point(label: str, standing: dict[str, Any]) -> PeriodPoint:
    ladder = standing.get("ladder") or {}
    goals = {g["id"]: {"target": g.get("target"), "actual": g.get("actual")}
             for g in standing.get("goals") or []}
    return PeriodPoint(label, ladder.get("stage"),
                       (standing.get("shared_goals") or {}).get("status"), goals)


def _distribution(result: AuditResult) -> Distribution | None:
    """How long subjects of the speed-to-lead clause waited, against its threshold."""
    import duckdb

    clause = next((c for c in result.clauses
                   if c.kind == "speed_to_lead" and c.threshold and c.subjects), None)
    if clause is None:
        return None
    index = result.folder / "facts" / "index.json"
    if not index.exists():
        return None
    checks = json.loads(index.read_text(encoding="utf-8")).get("checks") or {}
    entry = next((v for v in checks.values() if v.get("clause_id") == clause.clause_id), None)
    if entry is None:
        return None
    threshold = float(clause.threshold or 0)
    edges = [round(threshold * b, 6) for b in BUCKETS]
    cases = " ".join(f"WHEN observed < {e!r} THEN {i}" for i, e in enumerate(edges))
    con = duckdb.connect()
    try:
        rows = dict(con.execute(
            f"SELECT CASE {cases} ELSE {len(edges)} END AS bucket, count(*) "
            "FROM read_parquet(?) WHERE observed IS NOT NULL AND NOT coalesce(open, false) "
            "GROUP BY 1", [str(result.folder / "facts" / entry["file"])]).fetchall())
    finally:
        con.close()
    counts = [int(rows.get(i, 0)) for i in range(len(edges) + 1)]
    return Distribution(clause.clause_id, clause.unit, threshold, edges, counts)
