"""Close rate on submitted proposals: won / (won + lost), at least the target.

In scope are opportunities with a submitted proposal (``proposal_submitted_at``
not null) that closed won or lost in the period (``closed_at``). The target is
a fixed number or a ramp's value on the period's last day (Company A: 25%,
35% from 30 June 2020, 50% from 31 December 2020).

Subjects are the sales team (``per: team``, subject ``sales``) or each rep with
at least one closed proposal (``per: rep``); a rep with none has no rate and is
not in scope. A period with no closed proposals has no close rate: 0 subjects,
a pass, with a note saying so. Closed opportunities without a proposal are not
counted (noted), and won or lost opportunities without ``closed_at`` make the
check an error, since their period is unknown.

This module also holds the target idioms the outcome kinds share
(``TargetParams``, ``target_problems``, ``resolve_target``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import ibis
from pydantic import Field, model_validator

from slapolicy.clauses.base import CheckSpec, ClauseKind, Direction, Facts, Params
from slapolicy.clauses.common import in_period, ramp_target

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from slapolicy.engine import AuditContext
    from slapolicy.policy.model import Clause, Policy

TEAM_SUBJECT = "sales"


class TargetParams(Params):
    """A target that is either a ramp's value on the period's last day or a fixed number."""

    ramp: str | None = Field(None, description="id of a ramp in `ramps`")
    target: float | None = Field(None, description="a fixed target")

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


def resolve_target(ctx: AuditContext, params: TargetParams) -> tuple[float, str | None, str | None]:
    """The target for ``ctx.period``, the ramp id and the ramp date used (ISO) or None."""
    if params.ramp is None:
        assert params.target is not None  # the params validator guarantees one of them
        return float(params.target), None, None
    return ramp_target(ctx, params.ramp), params.ramp, ctx.day().isoformat()


def target_evidence(ramp: str | None, ramp_date: str | None) -> dict[str, ir.Value]:
    """Evidence columns naming where the threshold came from."""
    return {
        "ramp": ibis.literal(ramp, type="string") if ramp else ibis.null("string"),
        "ramp_date": ibis.literal(ramp_date, type="string") if ramp_date else ibis.null("string"),
    }


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


class CloseRateParams(TargetParams):
    per: Literal["team", "rep"] = Field("team", description="one rate for the team, or per rep")


class CloseRate(ClauseKind):
    name = "close_rate"
    Params = CloseRateParams
    description = "Share of submitted proposals closed in the period that were won."

    def checks(self, clause: Clause, params: CloseRateParams) -> list[CheckSpec]:
        return [CheckSpec("close-rate", "at_least", "share of proposals won", params.per,
                          level="aggregate",
                          description="won / (won + lost) of proposals closed in the period")]

    def check_policy(self, policy: Policy, clause: Clause, params: CloseRateParams) -> list[str]:
        return target_problems(policy, params.ramp, "at_least", "the close rate")

    def facts(self, ctx: AuditContext, clause: Clause,
              params: CloseRateParams) -> dict[str, Facts]:
        require_closed_at(ctx, ["won", "lost"])
        target, ramp, ramp_date = resolve_target(ctx, params)
        opps = ctx.table("opportunities")
        closed = opps.filter(opps.status.isin(["won", "lost"]) & in_period(ctx, opps.closed_at))
        notes: list[str] = []
        unproposed = int(closed.filter(closed.proposal_submitted_at.isnull()).count().execute())
        if unproposed:
            notes.append(f"{unproposed} opportunit{'y' if unproposed == 1 else 'ies'} closed in "
                         f"{ctx.period.label} without a submitted proposal "
                         f"{'is' if unproposed == 1 else 'are'} not counted")
        props = closed.filter(closed.proposal_submitted_at.notnull())
        subject = props.rep_id if params.per == "rep" else ibis.literal(TEAM_SUBJECT)
        counts = props.mutate(subject_id=subject).group_by("subject_id").agg(
            won=count_if(props.status == "won"),
            lost=count_if(props.status == "lost"),
        )
        t = counts.select(
            subject_id=counts.subject_id.cast("string"),
            rep_id=counts.subject_id.cast("string") if params.per == "rep" else ibis.null("string"),
            observed=counts.won.cast("float64") / (counts.won + counts.lost).cast("float64"),
            threshold=ibis.literal(target, type="float64"),
            won=counts.won.cast("int64"),
            lost=counts.lost.cast("int64"),
            **target_evidence(ramp, ramp_date),
        )
        if int(t.count().execute()) == 0:
            notes.append(f"no proposals closed in {ctx.period.label}: the close rate is undefined")
        elif params.per == "rep":
            notes.extend(reps_without_subjects(ctx, t, "closed no proposal"))
        return {"close-rate": Facts(table=t, notes=notes)}
