"""Revenue: the shared goals of both teams (run rate, make-up, annual), judged company-wide.

Revenue of a month is the sum of ``opportunities.amount`` won with ``closed_at``
in that calendar month, in the policy's default calendar zone. Monthly targets
come from a ramp (its value on each month's last day) or a fixed ``target``.
Three checks, each optional (``checks``):

- ``run-rate``: the period's revenue is at least the monthly target (for a
  quarter, the sum of its months' targets). Company A: Goal 1.
- ``make-up``: from ``make_up_from`` on, revenue since ``year_start`` is at
  least the sum of the monthly targets of the same months (its threshold): the
  surplus since ``make_up_from`` covers the shortfall of the months before it.
  Earlier periods are not in scope. Company A: Goal 2 (target 1,250,000 a month).
- ``annual``: in the period that ends the fiscal year, the year's revenue is at
  least ``annual_target`` (default ``goals.annual_revenue_to``). Other periods
  are not in scope. Company A: Goal 3.

Every figure is measured threshold-free: the observed values are revenue, and
the targets come from the policy (``threshold``), so a what-if on the ramp or the
targets re-judges the same facts. Revenue only grows, so while the period is
still open at ``as_of`` a goal already reached is met and one not yet reached is
pending.

The subject is the company (``company``); these goals are shared, so the
clause's owner is usually ``shared``. Won opportunities without ``closed_at``
make the checks an error: their revenue could belong to any month.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from slapolicy.clauses.base import CheckSpec, ClauseKind, Facts, Params, Threshold, reads_of
from slapolicy.clauses.targets import REQUIRE_CLOSED_AT_READS, target_problems
from slapolicy.policy.periods import Period
from slapolicy.policy.units import Amount

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from slapolicy.engine.context import AuditContext
    from slapolicy.policy.model import Clause, Policy

RevenueCheck = Literal["run-rate", "make-up", "annual"]
CHECK_ORDER: tuple[RevenueCheck, ...] = ("run-rate", "make-up", "annual")
SUBJECT = "company"
UNIT = "USD"
_WAITS = "revenue under the target is not yet due (pending)"
_DESCRIPTIONS = {
    "run-rate": "the period's won revenue, at least the monthly run-rate target",
    "make-up": "won revenue since the year's start, at least the sum of the monthly "
               "targets of those months",
    "annual": "the fiscal year's won revenue, at least the annual goal",
}


class RevenueParams(Params):
    checks: list[RevenueCheck] = Field(default_factory=lambda: list(CHECK_ORDER), min_length=1,
                                       description="which goals this clause judges")
    ramp: str | None = Field(None, description="ramp of monthly targets (run-rate, make-up)")
    target: Amount | None = Field(None, description="a fixed monthly target (run-rate, make-up)")
    make_up_from: date = Field(date(2020, 6, 1),
                               description="first month of the make-up (first day of a month)")
    year_start: date | None = Field(
        None, description="first month counted by make-up (default: the fiscal year's start)")
    annual_target: Amount | None = Field(
        None, description="annual revenue goal (default: goals.annual_revenue_to)")

    @model_validator(mode="after")
    def _consistent(self) -> RevenueParams:
        if len(set(self.checks)) != len(self.checks):
            raise ValueError("checks names a check twice")
        monthly = {"run-rate", "make-up"} & set(self.checks)
        if monthly and (self.ramp is None) == (self.target is None):
            raise ValueError(f"ramp or target: {' and '.join(sorted(monthly))} need exactly "
                             "one, a ramp id or a number")
        if not monthly and (self.ramp is not None or self.target is not None):
            raise ValueError("ramp and target set monthly targets for run-rate and make-up; "
                             "the annual check uses annual_target")
        if self.annual_target is not None and "annual" not in self.checks:
            raise ValueError("annual_target is only used by the annual check")
        for name in ("make_up_from", "year_start"):
            day = getattr(self, name)
            if day is not None and day.day != 1:
                raise ValueError(f"{name} must be the first day of a month, not {day}")
        if self.year_start is not None and self.year_start >= self.make_up_from:
            raise ValueError("year_start must be before make_up_from")
        return self


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _fiscal_year_start(day: date, first_month: int) -> date:
    start = date(day.year, first_month, 1)
    return start if start <= day else _add_months(start, -12)


def _money(x: float) -> str:
    return f"{x:,.2f}"


def _month_target(policy: Policy, params: RevenueParams, first: date) -> float:
    """The monthly target of the month starting ``first``: a ramp on its last day, or fixed."""
    if params.ramp is None:
        return float(params.target or 0.0)
    return policy.ramps[params.ramp].target_on(_last_day(first))


def _last_day(first: date) -> date:
    return _add_months(first, 1) - timedelta(days=1)


def _months(first: date, end: date) -> list[date]:
    """The first days of the months from ``first`` up to (not including) ``end``."""
    out = []
    m = first
    while m < end:
        out.append(m)
        m = _add_months(m, 1)
    return out


def _period_months(period: Period) -> list[date]:
    """The calendar months of ``period`` (none for a week that holds no 1st)."""
    return [m for m in _months(date(period.start.year, period.start.month, 1), period.end)
            if m >= period.start]


def _starts(policy: Policy, params: RevenueParams, period: Period) -> tuple[date, date]:
    """The fiscal year's start and the make-up's first month, for ``period``."""
    fy_start = _fiscal_year_start(period.end - timedelta(days=1),
                                  policy.periods.fiscal_year_start_month)
    return fy_start, params.year_start or fy_start


def _label(months: list[date]) -> str:
    return f"{months[0]:%Y-%m}" if len(months) == 1 else f"{months[0]:%Y-%m}..{months[-1]:%Y-%m}"


def _targets_basis(policy: Policy, params: RevenueParams, months: list[date]) -> str:
    """Where a sum of monthly targets comes from, in words."""
    n = len(months)
    if params.ramp is None:
        return (f"{_money(float(params.target or 0.0))} a month x {n} "
                f"month{'' if n == 1 else 's'} ({_label(months)})")
    if n == 1:
        return f"ramp {params.ramp} on {_last_day(months[0]).isoformat()}"
    return (f"sum of ramp {params.ramp} on each month's last day, {_label(months)} "
            f"({', '.join(_money(_month_target(policy, params, m)) for m in months)})")


class Revenue(ClauseKind):
    name = "revenue"
    Params = RevenueParams
    description = "Company revenue against the monthly run rate, the make-up and the annual goal."

    def checks(self, clause: Clause, params: RevenueParams) -> list[CheckSpec]:
        # Revenue only grows (amounts are at least 0): moves "up", the default.
        return [CheckSpec(name, "at_least", UNIT, "company", level="aggregate",
                          description=_DESCRIPTIONS[name])
                for name in CHECK_ORDER if name in params.checks]

    def check_policy(self, policy: Policy, clause: Clause, params: RevenueParams) -> list[str]:
        problems = target_problems(policy, params.ramp, "at_least", "revenue")
        if policy.periods.unit == "week":
            problems.append("revenue is judged by calendar month: audit by month or quarter "
                            "(periods.unit), not by week")
        return problems

    def threshold(self, policy: Policy, clause: Clause, params: RevenueParams,
                  check: CheckSpec, period: Period) -> Threshold:
        if check.name == "annual":
            if params.annual_target is not None:
                return Threshold(float(params.annual_target),
                                 basis=f"annual_target {_money(float(params.annual_target))}")
            target = float(policy.goals.annual_revenue_to)
            return Threshold(target, basis=f"goals.annual_revenue_to {_money(target)}")
        if period.unit == "week":
            return Threshold(0.0, basis="revenue is judged by calendar month, not by week")
        if check.name == "run-rate":
            months = _period_months(period)
        else:  # make-up: every month since the year's start, to the period's end
            months = _months(_starts(policy, params, period)[1], period.end)
        if not months:
            return Threshold(0.0, basis=f"no months to judge in {period.label}")
        return Threshold(sum(_month_target(policy, params, m) for m in months),
                         basis=_targets_basis(policy, params, months))

    def reads(self, clause: Clause, params: RevenueParams) -> dict[str, frozenset[str]]:
        # Every check reads the same revenue by month, whichever checks are enabled.
        return reads_of(REQUIRE_CLOSED_AT_READS,
                        opportunities="opportunity_id status closed_at amount")

    def measure(self, ctx: AuditContext, clause: Clause,
                params: RevenueParams) -> dict[str, Facts]:
        from slapolicy.clauses.targets import require_closed_at

        period = ctx.period
        if period.unit == "week":
            raise ValueError("revenue is judged by calendar month: audit by month or quarter, "
                             "not by week")
        require_closed_at(ctx, ["won"])
        fy_start, year_start = _starts(ctx.doc.policy, params, period)
        if year_start >= period.end:
            raise ValueError(f"year_start {year_start} is after the period {period.label}")
        months = _months(min(year_start, fy_start, period.start), period.end)
        per_month = self._revenue_by_month(ctx, clause, months, year_start, fy_start,
                                           params.make_up_from)
        out: dict[str, Facts] = {}
        if "run-rate" in params.checks:
            out["run-rate"] = self._run_rate(ctx, params, per_month)
        if "make-up" in params.checks:
            out["make-up"] = self._make_up(ctx, params, per_month, months, year_start)
        if "annual" in params.checks:
            out["annual"] = self._annual(ctx, per_month, fy_start)
        return out

    def _revenue_by_month(self, ctx: AuditContext, clause: Clause, months: list[date],
                          year_start: date, fy_start: date, make_up_from: date) -> ir.Table:
        """One row per month: its won revenue and deals, with the flags the checks filter on."""
        import pyarrow as pa

        zone = ctx.policy_zone
        period = ctx.period
        bounds = [Period(m, _add_months(m, 1), "month", f"{m:%Y-%m}").bounds_utc(zone)
                  for m in months]
        frame = pa.table({
            "month": pa.array([f"{m:%Y-%m}" for m in months], pa.string()),
            "month_start": pa.array([b[0] for b in bounds], pa.timestamp("us")),
            "month_end": pa.array([b[1] for b in bounds], pa.timestamp("us")),
            "in_period": pa.array([period.start <= m < period.end for m in months], pa.bool_()),
            "since_year_start": pa.array([m >= year_start for m in months], pa.bool_()),
            "before_make_up": pa.array([m < make_up_from for m in months], pa.bool_()),
            "in_fiscal_year": pa.array([m >= fy_start for m in months], pa.bool_()),
        })
        ms = ctx.engine.register(f"_revenue_months_{clause.id}".replace("-", "_"), frame)
        opps = ctx.table("opportunities")
        won = opps.filter((opps.status == "won") & opps.closed_at.notnull()).select(
            "opportunity_id", "amount", "closed_at")
        j = ms.left_join(won, [won.closed_at >= ms.month_start, won.closed_at < ms.month_end])
        return j.group_by(["month", "in_period", "since_year_start", "before_make_up",
                           "in_fiscal_year"]).agg(
            revenue=j.amount.sum().coalesce(0.0),
            deals=j.opportunity_id.count(),
        )

    def _run_rate(self, ctx: AuditContext, params: RevenueParams, per_month: ir.Table) -> Facts:
        import ibis

        from slapolicy.clauses.counting import open_notes, period_open
        from slapolicy.clauses.targets import target_evidence

        mine = _period_months(ctx.period)
        ramp_date = None
        if params.ramp is not None:
            ramp_date = ", ".join(_last_day(m).isoformat() for m in mine)
        pm = per_month.filter(per_month.in_period)
        agg = pm.aggregate(revenue=pm.revenue.sum(), won=pm.deals.sum())
        revenue = agg.revenue.coalesce(0.0).cast("float64")
        t = agg.select(
            subject_id=ibis.literal(SUBJECT),
            rep_id=ibis.null("string"),
            observed=revenue,
            open=ibis.literal(period_open(ctx)),  # more deals can still be won
            revenue=revenue,
            won=agg.won.coalesce(0).cast("int64"),
            months=ibis.literal(_label(mine)),
            **target_evidence(params.ramp, ramp_date),
        )
        return Facts(table=t, notes=open_notes(ctx, _WAITS))

    def _make_up(self, ctx: AuditContext, params: RevenueParams, per_month: ir.Table,
                 months: list[date], year_start: date) -> Facts:
        import ibis

        from slapolicy.clauses.counting import open_notes, period_open
        from slapolicy.clauses.targets import target_evidence

        if ctx.day() < params.make_up_from:
            empty = self._empty(per_month)
            return Facts(table=empty, notes=[f"make-up is judged from {params.make_up_from:%Y-%m}"])
        policy = ctx.doc.policy
        counted = [m for m in months if m >= year_start]
        before = [m for m in counted if m < params.make_up_from]
        pm = per_month.filter(per_month.since_year_start)
        agg = pm.aggregate(
            cumulative=pm.revenue.sum(),
            before=pm.revenue.sum(where=pm.before_make_up),
            since=pm.revenue.sum(where=~pm.before_make_up),
            period=pm.revenue.sum(where=pm.in_period),
        )
        cumulative = agg.cumulative.coalesce(0.0).cast("float64")
        ramp_date = "each month's last day" if params.ramp is not None else None
        notes = open_notes(ctx, _WAITS)
        if not before:
            notes.append(f"make_up_from {params.make_up_from:%Y-%m} is not after the year's start "
                         f"{year_start:%Y-%m}: no earlier months to make up")
        t = agg.select(
            subject_id=ibis.literal(SUBJECT),
            rep_id=ibis.null("string"),
            # Revenue since the year's start; the threshold is the sum of those months' targets.
            observed=cumulative,
            open=ibis.literal(period_open(ctx)),  # more deals can still be won
            cumulative_revenue=cumulative,
            revenue_before=agg.before.coalesce(0.0).cast("float64"),
            revenue_since=agg.since.coalesce(0.0).cast("float64"),
            revenue=agg.period.coalesce(0.0).cast("float64"),
            months=ibis.literal(f"{counted[0]:%Y-%m}..{counted[-1]:%Y-%m}"),
            make_up_from=ibis.literal(f"{params.make_up_from:%Y-%m}"),
            # The policy's monthly targets (evidence for the reader, not the threshold).
            monthly_targets=ibis.literal("; ".join(
                f"{m:%Y-%m} {_money(_month_target(policy, params, m))}" for m in counted)),
            **target_evidence(params.ramp, ramp_date),
        )
        return Facts(table=t, notes=notes)

    def _annual(self, ctx: AuditContext, per_month: ir.Table, fy_start: date) -> Facts:
        import ibis

        from slapolicy.clauses.counting import open_notes, period_open

        fy_end = _add_months(fy_start, 12)
        last_month = f"{_add_months(fy_end, -1):%Y-%m}"
        if ctx.period.end != fy_end:
            return Facts(table=self._empty(per_month), notes=[
                f"annual revenue is judged in the period that ends the fiscal year ({last_month})"])
        pm = per_month.filter(per_month.in_fiscal_year)
        agg = pm.aggregate(revenue=pm.revenue.sum(), won=pm.deals.sum())
        revenue = agg.revenue.coalesce(0.0).cast("float64")
        t = agg.select(
            subject_id=ibis.literal(SUBJECT),
            rep_id=ibis.null("string"),
            observed=revenue,
            open=ibis.literal(period_open(ctx)),  # more deals can still be won
            revenue=revenue,
            won=agg.won.coalesce(0).cast("int64"),
            months=ibis.literal(f"{fy_start:%Y-%m}..{last_month}"),
        )
        return Facts(table=t, notes=open_notes(ctx, _WAITS))

    @staticmethod
    def _empty(per_month: ir.Table) -> ir.Table:
        """A facts table with no subjects (the check is not in scope this period)."""
        import ibis

        return per_month.limit(0).select(
            subject_id=ibis.literal(SUBJECT),
            rep_id=ibis.null("string"),
            observed=ibis.literal(0.0, type="float64"),
            open=ibis.literal(False),
        )
