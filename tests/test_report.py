"""The HTML pieces and results.json: escaping, ordering, number formats, statuses."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from slapolicy.audit.report import breaches_html, clauses_html, header_html
from slapolicy.audit.results import AuditResult, ClauseResult
from slapolicy.engine.breaches import BREACH_COLUMNS


def clause(**kw: object) -> ClauseResult:
    base = dict(clause_id="c-1", kind="k", title="<b>t</b>", owner="sales", status="fail",
                subject_type="lead", unit="hours", subjects=3, compliant=2, breaches=1,
                compliance=2 / 3, threshold=1.0, observed={"median": 0.5, "p90": 2.0,
                                                           "max": 12345.678})
    base.update(kw)
    return ClauseResult(**base)  # type: ignore[arg-type]


def breach(subject: str, observed: float) -> dict[str, object]:
    return dict(clause_id="c-1", check="x", subject_type="lead", subject_id=subject,
                rep_id="rep-1", team="sales", person_id="rep-1", observed=observed,
                threshold=1.0, unit="hours", severity="fail", status="open", reason="",
                evidence=json.dumps({"note": "<script>alert(1)</script>", "n": 1.23456789}))


def result(folder: Path, breaches: list[dict[str, object]],
           clauses: list[ClauseResult] | None = None) -> AuditResult:
    folder.mkdir(parents=True, exist_ok=True)
    columns = {c: [b[c] for b in breaches] for c in BREACH_COLUMNS}
    types = {c: pa.float64() if c in ("observed", "threshold") else pa.string()
             for c in BREACH_COLUMNS}
    pq.write_table(pa.table({c: pa.array(v, type=types[c]) for c, v in columns.items()}),
                   folder / "breaches.parquet")
    return AuditResult("company-a", "1", "h" * 64, "2020-03", "s", "e", "a", {},
                       clauses or [clause(breaches=len(breaches))], folder)


def test_results_json_is_sorted_rounded_and_counts_statuses(tmp_path: Path) -> None:
    r = result(tmp_path, [], [clause(clause_id="c-2", status="not_measured", subjects=0,
                                     breaches=0, compliance=None),
                              clause(breaches=2)])
    body = json.loads(r.to_json())
    assert [c["clause_id"] for c in body["clauses"]] == ["c-1", "c-2"]
    assert body["clauses"][0]["compliance"] == 0.666667
    assert body["summary"] == {
        "status": "fail", "breaches": 2, "excused": 0,
        "clauses": {"pass": 0, "warn": 0, "not_measured": 1, "fail": 1, "error": 0}}


def test_not_measured_outranks_pass_but_not_fail(tmp_path: Path) -> None:
    nm = clause(clause_id="c-2", status="not_measured", breaches=0)
    assert result(tmp_path, [], [clause(status="pass", breaches=0), nm]).status == "not_measured"
    assert result(tmp_path, [], [clause(status="fail"), nm]).status == "fail"


def test_html_escapes_data_and_policy_text(tmp_path: Path) -> None:
    r = result(tmp_path, [breach("<L1>", 3.0)])
    page = header_html(r) + clauses_html(r.clauses) + breaches_html(r)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<b>t</b>" not in page and "&lt;L1&gt;" in page
    assert "12,346" in page  # large figures get thousands separators


def test_long_breach_lists_show_the_worst_and_point_to_the_csv(tmp_path: Path) -> None:
    r = result(tmp_path, [breach(f"L{i:03d}", 2.0 + i) for i in range(60)])
    page = breaches_html(r, limit=50)
    assert ("The 50 furthest from their threshold are shown; all 60 are in "
            "<code>breaches.csv</code>.") in page
    assert page.count("<tr><td>L0") == 50
    assert page.index("<td>L059<") < page.index("<td>L058<")  # worst first
    assert "<td>L009<" not in page  # the ten mildest are only in the file


def test_nothing_in_scope_shows_not_measured(tmp_path: Path) -> None:
    page = clauses_html([clause(status="not_measured", subjects=0, breaches=0, compliance=None)])
    assert ">NOT MEASURED<" in page and ">PASS<" not in page
