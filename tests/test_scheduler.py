"""run-due: which periods are due, exit codes, the lock, and atomic publishing under crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import nbformat
import pytest

from slapolicy.policy.loader import load_policy
from slapolicy.policy.periods import Period
from slapolicy.trail.ledger import read_entries
from slapolicy.trail.manifest import find_audit
from slapolicy.trail.scheduler import closed_periods, due_periods
from slapolicy.trail.signing import verify_all
from tests.conftest import POLICY
from tests.test_manifest import CLI, NOTEBOOK, cli, demo_duckdb, make_workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("due")
    make_workspace(root)
    demo_duckdb(root / "demo.duckdb")
    return root


def _args(ws: Path, audits: Path, *extra: str) -> list[str]:
    return ["run-due", "--policy", str(ws / "policies" / "company-a.yaml"),
            "--data", str(ws / "demo.duckdb"), "--audits", str(audits),
            "--notebook", str(NOTEBOOK), *extra]


def _labels(periods: list[Period]) -> list[str]:
    return [p.label for p in periods]


# --- which periods are due (no notebook) --------------------------------------------------


def test_closed_periods_start_at_effective_from_and_end_before_now(tmp_path: Path) -> None:
    doc = load_policy(POLICY)  # effective 2020-01-01 to 2020-12-31, months, New York
    assert _labels(closed_periods(doc, now=datetime(2020, 3, 15))) == ["2020-01", "2020-02"]
    end_of_feb = datetime(2020, 3, 1, 5, 0)  # local midnight in New York, as naive UTC
    assert _labels(closed_periods(doc, now=end_of_feb))[-1] == "2020-02"
    assert _labels(closed_periods(doc, now=datetime(2020, 3, 1, 4, 59, 59)))[-1] == "2020-01"
    assert closed_periods(doc, now=datetime(2019, 12, 31)) == []
    assert _labels(closed_periods(doc, now=datetime(2030, 1, 1)))[-1] == "2020-12"  # until
    assert _labels(closed_periods(doc, now=datetime(2030, 1, 1),
                                  until=Period.parse("2020-02"))) == ["2020-01", "2020-02"]
    (tmp_path / "company-a" / "2020-01").mkdir(parents=True)
    assert _labels(due_periods(doc, tmp_path, now=datetime(2020, 4, 2))) == ["2020-02", "2020-03"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--until", "2020-13"], "error: period '2020-13': month 13 is not 1-12"),
        (["--now", "yesterday"], "error: --now 'yesterday' is not an ISO instant"),
        (["--until", "2020-Q1"], "error: period '2020-Q1' is a quarter, but the policy audits "
                                 "by month"),
    ],
)
def test_usage_errors_exit_2(ws: Path, tmp_path: Path, extra: list[str], message: str) -> None:
    res = cli(*_args(ws, tmp_path / "audits", *extra))
    assert res.returncode == 2
    assert res.stderr.startswith(message) and "Traceback" not in res.stderr


def test_nothing_due_exits_0(ws: Path, tmp_path: Path) -> None:
    res = cli(*_args(ws, tmp_path / "audits", "--now", "2020-01-15T00:00:00Z"))
    assert res.returncode == 0, res.stderr
    assert res.stdout == "nothing due: every closed period has an audit\n"


def test_a_failing_cell_is_reported_with_the_cell_and_error(ws: Path, tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})
    names = ("policy", "period", "data", "output", "data_zone", "as_of", "expectations",
             "exceptions", "audits")
    params = nbformat.v4.new_code_cell("\n".join(f'{n} = ""' for n in names))
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_code_cell("raise RuntimeError('boom')")]
    broken = tmp_path / "broken.ipynb"
    nbformat.write(nb, broken)
    audits = tmp_path / "audits"
    res = cli(*_args(ws, audits, "--until", "2020-02")[:-2], "--notebook", str(broken),
              "--until", "2020-02")
    assert res.returncode == 3, res.stderr
    assert "error: 2020-01: the audit notebook failed in cell 4: RuntimeError: boom\n" \
        in res.stderr
    assert res.stdout == ""  # it stopped at the first period: 2020-02 was not tried
    assert list((audits / "company-a").iterdir()) == []  # no audit, no staging left
    assert not [e for e in read_entries(audits / "ledger.jsonl") if e["type"] == "audit_run"]


# --- real runs: the lock and crashes ------------------------------------------------------


def _wait_for(check, timeout: float = 180, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.slow
def test_two_concurrent_runs_never_audit_a_period_twice(ws: Path, tmp_path: Path) -> None:
    audits = tmp_path / "audits"
    args = [*CLI, *_args(ws, audits, "--until", "2020-01", "--wait", "600")]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock = audits / ".run-due.lock"
        _wait_for(lambda: lock.exists() and f"pid {first.pid} " in lock.read_text(),
                  what="the first run to take the lock")
        busy = cli(*_args(ws, audits, "--until", "2020-01", "--wait", "0"))
        assert busy.returncode == 4
        assert busy.stderr.startswith(
            f"error: the run-due lock {lock} is held by another process (pid {first.pid} on ")
        assert "gave up after 0 s\n  fix: wait for that process to finish, or wait longer " \
               "(--wait SECONDS)" in busy.stderr
        second = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        out1, err1 = first.communicate(timeout=600)
        out2, err2 = second.communicate(timeout=600)
    finally:
        for p in (first,):
            if p.poll() is None:
                p.kill()
    results = json.loads((audits / "company-a" / "2020-01" / "results.json").read_text())
    failed = results["summary"]["status"] in ("fail", "error")
    assert first.returncode == (1 if failed else 0), err1
    assert out1.startswith(f"2020-01: {results['summary']['status']} - ")
    assert second.returncode == 0, err2
    assert out2 == "nothing due: every closed period has an audit\n"
    assert sorted(p.name for p in (audits / "company-a").iterdir()) == ["2020-01"]
    runs = [e for e in read_entries(audits / "ledger.jsonl") if e["type"] == "audit_run"]
    assert [r["period"] for r in runs] == ["2020-01"]


@pytest.mark.slow
def test_a_killed_run_leaves_no_partial_audit_and_the_next_run_completes_it(
        ws: Path, tmp_path: Path) -> None:
    audits = tmp_path / "audits"
    args = _args(ws, audits, "--until", "2020-01")
    victim = subprocess.Popen([*CLI, *args], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    policy_dir = audits / "company-a"

    def mid_run() -> bool:
        return policy_dir.is_dir() and any(
            (p / "audit.ipynb").exists() for p in policy_dir.glob(".2020-01.staging.*"))

    try:
        _wait_for(mid_run, what="the notebook to start")
    finally:
        os.killpg(victim.pid, signal.SIGKILL)  # the run and everything it started
        victim.wait()
    assert find_audit(audits, "company-a", "2020-01") is None
    assert [p.name for p in policy_dir.iterdir() if not p.name.startswith(".2020-01.staging.")] \
        == []
    assert not [e for e in read_entries(audits / "ledger.jsonl") if e["type"] == "audit_run"]

    done = cli(*args)
    assert done.returncode == 1, done.stderr  # the demo's January fails speed to lead
    assert done.stdout.startswith("2020-01: ")
    assert sorted(p.name for p in policy_dir.iterdir()) == ["2020-01"]  # staging removed
    assert verify_all(audits).problems == []
    runs = [e for e in read_entries(audits / "ledger.jsonl") if e["type"] == "audit_run"]
    assert len(runs) == 1
