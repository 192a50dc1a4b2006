"""Compiled suites: deterministic, reviewable, and refused when stale or edited."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from slapolicy.engine.suites import compile_suite, load_suite, write_suite
from slapolicy.errors import StaleSuiteError
from slapolicy.policy.loader import load_policy
from tests.conftest import POLICY, ROOT


def test_committed_suite_is_fresh() -> None:
    doc = load_policy(POLICY)
    committed = (ROOT / "expectations" / "company-a.json").read_text()
    assert committed == compile_suite(doc), "run: slapolicy compile --policy policies/company-a.yaml"


def test_suite_is_deterministic_and_lists_every_check() -> None:
    doc = load_policy(POLICY)
    text = compile_suite(doc)
    assert text == compile_suite(load_policy(POLICY))
    suite = json.loads(text)
    keys = {(e["meta"]["clause_id"], e["meta"]["check"]) for e in suite["expectations"]}
    assert ("speed-to-lead", "first-touch") in keys and ("revenue-run-rate", "run-rate") in keys
    assert len({k[0] for k in keys}) == len(doc.policy.clauses)
    assert suite["meta"]["policy_content_hash"] == doc.content_hash
    assert '"id"' not in text  # GE's random ids would make every compile a diff


def test_stale_and_edited_suites_are_refused(tmp_path: Path) -> None:
    policy = tmp_path / "policies" / "company-a.yaml"
    policy.parent.mkdir()
    policy.write_text(POLICY.read_text())
    (tmp_path / "policies" / "plugins").mkdir()
    root = tmp_path / "expectations"
    with pytest.raises(StaleSuiteError, match="no compiled suite"):
        load_suite(root, load_policy(policy))
    write_suite(root, load_policy(policy))
    assert load_suite(root, load_policy(policy))
    policy.write_text(POLICY.read_text().replace("within: 1h", "within: 2h"))
    with pytest.raises(StaleSuiteError, match="the suite is stale") as info:
        load_suite(root, load_policy(policy))
    assert "slapolicy compile --policy" in str(info.value)
    write_suite(root, load_policy(policy))
    path = root / "company-a.json"
    path.write_text(path.read_text().replace('"mostly": 0.95', '"mostly": 0.5', 1))
    with pytest.raises(StaleSuiteError, match="was edited after it was compiled"):
        load_suite(root, load_policy(policy))


def test_cli_compile_then_audit_refuses_stale(tmp_path: Path) -> None:
    policy = tmp_path / "policies" / "company-a.yaml"
    policy.parent.mkdir()
    policy.write_text(POLICY.read_text())
    cli = [sys.executable, "-m", "slapolicy.cli.main"]
    done = subprocess.run([*cli, "compile", "--policy", str(policy)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "expectations" / "company-a.json").exists()
    policy.write_text(POLICY.read_text().replace("per_month: 250", "per_month: 200"))
    stale = subprocess.run([*cli, "audit", "--policy", str(policy), "--period", "2020-01",
                            "--data", str(tmp_path), "--audits", str(tmp_path / "audits")],
                           capture_output=True, text=True, timeout=120)
    assert stale.returncode == 2
    assert "the suite is stale" in stale.stderr and "Traceback" not in stale.stderr
