"""Rep load: each rep is assigned at least a minimum and at most a maximum of MQLs.

Company A's agreement asks for "a minimum and a maximum number of MQLs assigned" per rep and
gives no figures; ``min`` and ``max`` are therefore required (Company A: 150 and
350). They are per month: a week audits ``7 / 30.4375`` of them, a quarter three
times them (see ``months_in``), like every per-month count target in this family.

Subjects are the people with team ``sales`` and a role in ``roles``; a rep with
no MQLs is a subject with 0, never a missing row. An MQL counts for its rep
(``leads.owner_id``) when its ``mql_at`` falls in the period. MQLs with no owner,
or owned by someone who is not a rep in scope, count for nobody and are named
in the check's notes.

While the period is still open (the audit's as-of instant is before its end) a
count can still grow: the facts are ``open``, and the judge keeps a rep under the
minimum, or within the maximum, pending (not yet due); a rep already over the
maximum is a breach.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from slapolicy.clauses.base import CheckSpec, ClauseKind, Facts, Params, Threshold, reads_of
from slapolicy.clauses.counting import (
    PEOPLE_IN_SCOPE_READS,
    PERIOD_MQLS_READS,
    months_in,
    per_month_threshold,
    scale_notes,
)
from slapolicy.policy.units import Count

if TYPE_CHECKING:
    from slapolicy.engine.context import AuditContext
    from slapolicy.policy.model import Clause, Policy
    from slapolicy.policy.periods import Period

__all__ = ["RepLoad", "RepLoadParams", "months_in"]


class RepLoadParams(Params):
    min: Count = Field( description="fewest MQLs a rep is assigned a month")
    max: Count = Field( description="most MQLs a rep is assigned a month")
    roles: list[str] = Field(default_factory=lambda: ["rep"], min_length=1,
                             description="people.role values (team sales) that are reps")

    @model_validator(mode="after")
    def _ordered(self) -> RepLoadParams:
        if self.min > self.max:
            raise ValueError(f"min ({self.min:g}) must not be above max ({self.max:g})")
        return self


class RepLoad(ClauseKind):
    name = "rep_load"
    Params = RepLoadParams
    description = "Each rep is assigned between a minimum and a maximum of MQLs a month."

    def checks(self, clause: Clause, params: RepLoadParams) -> list[CheckSpec]:
        return [
            CheckSpec("min", "at_least", "MQLs", "rep", level="aggregate",
                      description="MQLs assigned to the rep in the period (mql_at in period)"),
            CheckSpec("max", "at_most", "MQLs", "rep", level="aggregate",
                      description="MQLs assigned to the rep in the period (mql_at in period)"),
        ]

    def threshold(self, policy: Policy, clause: Clause, params: RepLoadParams,
                  check: CheckSpec, period: Period) -> Threshold:
        per_month = params.min if check.name == "min" else params.max
        return per_month_threshold(per_month, period, f"{check.name} {per_month:g} MQLs")

    def reads(self, clause: Clause, params: RepLoadParams) -> dict[str, frozenset[str]]:
        return reads_of(PEOPLE_IN_SCOPE_READS, PERIOD_MQLS_READS, leads="owner_id")

    def measure(self, ctx: AuditContext, clause: Clause,
                params: RepLoadParams) -> dict[str, Facts]:
        from slapolicy.clauses.common import facts_select
        from slapolicy.clauses.counting import (
            open_notes,
            people_in_scope,
            period_mqls,
            period_open,
            unattributed_notes,
            with_counts,
        )

        reps = people_in_scope(ctx, "sales", params.roles)
        mqls = period_mqls(ctx)
        t = with_counts(reps, {"mqls": (mqls, "owner_id")})
        notes = unattributed_notes(mqls, "owner_id", reps, "MQLs of the period", "rep")
        # One table for both checks: a count in an open period can still grow.
        table = facts_select(t, subject_id=t.person_id, rep_id=t.person_id, observed=t.mqls,
                             open=period_open(ctx), name=t.name, role=t.role, mqls=t.mqls)
        waits = {"min": "a rep under the minimum is not yet due (pending)",
                 "max": "a rep within the maximum is not yet due (pending)"}
        return {check: Facts(table=table,
                             notes=[*open_notes(ctx, waits[check]),
                                    *scale_notes(ctx.period, f"{check} {per_month:g} MQLs"),
                                    *notes])
                for check, per_month in (("min", params.min), ("max", params.max))}
