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

While the period is open, rates are pending (they can move either way) and so is
a rep still under the opportunities target.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
from pydantic import Field

from slapolicy.clauses.base import CheckSpec, ClauseKind, Facts, Params
from slapolicy.clauses.common import facts_select, in_period
from slapolicy.clauses.counting import (
    months_in,
    people_in_scope,
    period_mqls,
    scale_notes,
    settle,
    unattributed_notes,
    with_counts,
)

if TYPE_CHECKING:
    from slapolicy.engine.context import AuditContext
    from slapolicy.policy.model import Clause

_SHOW = 10


class RepPerformanceParams(Params):
    conversion: float = Field(0.07, ge=0, le=1,
                              description="opportunities per MQL assigned, in the period")
    opportunities: float = Field(18, ge=0, description="opportunities each rep creates a month")
    roles: list[str] = Field(default_factory=lambda: ["rep"], min_length=1,
                             description="people.role values (team sales) that are reps")


class RepPerformance(ClauseKind):
    name = "rep_performance"
    Params = RepPerformanceParams
    description = "Each rep converts N% of assigned MQLs and creates M opportunities a month."

    def checks(self, clause: Clause, params: RepPerformanceParams) -> list[CheckSpec]:
        return [
            CheckSpec("conversion", "at_least", "share of MQLs", "rep", level="aggregate",
                      description="opportunities created / MQLs assigned in the period"),
            CheckSpec("opportunities", "at_least", "opportunities", "rep", level="aggregate",
                      description="opportunities the rep created in the period"),
        ]

    def facts(self, ctx: AuditContext, clause: Clause,
              params: RepPerformanceParams) -> dict[str, Facts]:
        reps = people_in_scope(ctx, "sales", params.roles)
        mqls = period_mqls(ctx)
        opps = ctx.table("opportunities")
        opps = opps.filter(in_period(ctx, opps.created_at))
        t = with_counts(reps, {"mqls": (mqls, "owner_id"), "opportunities": (opps, "rep_id")})
        evidence = dict(name=t.name, role=t.role, mqls=t.mqls, opportunities=t.opportunities)

        rated = t.filter(t.mqls > 0)
        conversion = facts_select(
            rated, subject_id=rated.person_id, rep_id=rated.person_id,
            observed=rated.opportunities.cast("float64") / rated.mqls.cast("float64"),
            threshold=ibis.literal(params.conversion),
            name=rated.name, role=rated.role, mqls=rated.mqls,
            opportunities=rated.opportunities,
        )
        conversion, conv_pending, conv_open = settle(ctx, conversion, "conversion", "rep",
                                                     "never")
        idle = sorted(t.filter(t.mqls == 0).select("person_id").execute()["person_id"]
                      .astype(str))
        conv_notes = [*conv_open, *unattributed_notes(mqls, "owner_id", reps,
                                                      "MQLs of the period", "rep")]
        if idle:
            shown = ", ".join(idle[:_SHOW]) + (f" and {len(idle) - _SHOW} more"
                                               if len(idle) > _SHOW else "")
            conv_notes.insert(0, f"{len(idle)} rep(s) had no MQLs in the period, so no "
                                 f"conversion rate (not judged on it): {shown}")

        target = params.opportunities * months_in(ctx.period)
        count = facts_select(t, subject_id=t.person_id, rep_id=t.person_id,
                             observed=t.opportunities, threshold=ibis.literal(target),
                             **evidence)
        count, count_pending, count_open = settle(ctx, count, "opportunities", "rep",
                                                  "at_least")
        count_notes = [*count_open,
                       *scale_notes(ctx.period, f"{params.opportunities:g} opportunities"),
                       *unattributed_notes(opps, "rep_id", reps,
                                           "opportunities of the period", "rep")]
        return {"conversion": Facts(table=conversion, pending=conv_pending, notes=conv_notes),
                "opportunities": Facts(table=count, pending=count_pending, notes=count_notes)}
