"""Small Ibis idioms clause kinds share when they measure (no clause logic of its own).

Kinds import this module inside ``measure``: it imports Ibis, which loading a policy
must not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from slapolicy.engine.context import AuditContext


def in_period(ctx: AuditContext, column: ir.TimestampValue) -> ir.BooleanValue:
    """``column`` falls in the audited period ``[start, end)`` (UTC bounds)."""
    start, end = ctx.bounds
    return column.notnull() & (column >= start) & (column < end)


def no_rep() -> Any:
    """A typed null for the ``rep_id`` column of facts that have no rep."""
    return ibis.null("string")


def facts_select(table: ir.Table, *, subject_id: Any, observed: Any, open: Any = False,
                 rep_id: Any = None, **evidence: Any) -> ir.Table:
    """Select the fact columns with the right types, plus evidence columns.

    ``open`` is a boolean expression, or a Python bool for every row (a closed period
    gives ``False``: every value is final).
    """
    return table.select(
        subject_id=subject_id.cast("string") if hasattr(subject_id, "cast") else subject_id,
        rep_id=(rep_id if rep_id is not None else no_rep()),
        observed=observed.cast("float64") if hasattr(observed, "cast")
        else ibis.literal(float(observed)),
        open=open if hasattr(open, "cast") else ibis.literal(bool(open)),
        **evidence,
    )


def hours_between(start: Any, end: Any) -> Any:
    """Wall-clock hours from ``start`` to ``end`` (whole seconds)."""
    return (end.epoch_seconds() - start.epoch_seconds()).cast("float64") / 3600.0


def first_activity(leads: ir.Table, start_col: str, activities: ir.Table,
                   out_col: str) -> ir.Table:
    """Per lead, the first activity at or after ``leads[start_col]``: (lead_id, out_col).

    Reads ``spec.FIRST_ACTIVITY_READS`` of the activities (declare it in ``reads``).
    """
    return (
        leads.select("lead_id", start_col)
        .inner_join(activities.select("lead_id", "occurred_at"), "lead_id")
        .filter(lambda t: t.occurred_at >= t[start_col])
        .group_by("lead_id")
        .agg(**{out_col: lambda t: t.occurred_at.min()})
    )
