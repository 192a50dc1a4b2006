"""Judge a period's kept facts under a policy: the path the audit, ``slapolicy test``
and the review form share.

Measuring happens once (``audit.run``); judging reads the kept facts of each check
with an embedded DuckDB, applies the policy's thresholds and tolerances
(``engine.judge``), and combines checks into clause results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slapolicy.audit.results import ClauseResult
from slapolicy.clauses import registry
from slapolicy.clauses.spec import Threshold
from slapolicy.engine.breaches import BreachSource
from slapolicy.engine.judge import CheckVerdict, errored, judge_check, worst

if TYPE_CHECKING:
    import ibis

    from slapolicy.engine.facts import FactsStore
    from slapolicy.policy.document import PolicyDocument
    from slapolicy.policy.excusals import Excusals
    from slapolicy.policy.model import Clause
    from slapolicy.policy.periods import Period


def judge_clause(con: ibis.BaseBackend, store: FactsStore, doc: PolicyDocument, clause: Clause,
                 period: Period, excusals: Excusals | None,
                 suite: dict[str, dict[str, Any]] | None = None, *, verify: bool = True,
                 ) -> tuple[ClauseResult, list[BreachSource]]:
    """Judge one clause's kept facts; a check that cannot be judged is ``error``.

    ``verify=False`` judges kept facts again without pandera's schema pass and Great
    Expectations (see ``engine.judge.judge_check``): the review form's fast path.
    """
    verdicts, sources = judge_checks(con, store, doc, clause, period, excusals, suite,
                                     verify=verify)
    return combine(clause, verdicts), sources


def judge_checks(con: ibis.BaseBackend, store: FactsStore, doc: PolicyDocument, clause: Clause,
                 period: Period, excusals: Excusals | None,
                 suite: dict[str, dict[str, Any]] | None = None, *, verify: bool = True,
                 checks: set[str] | None = None,
                 ) -> tuple[dict[str, CheckVerdict], list[BreachSource]]:
    """The verdict of each check of a clause (in the kind's order), or of ``checks``
    only (the review form judges again just the checks a change touches)."""
    kind = registry.get(clause.kind)
    params = doc.params_for(clause.id)
    verdicts: dict[str, CheckVerdict] = {}
    sources: list[BreachSource] = []
    team = doc.policy.teams.get(clause.owner)
    for spec in kind.checks(clause, params):
        if checks is not None and spec.name not in checks:
            continue
        entry = store.checks.get(f"{clause.id}:{spec.name}", {})
        try:
            threshold = kind.threshold(doc.policy, clause, params, spec, period)
        except Exception as e:  # a threshold the policy cannot give is this check's error
            verdicts[spec.name] = errored(spec, _no_threshold(), f"{type(e).__name__}: {e}")
            continue
        if entry.get("not_measured"):
            verdicts[spec.name] = CheckVerdict(check=spec, threshold=threshold,
                                               status="not_measured",
                                               message=f"not measured: {entry['not_measured']}")
            continue
        if not entry or entry.get("error") or not entry.get("file"):
            verdicts[spec.name] = errored(
                spec, threshold, entry.get("error") or "the kind measured no facts for this check")
            continue
        facts = store.table(con, clause.id, spec.name)
        config = ((suite or {}).get(f"{clause.id}:{spec.name}")
                  or kind.expectation(clause, params, spec)) if verify else None
        try:
            verdict, judged = judge_check(
                facts, clause.id, spec, threshold, mostly=clause.tolerance.mostly,
                fail_below=clause.tolerance.fail_below,
                row_check=kind.row_check(clause, params, spec), expectation=config,
                excusals=excusals, notes=list(entry.get("notes", [])), verify=verify)
        except Exception as e:  # one check's failure must not hide the others
            verdict = errored(spec, threshold, f"{type(e).__name__}: {e}")
        verdicts[spec.name] = verdict
        if verdict.status != "error" and verdict.breaches + verdict.excused:
            sources.append(BreachSource(
                table=judged, clause_id=clause.id, check=spec.name,
                subject_type=spec.subject_type, unit=spec.unit, team=clause.owner,
                team_lead=team.lead if team else None, severity=clause.severity))
    return verdicts, sources


def _no_threshold() -> Threshold:
    # NaN, never a number a subject could be compared with; results.json shows null.
    return Threshold(float("nan"), basis="the policy gives no threshold")


def combine(clause: Clause, verdicts: dict[str, CheckVerdict]) -> ClauseResult:
    """A clause's result from its checks' verdicts (worst status; counts added)."""
    base: dict[str, Any] = dict(clause_id=clause.id, kind=clause.kind, title=clause.title,
                                owner=clause.owner, mostly=clause.tolerance.mostly,
                                fail_below=clause.tolerance.fail_below)
    if not verdicts:
        return ClauseResult(status="error", unit="", subject_type="",
                            message="the clause has no checks", **base)
    items = list(verdicts.values())
    first = items[0]
    compliances = [v.compliance for v in items if v.compliance is not None]
    errors = [f"{n}: {v.message}" for n, v in verdicts.items() if v.status == "error"]
    notes = [f"{n}: {v.message}" for n, v in verdicts.items() if v.message and v.status != "error"]
    return ClauseResult(
        status=worst([v.status for v in items]),
        subject_type=first.check.subject_type,
        unit=first.check.unit,
        subjects=max(v.subjects for v in items),
        compliant=min(v.compliant for v in items),
        breaches=sum(v.breaches for v in items),
        excused=sum(v.excused for v in items),
        pending=max(v.pending for v in items),
        compliance=min(compliances) if compliances else None,
        threshold=None if math.isnan(first.threshold.value) else first.threshold.value,
        observed=dict(first.observed),
        message="; ".join(errors or notes),
        checks={n: v.to_dict() for n, v in verdicts.items()},
        **base,
    )


@dataclass
class Rejudged:
    """A period judged again from its kept facts under a (possibly other) policy."""

    period: Period
    clauses: list[ClauseResult]
    sources: list[BreachSource]


def rejudge(facts_folder: Path, doc: PolicyDocument, *, excusals: Excusals | None = None,
            con: ibis.BaseBackend | None = None, only: set[str] | None = None,
            verify: bool = False) -> Rejudged:
    """Judge an audited period's kept facts again under ``doc``'s thresholds and tolerances.

    Nothing is measured: the facts are read in place from their Parquet files. The
    clauses and checks must be those the facts were kept for (a threshold change, not a
    new clause); a clause the facts do not hold is ``error`` with that reason.
    """
    import ibis

    from slapolicy.engine.facts import FactsStore
    from slapolicy.policy.periods import Period

    store = FactsStore.open(facts_folder)
    period = Period.parse(store.key["period"], doc.policy.periods.unit)
    con = con or ibis.duckdb.connect()
    clauses, sources = [], []
    for clause in doc.policy.clauses:
        if not clause.enabled or (only is not None and clause.id not in only):
            continue
        result, found = judge_clause(con, store, doc, clause, period, excusals, verify=verify)
        clauses.append(result)
        sources.extend(found)
    return Rejudged(period, clauses, sources)
