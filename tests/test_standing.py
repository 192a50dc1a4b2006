"""Goals over time: twelve monthly audits in a row, each reading the ones before."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from slapolicy.audit.run import AuditRequest, audit_document
from slapolicy.errors import HistoryMissingError
from slapolicy.policy.loader import parse_policy
from tests.conftest import POLICY

MONTHS = [f"2020-{m:02d}" for m in range(1, 13)]
# Won revenue per month, chosen against the run-rate ramp (833k on 1 Jan, linear to
# 1.25M on 1 Jun; the target in force is the month's last day): Jan 915k, Apr 1.162M,
# May 1.247M, then 1.25M. Jan-Mar and May miss; the year closes on exactly $15M.
REVENUE = [900_000, 900_000, 900_000, 1_200_000, 1_000_000, 1_300_000, 1_300_000,
           1_300_000, 1_300_000, 1_300_000, 1_300_000, 2_300_000]
#                    Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec
STAGES_RESET = [1, 2, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0]
STAGES_ONE_STEP_DOWN = [1, 2, 3, 2, 3, 2, 1, 0, 0, 0, 0, 0]
POOL = [False, False, False, True, False, True, True, True, True, True, True, True]
ANNUAL = [None] * 11 + [True]

GOALS = """  goals:
    annual_revenue_from: 10_000_000
    annual_revenue_to: 15_000_000
    year: 2020
    items:
      - id: monthly-run-rate
        title: Monthly revenue at the run-rate ramp
        metric: monthly_revenue
        measure: {clause: revenue, check: run-rate}
        ramp: revenue-run-rate
      - id: goal-1
        title: Reach $1,250,000 a month by June and hold it to year end
        metric: monthly_revenue
        measure: {clause: revenue, check: run-rate}
        window: [2020-06-01, 2020-12-31]
        assess: every_period_in_window
      - id: goal-2
        title: June-December surplus makes up January-May
        metric: cumulative_revenue
        measure: {clause: revenue, check: make-up}
        window: [2020-01-01, 2020-12-31]
        assess: at_window_end
      - id: goal-3
        title: $15,000,000 in 2020
        metric: annual_revenue
        measure: {clause: revenue, check: annual}
        window: [2020-01-01, 2020-12-31]
        assess: at_window_end
"""
CLAUSES = """  shared_goals: [monthly-run-rate]
  clauses:
    - id: revenue
      kind: revenue
      title: Revenue against the run rate, the make-up and the annual goal
      owner: shared
      params: {ramp: revenue-run-rate}
"""


def policy(step_back: str = "reset"):
    import re

    text = re.sub(r"^  shared_goals: \[.*\]\n", "", POLICY.read_text(), flags=re.M)
    head, rest = text.split("  goals:\n", 1)
    text = head + GOALS + rest[rest.index("\n  ramps:") + 1:]
    head, rest = text.split("  clauses:\n", 1)
    text = head + CLAUSES + rest[rest.index("\n  rewards:") + 1:]
    text = re.sub(r"^(\s+)requires: \[monthly-run-rate.*\]$", r"\1requires: [monthly-run-rate]",
                  text, flags=re.M)
    text = text.replace("step_back: reset", f"step_back: {step_back}")
    return parse_policy(text, source="twelve-months.yaml")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import pyarrow.csv as pacsv

    from tests.conftest import LEAD_DEFAULTS, PEOPLE, table

    folder = tmp_path_factory.mktemp("twelve")
    leads, opps = [], []
    for i, amount in enumerate(REVENUE, start=1):
        created = datetime.fromisoformat(f"2020-{i:02d}-01T15:00:00+00:00")
        closed = datetime.fromisoformat(f"2020-{i:02d}-15T15:00:00+00:00")
        leads.append({**LEAD_DEFAULTS, "lead_id": f"L{i}", "created_at": created})
        opps.append({"opportunity_id": f"O{i}", "lead_id": f"L{i}", "rep_id": "rep-ny",
                     "created_at": created, "proposal_submitted_at": created,
                     "amount": float(amount), "closed_at": closed, "status": "won"})
    tables = {"people": PEOPLE, "leads": leads, "opportunities": opps}
    from slapolicy.engine.contract import TABLES

    for name in TABLES:
        pacsv.write_csv(table(name, tables.get(name, [])), folder / f"{name}.csv")
    return folder


def run_year(doc, data: Path, root: Path) -> list[dict]:
    standings = []
    for month in MONTHS:
        request = AuditRequest(POLICY, month, data, audits=root,
                               as_of=datetime(2021, 1, 31))
        result = audit_document(doc, request, compiled=False)
        result.write(root / doc.id / month)
        standings.append(result.standing)
    return standings


@pytest.fixture(scope="module")
def audits_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audits")


@pytest.fixture(scope="module")
def reset_year(data: Path, audits_root: Path) -> list[dict]:
    return run_year(policy("reset"), data, audits_root)


def test_twelve_months_reset(reset_year: list[dict]) -> None:
    standings = reset_year
    assert [s["ladder"]["stage"] for s in standings] == STAGES_RESET
    assert [s["rewards"]["monthly_pool"]["eligible"] for s in standings] == POOL
    assert [s["rewards"]["annual"]["eligible"] for s in standings] == ANNUAL
    march, december = standings[2], standings[11]
    assert march["ladder"]["days_in_breach"] == 31 + 29 + 31
    assert march["ladder"]["owner"] == "executive team"
    assert march["shared_goals"]["missed"] == ["monthly-run-rate"]
    assert december["rewards"]["annual"]["why"] == "every annual goal was met"
    goals = {g["id"]: g for g in december["goals"]}
    assert goals["goal-3"]["status"] == "met" and goals["goal-3"]["actual"] == 15_000_000
    assert goals["goal-1"]["status"] == "met" and goals["goal-2"]["status"] == "met"
    assert {g["id"]: g["status"] for g in standings[6]["goals"]}["goal-3"] == "pending"


def test_twelve_months_one_step_down(data: Path, tmp_path: Path) -> None:
    standings = run_year(policy("one_step_down"), data, tmp_path)
    assert [s["ladder"]["stage"] for s in standings] == STAGES_ONE_STEP_DOWN


def test_forecast_says_how(reset_year: list[dict]) -> None:
    standings = reset_year
    april = {g["id"]: g for g in standings[3]["goals"]}["monthly-run-rate"]
    forecast = april["forecast"]
    assert forecast["next_date"] == "2020-06-01" and forecast["next_target"] == 1_250_000
    assert forecast["method"].startswith("least-squares line through the last 3 periods")
    assert forecast["on_track"] is True  # 0.9M, 0.9M, 1.2M trend to >= 1.25M by June


def test_a_missing_earlier_audit_stops_the_run(data: Path, tmp_path: Path) -> None:
    doc = policy()
    with pytest.raises(HistoryMissingError) as info:
        audit_document(doc, AuditRequest(POLICY, "2020-03", data, audits=tmp_path),
                       compiled=False)
    assert info.value.missing == ["2020-01", "2020-02"]
    assert "--backfill" in str(info.value)


def test_reward_split_rules(reset_year: list[dict], audits_root: Path) -> None:
    from slapolicy.audit.decisions import record_split, splits
    from slapolicy.errors import DecisionError

    doc = policy()
    with pytest.raises(DecisionError, match="the 2020-03 pool was not earned"):
        record_split(audits_root, doc, "2020-03", {"marketing": "2500", "sales": "2500"},
                     ["mkt-lead", "sales-lead"])
    with pytest.raises(DecisionError, match="add up to 4000, not the pool's 5000"):
        record_split(audits_root, doc, "2020-04", {"marketing": "2000", "sales": "2000"},
                     ["mkt-lead", "sales-lead"])
    with pytest.raises(DecisionError, match="lacks the approval of sales-lead"):
        record_split(audits_root, doc, "2020-04", {"marketing": "2500", "sales": "2500"},
                     ["mkt-lead"])
    entry = record_split(audits_root, doc, "2020-04", {"marketing": "3000", "sales": "2000"},
                         ["sales-lead", "mkt-lead"])
    assert entry["shares"] == {"marketing": "3000", "sales": "2000"}
    with pytest.raises(DecisionError, match="split already"):
        record_split(audits_root, doc, "2020-04", {"marketing": "2500", "sales": "2500"},
                     ["mkt-lead", "sales-lead"])
    assert [e["period"] for e in splits(audits_root, doc.id)] == ["2020-04"]


def test_dispute_goes_to_the_panel(reset_year: list[dict], audits_root: Path) -> None:
    from slapolicy.audit.decisions import decide_dispute, disputes, raise_dispute
    from slapolicy.errors import DecisionError

    doc = policy()
    with pytest.raises(DecisionError, match="has no breach of revenue by nobody"):
        raise_dispute(audits_root, doc, "2020-02", "revenue", "nobody", "sales-lead", "x")
    d = raise_dispute(audits_root, doc, "2020-02", "revenue", "company", "sales-lead",
                      "two deals closed on 1 March were signed in February")
    assert d["panel"] == ["ceo", "cmo", "cso"]
    with pytest.raises(DecisionError, match="must be decided by the panel: ceo, cmo, cso"):
        decide_dispute(audits_root, doc, d["id"], "overturned", ["ceo"])
    decide_dispute(audits_root, doc, d["id"], "upheld", ["cmo", "cso", "ceo"], "booked as closed")
    (only,) = disputes(audits_root, doc.id)
    assert (only["status"], only["decided_by"]) == ("upheld", ["ceo", "cmo", "cso"])


def test_weeks_quarters_and_a_fiscal_year(make_dataset) -> None:
    from tests.conftest import without_goal_references
    from tests.test_speed_to_lead import LEADS, TOUCHES, z

    leads = [{"lead_id": lid, "created_at": z(t), "mql_at": z(t), "notified_at": z(t), **extra}
             for lid, t, extra in LEADS]
    acts = [{"activity_id": f"A{i:02d}", "lead_id": lid, "rep_id": rep, "kind": "call",
             "occurred_at": z(t)} for i, (lid, rep, t) in enumerate(TOUCHES)]
    data = make_dataset(leads=leads, activities=acts)
    text = without_goal_references(POLICY.read_text())
    head, rest = text.split("  clauses:\n", 1)  # keep speed-to-lead, the first clause
    speed = rest[: rest.index("\n    - id: contact-attempts")]
    text = head + "  clauses:\n" + speed + rest[rest.index("\n  rewards:"):]

    def audit(unit: str, label: str, fiscal: int = 1):
        t = text.replace("    unit: month\n    fiscal_year_start_month: 1",
                         f"    unit: {unit}\n    fiscal_year_start_month: {fiscal}")
        doc = parse_policy(t, source="p.yaml")
        return audit_document(doc, AuditRequest(POLICY, label, data, as_of=datetime(2020, 4, 1)),
                              compiled=False, only={"speed-to-lead"})

    # ISO week 10 of 2020 runs Mon 2 March to Sun 8 March (New York midnights).
    week = audit("week", "2020-W10")
    assert week.period_start == "2020-03-02T05:00:00Z"
    assert sorted(b.subject_id for b in week.read_breaches()) == ["L02"]
    assert week.standing["rewards"]["monthly_pool"]["eligible"] is None
    quarter = audit("quarter", "2020-Q1")
    # The quarter adds February's L10 and L09, overdue by the later as_of.
    assert sorted(b.subject_id for b in quarter.read_breaches()) == [
        "L02", "L08", "L09", "L10", "L12", "L13"]
    # A fiscal year starting in April ends in March: the annual reward is judged there.
    march = audit("month", "2020-03", fiscal=4)
    assert march.standing["rewards"]["annual"]["judged_in"] == "2020-03"
    feb = audit("month", "2020-02", fiscal=4)
    assert feb.standing["rewards"]["annual"]["eligible"] is None
