"""Meeting cadence: each SLA meeting is held every week (or month, quarter) for its full length.

The meetings come from the policy (``communication.meetings``; Company A:
leadership weekly for 30 minutes, both teams monthly for an hour). One clause
judges one meeting. Its subjects are the meeting's slots: the weeks (starting
on ``periods.week_starts_on``), calendar months or calendar quarters whose
*last day* falls in the period, in the policy's default calendar zone. Judging
a slot in the period it ends in means every slot is judged exactly once, and
complete, by a closed period's audit (a week from 30 March to 5 April 2020
belongs to April).

A slot's observed value is the length in minutes of the longest meeting of
that kind (``meetings.kind`` = the meeting id) started in it, with at least
``min_attendees`` if set, or 0 when none was held; it complies at the agreed
duration or more. A slot that has not ended by ``as_of`` is open: a longer
meeting can still be held in it, so the judge holds it pending until a meeting
of the agreed length is found or the slot ends. An empty meetings table is
noted, since it usually means the meetings were not loaded rather than not held.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from pydantic import Field

from slapolicy.clauses.base import CheckSpec, ClauseKind, Facts, Params, Threshold, reads_of
from slapolicy.policy.model import WEEKDAYS, Weekday
from slapolicy.policy.periods import Period
from slapolicy.policy.units import WholeCount

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from slapolicy.engine.context import AuditContext
    from slapolicy.policy.model import Clause, Meeting, Policy


class MeetingCadenceParams(Params):
    meeting: str = Field(description="id of a meeting in communication.meetings")
    min_attendees: WholeCount | None = Field(None, description="a meeting counts with this many")


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def slots(meeting: Meeting, period: Period, week_starts_on: Weekday) -> list[tuple[date, date]]:
    """``[first day, day after the last)`` of each slot whose last day falls in ``period``."""
    out: list[tuple[date, date]] = []
    if meeting.every == "week":
        weekday = WEEKDAYS.index(week_starts_on)
        # The earliest week that can end in the period starts six days before it.
        first = period.start - timedelta(days=6)
        first += timedelta(days=(weekday - first.weekday()) % 7)
        while first + timedelta(days=6) < period.end:
            out.append((first, first + timedelta(days=7)))
            first += timedelta(days=7)
        return out
    step = 1 if meeting.every == "month" else 3
    first = _add_months(date(period.start.year, 1, 1), -12)
    while first < period.end:
        end = _add_months(first, step)
        if period.start <= end - timedelta(days=1) < period.end:
            out.append((first, end))
        first = end
    return out


def _meeting(policy: Policy, params: MeetingCadenceParams) -> Meeting:
    meeting = next((m for m in policy.communication.meetings if m.id == params.meeting), None)
    if meeting is None:
        raise ValueError(f"meeting {params.meeting!r} is not in communication.meetings")
    return meeting


class MeetingCadence(ClauseKind):
    name = "meeting_cadence"
    Params = MeetingCadenceParams
    description = "An SLA meeting is held in every slot of its cadence for its agreed length."

    def checks(self, clause: Clause, params: MeetingCadenceParams) -> list[CheckSpec]:
        return [CheckSpec("held", "at_least", "minutes", "meeting_slot", level="aggregate",
                          description=f"minutes of the longest {params.meeting} meeting "
                                      "started in the slot (0 if none)")]

    def check_policy(self, policy: Policy, clause: Clause,
                     params: MeetingCadenceParams) -> list[str]:
        known = [m.id for m in policy.communication.meetings]
        if params.meeting not in known:
            return [f"meeting {params.meeting!r} is not one of communication.meetings "
                    f"({', '.join(known) or 'none'})"]
        return []

    def threshold(self, policy: Policy, clause: Clause, params: MeetingCadenceParams,
                  check: CheckSpec, period: Period) -> Threshold:
        meeting = _meeting(policy, params)
        minutes = meeting.duration.total_seconds() / 60
        return Threshold(minutes, basis=f"{meeting.id}: {minutes:g} minutes every {meeting.every}")

    def reads_since(self, policy: Policy, clause: Clause, params: MeetingCadenceParams,
                    period: Period) -> date:
        # A slot ending in the period can start a quarter (or a week) before it.
        found = slots(_meeting(policy, params), period, policy.periods.week_starts_on)
        return min([period.start, *(first for first, _ in found)])

    def reads(self, clause: Clause, params: MeetingCadenceParams) -> dict[str, frozenset[str]]:
        # attendees is evidence (max_attendees) even without min_attendees.
        return reads_of(meetings="meeting_id kind started_at duration_minutes attendees")

    def measure(self, ctx: AuditContext, clause: Clause,
                params: MeetingCadenceParams) -> dict[str, Facts]:
        import ibis
        import pyarrow as pa

        policy = ctx.doc.policy
        meeting = _meeting(policy, params)
        found = slots(meeting, ctx.period, policy.periods.week_starts_on)
        zone = ctx.policy_zone
        bounds = [Period(a, b, "week", "").bounds_utc(zone) for a, b in found]
        frame = pa.table({
            "subject_id": pa.array([f"{meeting.id}:{a.isoformat()}" for a, _ in found],
                                   pa.string()),
            "slot_start": pa.array([lo for lo, _ in bounds], pa.timestamp("us")),
            "slot_end": pa.array([hi for _, hi in bounds], pa.timestamp("us")),
            "first_day": pa.array([a.isoformat() for a, _ in found], pa.string()),
            "last_day": pa.array([(b - timedelta(days=1)).isoformat() for _, b in found],
                                 pa.string()),
        })
        slot_table = ctx.engine.register(f"_meeting_slots_{clause.id}".replace("-", "_"), frame)

        all_meetings = ctx.table("meetings")
        notes: list[str] = []
        if int(all_meetings.count().execute()) == 0:
            notes.append("the meetings table is empty: no meeting of any kind is recorded")
        held = all_meetings.filter(all_meetings.kind == meeting.id)
        j = slot_table.left_join(held, [held.started_at >= slot_table.slot_start,
                                        held.started_at < slot_table.slot_end])
        counts: ir.BooleanValue = (j.attendees >= params.min_attendees
                                   if params.min_attendees is not None
                                   else j.meeting_id.notnull())
        agg = j.group_by(["subject_id", "slot_end", "first_day", "last_day"]).agg(
            held=j.meeting_id.count(),
            qualifying=j.meeting_id.count(where=counts),
            longest=j.duration_minutes.max(where=counts),
            max_attendees=j.attendees.max(),
        )
        # A slot that has not ended at as_of is open: a longer meeting can still be held.
        as_of = ibis.literal(ctx.as_of, type="timestamp")
        t = agg.select(
            subject_id=agg.subject_id,
            rep_id=ibis.null("string"),
            observed=agg.longest.coalesce(0).cast("float64"),
            open=agg.slot_end > as_of,
            first_day=agg.first_day,
            last_day=agg.last_day,
            held=agg.held.cast("int64"),
            qualifying=agg.qualifying.cast("int64"),
            max_attendees=agg.max_attendees.cast("int64"),
        )
        if not found:
            notes.append(f"no {meeting.id} slot ends in {ctx.period.label}")
        return {"held": Facts(table=t, notes=notes)}
