"""Recycling: a lead sales returns is enrolled in a nurture track, promptly.

The subjects are the leads sales returned to marketing in the period
(``leads.returned_at``); marketing owns what happens next. Two checks:

- ``enrolled``: wall-clock hours from the return to ``leads.nurture_enrolled_at``,
  at most ``within``. An enrolment stamped *before* the return belongs to an
  earlier cycle and does not count: such a lead, like one never enrolled, is
  *open*, measured to ``as_of``; the judge makes it a breach once that is over
  the threshold, and pending before.
- ``track``: the lead's ``nurture_track`` is one of the policy's
  ``definitions.nurture_tracks`` (or of ``tracks`` when given): 1 when it is,
  0 when not. A lead not yet enrolled after its return is open here (observed 0,
  its track is not known yet) and can go either way, so it is pending; the
  ``enrolled`` check judges the delay.

``rep_id`` is the marketer credited with the lead (``leads.marketer_id``): the
person who recycles it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from pydantic import Field

from slapolicy.clauses.base import CheckSpec, ClauseKind, Facts, Params, Threshold, reads_of
from slapolicy.policy.units import Duration

if TYPE_CHECKING:
    from slapolicy.engine.context import AuditContext
    from slapolicy.policy.model import Clause, Policy
    from slapolicy.policy.periods import Period


class RecyclingParams(Params):
    within: Duration = Field(default=timedelta(hours=24),
                             description="wall-clock time from return to enrolment")
    tracks: list[str] | None = Field(
        None, description="accepted track ids; null accepts every definitions.nurture_tracks id")


class Recycling(ClauseKind):
    name = "recycling"
    Params = RecyclingParams
    description = "Every returned lead is enrolled in a defined nurture track within N hours."

    def checks(self, clause: Clause, params: RecyclingParams) -> list[CheckSpec]:
        return [
            CheckSpec("enrolled", "at_most", "hours", "lead",
                      description="hours from the return to nurture enrolment"),
            CheckSpec("track", "at_least", "flag", "lead",
                      description="1 when the lead's nurture track is a defined track, else 0",
                      moves="either"),
        ]

    def check_policy(self, policy: Policy, clause: Clause,
                     params: RecyclingParams) -> list[str]:
        defined = [t.id for t in policy.definitions.nurture_tracks]
        if not defined:
            return ["definitions.nurture_tracks is empty: define the tracks returned leads "
                    "are enrolled in (awareness, consideration, decision)"]
        if params.tracks is not None:
            if not params.tracks:
                return ["tracks is an empty list: omit it to accept every defined track"]
            unknown = [t for t in params.tracks if t not in defined]
            if unknown:
                return [f"tracks {unknown} are not in definitions.nurture_tracks ({defined})"]
        return []

    @staticmethod
    def accepted_tracks(policy: Policy, params: RecyclingParams) -> list[str]:
        return (params.tracks if params.tracks is not None
                else [t.id for t in policy.definitions.nurture_tracks])

    def threshold(self, policy: Policy, clause: Clause, params: RecyclingParams,
                  check: CheckSpec, period: Period) -> Threshold:
        if check.name == "enrolled":
            h = params.within.total_seconds() / 3600
            return Threshold(h, basis=f"within {h:g} hours of the return")
        source = "tracks" if params.tracks is not None else "definitions.nurture_tracks"
        return Threshold(1.0, basis=f"a track in {source} "
                                    f"({', '.join(self.accepted_tracks(policy, params))})")

    def reads(self, clause: Clause, params: RecyclingParams) -> dict[str, frozenset[str]]:
        return reads_of(leads="lead_id marketer_id owner_id returned_at nurture_enrolled_at "
                              "nurture_track")

    def measure(self, ctx: AuditContext, clause: Clause,
                params: RecyclingParams) -> dict[str, Facts]:
        import ibis

        from slapolicy.clauses.common import facts_select, hours_between, in_period

        tracks = self.accepted_tracks(ctx.doc.policy, params)
        leads = ctx.table("leads")
        t = leads.filter(in_period(ctx, leads.returned_at))
        # An enrolment before the return is a previous cycle's, not this one's.
        enrolled = t.nurture_enrolled_at.notnull() & (t.nurture_enrolled_at >= t.returned_at)
        as_of = ibis.literal(ctx.as_of, type="timestamp")
        t = t.mutate(
            enrolled=enrolled,
            observed_h=hours_between(t.returned_at, ibis.ifelse(enrolled, t.nurture_enrolled_at,
                                                                as_of)),
        )
        on_time = facts_select(
            t, subject_id=t.lead_id, rep_id=t.marketer_id, observed=t.observed_h,
            open=~t.enrolled,
            returned_at=t.returned_at, nurture_enrolled_at=t.nurture_enrolled_at,
            enrolled=t.enrolled, nurture_track=t.nurture_track, owner_id=t.owner_id,
        )

        track_ok = t.enrolled & t.nurture_track.notnull() & t.nurture_track.isin(tracks)
        track = facts_select(
            t, subject_id=t.lead_id, rep_id=t.marketer_id,
            # A real cast (see contact_attempts): 1.0/0.0 literals would be DECIMAL.
            observed=track_ok.fill_null(False).ifelse(1, 0).cast("float64"),
            open=~t.enrolled,
            nurture_track=t.nurture_track, nurture_enrolled_at=t.nurture_enrolled_at,
            returned_at=t.returned_at, accepted_tracks=ibis.literal(", ".join(tracks)),
        )
        return {"enrolled": Facts(on_time), "track": Facts(track)}
