"""Where the SLA stands over time: goals, shared goals, the ladder, rewards, review.

Computed after the clauses of a period, from their results and what earlier
audits recorded (``history``). The ``outcome`` part is what later audits read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from slapolicy.audit.history import History
from slapolicy.audit.ladder import ladder_states
from slapolicy.audit.results import ClauseResult
from slapolicy.policy.model import Goal, Policy
from slapolicy.policy.periods import Period

MET, MISSED, ERROR, NOT_IN_FORCE, PENDING = "met", "missed", "error", "not_in_force", "pending"
#: A clause or goal with nothing judged this period: neither met nor missed. A shared
#: goal not measured makes the period's shared goals ``not_measured`` unless another
#: is missed (the ladder holds); a reward that requires it is not earned.
NOT_MEASURED = "not_measured"


def _met(status: str) -> str:
    return {"pass": MET, "warn": MET, "fail": MISSED,
            "not_measured": NOT_MEASURED}.get(status, ERROR)


@dataclass(frozen=True)
class Standing:
    body: dict[str, Any]

    @property
    def outcome(self) -> dict[str, Any]:
        return dict(self.body["outcome"])


def assess(policy: Policy, period: Period, clauses: list[ClauseResult], history: History,
           review: dict[str, Any]) -> Standing:
    by_id = {c.clause_id: c for c in clauses}
    goal_rows = [_goal(policy, g, period, by_id, history) for g in policy.goals.items]
    per_period = {g["id"]: g["period_status"] for g in goal_rows}
    actuals = {g["id"]: g["actual"] for g in goal_rows}

    def item_status(item: str) -> str:
        if item in by_id:
            return _met(by_id[item].status)
        if item in per_period:
            return per_period[item]
        # The loader refuses shared goals and rewards naming a disabled clause; an
        # audit limited to some clauses (``only``) has not measured the others.
        return NOT_MEASURED

    shared_items = [{"id": i, "status": item_status(i)} for i in policy.shared_goals]
    judged = [s for s in shared_items if s["status"] not in (NOT_IN_FORCE, PENDING)]
    if any(s["status"] in (MISSED, ERROR) for s in judged):
        shared = MISSED
    elif any(s["status"] == NOT_MEASURED for s in judged):
        shared = NOT_MEASURED
    else:
        shared = MET
    shared_met = shared == MET
    outcomes = [(r.period.label, r.period.days, r.shared_outcome) for r in history.records]
    outcomes.append((period.label, period.days, shared))
    ladder = ladder_states(policy.consequences, outcomes)[-1]
    body = {
        "history": history.describe(),
        "goals": goal_rows,
        "shared_goals": {
            "met": shared_met,
            "status": shared,
            "missed": [s["id"] for s in judged if s["status"] in (MISSED, ERROR)],
            "not_measured": [s["id"] for s in judged if s["status"] == NOT_MEASURED],
            "items": shared_items,
            "accountable": sorted(policy.teams),
        },
        "ladder": ladder.to_dict(),
        "rewards": _rewards(policy, period, item_status, goal_rows),
        "review": review,
        "outcome": {"shared_goals_met": shared_met, "shared_goals": shared,
                    "goal_status": per_period,
                    "actuals": actuals},
    }
    return Standing(body)


# --- goals --------------------------------------------------------------------------------


def _window_periods(goal: Goal, unit: str) -> tuple[Period, Period] | None:
    if goal.window is None:
        return None
    return (Period.containing(goal.window[0], unit),  # type: ignore[arg-type]
            Period.containing(goal.window[1], unit))  # type: ignore[arg-type]


def _goal(policy: Policy, goal: Goal, period: Period, by_id: dict[str, ClauseResult],
          history: History) -> dict[str, Any]:
    row: dict[str, Any] = {"id": goal.id, "title": goal.title, "assess": goal.assess,
                           "target": None, "actual": None, "forecast": None}
    window = _window_periods(goal, period.unit)
    in_force = window is None or window[0] <= period <= window[1]
    measure_status, actual = ERROR, None
    if goal.measure:
        clause = by_id.get(goal.measure.clause)
        if clause is not None:
            if goal.measure.check:
                detail = clause.checks.get(goal.measure.check)
                if detail is not None:
                    measure_status = _met(detail.get("status", "error"))
                    actual = (detail.get("observed") or {}).get("median")
                    row["target"] = detail.get("threshold")
            else:
                measure_status, actual = _met(clause.status), clause.observed.get("median")
                row["target"] = clause.threshold
    row["actual"] = actual
    if goal.target is not None and row["target"] is None:
        row["target"] = goal.target
    row["measure_status"] = measure_status
    row["period_status"] = measure_status if in_force else NOT_IN_FORCE

    earlier = [r for r in history.records if window and window[0] <= r.period <= window[1]]
    if not in_force:
        status = NOT_IN_FORCE if window is None or period < window[0] else _final(
            goal, history, window)
    elif goal.assess == "each_period":
        status = measure_status
    elif goal.assess == "every_period_in_window":
        statuses = [r.goal_status(goal.id) for r in earlier] + [measure_status]
        if any(s in (MISSED, ERROR) for s in statuses):
            status = MISSED
        elif not (window and period == window[1]):
            status = PENDING
        else:
            status = NOT_MEASURED if NOT_MEASURED in statuses else MET
    else:  # at_window_end
        status = measure_status if window and period == window[1] else PENDING
    row["status"] = status
    row["window"] = [d.isoformat() for d in goal.window] if goal.window else None
    if goal.ramp and goal.ramp in policy.ramps:
        row["forecast"] = _forecast(policy, goal, period, history, actual)
    return row


def _final(goal: Goal, history: History, window: tuple[Period, Period]) -> str:
    """After the window: the recorded verdict of the window's periods."""
    statuses = [r.goal_status(goal.id) for r in history.records
                if window[0] <= r.period <= window[1]]
    if goal.assess == "at_window_end":
        last = [r.goal_status(goal.id) for r in history.records if r.period == window[1]]
        return last[0] or ERROR if last else ERROR
    if any(s in (MISSED, ERROR, None) for s in statuses):
        return MISSED
    return NOT_MEASURED if NOT_MEASURED in statuses else MET


def _forecast(policy: Policy, goal: Goal, period: Period, history: History,
              actual: float | None) -> dict[str, Any]:
    """Linear trend of the goal's actual over recent periods, to the next ramp date."""
    ramp = policy.ramps[goal.ramp]  # type: ignore[index]
    last_day = period.end - timedelta(days=1)
    upcoming = [p for p in ramp.points if p.on > last_day]
    recorded = [(r.period, r.actual(goal.id)) for r in history.records]
    series: list[tuple[Period, float]] = [
        (p, v) for p, v in recorded[-(goal.forecast_periods - 1):] if v is not None]
    if actual is not None:
        series.append((period, actual))
    out: dict[str, Any] = {"target_now": ramp.target_on(last_day), "direction": ramp.direction}
    if not upcoming:
        out.update(next_date=None, method="no later ramp date: the final target is in force",
                   on_track=None if actual is None else _meets(actual, out["target_now"],
                                                                ramp.direction))
        return out
    nxt = upcoming[0]
    out.update(next_date=nxt.on.isoformat(), next_target=nxt.value)
    if len(series) < 2:
        out.update(value=actual, method="fewer than 2 periods of actuals: current value held",
                   on_track=None if actual is None else _meets(actual, nxt.value, ramp.direction))
        return out
    xs = [_months(p.start, series[0][0].start) for p, _ in series]
    ys = [v for _, v in series]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    horizon = _months(Period.containing(nxt.on, period.unit).start, series[0][0].start)
    value = my + slope * (horizon - mx)
    out.update(
        value=round(value, 6), slope_per_period=round(slope, 6),
        method=(f"least-squares line through the last {n} periods "
                f"({series[0][0].label} to {series[-1][0].label}), extended to {nxt.on}"),
        on_track=_meets(value, nxt.value, ramp.direction),
    )
    return out


def _months(day: date, origin: date) -> float:
    return (day.year - origin.year) * 12 + (day.month - origin.month) + (day.day - origin.day) / 31


def _meets(value: float, target: float, direction: str) -> bool:
    return value >= target if direction == "at_least" else value <= target


# --- rewards ------------------------------------------------------------------------------


def _rewards(policy: Policy, period: Period, item_status: Any,
             goal_rows: list[dict[str, Any]]) -> dict[str, Any]:
    pool = policy.rewards.monthly_pool
    monthly: dict[str, Any] = {"amount": float(pool.amount), "currency": pool.currency,
                               "split": pool.split}
    if period.unit != "month":
        monthly.update(eligible=None, why="the pool is judged on monthly periods")
    else:
        statuses = {i: item_status(i) for i in pool.requires}
        blocking = {i: s for i, s in statuses.items() if s not in (MET, NOT_IN_FORCE)}
        monthly.update(
            eligible=not blocking, requires=statuses,
            why=("every required goal was met" if not blocking else "not met: " + ", ".join(
                f"{i} ({s})" for i, s in sorted(blocking.items()))),
        )
    annual = policy.rewards.annual
    year_end = _fiscal_year_end(policy, period)
    by_goal = {g["id"]: g["status"] for g in goal_rows}
    annual_out: dict[str, Any] = {"description": annual.description,
                                  "judged_in": year_end.label}
    if period != year_end:
        annual_out.update(eligible=None, why=f"judged at the end of the year ({year_end.label})")
    else:
        statuses = {i: by_goal.get(i) or item_status(i) for i in annual.requires}
        blocking = {i: s for i, s in statuses.items() if s != MET}
        annual_out.update(eligible=not blocking, requires=statuses,
                          why=("every annual goal was met" if not blocking else "not met: "
                               + ", ".join(f"{i} ({s})" for i, s in sorted(blocking.items()))))
    return {"monthly_pool": monthly, "annual": annual_out}


def _fiscal_year_end(policy: Policy, period: Period) -> Period:
    start_month = policy.periods.fiscal_year_start_month
    day = period.start
    year = day.year if day.month >= start_month else day.year - 1
    last_day = date(year + 1, start_month, 1) - timedelta(days=1) if start_month > 1 else date(
        year, 12, 31)
    return Period.containing(last_day, period.unit)
