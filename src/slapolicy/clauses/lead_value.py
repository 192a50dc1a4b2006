"""Lead value: marketing delivers at least $N of lead value a month, valued by source.

Each lead is worth the policy's ``lead_values[source]`` (Company A: referral
$5,000, content $1,000, webinar $2,000, web sales-ready $4,000; $550,000 a month
in all). Which leads count: ``counts: mql`` (leads whose ``mql_at`` is in the
period, the default) or ``counts: lead`` (leads created in the period). Sources
match exactly. A lead whose source has no value counts $0 and is never ignored
silently: the evidence carries ``n_unvalued`` and ``unvalued_sources`` and the
notes name them.

One company-level subject. ``monthly_target`` is per month: a week audits
``7 / 30.4375`` of it, a quarter 3 times it. While the period is open the value
is ``open`` (it can only grow): the judge keeps it pending while under the target.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from slapolicy.clauses.base import CheckSpec, ClauseKind, Facts, Params, Threshold, reads_of
from slapolicy.clauses.counting import per_month_threshold, scale_notes
from slapolicy.policy.units import Money

if TYPE_CHECKING:
    from slapolicy.engine.context import AuditContext
    from slapolicy.policy.model import Clause, Policy
    from slapolicy.policy.periods import Period


class LeadValueParams(Params):
    monthly_target: Money = Field(Decimal(550_000), description="lead value due a month")
    counts: Literal["mql", "lead"] = Field(
        "mql", description="mql: MQLs with mql_at in the period; lead: leads created in it")
    currency: str = Field("USD", description="must be the policy's currency")


def column_suffix(source: str) -> str:
    """A source as a column-name suffix: ``web sales-ready`` -> ``web_sales_ready``."""
    return re.sub(r"[^0-9a-z]+", "_", source.lower()).strip("_") or "blank"


class LeadValue(ClauseKind):
    name = "lead_value"
    Params = LeadValueParams
    description = "Marketing delivers at least N of lead value a month, valued by source."

    def checks(self, clause: Clause, params: LeadValueParams) -> list[CheckSpec]:
        what = "MQLs with mql_at" if params.counts == "mql" else "leads created"
        return [CheckSpec("value", "at_least", params.currency, "company", level="aggregate",
                          description=f"lead value of the {what} in the period, by source")]

    def check_policy(self, policy: Policy, clause: Clause,
                     params: LeadValueParams) -> list[str]:
        problems = []
        if not policy.lead_values:
            problems.append("the policy has no lead_values: every lead would be worth 0; "
                            "list a value per source under `lead_values:`")
        suffixes: dict[str, str] = {}
        for source in policy.lead_values:
            other = suffixes.setdefault(column_suffix(source), source)
            if other != source:
                problems.append(f"lead_values sources {other!r} and {source!r} give the same "
                                "evidence column; rename one")
        if params.currency != policy.currency:
            problems.append(f"currency {params.currency!r} is not the policy's currency "
                            f"{policy.currency!r}")
        return problems

    def threshold(self, policy: Policy, clause: Clause, params: LeadValueParams,
                  check: CheckSpec, period: Period) -> Threshold:
        return per_month_threshold(float(params.monthly_target), period,
                                   f"{params.currency} {float(params.monthly_target):,.0f}")

    def reads(self, clause: Clause, params: LeadValueParams) -> dict[str, frozenset[str]]:
        return reads_of(leads=["source", "mql_at" if params.counts == "mql" else "created_at"])

    def measure(self, ctx: AuditContext, clause: Clause,
                params: LeadValueParams) -> dict[str, Facts]:
        import ibis

        from slapolicy.clauses.common import facts_select, in_period
        from slapolicy.clauses.counting import open_notes, period_open

        leads = ctx.table("leads")
        at = leads.mql_at if params.counts == "mql" else leads.created_at
        leads = leads.filter(in_period(ctx, at))
        values = {s: float(v) for s, v in sorted(ctx.doc.policy.lead_values.items())}
        known = list(values)

        aggs: dict[str, Any] = {"n_total": leads.count()}
        for source in known:
            aggs[f"n_{column_suffix(source)}"] = (
                (leads.source == source).ifelse(1, 0).sum().coalesce(0))
        unvalued = ~leads.source.isin(known) if known else ibis.literal(True)
        aggs["n_unvalued"] = unvalued.ifelse(1, 0).sum().coalesce(0)
        totals = leads.aggregate(**aggs)

        value: Any = ibis.literal(0.0)
        evidence: dict[str, Any] = {"counts": ibis.literal(params.counts),
                                    "n_total": totals.n_total}
        for source, each in values.items():
            n = totals[f"n_{column_suffix(source)}"]
            v = n.cast("float64") * each
            evidence[f"n_{column_suffix(source)}"] = n
            evidence[f"value_{column_suffix(source)}"] = v
            value = value + v

        # The unvalued sources are a short list: name them in evidence and notes.
        odd = leads.filter(unvalued).group_by("source").agg(n=lambda t: t.count())
        odd_rows = odd.order_by("source").execute()
        names = [str(s) for s in odd_rows["source"]]
        evidence["n_unvalued"] = totals.n_unvalued
        evidence["unvalued_sources"] = ibis.literal(", ".join(names), type="string")

        table = facts_select(totals, subject_id=ibis.literal("company"), observed=value,
                             open=period_open(ctx), **evidence)
        notes = open_notes(ctx, "a value under the target is not yet due (pending)")
        what = "MQLs" if params.counts == "mql" else "leads"
        notes += scale_notes(ctx.period, f"{params.currency} {float(params.monthly_target):,.0f}")
        if names:
            detail = ", ".join(f"{s!r} ({int(n)})" for s, n in zip(names, odd_rows["n"],
                                                                   strict=True))
            notes.append(f"{int(odd_rows['n'].sum())} {what} of the period come from "
                         f"source(s) with no value in lead_values and count 0: {detail}")
        return {"value": Facts(table=table, notes=notes)}
