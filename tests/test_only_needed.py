"""An audit needs only the tables and columns its enabled clauses read."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pyarrow.csv as pacsv

from slapolicy.audit.run import AuditRequest, audit_document
from slapolicy.policy.loader import load_policy
from tests.conftest import POLICY, ROOT, policy_with
from tests.test_speed_to_lead import LEADS, TOUCHES, z

SPEED_ONLY = """\
    - id: speed-to-lead
      kind: speed_to_lead
      title: First touch within one business hour
      owner: sales
      params: {within: 1h}
"""


def speed_data(make_dataset, *, drop_tables: tuple[str, ...] = (),
               drop_columns: dict[str, list[str]] | None = None) -> Path:
    leads = [{"lead_id": lid, "created_at": z(t), "mql_at": z(t), "notified_at": z(t), **extra}
             for lid, t, extra in LEADS]
    acts = [{"activity_id": f"A{i:02d}", "lead_id": lid, "rep_id": rep, "kind": "call",
             "occurred_at": z(t), "outcome": "connected"} for i, (lid, rep, t) in enumerate(TOUCHES)]
    folder = make_dataset(leads=leads, activities=acts)
    for name in drop_tables:
        (folder / f"{name}.csv").unlink()
    for name, cols in (drop_columns or {}).items():
        table = pacsv.read_csv(folder / f"{name}.csv")
        pacsv.write_csv(table.drop_columns(cols), folder / f"{name}.csv")
    return folder


def test_a_speed_to_lead_policy_needs_neither_the_other_tables_nor_columns(make_dataset):
    data = speed_data(make_dataset,
                      drop_tables=("feedback", "meetings", "opportunities", "opportunity_stages"),
                      drop_columns={"leads": ["fit_score", "interest_score", "industry",
                                              "nurture_track"]})
    result = audit_document(policy_with(SPEED_ONLY), AuditRequest(
        POLICY, "2020-03", data, as_of=datetime(2020, 3, 31, 20, 0)), compiled=False)
    (clause,) = result.clauses
    # The same hand-computed figures as with every table present (tests/test_speed_to_lead.py).
    assert (clause.status, clause.subjects, clause.breaches, clause.pending) == ("fail", 8, 4, 1)
    assert result.data["absent"]["leads"] == ["industry", "fit_score", "interest_score",
                                              "nurture_track"]  # in the contract's order
    assert result.data["missing"] == {}
    assert result.data["tables"]["feedback"]["source"] is None


def test_a_clause_whose_data_is_missing_is_not_measured_and_the_rest_goes_on(make_dataset):
    data = speed_data(make_dataset, drop_tables=("feedback",),
                      drop_columns={"leads": ["notified_at"]})
    doc = load_policy(POLICY)
    result = audit_document(doc, AuditRequest(POLICY, "2020-03", data,
                                              as_of=datetime(2020, 3, 31, 20, 0)),
                            only={"speed-to-lead", "feedback-to-marketing", "mql-worked"})
    by_id = {c.clause_id: c for c in result.clauses}
    assert by_id["speed-to-lead"].status == "not_measured"
    assert by_id["speed-to-lead"].message == (
        "first-touch: not measured: the data has no leads.notified_at")
    assert by_id["feedback-to-marketing"].status == "not_measured"
    assert by_id["feedback-to-marketing"].message.endswith("the data has no feedback")
    assert by_id["mql-worked"].status not in ("not_measured", "error")  # it reads mql_at
    assert result.data["missing"] == {"feedback": ["*"], "leads": ["notified_at"]}


def test_check_data_reports_before_any_audit(make_dataset):
    data = speed_data(make_dataset, drop_tables=("feedback",))
    res = subprocess.run([sys.executable, "-c", "from slapolicy.cli.main import main; main()",
                          "check-data", "--policy", str(POLICY), "--data", str(data)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 1, res.stderr
    assert "feedback: missing" in res.stdout
    assert "leads: 13 read, 13 used, 0 set aside" in res.stdout
    assert "cannot measure feedback-to-marketing: the data has no feedback" in res.stdout
    assert "Traceback" not in res.stderr


def test_an_unreadable_table_errs_only_the_clauses_that_read_it(make_dataset):
    data = speed_data(make_dataset)
    (data / "feedback.csv").write_text(  # naive instants and no declared zone: unreadable
        "feedback_id,from_team,to_team,requested_by,requested_at,responded_by,responded_at,"
        "topic\nF1,sales,marketing,rep-ny,2020-03-03 09:00:00,,,\n")
    result = audit_document(load_policy(POLICY), AuditRequest(
        POLICY, "2020-03", data, as_of=datetime(2020, 3, 31, 20, 0)),
        only={"speed-to-lead", "feedback-to-marketing"})
    by_id = {c.clause_id: c for c in result.clauses}
    assert (by_id["speed-to-lead"].status, by_id["speed-to-lead"].breaches) == ("fail", 4)
    assert by_id["feedback-to-marketing"].status == "error"
    assert by_id["feedback-to-marketing"].message.startswith(
        "response: feedback cannot be read: ")
    assert "feedback.requested_at: holds timestamps without a time zone" in (
        by_id["feedback-to-marketing"].message)
    assert list(result.data["unusable"]) == ["feedback"]
