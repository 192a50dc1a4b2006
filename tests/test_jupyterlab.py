"""The analysts' workspace: real JupyterLab serves the audit notebook, real Chromium shows it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def jupyterlab(root_dir: Path, runtime: Path) -> Iterator[str]:
    """JupyterLab on loopback serving ``root_dir``; yields its base URL.

    The server runs in its own process group with its kernels, and leaving the block
    stops the whole group for sure: SIGTERM, then SIGKILL after 20 s, even when the
    server never came up or a test failed.
    """
    port = _free_port()
    # Its own runtime and workspaces folders: no tab of an earlier run is restored.
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime),
           "JUPYTERLAB_WORKSPACES_DIR": str(runtime / "workspaces")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", "--allow-root", "--IdentityProvider.token=",
         "--ServerApp.password=", f"--ServerApp.root_dir={root_dir}",
         # Loopback, no token: tests also start kernels through the REST API.
         "--ServerApp.disable_check_xsrf=True"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=root_dir,
        start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("JupyterLab did not start within 90 s")
                time.sleep(0.5)
        yield base
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server, its process group and every process it started.

    Kernels run in sessions of their own, so they are found as the server's
    descendants first; whatever is left after SIGTERM and 20 s gets SIGKILL.
    """
    import psutil

    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    _, alive = psutil.wait_procs(family, timeout=10)
    for child in alive:
        with suppress(psutil.NoSuchProcess):
            child.kill()
    psutil.wait_procs(alive, timeout=10)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with jupyterlab(ROOT, tmp_path_factory.mktemp("jupyter-runtime")) as base:
        yield base


def test_lab_serves_the_parameterised_audit_notebook(lab: str) -> None:
    with urllib.request.urlopen(f"{lab}/api/contents/notebooks/audit.ipynb", timeout=10) as r:
        model = json.load(r)
    cells = model["content"]["cells"]
    tagged = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1 and 'period = "' in "".join(tagged[0]["source"])


def test_lab_opens_the_notebook_in_chromium(lab: str, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it")
        pytest.skip("chromium not installed here (apt-get install chromium); CI installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{lab}/lab/tree/notebooks/audit.ipynb")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        page.wait_for_function(
            "document.querySelector('.jp-Notebook').innerText.includes('audit_period')",
            timeout=60_000)
        text = page.inner_text(".jp-Notebook")
        page.screenshot(path=str(tmp_path / "lab.png"))
        browser.close()
    assert "Parameters" in text and "audit_period(request)" in text


def test_leaving_the_lab_stops_its_server_and_kernels_even_after_a_failure(
        tmp_path: Path) -> None:
    import psutil

    runtime = tmp_path / "runtime"
    family: list[int] = []
    with pytest.raises(RuntimeError, match="a failing test"), \
            jupyterlab(tmp_path, runtime) as base:
        request = urllib.request.Request(f"{base}/api/kernels", data=b"{}", method="POST")
        urllib.request.urlopen(request, timeout=30).close()
        (server,) = [int(p.stem.split("-")[1]) for p in runtime.glob("jpserver-*.json")]
        deadline = time.monotonic() + 60
        while not psutil.Process(server).children(recursive=True):
            assert time.monotonic() < deadline, "the kernel did not start"
            time.sleep(0.2)
        family = [server, *(c.pid for c in psutil.Process(server).children(recursive=True))]
        port = int(base.rsplit(":", 1)[1])
        raise RuntimeError("a failing test")
    assert len(family) >= 2  # the server and its kernel
    for pid in family:
        with suppress(psutil.NoSuchProcess):
            assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, f"{pid} still runs"
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2)
