"""Speed to lead: sales follows up every lead that asked for it within N business hours.

The clock starts when marketing automation notifies the rep (``leads.notified_at``)
and stops at the first sales touch (call, email, video or meeting). Leads
notified after hours are due within the first hour of the next business day,
which the business clock gives without a special case. Webinar and early-stage
leads, and leads that did not ask for follow-up, are out of scope.

A lead with no touch yet is *open*: its business time so far runs to ``as_of``.
The judge makes it a breach once that is over the threshold, and pending before.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from slapolicy.clauses.base import CheckSpec, ClauseKind, Facts, Params, Threshold, reads_of
from slapolicy.clauses.spec import FIRST_ACTIVITY_READS, PERSON_CALENDARS_READS
from slapolicy.policy.units import Duration

if TYPE_CHECKING:
    from slapolicy.engine.context import AuditContext
    from slapolicy.policy.model import Clause, Policy
    from slapolicy.policy.periods import Period


class SpeedToLeadParams(Params):
    within: Duration = Field(default=timedelta(hours=1))
    clock: Literal["business", "calendar"] = "business"
    calendar: str = Field("rep", description="`rep` (the rep's region calendar) or a calendar id")
    by_source: dict[str, Duration] = Field(default_factory=dict,
                                           description="per-source thresholds")
    requires_followup_request: bool = True
    exclude_sources: list[str] = Field(default_factory=lambda: ["webinar"])
    exclude_journey_stages: list[str] = Field(default_factory=lambda: ["awareness"])
    touch_kinds: list[str] = Field(default_factory=lambda: ["call", "email", "video", "meeting"])


class SpeedToLead(ClauseKind):
    name = "speed_to_lead"
    Params = SpeedToLeadParams
    description = "First sales touch within N business hours of the rep's notification."

    def checks(self, clause: Clause, params: SpeedToLeadParams) -> list[CheckSpec]:
        unit = "business hours" if params.clock == "business" else "hours"
        return [CheckSpec("first-touch", "at_most", unit, "lead",
                          description="hours from notification to the first touch")]

    def check_policy(self, policy: Policy, clause: Clause,
                     params: SpeedToLeadParams) -> list[str]:
        if params.calendar != "rep" and params.calendar not in policy.calendars:
            return [f"calendar {params.calendar!r} is not `rep` or one of {sorted(policy.calendars)}"]
        return []

    def threshold(self, policy: Policy, clause: Clause, params: SpeedToLeadParams,
                  check: CheckSpec, period: Period) -> Threshold:
        overrides = tuple(sorted((s, d.total_seconds() / 3600) for s, d in params.by_source.items()))
        basis = f"within {params.within.total_seconds() / 3600:g} {check.unit}"
        if overrides:
            basis += ", by source: " + ", ".join(f"{s} {h:g}" for s, h in overrides)
        return Threshold(params.within.total_seconds() / 3600, by="source" if overrides else None,
                         overrides=overrides, basis=basis)

    def reads(self, clause: Clause, params: SpeedToLeadParams) -> dict[str, frozenset[str]]:
        from slapolicy.engine.contract import ACTIVITY_KINDS

        leads = ["lead_id", "notified_at", "owner_id", "source"]
        if params.requires_followup_request:
            leads.append("followup_requested")
        if params.exclude_journey_stages:
            leads.append("journey_stage")
        # Every kind counting as a touch, measure does not filter on the kind.
        kinds = [] if set(ACTIVITY_KINDS) <= set(params.touch_kinds) else ["kind"]
        return reads_of(FIRST_ACTIVITY_READS,
                        PERSON_CALENDARS_READS if params.calendar == "rep" else {},
                        leads=leads, activities=kinds)

    def measure(self, ctx: AuditContext, clause: Clause,
                params: SpeedToLeadParams) -> dict[str, Facts]:
        import ibis

        from slapolicy.clauses.common import first_activity
        from slapolicy.engine.clock import business_seconds_between

        start, end = ctx.bounds
        leads = ctx.table("leads")
        scope = leads.notified_at.notnull() & (leads.notified_at >= start) & (
            leads.notified_at < end)
        if params.requires_followup_request:
            scope &= leads.followup_requested
        if params.exclude_sources:
            scope &= ~leads.source.isin(params.exclude_sources)
        if params.exclude_journey_stages:
            scope &= ~leads.journey_stage.isin(params.exclude_journey_stages)
        leads = leads.filter(scope)

        from slapolicy.engine.contract import ACTIVITY_KINDS

        acts = ctx.table("activities")
        # The contract allows only ACTIVITY_KINDS: when every kind counts as a touch the
        # filter keeps every row, and costs a string comparison per activity.
        if not set(ACTIVITY_KINDS) <= set(params.touch_kinds):
            acts = acts.filter(acts.kind.isin(params.touch_kinds))
        first = first_activity(leads, "notified_at", acts, "first_touch_at")
        t = leads.left_join(first, "lead_id").select(
            subject_id=leads.lead_id,
            rep_id=leads.owner_id,
            source=leads.source,
            notified_at=leads.notified_at,
            first_touch_at=first.first_touch_at,
        )
        as_of = ibis.literal(ctx.as_of, type="timestamp")
        # An untouched lead is open: its time so far runs to as_of and can only grow.
        t = t.mutate(touched=t.first_touch_at.notnull(),
                     stop_at=t.first_touch_at.coalesce(as_of))

        if params.calendar == "rep":
            cals = ctx.person_calendars
            t = t.left_join(cals, t.rep_id == cals.person_id).drop("person_id")
            t = t.mutate(calendar_id=t.calendar_id.coalesce(ctx.doc.policy.default_calendar))
        else:
            t = t.mutate(calendar_id=ibis.literal(params.calendar))

        if params.clock == "business":
            t = business_seconds_between(t, "notified_at", "stop_at", "calendar_id",
                                         ctx.segments, "elapsed_s")
        else:
            t = t.mutate(elapsed_s=(t.stop_at.epoch_seconds()
                                    - t.notified_at.epoch_seconds()).cast("float64"))
        t = t.select(
            "subject_id", "rep_id", observed=t.elapsed_s / 3600.0, open=~t.touched,
            source=t.source, calendar_id=t.calendar_id, notified_at=t.notified_at,
            first_touch_at=t.first_touch_at, touched=t.touched,
        )
        return {"first-touch": Facts(table=t)}
