"""Funnel conversion: marketing's KPIs visitor to lead, lead to MQL and MQL to SQL.

One company-level subject, three checks, each at least a threshold:

- ``visitor-to-lead``: leads created in the period / website visitors on the
  period's local dates (``web_traffic``);
- ``lead-to-mql``: MQLs (``mql_at`` in the period) / leads created in the period;
- ``mql-to-sql``: SQLs (``sql_at`` in the period) / MQLs in the period.

Company A's agreement names these KPIs without figures; the defaults (0.02, 0.20, 0.30)
are placeholders, the last two equal to Company A's review triggers. A threshold
of ``null`` disables its check. Nothing passes silently: once the period has
closed, ``web_traffic`` with no rows for the period, days of the period missing
from it, or a zero denominator is an error naming the cause. While the period is
open (the audit's as-of instant is before its end) the rates so far are ``open``
facts and the judge keeps them pending (a rate can move either way): it is judged
once the period closes. Days not loaded yet and zero denominators are then no
error; the rate so far is 0 where it is undefined, and the notes say so.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from slapolicy.clauses.base import CheckSpec, ClauseKind, Facts, Params, Threshold, reads_of

if TYPE_CHECKING:
    from slapolicy.engine.context import AuditContext
    from slapolicy.policy.model import Clause, Policy
    from slapolicy.policy.periods import Period

#: check name -> (params field, numerator, denominator, what the denominator counts)
RATES = {
    "visitor-to-lead": ("visitor_to_lead", "leads", "visitors", "website visitors"),
    "lead-to-mql": ("lead_to_mql", "mqls", "leads", "leads created"),
    "mql-to-sql": ("mql_to_sql", "sqls", "mqls", "MQLs"),
}


class FunnelConversionParams(Params):
    visitor_to_lead: float | None = Field(0.02, ge=0, le=1,
                                          description="leads per visitor; null disables")
    lead_to_mql: float | None = Field(0.20, ge=0, le=1,
                                      description="MQLs per lead created; null disables")
    mql_to_sql: float | None = Field(0.30, ge=0, le=1,
                                     description="SQLs per MQL; null disables")

    @model_validator(mode="after")
    def _something_enabled(self) -> FunnelConversionParams:
        if all(getattr(self, f) is None for f, *_ in RATES.values()):
            raise ValueError("every check is disabled (all thresholds null); "
                             "set one, or disable the clause with `enabled: false`")
        return self


class FunnelConversion(ClauseKind):
    name = "funnel_conversion"
    Params = FunnelConversionParams
    description = "Visitor-to-lead, lead-to-MQL and MQL-to-SQL conversion rates."

    def checks(self, clause: Clause, params: FunnelConversionParams) -> list[CheckSpec]:
        return [
            CheckSpec(check, "at_least", f"{num} per {den}", "company", level="aggregate",
                      description=f"{num} / {den} in the period", moves="either")
            for check, (field, num, den, _) in RATES.items()
            if getattr(params, field) is not None
        ]

    def threshold(self, policy: Policy, clause: Clause, params: FunnelConversionParams,
                  check: CheckSpec, period: Period) -> Threshold:
        field = RATES[check.name][0]
        value = getattr(params, field)
        if value is None:
            raise ValueError(f"{check.name} is disabled ({field}: null): it has no threshold")
        return Threshold(float(value), basis=f"{field} {value:g}")

    def reads(self, clause: Clause, params: FunnelConversionParams) -> dict[str, frozenset[str]]:
        # The three counts are evidence of every check; only visitor-to-lead reads traffic.
        traffic = ({"web_traffic": ["day", "visitors"]}
                   if params.visitor_to_lead is not None else {})
        return reads_of(traffic, leads="created_at mql_at sql_at")

    def measure(self, ctx: AuditContext, clause: Clause,
                params: FunnelConversionParams) -> dict[str, Facts]:
        import ibis

        from slapolicy.clauses.common import facts_select, in_period
        from slapolicy.clauses.counting import open_notes, period_open

        label = ctx.period.label
        is_open = period_open(ctx)
        # A rate to date is no verdict: while the period is open the judge keeps it pending.
        waiting = open_notes(ctx, "the rate is judged once the period closes (pending)")
        leads = ctx.table("leads")
        totals = leads.aggregate(
            leads=in_period(ctx, leads.created_at).ifelse(1, 0).sum().coalesce(0),
            mqls=in_period(ctx, leads.mql_at).ifelse(1, 0).sum().coalesce(0),
            sqls=in_period(ctx, leads.sql_at).ifelse(1, 0).sum().coalesce(0),
        )
        notes: dict[str, list[str]] = {check: list(waiting) for check in RATES}
        out: dict[str, Facts] = {}
        if params.visitor_to_lead is not None:
            try:
                traffic = self._traffic(ctx, complete=not is_open)
            except ValueError as e:  # only this check needs traffic: judge the others
                out["visitor-to-lead"] = Facts(error=str(e))
            else:
                totals = totals.cross_join(traffic)
                so_far = " loaded so far" if is_open else ""
                notes["visitor-to-lead"].append(
                    f"visitors on the local dates {ctx.period.start} to "
                    f"{ctx.period.end - timedelta(1)}{so_far}")
        row = totals.execute().iloc[0]

        for check, (field, num, den, what) in RATES.items():
            threshold = getattr(params, field)
            if threshold is None or check in out:
                continue
            if int(row[den]) == 0:
                if not is_open:
                    out[check] = Facts(error=(
                        f"{check}: no {what} in {label}, so the rate is undefined; check the "
                        f"period and the data, or disable the {check} check ({field}: null)"))
                    continue
                notes[check].append(f"no {what} in {label} so far: the rate is undefined "
                                    "(0 until there are some)")
            evidence: dict[str, Any] = {"leads": totals.leads, "mqls": totals.mqls,
                                        "sqls": totals.sqls}
            if "visitors" in totals.columns:
                evidence["visitors"] = totals.visitors
                evidence["traffic_days"] = totals.traffic_days
            rate = totals[num].cast("float64") / totals[den].cast("float64")
            table = facts_select(
                totals, subject_id=ibis.literal("company"),
                observed=(totals[den] > 0).ifelse(rate, ibis.literal(0.0)),
                open=is_open, **evidence)
            out[check] = Facts(table=table, notes=notes[check])
        return out

    @staticmethod
    def _traffic(ctx: AuditContext, *, complete: bool = True) -> Any:
        """Visitors on the period's local dates.

        ``complete`` (a closed period): raises when the period has no traffic or days
        are missing. Else (an open period) the days loaded so far, perhaps none.
        """
        import ibis

        label = ctx.period.label
        start, end = ctx.period.start, ctx.period.end
        web = ctx.table("web_traffic")
        web = web.filter((web.day >= ibis.literal(start)) & (web.day < ibis.literal(end)))
        traffic = web.aggregate(visitors=web.visitors.sum().coalesce(0),
                                traffic_days=web.count())
        if not complete:
            return traffic
        days = int(web.count().execute())
        if days == 0:
            raise ValueError(f"web_traffic has no visitors for {label}; load the "
                             "web_traffic table or disable the visitor-to-lead check")
        due = (end - start).days
        if days < due:
            # A missing day would inflate the rate: name the first one.
            import pandas as pd

            have = {pd.Timestamp(d).date() for d in web.select("day").execute()["day"]}
            missing = [start + timedelta(days=i) for i in range(due)
                       if start + timedelta(days=i) not in have]
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise ValueError(
                f"web_traffic covers {days} of the {due} days of {label} (missing "
                f"{missing[0]}{more}); load the missing days or disable the "
                "visitor-to-lead check")
        return traffic
