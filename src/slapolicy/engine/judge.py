"""Evaluate one clause: facts in the engine, pandera for breaches, GE for the verdict."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slapolicy.engine import expectations, rowchecks
from slapolicy.clauses.base import FACT_COLUMNS
from slapolicy.audit.results import Breach, ClauseResult, Status

if TYPE_CHECKING:
    import pandas as pd

    from slapolicy.clauses.base import CheckSpec, ClauseKind, Facts
    from slapolicy.engine.context import AuditContext
    from slapolicy.policy.excusals import Excusals
    from slapolicy.policy.model import Clause

log = logging.getLogger(__name__)
_ORDER: list[Status] = ["pass", "warn", "fail", "error"]


def evaluate_clause(
    ctx: AuditContext, clause: Clause, kind: ClauseKind, params: Any, excusals: Excusals,
    suite: dict[str, dict[str, Any]] | None = None,
) -> tuple[ClauseResult, list[Breach]]:
    """Never raises for a clause that cannot be evaluated: that is an ``error`` result.

    ``suite`` maps ``"<clause>:<check>"`` to the compiled expectation to run; without
    it the kind's own expectation is used.
    """
    base: dict[str, Any] = dict(clause_id=clause.id, kind=clause.kind, title=clause.title,
                                owner=clause.owner, mostly=clause.tolerance.mostly,
                                fail_below=clause.tolerance.fail_below)
    try:
        specs = kind.checks(clause, params)
        all_facts = kind.facts(ctx, clause, params)
        missing = [s.name for s in specs if s.name not in all_facts]
        if missing:
            raise ValueError(f"the kind built no facts for check(s) {', '.join(missing)}")
        per_check: dict[str, dict[str, Any]] = {}
        breaches: list[Breach] = []
        for spec in specs:
            config = (suite or {}).get(f"{clause.id}:{spec.name}") or kind.expectation(
                clause, params, spec)
            detail, found = _evaluate_check(ctx, clause, kind, params, spec,
                                            all_facts[spec.name], config, excusals)
            per_check[spec.name] = detail
            breaches.extend(found)
    except Exception as e:  # a clause that cannot be evaluated must say why, not vanish
        log.exception("clause %s could not be evaluated", clause.id)
        return ClauseResult(status="error", unit="", subject_type="",
                            message=f"{type(e).__name__}: {e}", **base), []

    first = per_check[specs[0].name]
    status = max((d["status"] for d in per_check.values()), key=_ORDER.index)
    compliances = [d["compliance"] for d in per_check.values() if d["compliance"] is not None]
    errors = [f"{n}: {d['message']}" for n, d in per_check.items() if d["status"] == "error"]
    notes = [f"{n}: {d['message']}" for n, d in per_check.items()
             if d["message"] and d["status"] != "error"]
    result = ClauseResult(
        status=status,
        subject_type=specs[0].subject_type,
        unit=first["unit"],
        subjects=max(d["subjects"] for d in per_check.values()),
        compliant=min(d["compliant"] for d in per_check.values()),
        breaches=sum(d["breaches"] for d in per_check.values()),
        excused=sum(d["excused"] for d in per_check.values()),
        pending=max(d["pending"] for d in per_check.values()),
        compliance=min(compliances) if compliances else None,
        threshold=first["threshold"],
        observed=first["observed"],
        message="; ".join(errors or notes),
        checks=per_check,
        **base,
    )
    return result, breaches


def _evaluate_check(
    ctx: AuditContext, clause: Clause, kind: ClauseKind, params: Any, spec: CheckSpec,
    facts: Facts, config: dict[str, Any], excusals: Excusals,
) -> tuple[dict[str, Any], list[Breach]]:
    name = f"{clause.id}:{spec.name}"
    if facts.error is not None or facts.table is None:
        return {"subject_type": spec.subject_type, "level": spec.level,
                "direction": spec.direction, "unit": spec.unit, "subjects": 0, "breaches": 0,
                "excused": 0, "pending": facts.pending, "compliant": 0, "compliance": None,
                "threshold": None, "observed": {"median": None, "p90": None, "max": None},
                "status": "error",
                "message": facts.error or "the kind built no facts table"}, []
    table = ctx.engine.materialize(f"_facts_{clause.id}_{spec.name}".replace("-", "_"),
                                   facts.table)
    rows = rowchecks.failing_rows(table, name, kind.row_check(clause, params, spec))
    frame = table.select(*FACT_COLUMNS).execute()
    found = [_breach(ctx, clause, spec, row, excusals) for row in rows]
    excused_ids = {b.subject_id for b in found if b.status == "excused"}
    judged = frame[~frame["subject_id"].isin(excused_ids)] if excused_ids else frame
    verdict = expectations.validate(judged, config)
    open_count = sum(b.status == "open" for b in found)
    subjects = len(judged)
    detail: dict[str, Any] = {
        "subject_type": spec.subject_type, "level": spec.level, "direction": spec.direction,
        "unit": spec.unit, "subjects": subjects, "breaches": open_count,
        "excused": len(found) - open_count, "pending": facts.pending,
        "compliant": subjects - open_count,
        "compliance": (subjects - open_count) / subjects if subjects else None,
        "threshold": _threshold(frame), "observed": _observed(frame),
        "pandera": {"check": name, "failing_rows": len(rows)},
        "great_expectations": verdict,
        "message": "; ".join(facts.notes),
    }
    if verdict["unexpected_count"] != open_count:
        detail.update(status="error", message=(
            f"pandera found {open_count} open breaches but Great Expectations "
            f"{verdict['unexpected_count']}; the facts are inconsistent"))
        return detail, []
    if not subjects:
        detail["message"] = detail["message"] or f"no {_plural(spec.subject_type)} in scope this period"
    detail["status"] = _status(verdict["success"], detail["compliance"], clause)
    return detail, found


def _plural(noun: str) -> str:
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun if noun.endswith("s") else noun + "s"


def _status(success: bool, compliance: float | None, clause: Clause) -> Status:
    if success:
        return "pass"
    fail_below = clause.tolerance.fail_below
    if fail_below is not None and compliance is not None and compliance >= fail_below:
        return "warn"
    return "fail"


def _threshold(frame: pd.DataFrame) -> float | None:
    values = sorted(set(frame["threshold"].tolist()))
    return float(values[0]) if len(values) == 1 else None


def _observed(frame: pd.DataFrame) -> dict[str, float | None]:
    s = frame["observed"]
    if not len(s):
        return {"median": None, "p90": None, "max": None}
    return {"median": float(s.quantile(0.5)), "p90": float(s.quantile(0.9)),
            "max": float(s.max())}


def _breach(ctx: AuditContext, clause: Clause, spec: CheckSpec, row: dict[str, Any],
            excusals: Excusals) -> Breach:
    rep = _plain(row.get("rep_id"))
    rep = None if rep is None else str(rep)
    team = ctx.doc.policy.teams.get(clause.owner)
    subject_id = str(row["subject_id"])
    evidence = {k: _plain(v) for k, v in row.items() if k not in FACT_COLUMNS}
    grant = excusals.find(clause.id, spec.subject_type, subject_id, rep)
    return Breach(
        clause_id=clause.id,
        check=spec.name,
        subject_type=spec.subject_type,
        subject_id=subject_id,
        rep_id=rep,
        team=clause.owner,
        person_id=rep or (team.lead if team else None),
        observed=float(row["observed"]),
        threshold=float(row["threshold"]),
        unit=spec.unit,
        severity=clause.severity,
        status="excused" if grant else "open",
        reason=grant.describe() if grant else "",
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
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
