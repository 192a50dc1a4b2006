"""The HTML pieces and the result files: escaping, ordering, number formats."""

from __future__ import annotations

import json

from slapolicy.audit.report import breaches_html, clauses_html, header_html
from slapolicy.audit.results import AuditResult, Breach, ClauseResult


def clause(**kw: object) -> ClauseResult:
    base = dict(clause_id="c-1", kind="k", title="<b>t</b>", owner="sales", status="fail",
                subject_type="lead", unit="hours", subjects=3, compliant=2, breaches=1,
                compliance=2 / 3, threshold=1.0, observed={"median": 0.5, "p90": 2.0,
                                                           "max": 12345.678})
    base.update(kw)
    return ClauseResult(**base)  # type: ignore[arg-type]


def breach(subject: str, observed: float, **kw: object) -> Breach:
    base = dict(clause_id="c-1", check="x", subject_type="lead", subject_id=subject,
                rep_id="rep-1", team="sales", person_id="rep-1", observed=observed,
                threshold=1.0, unit="hours", severity="fail",
                evidence={"note": "<script>alert(1)</script>", "n": 1.23456789})
    base.update(kw)
    return Breach(**base)  # type: ignore[arg-type]


def result(breaches: list[Breach], clauses: list[ClauseResult] | None = None) -> AuditResult:
    return AuditResult("company-a", "1", "h" * 64, "2020-03", "s", "e", "a", {},
                       clauses or [clause()], breaches)


def test_files_are_sorted_and_rounded() -> None:
    r = result([breach("L2", 1.0000001), breach("L1", 2 / 3)])
    lines = r.breaches_csv().splitlines()
    assert [ln.split(",")[3] for ln in lines[1:]] == ["L1", "L2"]
    assert ",0.666667,1," in lines[1] and ",1,1," in lines[2]
    assert '""n"":1.234568' in lines[1]
    body = json.loads(r.to_json())
    assert body["clauses"][0]["compliance"] == 0.666667
    assert body["summary"] == {"status": "fail", "breaches": 2, "excused": 0,
                               "clauses": {"pass": 0, "warn": 0, "fail": 1, "error": 0}}
    assert r.to_json() == result([breach("L1", 2 / 3), breach("L2", 1.0000001)]).to_json()


def test_html_escapes_data_and_policy_text() -> None:
    r = result([breach("<L1>", 3.0)])
    page = header_html(r) + clauses_html(r.clauses) + breaches_html(r)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<b>t</b>" not in page and "&lt;L1&gt;" in page
    assert "12,346" in page  # large figures get thousands separators


def test_long_breach_lists_point_to_the_csv() -> None:
    r = result([breach(f"L{i:03d}", 2.0) for i in range(60)])
    page = breaches_html(r, limit=50)
    assert "The first 50 are shown; all 60 are in <code>breaches.csv</code>." in page
    assert page.count("<tr><td>L0") == 50


def test_nothing_in_scope_is_not_a_pass() -> None:
    page = clauses_html([clause(status="pass", subjects=0, breaches=0, compliance=None)])
    assert ">N/A<" in page and ">PASS<" not in page
