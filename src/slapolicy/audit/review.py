"""Review triggers: when the SLA itself needs a review, and why."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from slapolicy.clauses.common import in_period

if TYPE_CHECKING:
    from slapolicy.engine.context import AuditContext
    from slapolicy.policy.model import Policy

_CADENCE_MONTHS = {"monthly": 1, "quarterly": 3, "semiannual": 6, "annual": 12}


def funnel_rates(ctx: AuditContext) -> dict[str, Any]:
    """Lead-to-MQL and MQL-to-SQL rates of the period, computed in the engine."""
    leads = ctx.table("leads")
    created = leads.filter(in_period(ctx, leads.created_at))
    mqls = leads.filter(in_period(ctx, leads.mql_at))
    counts = {
        "leads": int(created.count().execute()),
        "mqls": int(mqls.count().execute()),
        "accepted": int(mqls.filter(mqls.sql_at.notnull()).count().execute()),
    }
    return {
        **counts,
        "lead_to_mql": counts["mqls"] / counts["leads"] if counts["leads"] else None,
        "mql_to_sql": counts["accepted"] / counts["mqls"] if counts["mqls"] else None,
    }


def review_status(ctx: AuditContext) -> dict[str, Any]:
    return review_from_rates(ctx.doc.policy, ctx.period.end - timedelta(days=1),
                             funnel_rates(ctx))


def review_from_rates(policy: Policy, last_day: date, rates: dict[str, Any]) -> dict[str, Any]:
    """The review triggers of a period from its funnel rates (the review form replays a
    period's recorded rates under other trigger levels)."""
    review = policy.review
    reasons: list[str] = []
    t = review.triggers
    for key, limit, label in (
        ("lead_to_mql", t.lead_to_mql_rate_below, "lead-to-MQL conversion"),
        ("mql_to_sql", t.mql_to_sql_rate_below, "MQL-to-SQL acceptance"),
    ):
        value = rates[key]
        if limit is not None and value is not None and value < limit:
            reasons.append(f"{label} {value:.1%} is below {limit:.0%}")
    if review.next_review and review.next_review <= last_day:
        reasons.append(f"the review date {review.next_review} has passed")
    elif review.last_reviewed:
        due = _add_months(review.last_reviewed, _CADENCE_MONTHS[review.cadence])
        if due <= last_day:
            reasons.append(f"a {review.cadence} review was due on {due} "
                           f"(last reviewed {review.last_reviewed})")
    return {"due": bool(reasons), "reasons": reasons, "rates": rates,
            "cadence": review.cadence,
            "next_review": review.next_review.isoformat() if review.next_review else None}


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, min(day.day, 28))
