"""Marketer quota: each marketer produces at least N MQLs a month (Company A: 250).

An MQL counts for the marketer credited with the lead (``leads.marketer_id``)
when its ``mql_at`` falls in the period. The target is per month: a week audits
``per_month * 7 / 30.4375``, a quarter ``per_month * 3`` (``counting.months_in``).

Subjects are the people with team ``marketing`` and a role in ``roles``; a
marketer with no MQLs is a subject with 0. MQLs credited to nobody, or to
someone not in scope, are named in the notes. While the period is open the
counts are ``open``: the judge keeps a marketer under the target pending (not yet
due).
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


class MarketerQuotaParams(Params):
    per_month: Count = Field(250, description="MQLs each marketer produces a month")
    roles: list[str] = Field(default_factory=lambda: ["marketer"], min_length=1,
                             description="people.role values (team marketing) that are marketers")


class MarketerQuota(ClauseKind):
    name = "marketer_quota"
    Params = MarketerQuotaParams
    description = "Each marketer produces at least N MQLs a month."

    def checks(self, clause: Clause, params: MarketerQuotaParams) -> list[CheckSpec]:
        return [CheckSpec("mqls", "at_least", "MQLs", "marketer", level="aggregate",
                          description="MQLs credited to the marketer in the period")]

    def threshold(self, policy: Policy, clause: Clause, params: MarketerQuotaParams,
                  check: CheckSpec, period: Period) -> Threshold:
        return per_month_threshold(params.per_month, period, f"{params.per_month:g} MQLs")

    def reads(self, clause: Clause, params: MarketerQuotaParams) -> dict[str, frozenset[str]]:
        return reads_of(PEOPLE_IN_SCOPE_READS, PERIOD_MQLS_READS, leads="marketer_id")

    def measure(self, ctx: AuditContext, clause: Clause,
                params: MarketerQuotaParams) -> dict[str, Facts]:
        from slapolicy.clauses.common import facts_select
        from slapolicy.clauses.counting import (
            open_notes,
            people_in_scope,
            period_mqls,
            period_open,
            unattributed_notes,
            with_counts,
        )

        marketers = people_in_scope(ctx, "marketing", params.roles)
        mqls = period_mqls(ctx)
        t = with_counts(marketers, {"mqls": (mqls, "marketer_id")})
        # rep_id is the accountable person: the marketer (breaches name them, not the lead).
        table = facts_select(t, subject_id=t.person_id, rep_id=t.person_id, observed=t.mqls,
                             open=period_open(ctx), name=t.name, role=t.role, mqls=t.mqls)
        notes = [*open_notes(ctx, "a marketer under the target is not yet due (pending)"),
                 *scale_notes(ctx.period, f"{params.per_month:g} MQLs"),
                 *unattributed_notes(mqls, "marketer_id", marketers, "MQLs of the period",
                                     "marketer")]
        return {"mqls": Facts(table=table, notes=notes)}
