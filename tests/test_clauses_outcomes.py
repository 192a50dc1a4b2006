"""Sales outcomes, revenue and meeting cadence on hand-made 2020 data (New York time).

Close-rate and sales-cycle ramps step on 30 June 2020, the last day of June, so
June is judged at 35% and 40 days and May at 25% and 45 days. Revenue ramps
linearly from 833,000 (1 January) to 1,250,000 (1 June), read on each month's
last day.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

import tests.conftest as conftest
from slapolicy.clauses.meeting_cadence import slots
from slapolicy.errors import PolicyError
from slapolicy.policy.model import Meeting
from slapolicy.policy.periods import Period
from tests.conftest import audit_with, policy_with


def z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def clause(cid: str, kind: str, params: str, owner: str = "sales") -> str:
    return (f"    - id: {cid}\n      kind: {kind}\n      title: {cid}\n      owner: {owner}\n"
            f"      params: {params}\n")


LEAD = [{"lead_id": "L1", "created_at": z("2020-01-01T12:00:00Z")}]


def opp(oid: str, rep: str, status: str, created: str, closed: str | None,
        proposal: bool = True, amount: float = 1000.0) -> dict:
    return {"opportunity_id": oid, "lead_id": "L1", "rep_id": rep, "status": status,
            "created_at": z(created), "closed_at": z(closed) if closed else None,
            "proposal_submitted_at": z(created) if proposal else None, "amount": amount}


def by_id(result) -> dict:
    return {c.clause_id: c for c in result.clauses}


def found(result, clause_id: str) -> dict:
    return {(b.check, b.subject_id): round(b.observed, 4)
            for b in result.read_breaches() if b.clause_id == clause_id}


# --- close rate and sales cycle -------------------------------------------------------------

JUN = "2020-06-15T12:00:00Z"
SALES_OPPS = [
    # June won, with their cycles in days: rep-ny 40, 20, 30; rep-la 82; rep-uk 45, 45, 25.
    opp("W1", "rep-ny", "won", "2020-05-06T12:00:00Z", JUN),
    opp("W2", "rep-ny", "won", "2020-05-26T12:00:00Z", JUN),
    opp("W3", "rep-ny", "won", "2020-05-16T12:00:00Z", JUN),
    opp("W4", "rep-la", "won", "2020-03-25T12:00:00Z", JUN),
    opp("W5", "rep-uk", "won", "2020-05-01T12:00:00Z", JUN),
    opp("W6", "rep-uk", "won", "2020-05-01T12:00:00Z", JUN),
    opp("W7", "rep-uk", "won", "2020-05-21T12:00:00Z", JUN),
    # June lost: rep-ny 2 (one at 23:30 on 30 June in New York), rep-la 4, rep-uk 7.
    opp("X01", "rep-ny", "lost", "2020-05-01T12:00:00Z", JUN),
    opp("X02", "rep-ny", "lost", "2020-05-01T12:00:00Z", "2020-07-01T03:30:00Z"),
    *[opp(f"X1{i}", "rep-la", "lost", "2020-05-01T12:00:00Z", JUN) for i in range(4)],
    *[opp(f"X2{i}", "rep-uk", "lost", "2020-05-01T12:00:00Z", JUN) for i in range(7)],
    opp("N1", "rep-la", "lost", "2020-05-01T12:00:00Z", JUN, proposal=False),  # not counted
    opp("O1", "rep-la", "open", "2020-05-01T12:00:00Z", None),                 # still open
    opp("J1", "rep-uk", "won", "2020-06-20T12:00:00Z", "2020-07-01T04:30:00Z"),  # July
    # May: rep-ny won 1 (45 days, closed 23:30 on 31 May in New York) and lost 3.
    opp("M1", "rep-ny", "won", "2020-04-17T03:30:00Z", "2020-06-01T03:30:00Z"),
    *[opp(f"M2{i}", "rep-ny", "lost", "2020-04-01T12:00:00Z", "2020-05-15T12:00:00Z")
      for i in range(3)],
]
SALES_CLAUSES = {
    "cr-team": clause("cr-team", "close_rate", "{ramp: close-rate}"),
    "cr-rep": clause("cr-rep", "close_rate", "{ramp: close-rate, per: rep}"),
    "cr-fixed": clause("cr-fixed", "close_rate", "{target: 0.5}"),
    "cycle-mean": clause("cycle-mean", "sales_cycle", "{ramp: sales-cycle}"),
    "cycle-median": clause("cycle-median", "sales_cycle", "{ramp: sales-cycle, statistic: median}"),
    "cycle-rep": clause("cycle-rep", "sales_cycle", "{ramp: sales-cycle, per: rep}"),
}


@pytest.fixture(scope="module")
def sales_audit(tmp_path_factory):
    """Audit a period with some of ``SALES_CLAUSES`` (each clause costs time: pick few)."""
    data = _dataset(tmp_path_factory.mktemp("sales"), leads=LEAD, opportunities=SALES_OPPS)

    def run(period: str, *ids: str, as_of: datetime = datetime(2020, 7, 15)):
        doc = policy_with("".join(SALES_CLAUSES[i] for i in ids or SALES_CLAUSES))
        return audit_with(doc, data, period, as_of=as_of)

    return run


def _dataset(folder: Path, **tables) -> Path:
    import pyarrow.csv as pacsv

    from slapolicy.engine.contract import TABLES

    tables.setdefault("people", conftest.PEOPLE)
    if "leads" in tables:
        tables["leads"] = [{**conftest.LEAD_DEFAULTS, **r} for r in tables["leads"]]
    for name in TABLES:
        pacsv.write_csv(conftest.table(name, tables.get(name, [])), folder / f"{name}.csv")
    return folder


def test_june_close_rate_and_cycle(sales_audit) -> None:
    result = sales_audit("2020-06")
    c = by_id(result)
    # Team: 7 won of 20 closed proposals is exactly the 35% in force on 30 June.
    assert (c["cr-team"].status, c["cr-team"].subjects, c["cr-team"].threshold) == ("pass", 1, 0.35)
    assert c["cr-team"].observed["max"] == 0.35
    assert c["cr-team"].message == ("close-rate: 1 opportunity closed in 2020-06 without a "
                                    "submitted proposal is not counted")
    assert found(result, "cr-rep") == {("close-rate", "rep-la"): 0.2,
                                       ("close-rate", "rep-uk"): 0.3}
    assert (c["cr-rep"].subjects, c["cr-rep"].breaches, c["cr-rep"].subject_type) == (3, 2, "rep")
    assert found(result, "cr-fixed") == {("close-rate", "sales"): 0.35}
    ev = {b.clause_id + "/" + b.subject_id: b for b in result.read_breaches()}
    assert ev["cr-rep/rep-uk"].evidence == {"won": 3, "lost": 7, "ramp": "close-rate",
                                            "ramp_date": "2020-06-30"}
    assert ev["cr-rep/rep-uk"].person_id == "rep-uk"
    assert ev["cr-fixed/sales"].evidence == {"won": 7, "lost": 13, "ramp": None,
                                             "ramp_date": None}
    assert ev["cr-fixed/sales"].person_id == "sales-lead"
    # Cycle: mean of 40, 20, 30, 82, 45, 45, 25 is 41 > 40; the median is exactly 40.
    assert found(result, "cycle-mean") == {("sales-cycle", "sales"): 41.0}
    assert ev["cycle-mean/sales"].evidence == {"won": 7, "mean_days": 41.0, "median_days": 40.0,
                                               "ramp": "sales-cycle", "ramp_date": "2020-06-30"}
    assert (c["cycle-median"].status, c["cycle-median"].threshold) == ("pass", 40.0)
    assert found(result, "cycle-rep") == {("sales-cycle", "rep-la"): 82.0}
    assert c["cycle-rep"].subjects == 3


MANAGED = [
    {**conftest.PEOPLE[0], "manager_id": "mgr-east"},  # rep-ny
    {**conftest.PEOPLE[1], "manager_id": "mgr-east"},  # rep-la
    conftest.PEOPLE[2],                                 # rep-uk: no manager
    conftest.PEOPLE[3],
    {"person_id": "mgr-east", "name": "Manager", "team": "sales", "role": "team_lead",
     "region": "us-east", "time_zone": "America/New_York"},
]


def test_outcomes_grouped_per_manager_and_per_region(tmp_path: Path) -> None:
    data = _dataset(tmp_path, leads=LEAD, opportunities=SALES_OPPS, people=MANAGED)
    doc = policy_with(clause("cr-mgr", "close_rate", "{target: 0.5, per: manager}")
                      + clause("cr-region", "close_rate", "{target: 0.5, per: region}")
                      + clause("cycle-mgr", "sales_cycle", "{target: 40, per: manager}"))
    result = audit_with(doc, data, "2020-06", as_of=datetime(2020, 7, 15))
    c = by_id(result)
    # mgr-east pools rep-ny (won 3, lost 2) and rep-la (won 1, lost 4): 4 of 10 = 0.4.
    # rep-uk (won 3, lost 7) has no manager: its 10 proposals are not counted, and said so.
    assert found(result, "cr-mgr") == {("close-rate", "mgr-east"): 0.4}
    assert c["cr-mgr"].subjects == 1 and c["cr-mgr"].subject_type == "manager"
    assert ("10 proposals closed in the period by reps with no manager in "
            "people.manager_id belong to no manager and are not counted") in c["cr-mgr"].message
    # Regions of the reps: us-east 3 of 5 = 0.6 (met); us-west 1 of 5; emea 3 of 10.
    assert found(result, "cr-region") == {("close-rate", "us-west"): 0.2,
                                          ("close-rate", "emea"): 0.3}
    assert c["cr-region"].subjects == 3
    # mgr-east's won deals: 40, 20, 30 (rep-ny) and 82 (rep-la) days: mean 43 > 40.
    assert found(result, "cycle-mgr") == {("sales-cycle", "mgr-east"): 43.0}


def test_may_uses_the_earlier_ramp_step(sales_audit) -> None:
    result = sales_audit("2020-05", "cr-team", "cr-rep", "cr-fixed", "cycle-mean", "cycle-rep")
    c = by_id(result)
    # 1 won of 4 (the win closed 23:30 on 31 May in New York) is exactly May's 25%.
    assert (c["cr-team"].status, c["cr-team"].threshold, c["cr-team"].observed["max"]) == (
        "pass", 0.25, 0.25)
    assert c["cr-rep"].message == ("close-rate: 2 sales reps (rep-la, rep-uk) closed no "
                                   "proposal in 2020-05 and are not in scope")
    assert found(result, "cr-fixed") == {("close-rate", "sales"): 0.25}
    # 45 days is exactly May's 45-day target.
    assert (c["cycle-mean"].status, c["cycle-mean"].threshold, c["cycle-mean"].observed["max"]) == (
        "pass", 45.0, 45.0)
    assert c["cycle-rep"].message == ("sales-cycle: 2 sales reps (rep-la, rep-uk) won no deal "
                                      "in 2020-05 and are not in scope")


def test_empty_period_is_not_measured_with_a_note(sales_audit) -> None:
    # Nothing in scope is neither met nor missed: not measured (no longer a pass).
    c = by_id(sales_audit("2020-03", "cr-team", "cr-rep", "cycle-rep"))
    for cid, whom in (("cr-team", "teams"), ("cr-rep", "reps")):
        assert (c[cid].status, c[cid].subjects, c[cid].pending) == ("not_measured", 0, 0)
        assert c[cid].message == (f"close-rate: not measured: no {whom} in scope this period; "
                                  "no proposals closed in 2020-03: the close rate is undefined")
    assert (c["cycle-rep"].status, c["cycle-rep"].subjects) == ("not_measured", 0)
    assert c["cycle-rep"].message == ("sales-cycle: not measured: no reps in scope this period; "
                                      "no opportunities won in 2020-03: no sales cycle to measure")


def test_an_open_period_holds_rates_pending(sales_audit) -> None:
    # June audited on 20 June: more proposals and deals can still close, moving a rate or a
    # mean either way, so every subject waits (closed, rep-la and rep-uk were breaches).
    result = sales_audit("2020-06", "cr-rep", "cycle-mean", as_of=datetime(2020, 6, 20))
    c = by_id(result)
    # Reps with proposals closed in June so far: rep-ny (3 of 5), rep-la (1 of 5), rep-uk
    # (3 of 10); all three are in scope and pending.
    cr = c["cr-rep"].checks["close-rate"]
    assert (cr["status"], cr["in_scope"], cr["pending"], cr["breaches"]) == (
        "not_measured", 3, 3, 0)
    assert c["cr-rep"].message == (
        "close-rate: not measured: none of the 3 reps in scope could be judged (3 still "
        "pending (not yet due)); 1 opportunity closed in 2020-06 without a submitted proposal "
        "is not counted; 2020-06 is still open at 2020-06-20T00:00:00Z: the close rate is "
        "judged once the period closes (pending)")
    assert (c["cycle-mean"].status, c["cycle-mean"].pending, c["cycle-mean"].breaches) == (
        "not_measured", 1, 0)
    assert found(result, "cr-rep") == {} and found(result, "cycle-mean") == {}


def test_missing_or_impossible_dates_are_errors(tmp_path: Path) -> None:
    opps = [opp("B1", "rep-ny", "lost", "2020-06-05T12:00:00Z", None),
            opp("B2", "rep-ny", "won", "2020-06-20T12:00:00Z", "2020-06-10T12:00:00Z"),
            opp("B3", "rep-ny", "won", "2020-06-01T12:00:00Z", None),
            opp("B4", "rep-ny", "won", "2020-07-01T12:00:00Z", None)]  # after June: ignored
    data = _dataset(tmp_path, leads=LEAD, opportunities=opps)
    doc = policy_with(clause("cr", "close_rate", "{ramp: close-rate}")
                      + clause("cycle", "sales_cycle", "{target: 30}")
                      + clause("goal-1", "revenue", "{checks: [run-rate], ramp: revenue-run-rate}",
                               owner="shared"))
    c = by_id(audit_with(doc, data, "2020-06"))
    assert {k: v.status for k, v in c.items()} == {"cr": "error", "cycle": "error",
                                                   "goal-1": "error"}
    # A kind that cannot measure errs per check, so the message names the check.
    assert c["cr"].message == (
        "close-rate: ValueError: 2 won or lost opportunities have no closed_at (e.g. B1, B3): the period "
        "they closed in is unknown; fill opportunities.closed_at at the source")
    assert c["cycle"].message == (
        "sales-cycle: ValueError: 1 won opportunity closed before it was created (e.g. B2): correct "
        "created_at or closed_at at the source")
    assert c["goal-1"].message == (
        "run-rate: ValueError: 1 won opportunity has no closed_at (e.g. B3): the period they closed in "
        "is unknown; fill opportunities.closed_at at the source")


@pytest.mark.parametrize(("params", "message"), [
    ("{ramp: nope}", "ramp 'nope' is not one of the policy's ramps"),
    ("{ramp: sales-cycle}", "ramp 'sales-cycle' is at_most, but the close rate is judged at_least"),
    ("{ramp: close-rate, target: 0.3}", "ramp or target: give exactly one"),
    ("{per: rep}", "ramp or target: give exactly one"),
    ("{target: 0.3, per: marketer}", "per"),
])
def test_close_rate_policy_problems(params: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        policy_with(clause("cr", "close_rate", params))


def test_sales_cycle_policy_problems() -> None:
    with pytest.raises(PolicyError, match="ramp 'close-rate' is at_least, but the sales cycle"):
        policy_with(clause("cy", "sales_cycle", "{ramp: close-rate}"))


# --- revenue --------------------------------------------------------------------------------

def won(oid: str, closed: str, amount: float) -> dict:
    return opp(oid, "rep-ny", "won", "2020-01-01T12:00:00Z", closed, amount=amount)


REVENUE_OPPS = [
    won("R01", "2020-01-15T17:00:00Z", 900_000),
    won("R02", "2020-02-14T17:00:00Z", 1_000_000),
    # March: nothing won.
    won("R04", "2020-04-15T17:00:00Z", 1_200_000),
    won("R05", "2020-05-15T17:00:00Z", 1_000_000),
    won("R05b", "2020-06-01T03:30:00Z", 250_000),    # 23:30 on 31 May in New York
    won("R06", "2020-06-15T17:00:00Z", 1_250_000),
    opp("R06x", "rep-ny", "lost", "2020-01-01T12:00:00Z", "2020-06-16T17:00:00Z",
        amount=5_000_000),
    opp("R06o", "rep-ny", "open", "2020-01-01T12:00:00Z", None, amount=5_000_000),
    won("R07", "2020-07-15T17:00:00Z", 1_500_000),
    won("R08", "2020-08-14T17:00:00Z", 1_900_000),
    won("R09", "2020-09-15T17:00:00Z", 2_250_000),
    won("R10", "2020-10-15T17:00:00Z", 1_250_000),
    won("R11", "2020-11-13T17:00:00Z", 1_250_000),
    won("R12", "2020-12-15T17:00:00Z", 1_000_000),
    won("R12b", "2021-01-01T04:30:00Z", 250_000),    # 23:30 on 31 December in New York
    won("R13", "2021-01-01T05:30:00Z", 999),         # 00:30 on 1 January: 2021
]
REVENUE_CLAUSES = {
    "revenue": clause("revenue", "revenue", "{ramp: revenue-run-rate}", owner="shared"),
    "goal-2": clause("goal-2", "revenue", "{checks: [make-up], target: 1_250_000}",
                     owner="shared"),
    "goal-3": clause("goal-3", "revenue", "{checks: [annual]}", owner="shared"),
    "annual-16m": clause("annual-16m", "revenue", "{checks: [annual], annual_target: 16_000_000}",
                         owner="shared"),
}


def ramp(days: int) -> float:
    """Revenue run-rate target ``days`` after 1 January 2020 (152 days to 1 June)."""
    return 833_000 + 417_000 * days / 152


@pytest.fixture(scope="module")
def revenue_audit(tmp_path_factory):
    data = _dataset(tmp_path_factory.mktemp("revenue"), leads=LEAD, opportunities=REVENUE_OPPS)

    def run(period: str, *ids: str):
        doc = policy_with("".join(REVENUE_CLAUSES[i] for i in ids or REVENUE_CLAUSES))
        return audit_with(doc, data, period, as_of=datetime(2021, 1, 15))

    return run


def test_revenue_march_no_deals(revenue_audit) -> None:
    result = revenue_audit("2020-03", "revenue", "goal-2")
    c = by_id(result)
    (b,) = [b for b in result.read_breaches() if b.clause_id == "revenue"]
    # No deals won: revenue 0 against the ramp on 31 March (day 90).
    assert (b.check, b.subject_id, b.observed) == ("run-rate", "company", 0.0)
    assert b.threshold == pytest.approx(ramp(90)) and round(b.threshold, 2) == 1_079_907.89
    assert (b.team, b.person_id, b.unit) == ("shared", None, "USD")
    # The target is the threshold itself, no longer repeated as evidence.
    assert b.evidence == {"revenue": 0.0, "won": 0, "months": "2020-03",
                          "ramp": "revenue-run-rate", "ramp_date": "2020-03-31"}
    assert c["revenue"].status == "fail"
    none = "not measured: no companies in scope this period"
    assert c["revenue"].message == (
        f"make-up: {none}; make-up is judged from 2020-06; annual: {none}; annual revenue is "
        "judged in the period that ends the fiscal year (2020-12)")
    assert (c["goal-2"].status, c["goal-2"].subjects) == ("not_measured", 0)
    assert c["goal-2"].message == f"make-up: {none}; make-up is judged from 2020-06"


def test_revenue_june(revenue_audit) -> None:
    result = revenue_audit("2020-06", "revenue", "goal-2")
    c = by_id(result)
    # Exactly 1,250,000 in June (the deal at 23:30 on 31 May counts in May): complies.
    run = c["revenue"].checks["run-rate"]
    assert (run["status"], run["observed"]["max"], run["threshold"]) == ("pass", 1_250_000, 1_250_000)
    breaches = {(b.clause_id, b.check): b for b in result.read_breaches()}
    assert set(breaches) == {("revenue", "make-up"), ("goal-2", "make-up")}
    # Make-up is judged as revenue since January (observed: 900,000 + 1,000,000 + 0 +
    # 1,200,000 + 1,250,000 + 1,250,000 = 5,600,000) against the sum of the six monthly
    # targets (threshold); the old surplus is observed - threshold = -1,049,539.47.
    targets = sum(ramp(d) for d in (30, 59, 90, 120, 151)) + 1_250_000
    ramped = breaches[("revenue", "make-up")]
    assert ramped.observed == 5_600_000
    assert ramped.threshold == pytest.approx(targets)
    # 915,302.63 + 994,861.84 + 1,079,907.89 + 1,162,210.53 + 1,247,256.58 + 1,250,000
    assert round(ramped.threshold, 2) == 6_649_539.47
    assert ramped.evidence["monthly_targets"] == (
        "2020-01 915,302.63; 2020-02 994,861.84; 2020-03 1,079,907.89; 2020-04 1,162,210.53; "
        "2020-05 1,247,256.58; 2020-06 1,250,000.00")
    # Against a flat 1,250,000 (Company A's goal 2): 5,600,000 of 6 x 1,250,000; Jan-May's
    # 4,350,000 fell 1,900,000 short of 5 x 1,250,000, and June only met its own target.
    flat = breaches[("goal-2", "make-up")]
    assert (flat.observed, flat.threshold) == (5_600_000, 7_500_000)
    assert flat.evidence == {
        "cumulative_revenue": 5_600_000.0, "revenue_before": 4_350_000.0,
        "revenue_since": 1_250_000.0, "revenue": 1_250_000.0,
        "months": "2020-01..2020-06", "make_up_from": "2020-06",
        "monthly_targets": "; ".join(f"2020-{m:02d} 1,250,000.00" for m in range(1, 7)),
        "ramp": None, "ramp_date": None,
    }
    rule = c["goal-2"].checks["make-up"]["threshold_rule"]
    assert rule == {"value": 7_500_000,
                    "basis": "1,250,000.00 a month x 6 months (2020-01..2020-06)"}


def test_revenue_december(revenue_audit) -> None:
    result = revenue_audit("2020-12")
    c = by_id(result)
    # 15,000,000 exactly (with the deal at 23:30 on 31 December, not the one after midnight).
    assert (c["goal-3"].status, c["goal-3"].observed["max"], c["goal-3"].threshold) == (
        "pass", 15_000_000, 15_000_000)
    # The flat make-up is exactly made up: cumulative revenue (5,600,000 to June, then
    # 1,500,000 + 1,900,000 + 2,250,000 + 1,250,000 + 1,250,000 + 1,250,000) equals
    # 12 x 1,250,000.
    assert (c["goal-2"].status, c["goal-2"].observed["max"], c["goal-2"].threshold) == (
        "pass", 15_000_000, 15_000_000)
    assert c["revenue"].status == "pass"
    assert set(c["revenue"].checks) == {"run-rate", "make-up", "annual"}
    (b,) = [b for b in result.read_breaches() if b.clause_id == "annual-16m"]
    assert (b.check, b.observed, b.threshold) == ("annual", 15_000_000, 16_000_000)
    assert b.evidence == {"revenue": 15_000_000.0, "won": 13, "months": "2020-01..2020-12"}


@pytest.mark.parametrize(("params", "message"), [
    ("{checks: [run-rate]}", "ramp or target: run-rate need exactly one"),
    ("{checks: [annual], target: 5}", "the annual check uses annual_target"),
    ("{checks: [run-rate], target: 5, annual_target: 9}", "annual_target is only used"),
    ("{target: 5, make_up_from: 2020-06-15}", "make_up_from must be the first day of a month"),
    ("{target: 5, year_start: 2020-07-01}", "year_start must be before make_up_from"),
    ("{checks: [annual, annual]}", "checks names a check twice"),
    ("{ramp: sales-cycle}", "ramp 'sales-cycle' is at_most, but revenue is judged at_least"),
])
def test_revenue_policy_problems(params: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        policy_with(clause("rev", "revenue", params, owner="shared"))


# --- meeting cadence ------------------------------------------------------------------------

def meeting(mid: str, kind: str, start: str, minutes: int, attendees: int = 6) -> dict:
    return {"meeting_id": mid, "kind": kind, "started_at": z(start),
            "duration_minutes": minutes, "attendees": attendees}


MEETINGS = [
    meeting("M0", "leadership_weekly", "2020-02-24T04:30:00Z", 60),  # Sun 23 Feb 23:30 EST
    meeting("M1", "leadership_weekly", "2020-02-27T15:00:00Z", 30),
    meeting("M2", "leadership_weekly", "2020-03-03T15:00:00Z", 25, attendees=5),
    meeting("M3", "leadership_weekly", "2020-03-05T15:00:00Z", 30, attendees=3),
    meeting("M4", "teams_monthly", "2020-03-10T14:00:00Z", 60, attendees=20),
    meeting("M5", "leadership_weekly", "2020-03-17T14:00:00Z", 29),
    meeting("M6", "leadership_weekly", "2020-03-30T03:30:00Z", 30),  # Sun 29 Mar 23:30 EDT
    meeting("M7", "leadership_weekly", "2020-03-31T14:00:00Z", 45),
]
MEETING_CLAUSES = "".join([
    clause("weekly", "meeting_cadence", "{meeting: leadership_weekly}", owner="shared"),
    clause("weekly-4", "meeting_cadence", "{meeting: leadership_weekly, min_attendees: 4}",
           owner="shared"),
    clause("monthly", "meeting_cadence", "{meeting: teams_monthly}", owner="shared"),
])


@pytest.fixture(scope="module")
def meetings_data(tmp_path_factory) -> Path:
    return _dataset(tmp_path_factory.mktemp("meetings"), meetings=MEETINGS)


def test_meetings_in_march(meetings_data: Path) -> None:
    result = audit_with(policy_with(MEETING_CLAUSES), meetings_data, "2020-03",
                        as_of=datetime(2020, 4, 2, 12))
    c = by_id(result)
    # Weeks ending in March: those starting 24 Feb, 2, 9, 16 and 23 March.
    assert (c["weekly"].subjects, c["weekly"].pending, c["weekly"].subject_type) == (
        5, 0, "meeting_slot")
    assert found(result, "weekly") == {("held", "leadership_weekly:2020-03-09"): 0.0,
                                       ("held", "leadership_weekly:2020-03-16"): 29.0}
    assert found(result, "weekly-4") == {("held", "leadership_weekly:2020-03-02"): 25.0,
                                         ("held", "leadership_weekly:2020-03-09"): 0.0,
                                         ("held", "leadership_weekly:2020-03-16"): 29.0}
    b = next(b for b in result.read_breaches() if b.clause_id == "weekly-4"
             and b.subject_id.endswith("03-02"))
    assert b.evidence == {"first_day": "2020-03-02", "last_day": "2020-03-08", "held": 2,
                          "qualifying": 1, "max_attendees": 5}
    assert (b.threshold, b.unit, b.team, b.person_id) == (30.0, "minutes", "shared", None)
    # The monthly meeting lasted exactly its hour.
    assert (c["monthly"].status, c["monthly"].subjects, c["monthly"].observed["max"]) == (
        "pass", 1, 60.0)


def test_meetings_in_april_open_slots_are_pending(meetings_data: Path) -> None:
    result = audit_with(policy_with(MEETING_CLAUSES), meetings_data, "2020-04",
                        as_of=datetime(2020, 4, 15, 12))
    c = by_id(result)
    # 30 Mar (M7, 45 min) complies; 6 Apr had none; 13 and 20 Apr have not ended.
    assert (c["weekly"].subjects, c["weekly"].breaches, c["weekly"].pending) == (2, 1, 2)
    assert found(result, "weekly") == {("held", "leadership_weekly:2020-04-06"): 0.0}
    # April's monthly slot has not ended and no meeting was held yet: pending, so the
    # check is not measured (no longer a pass).
    assert (c["monthly"].status, c["monthly"].subjects, c["monthly"].pending) == (
        "not_measured", 0, 1)
    assert c["monthly"].message == ("held: not measured: none of the 1 meeting_slots in scope "
                                    "could be judged (1 still pending (not yet due))")


def test_no_meetings_recorded_and_no_slot(make_dataset, tmp_path: Path, monkeypatch) -> None:
    text = conftest.POLICY.read_text() + (
        "      - id: exec_quarterly\n        every: quarter\n        duration: 2h\n"
        "        attendees: executives\n")
    path = tmp_path / "company-a.yaml"
    path.write_text(text)
    monkeypatch.setattr(conftest, "POLICY", path)
    doc = conftest.policy_with(
        clause("weekly", "meeting_cadence", "{meeting: leadership_weekly}", owner="shared")
        + clause("quarterly", "meeting_cadence", "{meeting: exec_quarterly}", owner="shared"))
    result = conftest.audit_with(doc, make_dataset(), "2020-02", as_of=datetime(2020, 3, 5))
    c = by_id(result)
    empty = "the meetings table is empty: no meeting of any kind is recorded"
    assert (c["weekly"].status, c["weekly"].breaches) == ("fail", 4)
    assert c["weekly"].message == f"held: {empty}"
    assert (c["quarterly"].status, c["quarterly"].subjects) == ("not_measured", 0)
    assert c["quarterly"].message == (f"held: not measured: no meeting_slots in scope this "
                                      f"period; {empty}; no exec_quarterly slot ends in 2020-02")


def test_slots() -> None:
    weekly = Meeting(id="w", every="week", duration="30m", attendees="x")
    march = Period.parse("2020-03")
    assert [a for a, _ in slots(weekly, march, "mon")] == [
        date(2020, 2, 24), date(2020, 3, 2), date(2020, 3, 9), date(2020, 3, 16),
        date(2020, 3, 23)]
    assert [a for a, _ in slots(weekly, march, "sun")] == [
        date(2020, 3, 1), date(2020, 3, 8), date(2020, 3, 15), date(2020, 3, 22)]
    monthly = weekly.model_copy(update={"every": "month"})
    assert slots(monthly, Period.parse("2020-Q1", "quarter"), "mon") == [
        (date(2020, 1, 1), date(2020, 2, 1)), (date(2020, 2, 1), date(2020, 3, 1)),
        (date(2020, 3, 1), date(2020, 4, 1))]
    quarterly = weekly.model_copy(update={"every": "quarter"})
    assert slots(quarterly, march, "mon") == [(date(2020, 1, 1), date(2020, 4, 1))]
    assert slots(quarterly, Period.parse("2020-02"), "mon") == []


def test_meeting_policy_problems() -> None:
    with pytest.raises(PolicyError, match="meeting 'standup' is not one of communication.meetings "
                                          r"\(leadership_weekly, teams_monthly\)"):
        policy_with(clause("m", "meeting_cadence", "{meeting: standup}", owner="shared"))
