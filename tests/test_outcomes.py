"""Outcomes that cannot lie, without a kernel: custom code that ends the process, code
from outside the policy's folder, a hanging step, and a ledger that must never name an
audit that is not in place. (With the real kernel and ``kill -9``: tests/test_faults.py.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from slapolicy.audit.run import AuditRequest, audit_document
from slapolicy.errors import PluginExitError, PolicyError, TimeLimitError
from slapolicy.policy.loader import parse_policy
from slapolicy.trail.ledger import append, ledger_path, read_entries
from slapolicy.trail.manifest import FORMAT
from slapolicy.trail.pending import complete_intents, write_intent
from slapolicy.trail.signing import verify_all
from tests.conftest import POLICY, ROOT, without_goal_references

CLI = [sys.executable, "-c", "from slapolicy.cli.main import main; main()"]

PLUGIN = """\
import os
import sys
import time

from slapolicy.clauses import ClauseKind, Params, register_clause
from slapolicy.clauses.base import CheckSpec, Threshold

{at_import}


class MisbehavingParams(Params):
    seconds: float = 0


@register_clause
class Misbehaving(ClauseKind):
    name = "misbehaving"
    Params = MisbehavingParams

    def check_policy(self, policy, clause, params):
        {at_check}
        return []

    def checks(self, clause, params):
        return [CheckSpec("x", "at_most", "days", "lead")]

    def threshold(self, policy, clause, params, check, period):
        return Threshold(1.0, basis="one day")

    def reads(self, clause, params):
        return {{}}

    def measure(self, ctx, clause, params):
        {at_measure}
        return {{}}
"""
CLAUSE = """
    - id: misbehaving
      kind: misbehaving
      title: A custom clause that misbehaves
      owner: sales
"""
AS_OF = datetime(2020, 3, 31, 20)
FIX = "a clause kind must return or raise, never end the process; fix the module"


def workspace(root: Path, *, at_import: str = "", at_check: str = "pass",
              at_measure: str = "pass", plugin: str = "plugins/misbehaving.py") -> Path:
    """``root/policies/company-a.yaml`` with the misbehaving clause first."""
    (root / "policies" / "plugins").mkdir(parents=True)
    (root / "policies" / "plugins" / "misbehaving.py").write_text(PLUGIN.format(
        at_import=at_import, at_check=at_check, at_measure=at_measure))
    text = without_goal_references(POLICY.read_text())
    text = text.replace("  clauses:\n", f"  plugins: [{plugin}]\n  clauses:\n" + CLAUSE, 1)
    path = root / "policies" / "company-a.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("where", "code", "call"), [
    ("at_import", "sys.exit(0)", "plug-in 'plugins/misbehaving.py' called sys.exit(0)"),
    ("at_import", "os._exit(0)", "plug-in 'plugins/misbehaving.py' called os._exit(0)"),
    ("at_check", "os._exit(0)", "clause kind 'misbehaving' (check_policy) called os._exit(0)"),
    ("at_check", "sys.exit()", "clause kind 'misbehaving' (check_policy) called sys.exit(None)"),
    ("at_check", "raise SystemExit('done')",
     "clause kind 'misbehaving' (check_policy) called sys.exit('done')"),
])
def test_custom_code_that_ends_the_process_fails_compile_with_exit_3(
        tmp_path: Path, where: str, code: str, call: str) -> None:
    policy = workspace(tmp_path, **{where: code})
    res = subprocess.run([*CLI, "compile", "--policy", str(policy), "--expectations",
                          str(tmp_path / "expectations")], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert res.returncode == 3, res.stderr
    assert res.stderr == f"error: {call}: the run stopped there, nothing was audited\n" \
                         f"  fix: {FIX}\n"
    assert res.stdout == ""
    assert not (tmp_path / "expectations").exists()


def test_custom_measure_that_exits_stops_the_audit_it_is_no_verdict(
        tmp_path: Path, make_dataset) -> None:
    policy = workspace(tmp_path, at_measure="os._exit(0)")
    doc = parse_policy(policy.read_text(), source=str(policy), base_dir=policy.parent)
    data = make_dataset()
    with pytest.raises(PluginExitError) as err:
        audit_document(doc, AuditRequest(policy, "2020-03", data, output=tmp_path / "out",
                                           as_of=AS_OF),
                       compiled=False)
    assert err.value.message == ("clause kind 'misbehaving' (measure) called os._exit(0): "
                                 "the run stopped there, nothing was audited")
    assert err.value.exit_code == 3


def test_a_hanging_clause_stops_at_the_step_limit_naming_the_step(
        tmp_path: Path, make_dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("SLAPOLICY_STEP_SECONDS", "15")
    policy = workspace(tmp_path, at_measure="time.sleep(600)")
    doc = parse_policy(policy.read_text(), source=str(policy), base_dir=policy.parent)
    started = time.monotonic()
    with pytest.raises(TimeLimitError) as err:
        audit_document(doc, AuditRequest(policy, "2020-03", make_dataset(),
                                         output=tmp_path / "out", as_of=AS_OF), compiled=False)
    assert time.monotonic() - started < 60
    assert err.value.message == ("the step 'measuring clause misbehaving (misbehaving)' passed "
                                 "its time limit of 15 s; the run stopped there")
    assert err.value.exit_code == 3
    assert (tmp_path / "out" / ".step").read_text() == \
        "measuring clause misbehaving (misbehaving)\n"


@pytest.mark.parametrize("plugin", ["../misbehaving.py", "/tmp/misbehaving.py",
                                    "plugins/../../misbehaving.py", "plugins/misbehaving.txt"])
def test_custom_code_runs_only_from_the_policy_folder(tmp_path: Path, plugin: str) -> None:
    policy = workspace(tmp_path / "ws", plugin=plugin)
    (tmp_path / "misbehaving.py").write_text("raise SystemExit('must never run')\n")
    with pytest.raises(PolicyError) as err:
        parse_policy(policy.read_text(), source="p.yaml", base_dir=policy.parent)
    assert err.value.message == (f"plug-in {plugin!r} is not a Python file inside the policy's "
                                 f"folder ({policy.parent.resolve()})")
    assert err.value.yaml_path == "policy.plugins[0]"


# --- publish, then record ------------------------------------------------------------------


def fake_audit(root: Path, name: str = "company-a/2020-01") -> str:
    """A folder with a manifest (enough for the ledger checks); returns its manifest hash."""
    import hashlib

    folder = root / name
    folder.mkdir(parents=True)
    raw = json.dumps({"format": FORMAT, "outputs": {}}).encode()
    (folder / "manifest.json").write_bytes(raw)
    return hashlib.sha256(raw).hexdigest()


def entry(sha: str, name: str = "company-a/2020-01") -> dict[str, object]:
    return {"policy_id": "company-a", "period": "2020-01", "revision": 1, "folder": name,
            "manifest_sha256": sha}


def test_verify_reports_a_run_whose_audit_is_not_there(tmp_path: Path) -> None:
    append(ledger_path(tmp_path), "audit_run", entry("ab" * 32))
    problems = verify_all(tmp_path).problems
    assert problems == [f"{tmp_path}/company-a/2020-01: the ledger records a run of it "
                        f"(entry 1, manifest {'ab' * 6}) but no audit is there"]


def test_an_intent_whose_audit_is_in_place_is_recorded_once(tmp_path: Path) -> None:
    sha = fake_audit(tmp_path)
    intent = write_intent(tmp_path, entry(sha))  # killed after the move, before the entry
    assert any(p.startswith(f"{intent}: a run was stopped while publishing")
               for p in verify_all(tmp_path).problems)
    assert complete_intents(tmp_path) == [
        "company-a/2020-01: published before the run was stopped; recorded"]
    runs = [e for e in read_entries(ledger_path(tmp_path)) if e["type"] == "audit_run"]
    assert [r["manifest_sha256"] for r in runs] == [sha]
    assert not intent.exists()
    write_intent(tmp_path, entry(sha))  # killed after the entry, before removing the intent
    assert complete_intents(tmp_path) == []
    assert len(read_entries(ledger_path(tmp_path))) == 1


def test_an_intent_whose_audit_never_moved_in_leaves_no_trace(tmp_path: Path) -> None:
    intent = write_intent(tmp_path, entry("cd" * 32))
    assert complete_intents(tmp_path) == [
        "company-a/2020-01: the run was stopped before publishing; dropped"]
    assert not intent.exists() and not ledger_path(tmp_path).exists()
    assert verify_all(tmp_path).problems == [f"ledger: no ledger at {ledger_path(tmp_path)}"]
