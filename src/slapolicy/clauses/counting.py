"""Per-period count targets the person and company kinds share.

Targets stated per month scale to other periods (a week is ``7 / 30.4375`` of a
month, a quarter three months); subjects come from ``people`` so a person with
nothing counted is a subject with 0; counts that belong to no subject in scope
are named in notes. While a period is still open (``period_open``) its counts
and rates are ``open`` facts: the judge decides a count once it can no longer
change its verdict and keeps the rest pending.

``months_in``, ``scale_notes`` and ``per_month_threshold`` are pure Python (the
``threshold`` of a kind, known from the policy alone); the helpers that build
expressions import Ibis when called, so importing this module does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from slapolicy.clauses.spec import Reads, Threshold, reads_of

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from slapolicy.engine.context import AuditContext
    from slapolicy.policy.periods import Period

#: Average days in a month of the Gregorian calendar (365.25 / 12).
MONTH_DAYS = 30.4375
_SHOW = 10


def months_in(period: Period) -> float:
    """How many months a period is, for scaling per-month targets.

    A month is 1 (whatever its length), a quarter 3, an ISO week ``7 / 30.4375``.
    """
    if period.unit == "month":
        return 1.0
    if period.unit == "quarter":
        return 3.0
    return 7 / MONTH_DAYS


def months_label(period: Period) -> str:
    """``months_in`` in words: ``1``, ``3`` or ``7/30.4375``."""
    if period.unit == "month":
        return "1"
    if period.unit == "quarter":
        return "3"
    return f"7/{MONTH_DAYS:g}"


def scale_notes(period: Period, what: str) -> list[str]:
    """A note saying a per-month figure was scaled, for non-month periods."""
    m = months_in(period)
    if m == 1.0:
        return []
    return [f"{what} per month scaled by {m:.4f} for the {period.unit} {period.label}"]


def per_month_threshold(per_month: float, period: Period, what: str) -> Threshold:
    """A per-month figure scaled to ``period``; ``what`` names it (``150 MQLs``)."""
    return Threshold(per_month * months_in(period),
                     basis=f"{what} a month x {months_label(period)} ({period.label})")


def period_open(ctx: AuditContext) -> bool:
    """The period has not ended at the audit's as-of instant: its counts can still change."""
    return ctx.as_of < ctx.bounds[1]


def open_notes(ctx: AuditContext, rest: str) -> list[str]:
    """A note that the period is still open at as-of (``rest`` says what waits), or none."""
    if not period_open(ctx):
        return []
    return [f"{ctx.period.label} is still open at {ctx.as_of.isoformat()}Z: {rest}"]


#: What ``people_in_scope`` reads.
PEOPLE_IN_SCOPE_READS: Reads = reads_of(people="person_id name role team")

#: What ``period_mqls`` reads, besides the columns its callers read of the leads it gives.
PERIOD_MQLS_READS: Reads = reads_of(leads="mql_at")


def people_in_scope(ctx: AuditContext, team: str, roles: list[str]) -> ir.Table:
    """The subjects: people of ``team`` whose role is one of ``roles``."""
    people = ctx.table("people")
    return people.filter((people.team == team) & people.role.isin(list(roles))).select(
        "person_id", "name", "role")


def with_counts(subjects: ir.Table, counts: dict[str, tuple[ir.Table, str]]) -> ir.Table:
    """``subjects`` plus one count column per entry: rows of ``events`` whose ``key`` is
    the person (left join: a person with no rows has 0)."""
    t = subjects
    for name, (events, key) in counts.items():
        c = events.filter(events[key].notnull()).group_by(_pid=events[key]).agg(
            _n=lambda e: e.count())
        j = t.left_join(c, t.person_id == c._pid)
        t = j.select(*[j[col] for col in t.columns], **{name: j._n.coalesce(0)})
    return t


def unattributed_notes(events: ir.Table, key: str, subjects: ir.Table, what: str,
                       whom: str) -> list[str]:
    """Notes naming the events that count for no subject (null key, or not a subject)."""
    notes = []
    n_null = int(events.filter(events[key].isnull()).count().execute())
    if n_null:
        notes.append(f"{n_null} {what} have no {key} and count for no {whom}")
    others = events.filter(events[key].notnull()).anti_join(
        subjects, events[key] == subjects.person_id)
    n_other = int(others.count().execute())
    if n_other:
        ids = sorted(others.select(key).distinct().order_by(key).limit(_SHOW + 1)
                     .execute()[key].astype(str))
        shown = ", ".join(ids[:_SHOW]) + (", ..." if len(ids) > _SHOW else "")
        notes.append(f"{n_other} {what} belong to people who are not a {whom} in scope "
                     f"({shown}) and count for no {whom}")
    return notes


def period_mqls(ctx: AuditContext) -> ir.Table:
    """Leads that became MQLs in the period."""
    from slapolicy.clauses.common import in_period

    leads = ctx.table("leads")
    return leads.filter(in_period(ctx, leads.mql_at))
