"""MQLs worked: no MQL is left unworked.

"Every MQL is worked by email or phone within 7 days of entering the funnel."
The subjects are the leads that became MQLs in the period (``leads.mql_at``).
The clock starts when the lead entered the funnel (``leads.created_at``; or,
with ``starts_at: mql_at``, when it became an MQL) and stops at the first
activity of one of ``kinds`` (call, email) on the lead at or after that instant,
by whichever rep; it runs in calendar days. Under the default a lead that
became an MQL more than ``within`` after entering the funnel is already late
unless sales worked it before it qualified.

An MQL never worked is *open*, measured to ``as_of``: the judge makes it a
breach once that is over the threshold, and pending before. ``rep_id`` is the
lead's owner.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from slapolicy.clauses.base import CheckSpec, ClauseKind, Facts, Params, Threshold, reads_of
from slapolicy.clauses.spec import FIRST_ACTIVITY_READS
from slapolicy.engine.contract import ACTIVITY_KINDS
from slapolicy.policy.units import Duration

if TYPE_CHECKING:
    from slapolicy.engine.context import AuditContext
    from slapolicy.policy.model import Clause, Policy
    from slapolicy.policy.periods import Period


class MqlWorkedParams(Params):
    within: Duration = Field(default=timedelta(days=7),
                             description="from entering the funnel to the first email or call")
    kinds: list[str] = Field(default_factory=lambda: ["call", "email"],
                             description="activity kinds that count as working the lead")
    starts_at: Literal["created_at", "mql_at"] = Field(
        "created_at", description="the clock starts when the lead entered the funnel, or "
                                  "when it became an MQL")


class MqlWorked(ClauseKind):
    name = "mql_worked"
    Params = MqlWorkedParams
    description = "Every MQL is worked by email or phone within N days of entering the funnel."

    def checks(self, clause: Clause, params: MqlWorkedParams) -> list[CheckSpec]:
        start = ("entering the funnel" if params.starts_at == "created_at"
                 else "becoming an MQL")
        return [CheckSpec("worked", "at_most", "days", "lead",
                          description=f"days from {start} to the first "
                                      f"{' or '.join(params.kinds)}")]

    def check_policy(self, policy: Policy, clause: Clause,
                     params: MqlWorkedParams) -> list[str]:
        unknown = [k for k in params.kinds if k not in ACTIVITY_KINDS]
        if unknown:
            return [f"kinds {unknown} are not activity kinds ({', '.join(ACTIVITY_KINDS)})"]
        if not params.kinds:
            return ["kinds is empty: name the activity kinds that count as working a lead"]
        return []

    def threshold(self, policy: Policy, clause: Clause, params: MqlWorkedParams,
                  check: CheckSpec, period: Period) -> Threshold:
        days = params.within.total_seconds() / 86400
        return Threshold(days, basis=f"within {days:g} days")

    def reads(self, clause: Clause, params: MqlWorkedParams) -> dict[str, frozenset[str]]:
        # created_at is evidence whichever column starts the clock (starts_at).
        return reads_of(FIRST_ACTIVITY_READS,
                        leads=["lead_id", "owner_id", "source", "created_at", "mql_at",
                               params.starts_at],
                        activities="kind")

    def measure(self, ctx: AuditContext, clause: Clause,
                params: MqlWorkedParams) -> dict[str, Facts]:
        import ibis

        from slapolicy.clauses.common import (
            facts_select,
            first_activity,
            hours_between,
            in_period,
        )

        leads = ctx.table("leads")
        leads = leads.filter(in_period(ctx, leads.mql_at))
        leads = leads.mutate(clock_start=leads[params.starts_at])
        acts = ctx.table("activities")
        acts = acts.filter(acts.kind.isin(params.kinds))
        first = first_activity(leads, "clock_start", acts, "first_worked_at")
        t = leads.left_join(first, "lead_id").select(
            lead_id=leads.lead_id,
            owner_id=leads.owner_id,
            source=leads.source,
            created_at=leads.created_at,
            mql_at=leads.mql_at,
            clock_start=leads.clock_start,
            first_worked_at=first.first_worked_at,
        )
        as_of = ibis.literal(ctx.as_of, type="timestamp")
        t = t.mutate(worked=t.first_worked_at.notnull())
        t = t.mutate(observed_d=hours_between(t.clock_start, t.first_worked_at.coalesce(as_of))
                     / 24.0)
        # An unworked MQL is open: its time so far runs to as_of and can only grow.
        table = facts_select(
            t, subject_id=t.lead_id, rep_id=t.owner_id, observed=t.observed_d,
            open=~t.worked,
            source=t.source, created_at=t.created_at, mql_at=t.mql_at,
            first_worked_at=t.first_worked_at, worked=t.worked,
        )
        notes = []
        if (int(ctx.table("activities").count().execute()) == 0
                and int(leads.count().execute()) > 0):
            notes.append("the activities table is empty: every MQL counts as never worked")
        return {"worked": Facts(table, notes=notes)}
