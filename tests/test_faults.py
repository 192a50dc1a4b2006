"""Fault trials with the real CLI, kernel and ledger (slow group).

- ``kill -9`` at random moments of the CLI process and of the audit kernel, each
  followed by ``verify --all`` and a run that completes;
- a run killed between publishing its audit and recording it in the ledger;
- a hanging clause stopped by the step limit and by the run limit, the run-due lock
  released each time;
- audits started at once, into one audits folder and into several.

Two run-due at once: ``tests/test_scheduler.py::test_two_concurrent_runs_never_audit_a_period_twice``.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from slapolicy.demo import generate as demo
from slapolicy.engine.suites import write_suite
from slapolicy.policy.loader import load_policy
from slapolicy.trail.ledger import read_entries
from tests.conftest import POLICY, ROOT, without_goal_references
from tests.test_manifest import CLI, NOTEBOOK
from tests.test_outcomes import workspace

pytestmark = pytest.mark.slow
#: kill -9 trials (half of the CLI, half of the kernel); the issue asks for at least 20.
TRIALS = int(os.environ.get("SLAPOLICY_FAULT_TRIALS", "20"))
#: Two clauses on a small month: a run takes seconds, the trials stay short.
CLAUSES = """\
    - id: speed-to-lead
      kind: speed_to_lead
      title: Follow up within one business hour
      owner: sales
      params: {within: 1h}
    - id: mql-worked
      kind: mql_worked
      title: No MQL left unworked
      owner: sales
      params: {within: 7d}
"""


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faults")
    text = without_goal_references(POLICY.read_text())
    head, rest = text.split("  clauses:\n", 1)
    text = head + "  clauses:\n" + CLAUSES + rest[rest.index("  rewards:\n"):]
    text = text.replace("  shared_goals: []", "  shared_goals: []")
    (root / "policies").mkdir()
    policy = root / "policies" / "company-a.yaml"
    policy.write_text(text)
    write_suite(root / "expectations", load_policy(policy))
    tables = demo.generate(demo.DemoConfig(start="2020-01", months=1, leads_per_month=60))
    demo.write_duckdb(tables, root / "demo.duckdb")
    return root


def run(*args: str, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def audit_args(ws: Path, audits: Path, *extra: str) -> list[str]:
    return ["audit", "--policy", str(ws / "policies" / "company-a.yaml"), "--period",
            "2020-01", "--data", str(ws / "demo.duckdb"), "--audits", str(audits),
            "--notebook", str(NOTEBOOK), *extra]


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def kernel_of(proc: subprocess.Popen[bytes], timeout: float = 120) -> int | None:
    """The audit kernel the CLI process started, once it runs (None if the CLI ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        for pid in children(proc.pid):
            try:
                if b"ipykernel" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return pid
            except OSError:
                continue
        time.sleep(0.05)
    return None


def wait_for(check, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def stray_staging(audits: Path) -> list[str]:
    folder = audits / "company-a"
    return sorted(p.name for p in folder.iterdir() if ".staging." in p.name) \
        if folder.is_dir() else []


def test_kill_9_at_random_moments_never_leaves_a_lie(ws: Path, tmp_path: Path) -> None:
    audits = tmp_path / "audits"
    started = time.monotonic()
    first = run(*audit_args(ws, audits))  # the first run also measures how long one takes
    assert first.returncode in (0, 1), first.stderr
    span = time.monotonic() - started
    rng = random.Random(20201207)
    outcomes = []
    for trial in range(TRIALS):
        target = "kernel" if trial % 2 else "cli"
        victim = subprocess.Popen([*CLI, *audit_args(ws, audits)], cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if target == "cli":
                time.sleep(rng.uniform(0, span))
                pid = victim.pid
            else:
                kernel = kernel_of(victim)
                time.sleep(rng.uniform(0, span * 0.7))
                pid = kernel if kernel is not None else victim.pid
            # (if it had already finished, a complete run is one more outcome)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            code = victim.wait(timeout=600)
        finally:
            if victim.poll() is None:
                victim.kill()
        outcomes.append((target, code))
        if target == "kernel" and code not in (0, 1, -9):
            assert code == 3  # a dead kernel: exit 3, never success
        # Whatever the moment: the audit in place is whole and verifiable, or a publish
        # that was cut short is reported as such (and completed by the next run).
        check = run("verify", "--all", "--audits", str(audits))
        problems = [ln for ln in check.stdout.splitlines() if ln.startswith("problem: ")]
        if check.returncode:
            assert all("a run was stopped while publishing" in p
                       or "is not recorded in the ledger" in p for p in problems), check.stdout
            assert any("a run was stopped while publishing" in p for p in problems)
        done = run(*audit_args(ws, audits))
        assert done.returncode in (0, 1), done.stderr
        assert done.stdout.startswith("company-a 2020-01: ")
        check = run("verify", "--all", "--audits", str(audits))
        assert check.returncode == 0, check.stdout
        assert "chain intact" in check.stdout
        assert sorted(p.name for p in (audits / "company-a").iterdir()
                      if not p.name.startswith(".")) == ["2020-01"]
    # The kills hit both processes, and some runs died (not all finished first).
    assert {t for t, _ in outcomes} == {"cli", "kernel"}
    assert sum(code == -9 for _, code in outcomes) >= TRIALS // 4, outcomes
    assert sum(code == 3 for t, code in outcomes if t == "kernel") >= 1, outcomes
    # Nothing left behind: no staging folder, no kernel sockets in the working folders.
    assert stray_staging(audits) == []
    assert not list(ROOT.glob("kernel-ipc-*")) and not list(NOTEBOOK.parent.glob("kernel-ipc-*"))
    runs = [e for e in read_entries(audits / "ledger.jsonl") if e["type"] == "audit_run"]
    assert len(runs) >= TRIALS + 1 - sum(code == -9 for _, code in outcomes) // 2


def test_a_dead_kernel_is_exit_3_with_the_step_named(ws: Path, tmp_path: Path) -> None:
    audits = tmp_path / "audits"
    victim = subprocess.Popen([*CLI, *audit_args(ws, audits)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    staging = audits / "company-a"
    assert wait_for(lambda: any((p / ".step").exists() for p in staging.glob(".2020-01.*"))
                    if staging.is_dir() else False)
    for pid in children(victim.pid):
        os.kill(pid, signal.SIGKILL)
    out, err = victim.communicate(timeout=300)
    assert victim.returncode == 3, err
    # (nbclient logs its own line first; the error is ours, with the step it was in)
    assert "\nerror: the audit kernel died in the step '" in "\n" + err
    assert "ended by SIGKILL: killed from outside" in err
    assert "nothing was published" in err and "Traceback" not in err
    assert out == ""
    assert stray_staging(audits) == [] and not (audits / "company-a" / "2020-01").exists()


@pytest.mark.parametrize("code", ["os._exit(0)", "sys.exit(0)"])
def test_a_clause_that_exits_in_the_kernel_fails_the_audit_with_exit_3(
        tmp_path: Path, code: str) -> None:
    policy = workspace(tmp_path, at_measure=code)
    write_suite(tmp_path / "expectations", load_policy(policy))
    tables = demo.generate(demo.DemoConfig(start="2020-01", months=1, leads_per_month=40))
    demo.write_duckdb(tables, tmp_path / "demo.duckdb")
    audits = tmp_path / "audits"
    res = run("audit", "--policy", str(policy), "--period", "2020-01", "--data",
              str(tmp_path / "demo.duckdb"), "--audits", str(audits), "--notebook",
              str(NOTEBOOK))
    assert res.returncode == 3, res.stderr
    assert (f"error: clause kind 'misbehaving' (measure) called {code}: the run stopped there, "
            "nothing was audited\n") in res.stderr
    assert res.stdout == "" and stray_staging(audits) == []
    assert not (audits / "company-a" / "2020-01").exists()


def test_a_kernel_crash_in_native_code_names_the_signal_and_where_it_was(
        tmp_path: Path) -> None:
    # A read of address 0 ends the kernel with SIGSEGV, as a native library's bug would.
    policy = workspace(tmp_path, at_measure="import ctypes; ctypes.string_at(0)")
    write_suite(tmp_path / "expectations", load_policy(policy))
    tables = demo.generate(demo.DemoConfig(start="2020-01", months=1, leads_per_month=40))
    demo.write_duckdb(tables, tmp_path / "demo.duckdb")
    audits = tmp_path / "audits"
    res = run("audit", "--policy", str(policy), "--period", "2020-01", "--data",
              str(tmp_path / "demo.duckdb"), "--audits", str(audits), "--notebook",
              str(NOTEBOOK))
    assert res.returncode == 3, res.stderr
    assert ("the audit kernel died in the step 'measuring clause misbehaving (misbehaving)'"
            in res.stderr)
    assert "ended by SIGSEGV: a crash in native code" in res.stderr
    # The kernel's own Python trace at the crash, from the fault log of this run.
    trace = res.stderr.split("Fatal Python error: Segmentation fault; the kernel was at "
                             "(innermost first):\n", 1)[1]
    assert "/plugins/misbehaving.py\", line " in trace.splitlines()[1]  # (0: ctypes)
    assert trace.splitlines()[1].endswith(" in measure")
    assert res.stdout == "" and stray_staging(audits) == []


def test_killed_between_publishing_and_recording(ws: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The narrowest moment: the audit moved into place, its ledger entry not written."""
    from slapolicy.audit.run import AuditRequest
    from slapolicy.trail import ledger
    from slapolicy.trail.notebook import cleanup_stale, execute_audit
    from slapolicy.trail.signing import verify_all

    real_append = ledger.append

    def die_before_the_run_entry(path, entry_type, fields, **kw):
        if entry_type == "audit_run":
            raise KeyboardInterrupt("killed")
        return real_append(path, entry_type, fields, **kw)

    monkeypatch.setattr(ledger, "append", die_before_the_run_entry)
    audits = tmp_path / "audits"
    policy = ws / "policies" / "company-a.yaml"
    request = AuditRequest(policy, "2020-01", ws / "demo.duckdb",
                           expectations=ws / "expectations", audits=audits)
    with pytest.raises(KeyboardInterrupt):
        execute_audit(request, audits / "company-a" / "2020-01", NOTEBOOK, cwd=ROOT)
    monkeypatch.setattr(ledger, "append", real_append)
    problems = verify_all(audits).problems
    assert any("is not recorded in the ledger" in p for p in problems), problems
    assert any("a run was stopped while publishing" in p for p in problems), problems
    cleanup_stale(audits / "company-a")  # what the next run does first, under the lock
    assert verify_all(audits).problems == []
    runs = [e for e in read_entries(audits / "ledger.jsonl") if e["type"] == "audit_run"]
    assert len(runs) == 1


def test_a_hanging_clause_hits_the_time_limits_and_the_lock_is_released(
        tmp_path: Path) -> None:
    policy = workspace(tmp_path, at_measure="time.sleep(3600)")
    write_suite(tmp_path / "expectations", load_policy(policy))
    tables = demo.generate(demo.DemoConfig(start="2020-01", months=1, leads_per_month=40))
    demo.write_duckdb(tables, tmp_path / "demo.duckdb")
    audits = tmp_path / "audits"
    args = ["run-due", "--policy", str(policy), "--data", str(tmp_path / "demo.duckdb"),
            "--audits", str(audits), "--notebook", str(NOTEBOOK), "--until", "2020-02",
            "--now", "2020-03-15T00:00:00Z"]
    started = time.monotonic()
    res = run(*args, "--step-limit", "20")
    assert time.monotonic() - started < 300
    assert res.returncode == 3, res.stderr
    # (DuckDB's bindings may print a leak notice at exit; the error line is ours)
    assert ("error: 2020-01: the step 'measuring clause misbehaving (misbehaving)' passed its "
            "time limit of 20 s; the run stopped there\n") in res.stderr
    assert res.stdout == ""  # it stopped: 2020-02 waits for January
    # The lock is free: the next run-due starts at once (no exit 4), and stops at the
    # run limit this time (no step limit), naming the step it was in.
    res = run(*args, "--wait", "0", "--step-limit", "0", "--run-limit", "30")
    assert res.returncode == 3, res.stderr
    assert ("error: 2020-01: the audit passed its run time limit of 30 s in the step "
            "'measuring clause misbehaving (misbehaving)'; the kernel was stopped and nothing "
            "was published\n") in res.stderr
    assert stray_staging(audits) == [] and not (audits / "company-a" / "2020-01").exists()
    assert not [e for e in read_entries(audits / "ledger.jsonl") if e["type"] == "audit_run"]


def test_audits_started_at_once_each_complete_cleanly(ws: Path, tmp_path: Path) -> None:
    """Three into their own folders and two into one: each has its own notebook copy and
    kernel sockets (no "Invalid Signature", no tracebacks), and every audit verifies."""
    roots = [tmp_path / "a", tmp_path / "b", tmp_path / "c", tmp_path / "shared",
             tmp_path / "shared"]
    procs = [subprocess.Popen([*CLI, *audit_args(ws, root)], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for root in roots]
    results = [p.communicate(timeout=900) for p in procs]
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode in (0, 1), err
        assert out.startswith("company-a 2020-01: ")
        # (a kernel slow to shut down under load may log that it was interrupted: noise)
        assert "Traceback" not in err and "Invalid Signature" not in err, err
        assert "error:" not in err, err
    for root in sorted(set(roots)):
        check = run("verify", "--all", "--audits", str(root))
        assert check.returncode == 0, check.stdout
    shared = [e for e in read_entries(tmp_path / "shared" / "ledger.jsonl")
              if e["type"] == "audit_run"]
    assert len(shared) == 2 and shared[1]["replaces"] is not None
