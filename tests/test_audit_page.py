"""The audit page as executives read it, in real headless Chromium: offline, first screen,
breach table, injected markup, right to left, print. Takes the screenshots in docs/."""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from slapolicy.audit.results import AuditResult, ClauseResult
from slapolicy.audit.run import AuditRequest
from slapolicy.demo import generate as demo
from slapolicy.policy.loader import load_policy
from slapolicy.report import page as page_html
from slapolicy.report import render_report
from slapolicy.trail.notebook import execute_audit
from tests.conftest import POLICY, ROOT
from tests.test_report import EVIL, breach, clause, full_page, result, standing

pytestmark = pytest.mark.slow
NOTEBOOK = ROOT / "notebooks" / "audit.ipynb"
DOCS = ROOT / "docs"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
MM = 96 / 25.4  # CSS pixels per millimetre


@dataclass
class Audit:
    folder: Path
    results: dict[str, Any]


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> Audit:
    """Two demo months audited in order, so February's page has a history to chart."""
    data = demo.write_duckdb(
        demo.generate(demo.DemoConfig(start="2020-01", months=2, leads_per_month=400)),
        tmp_path_factory.mktemp("demo") / "demo.duckdb")
    root = tmp_path_factory.mktemp("audits")
    for period in ("2020-01", "2020-02"):
        out = execute_audit(AuditRequest(POLICY, period, data, audits=root),
                            root / "company-a" / period, NOTEBOOK, cwd=ROOT)
    return Audit(out.folder, json.loads(out.results.read_text()))


@dataclass
class Browser:
    page: Any
    errors: list[str]
    requests: list[str]
    dialogs: list[str]


@pytest.fixture
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it")
        pytest.skip("chromium not installed here (apt-get install chromium); CI installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=ARGS)

        def open_page(path: Path, width: int = 1366, height: int = 900) -> Browser:
            page = b.new_page(viewport={"width": width, "height": height})
            seen = Browser(page, [], [], [])
            page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: seen.errors.append(str(e)))
            page.on("request", lambda r: seen.requests.append(r.url))
            page.on("dialog", lambda d: (seen.dialogs.append(d.message), d.dismiss()))
            page.route("http*://**/*", lambda route: route.abort())
            page.goto(path.as_uri())
            return seen

        yield open_page
        b.close()


def load_result(folder: Path) -> AuditResult:
    r = json.loads((folder / "results.json").read_text())
    return AuditResult(r["policy"]["id"], r["policy"]["version"], r["policy"]["content_hash"],
                       r["period"]["label"], r["period"]["start"], r["period"]["end"],
                       r["period"]["as_of"], r["data"], [ClauseResult(**c) for c in r["clauses"]],
                       folder, r["standing"])


def test_the_page_loads_offline_with_no_console_error_and_no_request(audit, browser) -> None:
    seen = browser(audit.folder / "audit.html")
    seen.page.wait_for_selector("#breach-table:not([hidden])")
    assert seen.errors == []
    assert [u for u in seen.requests if not u.startswith("file:")] == []
    assert seen.page.title() == "SLA audit: company-a — 2020-02"
    assert seen.page.locator("svg.chart").count() >= 5
    seen.page.screenshot(path=str(DOCS / "audit-en.png"))


def test_the_first_screen_answers_the_questions(audit, browser) -> None:
    seen = browser(audit.folder / "audit.html")
    summary = seen.page.locator("#summary")
    box = summary.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 900, box  # all on the first screen
    text = summary.inner_text()
    s = audit.results["standing"]
    with open(audit.folder / "breaches.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["status"] == "open"]
    assert f"{len(rows):,} open breaches" in text
    for team, n in Counter(r["team"] for r in rows).items():
        assert f"{team}: {n:,}" in text
    clause, n = Counter(r["clause_id"] for r in rows).most_common(1)[0]
    assert f"{clause}: {n:,}" in text
    assert f"Shared goals {s['shared_goals']['status']}." in text
    pool = s["rewards"]["monthly_pool"]
    assert ("Monthly pool earned" if pool["eligible"] else "Monthly pool not earned") in text
    assert f"Stage {s['ladder']['stage']}" in text
    if s["ladder"]["stage"]:
        assert s["ladder"]["owner"] in text and s["ladder"]["actions"][0] in text
    read = sum(t["read"] for t in audit.results["data"]["tables"].values())
    assert f"{read:,} rows read" in text and "0 rows quarantined" in text
    assert ("Awaiting sign-off: 0 of 2 required signatures (missing: Marketing team lead, "
            "Sales team lead)") in text
    assert "Annual reward: judged in December 2020" in text
    assert "Overall" not in text


def test_every_breach_is_in_a_table_that_sorts_and_filters(audit, browser) -> None:
    with open(audit.folder / "breaches.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    seen = browser(audit.folder / "audit.html")
    page = seen.page
    info = page.locator("#breach-table .bt-info")
    assert info.inner_text() == f"1–{min(100, len(rows))} of {len(rows):,}"
    page.select_option("#breach-table .bt-clause", "speed-to-lead")
    expected = sum(r["clause_id"] == "speed-to-lead" for r in rows)
    assert info.inner_text() == f"1–{min(100, expected)} of {expected:,}"
    page.click('#breach-table th[data-col="observed"]')  # worst (largest) first
    first = page.locator("#breach-table tbody tr").first.locator("td").nth(4).inner_text()
    worst = max(float(r["observed"]) for r in rows if r["clause_id"] == "speed-to-lead")
    assert first.replace(",", "").startswith(f"{round(worst, 2):g}"), first
    assert seen.errors == []


def test_injected_markup_never_runs(browser, tmp_path: Path) -> None:
    r = result(tmp_path / "a", [breach(EVIL, 3.0, rep_id=EVIL),
                                breach("</script><script>window.__pwned=2</script>", 4.0)],
               [clause(breaches=2, title=EVIL, message=EVIL)], policy_id=EVIL,
               standing=standing())
    path = tmp_path / "evil.html"
    path.write_text(full_page(r))
    seen = browser(path)
    seen.page.wait_for_selector("#breach-table:not([hidden])")
    assert seen.page.evaluate("window.__pwned") is None
    assert seen.dialogs == [] and seen.errors == []
    assert "window.__pwned=1" in seen.page.inner_text("body")  # shown as text


def test_the_persian_audit_reads_right_to_left(audit, browser) -> None:
    out = render_report(load_result(audit.folder), load_policy(POLICY),
                        audits=audit.folder.parent.parent, locale="fa")
    path = audit.folder.parent / "fa.html"  # beside, not inside, the hashed audit folder
    path.write_text(page_html([out.html], title=out.title, lang=out.lang,
                              direction=out.direction, locale=out.locale, zone=out.zone))
    seen = browser(path)
    page = seen.page
    assert page.evaluate("document.documentElement.dir") == "rtl"
    assert page.evaluate("getComputedStyle(document.querySelector('.cards')).direction") == "rtl"
    first = page.locator(".cards .card").first.bounding_box()
    assert first is not None and first["x"] > 1366 / 2  # the first card sits on the right
    assert "اهداف مشترک" in page.inner_text("#summary")
    assert seen.errors == []
    page.screenshot(path=str(DOCS / "audit-fa.png"))


@pytest.mark.parametrize(("paper", "width_mm", "height_mm"), [("A4", 210, 297),
                                                              ("Letter", 215.9, 279.4)])
def test_printed_no_table_is_clipped(audit, browser, tmp_path: Path, paper: str,
                                     width_mm: float, height_mm: float) -> None:
    printable = int((width_mm - 24) * MM)  # the print stylesheet's 12 mm margins
    seen = browser(audit.folder / "audit.html", width=printable, height=900)
    page = seen.page
    page.emulate_media(media="print")
    clipped = page.evaluate("""() => {
        const width = document.documentElement.clientWidth;
        return [...document.querySelectorAll('table')]
          .filter(t => t.offsetParent !== null)
          .filter(t => t.getBoundingClientRect().right > width + 1
                       || t.scrollWidth > t.parentElement.clientWidth + 1)
          .map(t => t.className || t.closest('section').id);
    }""")
    assert clipped == []
    tables = page.evaluate("[...document.querySelectorAll('table')]"
                           ".filter(t => t.offsetParent !== null).length")
    assert tables >= 10
    summary = page.locator("#summary").bounding_box()
    assert summary is not None and summary["height"] <= (height_mm - 24) * MM  # one page
    assert page.evaluate("getComputedStyle(document.querySelector('#summary')).breakAfter") \
        == "page"
    pdf = page.pdf(format=paper, print_background=True)
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    (tmp_path / f"audit-{paper}.pdf").write_bytes(pdf)
