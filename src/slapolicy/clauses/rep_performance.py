"""Rep performance: each rep converts 7% of MQLs a month and opens 18 opportunities a month.

Two checks per rep (people with team ``sales`` and a role in ``roles``):

- ``conversion``: opportunities the rep created in the period
  (``opportunities.created_at`` in period, ``rep_id``) divided by the MQLs assigned
  to the rep in the period (``leads.owner_id``, ``mql_at`` in period), at least
  ``conversion``. A rate of nothing is undefined: a rep with no MQLs in the
  period is not a subject of this check, and the notes name every such rep.
- ``opportunities``: opportunities the rep created in the period, at least
  ``opportunities`` a month (a week audits ``7 / 30.4375`` of it, a quarter 3 times
  it). Every rep is a subject, 0 included.

While the period is open the facts are ``open``: the judge keeps every rate
pending (it can move either way) and a rep still under the opportunities target.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from slapolicy.clauses.base import CheckSpec, ClauseKind, Facts, Params, Threshold, reads_of
from slapolicy.clauses.counting import (
    PEOPLE_IN_SCOPE_READS,
    PERIOD_MQLS_READS,
    per_month_threshold,
    scale_notes,
)
from slapolicy.policy.units import Count

if TYPE_CHECKING:
    from slapolicy.engine.context import AuditContext
    from slapolicy.policy.model import Clause, Policy
    from slapolicy.policy.periods import Period

_SHOW = 10


class RepPerformanceParams(Params):
    conversion: float = Field(0.07, ge=0, le=1,
                              description="opportunities per MQL assigned, in the period")
    opportunities: Count = Field(18, description="opportunities each rep creates a month")
    roles: list[str] = Field(default_factory=lambda: ["rep"], min_length=1,
                             description="people.role values (team sales) that are reps")


class RepPerformance(ClauseKind):
    name = "rep_performance"
    Params = RepPerformanceParams
    description = "Each rep converts N% of assigned MQLs and creates M opportunities a month."

    def checks(self, clause: Clause, params: RepPerformanceParams) -> list[CheckSpec]:
        return [
            CheckSpec("conversion", "at_least", "share of MQLs", "rep", level="aggregate",
                      description="opportunities created / MQLs assigned in the period",
                      moves="either"),
            CheckSpec("opportunities", "at_least", "opportunities", "rep", level="aggregate",
                      description="opportunities the rep created in the period"),
        ]

    def threshold(self, policy: Policy, clause: Clause, params: RepPerformanceParams,
                  check: CheckSpec, period: Period) -> Threshold:
        if check.name == "conversion":
            return Threshold(params.conversion, basis=f"conversion {params.conversion:g}")
        return per_month_threshold(params.opportunities, period,
                                   f"{params.opportunities:g} opportunities")

    def reads(self, clause: Clause, params: RepPerformanceParams) -> dict[str, frozenset[str]]:
        return reads_of(PEOPLE_IN_SCOPE_READS, PERIOD_MQLS_READS, leads="owner_id",
                        opportunities="rep_id created_at")

    def measure(self, ctx: AuditContext, clause: Clause,
                params: RepPerformanceParams) -> dict[str, Facts]:
        from slapolicy.clauses.common import facts_select, in_period
        from slapolicy.clauses.counting import (
            open_notes,
            people_in_scope,
            period_mqls,
            period_open,
            unattributed_notes,
            with_counts,
        )

        is_open = period_open(ctx)
        reps = people_in_scope(ctx, "sales", params.roles)
        mqls = period_mqls(ctx)
        opps = ctx.table("opportunities")
        opps = opps.filter(in_period(ctx, opps.created_at))
        t = with_counts(reps, {"mqls": (mqls, "owner_id"), "opportunities": (opps, "rep_id")})
        evidence = dict(name=t.name, role=t.role, mqls=t.mqls, opportunities=t.opportunities)

        # A rate of nothing is undefined: a rep with no MQLs is not in scope of conversion.
        rated = t.filter(t.mqls > 0)
        conversion = facts_select(
            rated, subject_id=rated.person_id, rep_id=rated.person_id,
            observed=rated.opportunities.cast("float64") / rated.mqls.cast("float64"),
            open=is_open, name=rated.name, role=rated.role, mqls=rated.mqls,
            opportunities=rated.opportunities,
        )
        idle = sorted(t.filter(t.mqls == 0).select("person_id").execute()["person_id"]
                      .astype(str))
        conv_notes = [*open_notes(ctx, "the conversion rate is judged once the period "
                                       "closes (pending)"),
                      *unattributed_notes(mqls, "owner_id", reps, "MQLs of the period", "rep")]
        if idle:
            shown = ", ".join(idle[:_SHOW]) + (f" and {len(idle) - _SHOW} more"
                                               if len(idle) > _SHOW else "")
            conv_notes.insert(0, f"{len(idle)} rep(s) had no MQLs in the period, so no "
                                 f"conversion rate (not judged on it): {shown}")

        count = facts_select(t, subject_id=t.person_id, rep_id=t.person_id,
                             observed=t.opportunities, open=is_open, **evidence)
        count_notes = [*open_notes(ctx, "a rep under the target is not yet due (pending)"),
                       *scale_notes(ctx.period, f"{params.opportunities:g} opportunities"),
                       *unattributed_notes(opps, "rep_id", reps,
                                           "opportunities of the period", "rep")]
        return {"conversion": Facts(table=conversion, notes=conv_notes),
                "opportunities": Facts(table=count, notes=count_notes)}
