"""An audit reads a CRM export through a shipped mapping, end to end in the library."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest

from slapolicy.audit.run import AuditRequest, audit_document
from slapolicy.errors import DataSourceError
from tests.conftest import POLICY, ROOT, policy_with

FIXTURES = ROOT / "tests" / "fixtures"
SPEED = """\
    - id: speed-to-lead
      kind: speed_to_lead
      title: First touch within one business hour
      owner: sales
      params: {within: 1h, calendar: us-east, requires_followup_request: false,
               exclude_sources: [], exclude_journey_stages: []}
"""


@pytest.fixture
def hubspot(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    shutil.copytree(FIXTURES / "hubspot", folder)
    # The SLA's own tables are not in a CRM export: they sit beside it as contract files.
    (folder / "sla").mkdir()
    (folder / "sla" / "feedback.csv").write_text("feedback_id,from_team,to_team,requested_by,"
                                         "requested_at,responded_by,responded_at,topic\n")
    (folder / "sla" / "meetings.csv").write_text("meeting_id,kind,started_at,duration_minutes,"
                                         "attendees\n")
    return folder


def test_a_hubspot_export_is_audited_through_its_mapping(hubspot: Path) -> None:
    doc = policy_with(SPEED)
    result = audit_document(doc, AuditRequest(POLICY, "2020-03", hubspot, data_zone="UTC",
                                              mapping="hubspot",
                                              as_of=datetime(2020, 3, 31, 20, 0)),
                            compiled=False)
    assert result.data["mapping"] == "hubspot" and result.data["kind"] == "export (hubspot)"
    tables = result.data["tables"]
    for name, counts in tables.items():
        assert counts["read"] == counts["used"] + counts["quarantined"], name
    assert tables["leads"]["read"] == 4  # contacts.csv holds four contacts
    # No export row leaves uncounted: the rows the mapping's rules leave out, by file
    # (hand-counted: a call with no owner and one with no contact; an incoming e-mail).
    left = {tuple(s["files"]): (s["rows"], s["kept"], s["left_out"])
            for s in result.data["left_out_by_mapping"]["activities"]}
    assert left == {("calls.csv",): (4, 2, 2), ("emails.csv",): (3, 2, 1),
                    ("meetings.csv",): (2, 2, 0)}
    emails = next(s for s in result.data["left_out_by_mapping"]["activities"]
                  if s["files"] == ["emails.csv"])
    assert emails["rules"] == [
        "tables.activities.where: \"Associated Contact IDs\" IS NOT NULL AND hubspot_owner_id "
        "IS NOT NULL", "tables.activities.union.emails.where: hs_email_direction = 'EMAIL'"]
    from slapolicy.report import render_report

    html = render_report(result, doc).html
    assert ("<li>activities: emails.csv: 1 / 3 (tables.activities.where: &quot;Associated "
            "Contact IDs&quot; IS NOT NULL AND hubspot_owner_id IS NOT NULL; "
            "tables.activities.union.emails.where: hs_email_direction = &#x27;EMAIL&#x27;)</li>"
            ) in html
    (clause,) = result.clauses
    # Hand-computed from the fixtures, New York business hours 9-17:
    # 501 notified Mon 2 Mar 09:35 EST, called 09:40: 5 minutes;
    # 503 notified Tue 10 Mar 05:20 EDT, called 05:30, before opening: 0;
    # 504 notified Wed 11 Mar 04:06 EDT; the call on 10 Mar came before, so its first touch
    # is the meeting on Fri 13 Mar 11:00 EDT: 8 + 8 + 2 = 18 business hours, a breach.
    # 502, a subscriber, was never notified: out of scope.
    assert (clause.checks["first-touch"]["in_scope"], clause.subjects, clause.breaches) == (3, 3, 1)
    (breach,) = result.read_breaches()
    assert (breach.subject_id, breach.observed, breach.rep_id) == ("504", 18.0, "101")


def test_a_mapping_needs_a_folder(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match="a mapping reads a folder of export files"):
        audit_document(policy_with(SPEED), AuditRequest(
            POLICY, "2020-03", FIXTURES / "hubspot" / "contacts.csv", mapping="hubspot"),
            compiled=False)


def test_check_data_counts_the_export_rows_a_mapping_leaves_out(hubspot: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    res = subprocess.run([sys.executable, "-c", "from slapolicy.cli.main import main; main()",
                          "check-data", "--policy", str(POLICY), "--data", str(hubspot),
                          "--mapping", "hubspot", "--data-zone", "UTC"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "Traceback" not in res.stderr, res.stderr
    assert ("activities: the mapping's rules leave out 2 of 4 rows of calls.csv "
            "(tables.activities.where: \"Associated Contact IDs\" IS NOT NULL AND "
            "hubspot_owner_id IS NOT NULL)\n") in res.stdout
    assert "activities: the mapping's rules leave out 1 of 3 rows of emails.csv (" in res.stdout
