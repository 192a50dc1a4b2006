"""Facts are kept per check as Parquet and judged again without measuring."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from slapolicy.audit.judging import rejudge
from slapolicy.audit.run import AuditRequest, audit_document
from slapolicy.errors import FactsError
from slapolicy.policy.loader import load_policy, parse_policy
from tests.conftest import POLICY
from tests.test_speed_to_lead import AS_OF, data  # noqa: F401  (the fixture)


def audit(data: Path, out: Path):  # noqa: F811
    doc = load_policy(POLICY)
    return audit_document(doc, AuditRequest(POLICY, "2020-03", data, as_of=AS_OF, output=out),
                          only={"speed-to-lead"})


def test_index_names_what_determines_the_facts(data: Path, tmp_path: Path) -> None:  # noqa: F811
    result = audit(data, tmp_path / "a")
    index = json.loads((tmp_path / "a" / "facts" / "index.json").read_text())
    assert index["key"]["policy_hash"] == result.policy_hash
    assert index["key"]["period"] == "2020-03"
    assert index["key"]["as_of"] == "2020-03-31T20:00:00Z"
    assert index["key"]["data"]["tables"]["leads"]["rows"] == 13
    entry = index["checks"]["speed-to-lead:first-touch"]
    # 9 leads in scope: L01-L03, L07-L09, L11-L13 (webinar, awareness, no request and
    # February are out); the threshold is not among the columns.
    assert entry["rows"] == 9 and entry["file"] == "speed-to-lead.first-touch.parquet"
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "a" / "facts" / entry["file"])
    assert "threshold" not in table.column_names
    assert table.column("subject_id").to_pylist() == sorted(table.column("subject_id").to_pylist())


def test_judged_again_under_another_threshold_without_the_data(data: Path,  # noqa: F811
                                                               tmp_path: Path) -> None:
    audit(data, tmp_path / "a")
    shutil.rmtree(data)  # nothing is measured again
    two_hours = POLICY.read_text().replace("        within: 1h\n", "        within: 2h\n")
    doc = parse_policy(two_hours, source="proposal.yaml", base_dir=POLICY.parent)
    (clause,) = rejudge(tmp_path / "a" / "facts", doc, only={"speed-to-lead"}).clauses
    # Hand-computed from the speed-to-lead fixture: L02 1.5h and L13 2.0h now comply,
    # L08 (14h, untouched) and L12 (126h) still breach; L09 is still pending.
    assert (clause.subjects, clause.breaches, clause.pending) == (8, 2, 1)
    assert clause.threshold == 2.0 and clause.compliance == 0.75


def test_judged_again_under_the_same_policy_gives_the_audit_figures(data: Path,  # noqa: F811
                                                                    tmp_path: Path) -> None:
    result = audit(data, tmp_path / "a")
    (again,) = rejudge(tmp_path / "a" / "facts", load_policy(POLICY),
                       only={"speed-to-lead"}).clauses
    (first,) = result.clauses
    assert (again.status, again.subjects, again.breaches, again.pending, again.compliance) == (
        first.status, first.subjects, first.breaches, first.pending, first.compliance)


def test_changed_facts_are_refused(data: Path, tmp_path: Path) -> None:  # noqa: F811
    audit(data, tmp_path / "a")
    kept = tmp_path / "a" / "facts" / "speed-to-lead.first-touch.parquet"
    kept.write_bytes(kept.read_bytes() + b"\0")
    with pytest.raises(FactsError, match="kept facts of speed-to-lead:first-touch are missing or changed"):
        rejudge(tmp_path / "a" / "facts", load_policy(POLICY))


def test_the_data_digest_ignores_row_order_and_sees_a_changed_value(make_dataset) -> None:
    from slapolicy.engine.context import Engine
    from slapolicy.engine.sources import DataSource
    from tests.test_speed_to_lead import LEADS, z

    def digest(folder: str, leads: list) -> dict:
        rows = [{"lead_id": lid, "created_at": z(t), "mql_at": z(t), "notified_at": z(t), **extra}
                for lid, t, extra in leads]
        return Engine.from_source(DataSource.from_arg(make_dataset(folder, leads=rows)))\
            .content_hashes()["tables"]["leads"]

    ordered = digest("a", LEADS)
    assert digest("b", list(reversed(LEADS))) == ordered
    changed = [(LEADS[0][0], "2020-03-02T14:00:01Z", {}), *LEADS[1:]]
    assert digest("c", changed)["sha256"] != ordered["sha256"]
    assert digest("c", changed)["rows"] == ordered["rows"] == 13
