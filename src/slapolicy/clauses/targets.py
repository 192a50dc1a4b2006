"""Targets the sales outcome kinds share: a fixed number or a dated ramp.

``TargetParams``, ``target_problems``, ``resolve_target`` and ``target_threshold``
are pure Python over the policy (loading a policy imports no query engine); the
helpers that read data import Ibis inside themselves.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from slapolicy.clauses.base import Direction, Params, Reads, Threshold, reads_of
from slapolicy.policy.units import Amount

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from slapolicy.engine.context import AuditContext
    from slapolicy.policy.model import Policy
    from slapolicy.policy.periods import Period

TEAM_SUBJECT = "sales"

#: Who an aggregate outcome is judged for: the sales team as one, each rep, each rep's
#: manager (``people.manager_id``: the reps reporting to one manager pooled), or each
#: region (``people.region`` of the rep).
Per = Literal["team", "rep", "manager", "region"]
PER_HELP = ("one figure for the sales team (team), per rep (rep), per manager of the reps "
            "(manager: people.manager_id) or per region of the reps (region)")
_PER_COLUMN = {"manager": "manager_id", "region": "region"}


def per_reads(per: str, table: str) -> Reads:
    """What grouping ``table`` (which has ``rep_id``) by ``per`` reads."""
    if per == "team":
        return {}
    if per == "rep":
        return reads_of(REPS_WITHOUT_SUBJECTS_READS, {table: ["rep_id"]})
    return reads_of({table: ["rep_id"]}, people=["person_id", _PER_COLUMN[per]])


def group_subjects(ctx: AuditContext, rows: ir.Table, per: str,
                   what: str) -> tuple[ir.Table, list[str]]:
    """``rows`` with a ``subject_id`` for ``per``, and notes.

    For ``manager`` and ``region`` each row's rep is looked up in ``people``; a row whose
    rep has no manager (or region) belongs to no subject and is not counted, and a note
    says how many (``what`` names them, e.g. "won deals"), so nothing leaves silently.
    """
    import ibis

    if per == "team":
        return rows.mutate(subject_id=ibis.literal(TEAM_SUBJECT)), []
    if per == "rep":
        return rows.mutate(subject_id=rows.rep_id), []
    column = _PER_COLUMN[per]
    people = ctx.table("people")
    groups = people.select(_pid=people.person_id, _group=people[column])
    joined = rows.left_join(groups, rows.rep_id == groups._pid)
    grouped = joined.mutate(subject_id=joined._group).drop("_pid", "_group")
    n = int(grouped.filter(grouped.subject_id.isnull()).count().execute())
    notes = []
    if n:
        notes.append(f"{n} {what} by reps with no {column.replace('_id', '')} in people."
                     f"{column} belong to no {per} and are not counted")
    return grouped.filter(grouped.subject_id.notnull()), notes


class TargetParams(Params):
    """A target that is either a ramp's value on the period's last day or a fixed number."""

    ramp: str | None = Field(None, description="id of a ramp in `ramps`")
    target: Amount | None = Field(None, description="a fixed target")

    @model_validator(mode="after")
    def _one_target(self) -> TargetParams:
        if (self.ramp is None) == (self.target is None):
            raise ValueError("ramp or target: give exactly one, a ramp id or a number")
        return self


def target_problems(policy: Policy, ramp: str | None, direction: Direction,
                    what: str) -> list[str]:
    """The ramp must exist and point the way the check judges."""
    if ramp is None:
        return []
    if ramp not in policy.ramps:
        return [f"ramp {ramp!r} is not one of the policy's ramps ({', '.join(sorted(policy.ramps))})"]
    if policy.ramps[ramp].direction != direction:
        return [f"ramp {ramp!r} is {policy.ramps[ramp].direction}, but {what} is judged {direction}"]
    return []


def resolve_target(policy: Policy, params: TargetParams,
                   period: Period) -> tuple[float, str | None, str | None]:
    """The target for ``period``, the ramp id and the ramp date used (ISO) or None.

    A ramp gives its value on the period's last day; from the policy, never data.
    """
    if params.ramp is None:
        assert params.target is not None  # the params validator guarantees one of them
        return float(params.target), None, None
    last_day = period.end - timedelta(days=1)
    return policy.ramps[params.ramp].target_on(last_day), params.ramp, last_day.isoformat()


def target_threshold(policy: Policy, params: TargetParams, period: Period) -> Threshold:
    """The ``Threshold`` of ``resolve_target``, with its basis in words."""
    value, ramp, ramp_date = resolve_target(policy, params, period)
    basis = f"ramp {ramp} on {ramp_date}" if ramp else f"fixed target {value:g}"
    return Threshold(value, basis=basis)


def target_evidence(ramp: str | None, ramp_date: str | None) -> dict[str, ir.Value]:
    """Evidence columns naming where the threshold came from (policy values, not data)."""
    import ibis

    return {
        "ramp": ibis.literal(ramp, type="string") if ramp else ibis.null("string"),
        "ramp_date": ibis.literal(ramp_date, type="string") if ramp_date else ibis.null("string"),
    }


#: What ``require_closed_at`` reads.
REQUIRE_CLOSED_AT_READS: Reads = reads_of(
    opportunities="opportunity_id status closed_at created_at")

#: What ``reps_without_subjects`` reads.
REPS_WITHOUT_SUBJECTS_READS: Reads = reads_of(people="person_id team role")


def require_closed_at(ctx: AuditContext, statuses: list[str]) -> None:
    """Raise when closed opportunities that could fall in the period have no ``closed_at``.

    Only opportunities created before the period's end can have closed in it.
    """
    opps = ctx.table("opportunities")
    _, end = ctx.bounds
    bad = opps.filter(opps.status.isin(statuses) & opps.closed_at.isnull()
                      & (opps.created_at < end))
    n = int(bad.count().execute())
    if n:
        ids = bad.select("opportunity_id").order_by("opportunity_id").limit(3).execute()
        example = ", ".join(map(str, ids["opportunity_id"]))
        raise ValueError(
            f"{n} {' or '.join(statuses)} opportunit{'y has' if n == 1 else 'ies have'} no "
            f"closed_at (e.g. {example}): the period they closed in is unknown; "
            "fill opportunities.closed_at at the source")


def reps_without_subjects(ctx: AuditContext, facts: ir.Table, what: str) -> list[str]:
    """A note naming the sales reps (people) that are not subjects of per-rep ``facts``."""
    people = ctx.table("people")
    reps = people.filter((people.team == "sales") & (people.role == "rep"))
    missing = reps.anti_join(facts, reps.person_id == facts.subject_id)
    ids = sorted(map(str, missing.select("person_id").execute()["person_id"]))
    if not ids:
        return []
    shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    return [f"{len(ids)} sales rep{'' if len(ids) == 1 else 's'} ({shown}) {what} in "
            f"{ctx.period.label} and {'is' if len(ids) == 1 else 'are'} not in scope"]


def count_if(cond: ir.BooleanValue) -> ir.IntegerScalar:
    """Rows where ``cond`` holds, portable across backends (no boolean sums)."""
    return cond.ifelse(1, 0).sum()
