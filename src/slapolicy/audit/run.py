"""Audit one period: the single code path the CLI, the notebook and the tests share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from slapolicy.clauses import registry
from slapolicy.engine.context import AuditContext, Engine
from slapolicy.engine.judge import evaluate_clause
from slapolicy.policy.excusals import Excusals
from slapolicy.audit.history import load_history
from slapolicy.policy.periods import Period
from slapolicy.policy.loader import PolicyDocument, load_policy
from slapolicy.audit.results import AuditResult, Breach, ClauseResult
from slapolicy.audit.review import review_status
from slapolicy.engine.sources import DataSource
from slapolicy.audit.standing import assess
from slapolicy.engine.suites import load_suite


@dataclass(frozen=True)
class AuditRequest:
    """What to audit: the parameters of ``notebooks/audit.ipynb``.

    ``audits`` is the root of earlier audits, which the ladder, goals and rewards read
    (without it the audit states it has no history). ``expectations`` is the folder of
    compiled suites (default: ``expectations/``
    beside the policy's folder); ``exceptions`` a period file of excusals
    (default: ``<policy folder>/exceptions/<policy id>/<period>.yaml`` if present).
    """

    policy: Path
    period: str
    data: Path
    data_zone: str | None = None
    as_of: datetime | None = None
    expectations: Path | None = None
    exceptions: Path | None = None
    audits: Path | None = None

    def expectations_dir(self) -> Path:
        return self.expectations or default_expectations_dir(self.policy)

    def exceptions_file(self, policy_id: str, period: str) -> Path:
        return self.exceptions or (
            self.policy.resolve().parent / "exceptions" / policy_id / f"{period}.yaml")


def default_expectations_dir(policy: Path) -> Path:
    return policy.resolve().parent.parent / "expectations"


def audit_period(request: AuditRequest) -> AuditResult:
    """Evaluate every enabled clause of the policy for the period."""
    doc = load_policy(request.policy)
    return audit_document(doc, request)


def audit_document(doc: PolicyDocument, request: AuditRequest, *,
                   compiled: bool = True, only: set[str] | None = None) -> AuditResult:
    """Audit with an already loaded policy.

    ``compiled=False`` skips the suite file (policy tests and what-if runs evaluate
    a policy that was never compiled); ``only`` limits the audit to those clause ids.
    """
    period = Period.parse(request.period, doc.policy.periods.unit)
    history = load_history(request.audits, doc.policy, period)  # stop early if incomplete
    suite = load_suite(request.expectations_dir(), doc) if compiled else None
    excusals = Excusals.for_period(doc.policy, period.label,
                                   request.exceptions_file(doc.id, period.label))
    source = DataSource.from_arg(request.data, request.data_zone)
    engine = Engine.from_source(source)
    ctx = AuditContext.build(doc, period, engine, as_of=request.as_of)
    clauses: list[ClauseResult] = []
    breaches: list[Breach] = []
    for clause in doc.policy.clauses:
        if not clause.enabled or (only is not None and clause.id not in only):
            continue
        result, found = evaluate_clause(ctx, clause, registry.get(clause.kind),
                                        doc.params_for(clause.id), excusals, suite)
        clauses.append(result)
        breaches.extend(found)
    standing = assess(doc.policy, period, clauses, history, review_status(ctx))
    start, end = ctx.bounds
    return AuditResult(
        policy_id=doc.id,
        policy_version=doc.version,
        policy_hash=doc.content_hash,
        period=period.label,
        period_start=start.isoformat() + "Z",
        period_end=end.isoformat() + "Z",
        as_of=ctx.as_of.isoformat() + "Z",
        data={"kind": source.kind, "declared_zone": source.declared_zone,
              "exceptions": [Path(s).name if s != "policy" else s for s in excusals.sources]},
        clauses=clauses,
        breaches=sorted(breaches, key=Breach.sort_key),
        standing=standing.body,
    )


def audit_folder(root: Path, policy_id: str, period: str) -> Path:
    """Where a period's audit lives: ``<root>/<policy id>/<period>/``."""
    return root / policy_id / period
