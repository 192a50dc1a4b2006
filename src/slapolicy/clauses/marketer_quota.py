"""Marketer quota: each marketer produces at least N MQLs a month (seeds: 250).

An MQL counts for the marketer credited with the lead (``leads.marketer_id``)
when its ``mql_at`` falls in the period. The target is per month: a week audits
``per_month * 7 / 30.4375``, a quarter ``per_month * 3`` (``rep_load.months_in``).

Subjects are the people with team ``marketing`` and a role in ``roles``; a
marketer with no MQLs is a subject with 0. MQLs credited to nobody, or to
someone not in scope, are named in the notes. While the period is open, a
marketer under the target is pending (not yet due).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
from pydantic import Field

from slapolicy.clauses.base import CheckSpec, ClauseKind, Facts, Params
from slapolicy.clauses.common import facts_select
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


class MarketerQuotaParams(Params):
    per_month: float = Field(250, ge=0, description="MQLs each marketer produces a month")
    roles: list[str] = Field(default_factory=lambda: ["marketer"], min_length=1,
                             description="people.role values (team marketing) that are marketers")


class MarketerQuota(ClauseKind):
    name = "marketer_quota"
    Params = MarketerQuotaParams
    description = "Each marketer produces at least N MQLs a month."

    def checks(self, clause: Clause, params: MarketerQuotaParams) -> list[CheckSpec]:
        return [CheckSpec("mqls", "at_least", "MQLs", "marketer", level="aggregate",
                          description="MQLs credited to the marketer in the period")]

    def facts(self, ctx: AuditContext, clause: Clause,
              params: MarketerQuotaParams) -> dict[str, Facts]:
        marketers = people_in_scope(ctx, "marketing", params.roles)
        mqls = period_mqls(ctx)
        t = with_counts(marketers, {"mqls": (mqls, "marketer_id")})
        threshold = params.per_month * months_in(ctx.period)
        # rep_id is the accountable person: the marketer (breaches name them, not the lead).
        table = facts_select(t, subject_id=t.person_id, rep_id=t.person_id, observed=t.mqls,
                             threshold=ibis.literal(threshold), name=t.name, role=t.role,
                             mqls=t.mqls)
        table, pending, open_notes = settle(ctx, table, "mqls", "marketer", "at_least")
        notes = [*open_notes, *scale_notes(ctx.period, f"{params.per_month:g} MQLs"),
                 *unattributed_notes(mqls, "marketer_id", marketers, "MQLs of the period",
                                     "marketer")]
        return {"mqls": Facts(table=table, pending=pending, notes=notes)}
