"""The notebooks as people use them: real JupyterLab on loopback, real headless Chromium.

A leader runs review.ipynb, moves thresholds and sees the breach count and the ladder
stage change on screen; an analyst runs audit.ipynb with Run All (its kernel starts in
notebooks/) and sees the audit render. The workspace is the one of tests/test_review.py
(March 2020 audited; figures worked out by hand there). The screenshots go to docs/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slapolicy.review.form import css_name
from tests.conftest import ROOT
from tests.test_jupyterlab import jupyterlab
from tests.test_review import FAIL_BELOW, MOSTLY, WITHIN, Workspace, make_workspace

pytestmark = pytest.mark.slow
DOCS = ROOT / "docs"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return make_workspace(tmp_path_factory.mktemp("lab-workspace"))


@pytest.fixture(scope="module")
def lab(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with jupyterlab(workspace.root, tmp_path_factory.mktemp("runtime")) as base:
        yield base


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it")
        pytest.skip("chromium not installed here (apt-get install chromium); CI installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=ARGS)
        yield browser
        browser.close()


def run_all(browser: Any, url: str, height: int = 1000) -> Any:
    """Open a notebook in JupyterLab and choose Run > Run All Cells, as an analyst does."""
    page = browser.new_page(viewport={"width": 1400, "height": height})
    page.goto(url + "?reset")  # no tab of an earlier page is restored
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", timeout=90_000)
    # The kernel must be up before Run All, or the cells queue behind its start.
    page.wait_for_function("document.querySelector('.jp-StatusBar-Widget') && "
                           "document.body.innerText.includes('| Idle')", timeout=90_000)
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").first.click()
    news = page.locator(".jp-Notification-Toast-Close, .jp-toast-button", has_text="No")
    if news.count():  # the "official Jupyter news?" question
        news.first.click()
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    return page


def enter(page: Any, control: str, value: str, shown_as: str) -> None:
    """Type a value and press Enter; wait until the form lists it in the proposal."""
    box = page.locator(f".{css_name(control)} input")
    box.fill(value)
    box.press("Enter")
    page.wait_for_function(
        "text => document.querySelector('.whatif-ms') && document.body.innerText.includes(text)",
        arg=f"{control}: {shown_as}", timeout=60_000)


def shown(page: Any, name: str) -> str:
    return str(page.locator(f"span.whatif-{name}").inner_text().strip())


def test_moving_thresholds_changes_breaches_and_ladder_stage_on_screen(
        lab: str, chromium: Any) -> None:
    # Tall enough for the whole form in one screenshot.
    page = run_all(chromium, f"{lab}/lab/tree/notebooks/review.ipynb", height=2400)
    page.wait_for_selector(".widget-tab .lm-TabBar-tab", timeout=120_000)
    page.locator(".widget-tab .lm-TabBar-tab", has_text="sales").first.click()
    page.wait_for_selector(f".{css_name(WITHIN)} input", timeout=30_000)
    page.wait_for_selector("span.whatif-breaches", timeout=60_000)
    # Before any change: 4 breaches at one hour, ladder stage 1 (hand-computed).
    assert page.locator("td.whatif-breaches-current").inner_text().strip() == "4"
    assert (shown(page, "breaches"), shown(page, "stage")) == ("4", "1")

    enter(page, WITHIN, "2", "1.0 → 2.0")
    page.wait_for_function(
        "document.querySelector('span.whatif-breaches').innerText.trim() === '2'",
        timeout=60_000)
    assert shown(page, "stage") == "1"
    assert "changed" in (page.locator("span.whatif-breaches").get_attribute("class") or "")

    enter(page, FAIL_BELOW, "70", "90.0 → 70.0")
    enter(page, MOSTLY, "80", "95.0 → 80.0")
    enter(page, WITHIN, "24", "1.0 → 24.0")
    page.wait_for_function(
        "document.querySelector('span.whatif-breaches').innerText.trim() === '1'",
        timeout=60_000)
    assert (shown(page, "breaches"), shown(page, "stage"), shown(page, "pool")) == (
        "1", "0", "yes")
    form = page.locator(".jp-OutputArea-output:has(.widget-tab)").first
    form.screenshot(path=str(DOCS / "review-form.png"))

    page.locator(".whatif-replay").click()
    page.wait_for_selector(".replay-path", timeout=60_000)
    assert page.locator(".replay-path").inner_text().strip() == "0"
    assert page.locator(".replay-pool").inner_text().strip() == "2020-03"
    page.locator(".whatif:has(.replay-path)").screenshot(path=str(DOCS / "review-replay.png"))
    page.close()


def test_audit_notebook_runs_with_run_all_from_the_notebooks_folder(
        lab: str, chromium: Any) -> None:
    page = run_all(chromium, f"{lab}/lab/tree/notebooks/audit.ipynb")
    panel = ".jp-NotebookPanel:not(.lm-mod-hidden)"
    page.wait_for_function(
        f"document.querySelector('{panel}').innerText.includes('About this audit')",
        timeout=300_000)
    text = page.locator(panel).inner_text()
    # The four hand-computed breaches of March, in the rendered page's breach table.
    assert text.count("speed-to-lead · first-touch") >= 4
    for lead in ("L02", "L08", "L12", "L13"):
        assert f"\t{lead}\t" in text
    assert "company-a 2020.1" in text
    assert "policy file not found" not in text and "Traceback" not in text
    page.locator(panel).get_by_text("About this audit").first.scroll_into_view_if_needed()
    page.close()
