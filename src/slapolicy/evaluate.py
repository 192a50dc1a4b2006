"""Evaluate one clause: facts in the engine, pandera for breaches, GE for the verdict."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slapolicy import expectations, rowchecks
from slapolicy.clauses.base import FACT_COLUMNS
from slapolicy.results import Breach, ClauseResult, Status

if TYPE_CHECKING:
    from pydantic import BaseModel

    from slapolicy.clauses.base import ClauseKind
    from slapolicy.engine import AuditContext
    from slapolicy.policy.model import Clause

log = logging.getLogger(__name__)


def evaluate_clause(
    ctx: AuditContext, clause: Clause, kind: ClauseKind, params: BaseModel
) -> tuple[ClauseResult, list[Breach]]:
    """Never raises for a clause that cannot be evaluated: that is an ``error`` result."""
    base: dict[str, Any] = dict(clause_id=clause.id, kind=clause.kind, title=clause.title, owner=clause.owner,
                subject_type=kind.subject_type, mostly=clause.tolerance.mostly,
                fail_below=clause.tolerance.fail_below)
    try:
        facts = kind.facts(ctx, clause, params)
        facts.table = ctx.engine.materialize(f"_facts_{clause.id.replace('-', '_')}", facts.table)
        rows = rowchecks.failing_rows(facts.table, clause.id, facts.direction)
        frame = facts.table.select(*FACT_COLUMNS).execute()
        config = expectations.expectation_config(clause.id, facts.direction,
                                                 clause.tolerance.mostly)
        verdict = expectations.validate(frame, config)
    except Exception as e:  # a clause that cannot be evaluated must say why, not vanish
        log.exception("clause %s could not be evaluated", clause.id)
        return ClauseResult(status="error", unit="", message=f"{type(e).__name__}: {e}",
                            **base), []

    subjects = len(frame)
    if verdict["unexpected_count"] != len(rows):
        return ClauseResult(
            status="error", unit=facts.unit, subjects=subjects,
            message=(f"pandera found {len(rows)} breaches but Great Expectations "
                     f"{verdict['unexpected_count']}; the facts are inconsistent"),
            **base,
        ), []
    compliance = (subjects - len(rows)) / subjects if subjects else None
    status: Status
    if verdict["success"]:
        status = "pass"
    elif (clause.tolerance.fail_below is not None and compliance is not None
          and compliance >= clause.tolerance.fail_below):
        status = "warn"
    else:
        status = "fail"
    thresholds = sorted(set(frame["threshold"].tolist()))
    observed = frame["observed"]
    result = ClauseResult(
        status=status,
        unit=facts.unit,
        subjects=subjects,
        compliant=subjects - len(rows),
        breaches=len(rows),
        pending=facts.pending,
        compliance=compliance,
        threshold=thresholds[0] if len(thresholds) == 1 else None,
        observed={
            "median": _q(observed, 0.5), "p90": _q(observed, 0.9),
            "max": float(observed.max()) if subjects else None,
        },
        message=(f"no {kind.subject_type}s in scope this period" if not subjects
                 else "; ".join(facts.notes)),
        checks={"pandera": {"schema": clause.id, "failing_rows": len(rows)},
                "great_expectations": verdict,
                "thresholds": thresholds if len(thresholds) > 1 else []},
        **base,
    )
    breaches = [_breach(ctx, clause, kind, row, facts.unit) for row in rows]
    return result, breaches


def _q(series: Any, q: float) -> float | None:
    return float(series.quantile(q)) if len(series) else None


def _breach(ctx: AuditContext, clause: Clause, kind: ClauseKind, row: dict[str, Any],
            unit: str) -> Breach:
    rep = row.get("rep_id")
    rep = None if rep is None or rep != rep else str(rep)
    team = ctx.doc.policy.teams.get(clause.owner)
    evidence = {k: _plain(v) for k, v in row.items() if k not in FACT_COLUMNS}
    return Breach(
        clause_id=clause.id,
        subject_type=kind.subject_type,
        subject_id=str(row["subject_id"]),
        rep_id=rep,
        team=clause.owner,
        person_id=rep or (team.lead if team else None),
        observed=float(row["observed"]),
        threshold=float(row["threshold"]),
        unit=unit,
        severity=clause.severity,
        evidence=evidence,
    )


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        try:
            # Engine instants are naive UTC: say so in the record.
            return None if value != value else value.isoformat() + "Z"
        except (TypeError, ValueError):
            return None
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
