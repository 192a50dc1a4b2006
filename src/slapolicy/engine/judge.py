"""The judge: a check's threshold and tolerance applied to its facts, in the engine.

One code path for the audit, ``slapolicy test`` and the review form. Facts are
threshold-free (``slapolicy.clauses.base.Facts``); the judge adds the policy's
threshold, decides each subject's state, counts and summarises in one engine
query, and asks Great Expectations for the verdict under ``mostly`` on a columnar
batch holding only the two compared columns. pandera's row obligation and Great
Expectations must agree on the number of breaches, or the check is ``error``.

States of a subject:

- ``pending``: open, and its value can still move to either side of the threshold
  (an untouched lead still inside its window, a rate in a period not yet closed);
- ``compliant`` or ``breach``: decided, by pandera's row obligation;
- ``excused``: a breach that an approved excusal takes out of the verdict.

A check with no decided, unexcused subject is ``not_measured``, with its reason:
it is neither met nor missed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from slapolicy.clauses.spec import CheckSpec, Threshold

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from slapolicy.policy.excusals import Excusals

Status = Literal["pass", "warn", "not_measured", "fail", "error"]
#: From best to worst; a clause takes its worst check's status. ``not_measured``
#: outranks pass and warn (a clause is met only if every check was measured) and
#: yields to fail and error (a check that was measured and missed decides).
STATUS_ORDER: tuple[Status, ...] = ("pass", "warn", "not_measured", "fail", "error")
STATES = ("pending", "compliant", "breach", "excused")


@dataclass(frozen=True)
class CheckVerdict:
    """The judged outcome of one check (what ``results.json`` records per check)."""

    check: CheckSpec
    threshold: Threshold
    status: Status
    in_scope: int = 0
    subjects: int = 0
    compliant: int = 0
    breaches: int = 0
    excused: int = 0
    pending: int = 0
    compliance: float | None = None
    observed: dict[str, float | None] = field(
        default_factory=lambda: {"median": None, "p90": None, "max": None})
    pandera: dict[str, Any] = field(default_factory=dict)
    great_expectations: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject_type": self.check.subject_type, "level": self.check.level,
            "direction": self.check.direction, "unit": self.check.unit,
            "status": self.status, "in_scope": self.in_scope, "subjects": self.subjects,
            "compliant": self.compliant, "breaches": self.breaches, "excused": self.excused,
            "pending": self.pending, "compliance": self.compliance,
            "threshold": self.threshold.value, "threshold_rule": self.threshold.to_dict(),
            "observed": self.observed, "pandera": self.pandera,
            "great_expectations": self.great_expectations, "message": self.message,
        }


def errored(check: CheckSpec, threshold: Threshold, message: str) -> CheckVerdict:
    """The verdict of a check whose facts could not be measured."""
    return CheckVerdict(check=check, threshold=threshold, status="error", message=message)


def _double(value: float) -> ir.FloatingValue:
    """An exact DOUBLE literal: ibis renders ``0.35`` bare, which DuckDB reads as DECIMAL
    (and drops a cast to a type it already infers), so go through the text."""
    import ibis

    return ibis.literal(repr(float(value))).cast("float64")


def threshold_expression(table: ir.Table, threshold: Threshold) -> ir.FloatingValue:
    """The threshold per subject: the value, or an override keyed on a facts column."""
    import ibis

    if threshold.by is None or not threshold.overrides:
        return _double(threshold.value)
    return ibis.cases(
        *[(table[threshold.by] == key, _double(v)) for key, v in threshold.overrides],
        else_=_double(threshold.value),
    )


def excusal_expression(table: ir.Table, clause_id: str, subject_type: str,
                       excusals: Excusals | None) -> ir.StringValue:
    """The reason a subject's breach is excused (the first grant that matches), or null."""
    import ibis

    cases = []
    for g in excusals.grants if excusals else []:
        if g.clause not in ("*", clause_id):
            continue
        if g.subject_type == subject_type:
            cases.append((table.subject_id == g.subject_id, g.describe()))
        if g.subject_type == "rep":
            cases.append((table.rep_id.notnull() & (table.rep_id == g.subject_id), g.describe()))
    if not cases:
        return ibis.null("string")
    return ibis.cases(*cases, else_=ibis.null("string"))


def judged_table(facts: ir.Table, clause_id: str, check: CheckSpec, threshold: Threshold,
                 row_check: Any, excusals: Excusals | None) -> ir.Table:
    """``facts`` plus ``threshold``, ``state`` and ``reason`` (why excused), lazily."""
    import ibis

    from slapolicy.engine.rowchecks import compliance_expression

    t = facts.mutate(threshold=threshold_expression(facts, threshold))
    # An open value that only grows is settled once over a maximum or at a minimum.
    settled = (t.observed > t.threshold if check.direction == "at_most"
               else t.observed >= t.threshold)
    decided = ~t.open | settled if check.moves == "up" else ~t.open
    t = t.mutate(_decided=decided, _complies=compliance_expression(t, row_check),
                 reason=excusal_expression(t, clause_id, check.subject_type, excusals))
    state = ibis.cases(
        (~t._decided, "pending"),
        (t._complies, "compliant"),
        (t.reason.notnull(), "excused"),
        else_="breach",
    )
    t = t.mutate(state=state)
    return t.mutate(reason=(t.state == "excused").ifelse(t.reason, ibis.null("string"))).drop(
        "_decided", "_complies")


def judge_check(facts: ir.Table, clause_id: str, check: CheckSpec, threshold: Threshold, *,
                mostly: float, fail_below: float | None, row_check: Any,
                expectation: dict[str, Any] | None, excusals: Excusals | None = None,
                notes: list[str] | None = None,
                verify: bool = True) -> tuple[CheckVerdict, ir.Table]:
    """Judge one check; returns the verdict and the judged table (for breaches).

    ``verify`` (the audit) takes the verdict from Great Expectations, which must agree
    with the engine. Without it (judging kept facts again, whose files are checked
    against their SHA-256), the engine's own count decides under the same rule,
    ``compliance >= mostly``. The facts' types are fixed when they are kept; a null
    where the judge needs a value makes the check ``error``.
    """
    from slapolicy.engine import expectations

    name = f"{clause_id}:{check.name}"
    t = judged_table(facts, clause_id, check, threshold, row_check, excusals)
    decided = t.state != "pending"
    row = t.aggregate(
        in_scope=t.count(),
        **{s: (t.state == s).ifelse(1, 0).sum() for s in STATES},
        median=t.observed.quantile(0.5, where=decided),
        p90=t.observed.quantile(0.9, where=decided),
        max=t.observed.max(where=decided),
        nulls=(t.subject_id.isnull() | t.observed.isnull() | t.open.isnull()).ifelse(1, 0).sum(),
    ).to_pyarrow().to_pylist()[0]
    if row["nulls"]:
        return errored(check, threshold, (
            f"facts are malformed: {row['nulls']} subject(s) with a null subject_id, observed "
            "or open")), facts
    counts = {s: int(row[s] or 0) for s in STATES}
    subjects = counts["compliant"] + counts["breach"]
    observed = {k: (None if row[k] is None else float(row[k])) for k in ("median", "p90", "max")}
    messages = list(notes or [])
    base = dict(check=check, threshold=threshold, in_scope=int(row["in_scope"]),
                subjects=subjects, compliant=counts["compliant"], breaches=counts["breach"],
                excused=counts["excused"], pending=counts["pending"], observed=observed,
                pandera={"check": name, "failing_rows": counts["breach"]})
    if not subjects:
        reason = _not_measured_reason(check, int(row["in_scope"]), counts)
        return CheckVerdict(status="not_measured", message="; ".join([reason, *messages]),
                            **base), t  # type: ignore[arg-type]
    compliance = counts["compliant"] / subjects
    if not verify or expectation is None:
        status = tolerance_status(compliance >= mostly, compliance, fail_below)
        return CheckVerdict(status=status, compliance=compliance,
                            great_expectations={"skipped": "judged again from kept facts"},
                            message="; ".join(messages), **base), t  # type: ignore[arg-type]
    judged = t.filter((t.state == "compliant") | (t.state == "breach"))
    frame = judged.select("threshold", "observed").to_pyarrow().to_pandas()
    verdict = expectations.validate(frame, expectation)
    if verdict["unexpected_count"] != counts["breach"] or bool(verdict["success"]) != (
            compliance >= mostly):
        return CheckVerdict(
            status="error", great_expectations=verdict, compliance=compliance,
            message=(f"pandera found {counts['breach']} open breaches but Great Expectations "
                     f"{verdict['unexpected_count']}; the facts are inconsistent"),
            **base), t  # type: ignore[arg-type]
    status = tolerance_status(bool(verdict["success"]), compliance, fail_below)
    return CheckVerdict(status=status, great_expectations=verdict, compliance=compliance,
                        message="; ".join(messages), **base), t  # type: ignore[arg-type]


def tolerance_status(success: bool, compliance: float, fail_below: float | None) -> Status:
    """pass when the tolerance holds; warn between ``fail_below`` and ``mostly``; else fail."""
    if success:
        return "pass"
    if fail_below is not None and compliance >= fail_below:
        return "warn"
    return "fail"


def _not_measured_reason(check: CheckSpec, in_scope: int, counts: dict[str, int]) -> str:
    what = plural(check.subject_type)
    if not in_scope:
        return f"not measured: no {what} in scope this period"
    parts = []
    if counts["pending"]:
        parts.append(f"{counts['pending']} still pending (not yet due)")
    if counts["excused"]:
        parts.append(f"{counts['excused']} excused")
    return f"not measured: none of the {in_scope} {what} in scope could be judged ({', '.join(parts)})"


def plural(noun: str) -> str:
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun if noun.endswith("s") else noun + "s"


def worst(statuses: list[Status]) -> Status:
    """The clause's status from its checks' (``STATUS_ORDER``)."""
    return max(statuses, key=STATUS_ORDER.index) if statuses else "not_measured"
