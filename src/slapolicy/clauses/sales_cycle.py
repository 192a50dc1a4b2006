"""Sales cycle: days from opportunity to close for deals won in the period, at most the target.

In scope are opportunities won with ``closed_at`` in the period; each deal's
cycle is ``closed_at - created_at`` in days (wall clock). The clause judges the
mean (default) or the median against a fixed target or a ramp's value on the
period's last day (Company A: 45 days, 40 from 30 June 2020, 35 from 31
December 2020).

Subjects are the sales team (``per: team``, subject ``sales``) or each rep
with at least one deal won in the period (``per: rep``), or each manager or region
of the reps (``per: manager``/``region``, from ``people``). A period with no won
deals has no cycle to measure: nothing in scope, so the check is not measured,
with a note. Won deals without ``closed_at``, or closed before they were
created, make the check an error rather than skew the figure.

While the period is still open at ``as_of`` every figure is open: deals still to
be won can raise or lower the mean or median (``moves="either"``), so the judge
holds them pending until the period ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from slapolicy.clauses.base import CheckSpec, ClauseKind, Facts, Threshold, reads_of
from slapolicy.clauses.targets import (
    PER_HELP,
    REQUIRE_CLOSED_AT_READS,
    Per,
    TargetParams,
    group_subjects,
    per_reads,
    reps_without_subjects,
    require_closed_at,
    resolve_target,
    target_evidence,
    target_problems,
    target_threshold,
)

if TYPE_CHECKING:
    from slapolicy.engine.context import AuditContext
    from slapolicy.policy.model import Clause, Policy
    from slapolicy.policy.periods import Period

_DAY = 86400.0


class SalesCycleParams(TargetParams):
    statistic: Literal["mean", "median"] = Field("mean", description="what is judged")
    per: Per = Field("team", description=PER_HELP)


class SalesCycle(ClauseKind):
    name = "sales_cycle"
    Params = SalesCycleParams
    description = "Mean (or median) days from opportunity to close of deals won in the period."

    def checks(self, clause: Clause, params: SalesCycleParams) -> list[CheckSpec]:
        return [CheckSpec("sales-cycle", "at_most", "days", params.per, level="aggregate",
                          moves="either",
                          description=f"{params.statistic} days from opportunity created to "
                                      "won, of deals won in the period")]

    def check_policy(self, policy: Policy, clause: Clause, params: SalesCycleParams) -> list[str]:
        return target_problems(policy, params.ramp, "at_most", "the sales cycle")

    def threshold(self, policy: Policy, clause: Clause, params: SalesCycleParams,
                  check: CheckSpec, period: Period) -> Threshold:
        return target_threshold(policy, params, period)

    def reads(self, clause: Clause, params: SalesCycleParams) -> dict[str, frozenset[str]]:
        return reads_of(REQUIRE_CLOSED_AT_READS, per_reads(params.per, "opportunities"),
                        opportunities=["opportunity_id", "status", "created_at", "closed_at"])

    def measure(self, ctx: AuditContext, clause: Clause,
                params: SalesCycleParams) -> dict[str, Facts]:
        import ibis

        from slapolicy.clauses.common import in_period
        from slapolicy.clauses.counting import open_notes, period_open

        # The ramp is evidence (from the policy), not the threshold the judge applies.
        _, ramp, ramp_date = resolve_target(ctx.doc.policy, params, ctx.period)
        opps = ctx.table("opportunities")
        won = opps.filter((opps.status == "won") & in_period(ctx, opps.closed_at))
        won = won.mutate(
            days=(won.closed_at.epoch_seconds() - won.created_at.epoch_seconds()).cast("float64")
            / _DAY)
        backwards = won.filter(won.days < 0)
        n = int(backwards.count().execute())
        if n:
            ids = backwards.select("opportunity_id").order_by("opportunity_id").limit(3).execute()
            raise ValueError(
                f"{n} won opportunit{'y' if n == 1 else 'ies'} closed before "
                f"{'it was' if n == 1 else 'they were'} created (e.g. "
                f"{', '.join(map(str, ids['opportunity_id']))}): correct created_at or "
                "closed_at at the source")
        require_closed_at(ctx, ["won"])

        won, grouping = group_subjects(ctx, won, params.per, "deals won in the period")
        g = won.group_by("subject_id").agg(
            won=won.opportunity_id.count(),
            mean_days=won.days.mean(),
            median_days=won.days.median(),
        )
        observed = g.mean_days if params.statistic == "mean" else g.median_days
        t = g.select(
            subject_id=g.subject_id.cast("string"),
            rep_id=g.subject_id.cast("string") if params.per == "rep" else ibis.null("string"),
            observed=observed.cast("float64"),
            # Open period: deals still to be won can move the figure either way.
            open=ibis.literal(period_open(ctx)),
            won=g.won.cast("int64"),
            mean_days=g.mean_days.cast("float64"),
            median_days=g.median_days.cast("float64"),
            **target_evidence(ramp, ramp_date),
        )
        notes: list[str] = []
        notes.extend(grouping)
        if int(t.count().execute()) == 0:
            notes.append(f"no opportunities won in {ctx.period.label}: "
                         "no sales cycle to measure")
        else:
            notes.extend(open_notes(ctx, "the sales cycle is judged once the period closes "
                                         "(pending)"))
            if params.per == "rep":
                notes.extend(reps_without_subjects(ctx, t, "won no deal"))
        return {"sales-cycle": Facts(table=t, notes=notes)}
