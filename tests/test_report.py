"""The audit page's pieces: results.json, escaping, breach tables, verdict, formats, CSV safety."""

from __future__ import annotations

import json
import re
import string
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from slapolicy.audit.results import AuditResult, ClauseResult
from slapolicy.engine.breaches import BREACH_COLUMNS, csv_safe
from slapolicy.report import page, publish, render_report
from slapolicy.report.i18n import LOCALES, Formatter, catalogue

EVIL = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">'


def clause(**kw: object) -> ClauseResult:
    base = dict(clause_id="c-1", kind="k", title="<b>t</b>", owner="sales", status="fail",
                subject_type="lead", unit="hours", subjects=3, compliant=2, breaches=1,
                compliance=2 / 3, threshold=1.0, observed={"median": 0.5, "p90": 2.0,
                                                           "max": 12345.678})
    base.update(kw)
    return ClauseResult(**base)  # type: ignore[arg-type]


def breach(subject: str, observed: float, **kw: object) -> dict[str, object]:
    row: dict[str, object] = dict(
        clause_id="c-1", check="x", subject_type="lead", subject_id=subject, rep_id="rep-1",
        team="sales", person_id="rep-1", observed=observed, threshold=1.0, unit="hours",
        severity="fail", status="open", reason="",
        evidence=json.dumps({"note": "<script>alert(1)</script>", "n": 1.23456789}))
    row.update(kw)
    return row


def standing(*, shared: str = "met", pool: bool | None = True) -> dict[str, Any]:
    return {
        "shared_goals": {"status": shared, "met": shared == "met",
                         "missed": ["speed-to-lead"] if shared == "missed" else [],
                         "not_measured": [], "items": []},
        "ladder": {"stage": 0 if shared == "met" else 2, "owner": "CMO and CSO",
                   "actions": ["Escalate to the CMO and CSO"], "consecutive_missed": 2,
                   "days_in_breach": 60},
        "goals": [{"id": "run-rate", "title": "Run rate", "status": "met", "target": 1000.0,
                   "actual": 1200.5, "forecast": None}],
        "rewards": {"monthly_pool": {"amount": 5000.0, "currency": "USD", "eligible": pool,
                                     "split": "leads", "why": "every required goal was met"},
                    "annual": {"description": "A trip", "eligible": None,
                               "judged_in": "2020-12", "why": "later"}},
        "review": {"due": False, "reasons": [], "rates": {}},
        "history": {"periods": [], "source": "none"},
    }


def result(folder: Path, breaches: list[dict[str, object]],
           clauses: list[ClauseResult] | None = None, **kw: Any) -> AuditResult:
    folder.mkdir(parents=True, exist_ok=True)
    columns = {c: [b[c] for b in breaches] for c in BREACH_COLUMNS}
    types = {c: pa.float64() if c in ("observed", "threshold") else pa.string()
             for c in BREACH_COLUMNS}
    pq.write_table(pa.table({c: pa.array(v, type=types[c]) for c, v in columns.items()}),
                   folder / "breaches.parquet")
    return AuditResult(kw.pop("policy_id", "company-a"), "1", "h" * 64, "2020-03",
                       "2020-03-01T05:00:00Z", "2020-04-01T04:00:00Z", "2020-04-02T10:00:00Z",
                       kw.pop("data", {}), clauses or [clause(breaches=len(breaches))], folder,
                       kw.pop("standing", {}))


def full_page(r: AuditResult, locale: str = "en") -> str:
    out = render_report(r, locale=locale)
    body = page([out.html], title=out.title, lang=out.lang, direction=out.direction,
                locale=out.locale, zone=out.zone)
    return publish(body, "<p>signed</p>")


def embedded_rows(text: str) -> list[list[Any]]:
    m = re.search(r'<script type="application/json" id="breach-data">(.*?)</script>', text, re.S)
    assert m, "no embedded breach data"
    rows: list[list[Any]] = json.loads(m.group(1))["rows"]
    return rows


# --- results.json -------------------------------------------------------------------------


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


# --- the page -----------------------------------------------------------------------------


def test_page_escapes_crm_and_policy_text(tmp_path: Path) -> None:
    r = result(tmp_path, [breach(EVIL, 3.0, rep_id=EVIL, team="sales<i>"),
                          breach("</script><script>window.__pwned=2</script>", 4.0)],
               [clause(breaches=2, title=EVIL, message=EVIL, owner=EVIL)],
               data={"tables": {"leads": {"read": 3, "used": 2, "quarantined": 1,
                                          "source": "x"}},
                     "quarantine_reasons": {EVIL: 1}})
    text = full_page(r)
    assert "window.__pwned" in text  # the text is shown ...
    assert "<script>window" not in text and "<img" not in text and "<b>t</b>" not in text
    # ... and the only scripts are the page's own: the JSON block and the table code.
    assert text.count("<script") == 2 and text.count("</script>") == 2
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in text
    assert 'http-equiv="Content-Security-Policy"' in text and "default-src 'none'" in text


def test_the_page_fetches_nothing_and_has_a_title(tmp_path: Path) -> None:
    text = full_page(result(tmp_path, [breach("L1", 3.0)], standing=standing()))
    assert not re.search(r'(src|href)="(https?:)?//', text)
    assert "require.js" not in text and "MathJax" not in text and "<iframe" not in text
    assert "<title>SLA audit: company-a — 2020-03</title>" in text
    assert "<svg" in text  # charts are inline


def test_verdict_cannot_contradict_the_shared_goals_and_reward(tmp_path: Path) -> None:
    failing = [clause(clause_id=f"c-{i}", status="fail") for i in range(3)]
    r = result(tmp_path, [breach("L1", 3.0)], failing, standing=standing())
    text = full_page(r)
    assert ("Shared goals met. Monthly pool earned. Clauses: 3 of 3 failed, 0 warned, "
            "0 not measured.") in text
    assert "Overall" not in text
    missed = full_page(result(tmp_path / "b", [breach("L1", 3.0)], failing,
                              standing=standing(shared="missed", pool=False)))
    assert "Shared goals missed. Monthly pool not earned." in missed
    assert "Stage 2" in missed and "CMO and CSO" in missed


def test_breaches_worst_first_grouped_by_team_and_rep_with_units(tmp_path: Path) -> None:
    rows = [breach(f"L{i:03d}", 2.0 + i, rep_id=f"rep-{i % 2}",
                   team="sales" if i % 3 else "marketing") for i in range(30)]
    text = full_page(result(tmp_path, rows, [clause(breaches=30)]))
    worst = text.split("The 10 worst of each clause", 1)[1].split("</table>", 1)[0]
    subjects = re.findall(r"<td>(L\d{3})</td>", worst)
    assert subjects == [f"L{i:03d}" for i in range(29, 19, -1)]
    assert "31 hours" in worst  # L029: observed 31 hours, with its unit
    assert "10 of 30 shown here" in text
    embedded = embedded_rows(text)
    assert len(embedded) == 30  # every breach is in the page
    teams_reps = [(r[2], r[3]) for r in embedded]
    assert teams_reps == sorted(teams_reps)  # grouped by team, then rep
    first_group = [r for r in embedded if (r[2], r[3]) == teams_reps[0]]
    assert [r[5] for r in first_group] == sorted((r[5] for r in first_group), reverse=True)


def test_a_hundred_thousand_breaches_are_all_embedded_quickly(tmp_path: Path) -> None:
    n = 100_000
    rows = [breach(f"L{i:06d}", 1.0 + (i % 977) / 10, rep_id=f"rep-{i % 40}") for i in range(n)]
    r = result(tmp_path, rows, [clause(breaches=n)])
    started = time.perf_counter()
    text = full_page(r)
    seconds = time.perf_counter() - started
    assert len(embedded_rows(text)) == n
    assert seconds < 20, f"rendering {n} breaches took {seconds:.1f} s"
    assert len(text.encode()) < 15_000_000


def test_the_same_audit_renders_the_same_bytes(tmp_path: Path) -> None:
    r = result(tmp_path, [breach("L1", 3.0), breach("L2", 5.0)], standing=standing())
    assert full_page(r) == full_page(r)


# --- languages ----------------------------------------------------------------------------


def test_every_catalogue_has_every_message_with_the_same_placeholders() -> None:
    english = catalogue("en")

    def names(text: str) -> set[str]:
        return {n for _, n, _, _ in string.Formatter().parse(text) if n}

    for locale in LOCALES:
        messages = catalogue(locale)
        assert set(messages) == set(english), locale
        for key, text in messages.items():
            assert names(text) == names(english[key]), (locale, key)


@pytest.mark.parametrize(("locale", "money", "number", "month"), [
    ("en", "$5,000", "1,250,000", "March 2020"),
    ("tr", "$5.000", "1.250.000", "Mart 2020"),
    ("pl", "5\u00a0000\u00a0USD", "1\u00a0250\u00a0000", "marzec 2020"),
    ("zh", "US$5,000", "1,250,000", "2020年3月"),
    ("ko", "US$5,000", "1,250,000", "2020년 3월"),
    ("fa", "\u200e$\u00a05,000", "1,250,000", "مارس 2020"),
])
def test_numbers_money_and_months_follow_the_locale(locale: str, money: str, number: str,
                                                    month: str) -> None:
    f = Formatter.for_locale(locale, "America/New_York")
    assert f.money(5000, "USD") == money
    assert f.integer(1_250_000) == number
    assert f.month("2020-03") == month


def test_instants_are_shown_in_the_policy_zone() -> None:
    f = Formatter.for_locale("en", "America/New_York")
    assert f.instant("2020-03-01T05:00:00Z") == "Mar 1, 2020, 12:00:00\u202fAM (America/New_York)"


def test_persian_page_is_right_to_left(tmp_path: Path) -> None:
    text = full_page(result(tmp_path, [breach("L1", 3.0)], standing=standing()), "fa")
    assert '<html lang="fa" dir="rtl"' in text
    assert "اهداف مشترک محقق شد." in text


# --- CSV safety ---------------------------------------------------------------------------


def test_formula_cells_are_neutralised_for_spreadsheets() -> None:
    values = ['=HYPERLINK("http://x","y")', "+1", "-2", "@SUM(A1)", "\tx", "\rx", "lead-1",
              "a=b", None]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (v VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [[v] for v in values])
    got = [r[0] for r in con.execute(f"SELECT {csv_safe('v')} FROM t AS t").fetchall()]
    assert got == ["'=HYPERLINK(\"http://x\",\"y\")", "'+1", "'-2", "'@SUM(A1)", "'\tx", "'\rx",
                   "lead-1", "a=b", None]


def test_the_policy_sets_the_locale_and_an_unknown_one_is_refused(tmp_path: Path) -> None:
    from slapolicy.errors import PolicyError
    from slapolicy.policy.loader import load_policy, parse_policy
    from tests.conftest import POLICY

    text = POLICY.read_text()
    doc = parse_policy(text + "  report:\n    locale: fa\n", source="p.yaml",
                       base_dir=POLICY.parent)
    assert doc.content_hash == load_policy(POLICY).content_hash  # presentation only
    out = render_report(result(tmp_path, [breach("L1", 3.0)], standing=standing()), doc)
    assert (out.lang, out.direction) == ("fa", "rtl")
    assert "اهداف مشترک" in out.html
    with pytest.raises(PolicyError) as err:
        parse_policy(text + "  report:\n    locale: de\n", source="p.yaml",
                     base_dir=POLICY.parent)
    assert "policy.report.locale: Input should be 'en', 'tr', 'zh', 'fa', 'pl' or 'ko'" \
        in str(err.value)


def test_why_the_pool_is_not_earned_is_in_the_page_language(tmp_path: Path) -> None:
    body = standing(shared="missed", pool=False)
    body["rewards"]["monthly_pool"].update(
        why="not met: lead-value (not_measured), speed-to-lead (missed)",
        requires={"lead-value": "not_measured", "speed-to-lead": "missed", "run-rate": "met"})
    persian = full_page(result(tmp_path, [breach("L1", 3.0)], standing=body), "fa")
    assert "محقق نشده: lead-value (سنجیده نشد), speed-to-lead (محقق نشد)" in persian
    assert "not met:" not in persian
    english = full_page(result(tmp_path / "en", [breach("L1", 3.0)], standing=body), "en")
    assert "Not met: lead-value (not measured), speed-to-lead (missed)" in english
