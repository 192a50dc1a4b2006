"""Feedback response: feedback between the teams is answered within 24 hours.

The subjects are the feedback requests made in the period
(``feedback.requested_at``), optionally only those ``from_team`` one team
``to_team`` the other (write one clause per direction to give each its owner).
The clock runs from the request to the response (``responded_at``), in wall-clock
hours by default or, with ``clock: business``, in business hours under the
policy's default calendar (or ``calendar``) for everyone, since the answer is
a team's and not one person's.

The threshold is ``within``, or the policy's ``communication.feedback_within``
when not given. A request never answered is *open*, measured to ``as_of``: the
judge makes it a breach once that is over the threshold, and pending before.
There is no rep; the evidence names the person responsible (the lead of the team
asked) and the evaluator attributes the breach to the clause owner's team lead. A response
stamped before its request is a data error and stops the check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from slapolicy.clauses.base import CheckSpec, ClauseKind, Facts, Params, Threshold, reads_of
from slapolicy.policy.units import Duration

if TYPE_CHECKING:
    from datetime import timedelta

    from slapolicy.engine.context import AuditContext
    from slapolicy.policy.model import Clause, Policy
    from slapolicy.policy.periods import Period

Team = Literal["marketing", "sales"]


class FeedbackResponseParams(Params):
    within: Duration | None = Field(
        None, description="threshold; null uses communication.feedback_within")
    clock: Literal["calendar", "business"] = "calendar"
    calendar: str | None = Field(
        None, description="calendar id for the business clock; null uses default_calendar")
    from_team: Team | None = Field(None, description="only requests made by this team")
    to_team: Team | None = Field(None, description="only requests made to this team")


class FeedbackResponse(ClauseKind):
    name = "feedback_response"
    Params = FeedbackResponseParams
    description = "Feedback requested between the teams is answered within N hours."

    def checks(self, clause: Clause, params: FeedbackResponseParams) -> list[CheckSpec]:
        unit = "business hours" if params.clock == "business" else "hours"
        return [CheckSpec("response", "at_most", unit, "feedback request",
                          description="hours from the request to the response")]

    def check_policy(self, policy: Policy, clause: Clause,
                     params: FeedbackResponseParams) -> list[str]:
        problems = []
        for key in ("from_team", "to_team"):
            team = getattr(params, key)
            if team is not None and team not in policy.teams:
                problems.append(f"{key} {team!r} is not a team of the policy "
                                f"({sorted(policy.teams)})")
        if params.from_team is not None and params.from_team == params.to_team:
            problems.append(f"from_team and to_team are both {params.from_team!r}: feedback "
                            "runs between the two teams")
        if params.calendar is not None and params.calendar not in policy.calendars:
            problems.append(f"calendar {params.calendar!r} is not one of "
                            f"{sorted(policy.calendars)}")
        if params.calendar is not None and params.clock != "business":
            problems.append("calendar is only used with `clock: business`")
        return problems

    @staticmethod
    def within(policy: Policy, params: FeedbackResponseParams) -> timedelta:
        return params.within if params.within is not None else policy.communication.feedback_within

    def threshold(self, policy: Policy, clause: Clause, params: FeedbackResponseParams,
                  check: CheckSpec, period: Period) -> Threshold:
        hours = self.within(policy, params).total_seconds() / 3600
        source = "within" if params.within is not None else "communication.feedback_within"
        return Threshold(hours, basis=f"within {hours:g} {check.unit} ({source})")

    def reads(self, clause: Clause, params: FeedbackResponseParams) -> dict[str, frozenset[str]]:
        # Every column: the teams, people and topic are evidence whatever the filters. The
        # business clock is the policy's calendar for everyone, so no people are read.
        return reads_of(feedback="feedback_id from_team to_team requested_by requested_at "
                                 "responded_by responded_at topic")

    def measure(self, ctx: AuditContext, clause: Clause,
                params: FeedbackResponseParams) -> dict[str, Facts]:
        import ibis

        from slapolicy.clauses.common import facts_select, in_period, no_rep
        from slapolicy.engine.clock import business_seconds_between

        policy = ctx.doc.policy
        fb = ctx.table("feedback")
        scope = in_period(ctx, fb.requested_at)
        if params.from_team is not None:
            scope &= fb.from_team == params.from_team
        if params.to_team is not None:
            scope &= fb.to_team == params.to_team
        t = fb.filter(scope)

        early = t.filter(t.responded_at < t.requested_at)
        bad = early.select("feedback_id").order_by("feedback_id").limit(5).execute()
        if len(bad):
            raise ValueError(
                "feedback.responded_at is before requested_at for "
                f"{', '.join(bad['feedback_id'].astype(str))}: correct the timestamps")

        as_of = ibis.literal(ctx.as_of, type="timestamp")
        leads = {k: team.lead for k, team in sorted(policy.teams.items())}
        responsible = ibis.cases(*[(t.to_team == k, v) for k, v in leads.items()],
                                 else_=ibis.null("string"))
        t = t.mutate(responded=t.responded_at.notnull(),
                     stop_at=t.responded_at.coalesce(as_of),
                     responsible=responsible)
        if params.clock == "business":
            t = t.mutate(calendar_id=ibis.literal(params.calendar or policy.default_calendar))
            t = business_seconds_between(t, "requested_at", "stop_at", "calendar_id",
                                         ctx.segments, "elapsed_s")
        else:
            t = t.mutate(elapsed_s=(t.stop_at.epoch_seconds()
                                    - t.requested_at.epoch_seconds()).cast("float64"))
        # An unanswered request is open: its time so far runs to as_of and can only grow.
        evidence = {"calendar_id": t.calendar_id} if params.clock == "business" else {}
        table = facts_select(
            t, subject_id=t.feedback_id, rep_id=no_rep(), observed=t.elapsed_s / 3600.0,
            open=~t.responded,
            from_team=t.from_team, to_team=t.to_team, responsible=t.responsible,
            requested_by=t.requested_by, requested_at=t.requested_at,
            responded_by=t.responded_by, responded_at=t.responded_at, responded=t.responded,
            topic=t.topic, **evidence,
        )
        return {"response": Facts(table)}
