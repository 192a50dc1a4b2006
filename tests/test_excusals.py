"""Excused breaches: listed with their reason, out of the verdict, approved by both leads."""

from __future__ import annotations

from pathlib import Path

import pytest

from slapolicy.audit.run import AuditRequest, audit_document
from slapolicy.errors import PolicyError
from slapolicy.policy.loader import parse_policy
from tests.conftest import POLICY
from tests.test_speed_to_lead import AS_OF, data  # noqa: F401  (fixture)

GRANTS = """  exceptions:
    - {clause: speed-to-lead, subject_type: lead, subject_id: L08, reason: junk_lead,
       note: spam form fill, approved_by: [mkt-lead, sales-lead]}
"""


def with_grants(grants: str) -> str:
    return POLICY.read_text().replace("  rewards:\n", grants + "  rewards:\n", 1)


def run(text: str, data: Path, period_file: Path | None = None):  # noqa: F811
    doc = parse_policy(text, source="p.yaml")
    request = AuditRequest(POLICY, "2020-03", data, as_of=AS_OF,
                           exceptions=period_file or data / "none.yaml")
    return audit_document(doc, request, compiled=False, only={"speed-to-lead"})


def test_policy_excusal_is_listed_but_leaves_the_verdict(data: Path) -> None:  # noqa: F811
    result = run(with_grants(GRANTS), data)
    (clause,) = result.clauses
    assert (clause.subjects, clause.breaches, clause.excused) == (7, 3, 1)
    excused = [b for b in result.read_breaches() if b.status == "excused"]
    assert [(b.subject_id, b.reason) for b in excused] == [
        ("L08", "junk_lead: spam form fill (approved by mkt-lead, sales-lead)")]
    assert result.summary()["excused"] == 1 and result.summary()["breaches"] == 3
    assert ',excused,"junk_lead: spam form fill (approved by mkt-lead, sales-lead)"' in (
        (result.folder / "breaches.csv").read_text())


def test_rep_on_leave_excuses_the_reps_breaches_from_a_period_file(data: Path,  # noqa: F811
                                                                    tmp_path: Path) -> None:
    period_file = tmp_path / "2020-03.yaml"
    period_file.write_text(
        "exceptions:\n"
        "  - {clause: '*', subject_type: rep, subject_id: rep-ny, reason: rep_on_leave,\n"
        "     approved_by: [sales-lead, mkt-lead], periods: ['2020-03']}\n")
    result = run(POLICY.read_text(), data, period_file)
    statuses = {b.subject_id: b.status for b in result.read_breaches()}
    assert statuses == {"L02": "excused", "L08": "excused", "L12": "excused", "L13": "open"}
    assert result.data["exceptions"] == ["2020-03.yaml"]


def test_an_excusal_needs_both_team_leads() -> None:
    with pytest.raises(PolicyError, match="lacks the approval of sales-lead: both team leads"):
        parse_policy(with_grants(GRANTS.replace("[mkt-lead, sales-lead]", "[mkt-lead]")))
    with pytest.raises(PolicyError, match="names clause 'speed-to-leed'"):
        parse_policy(with_grants(GRANTS.replace("clause: speed-to-lead", "clause: speed-to-leed")))


def test_a_bad_period_file_names_itself(data: Path, tmp_path: Path) -> None:  # noqa: F811
    period_file = tmp_path / "2020-03.yaml"
    period_file.write_text("exceptions:\n  - {subject_type: lead, subject_id: L1}\n")
    with pytest.raises(PolicyError) as info:
        run(POLICY.read_text(), data, period_file)
    assert str(period_file) in str(info.value) and "Field required" in str(info.value)
