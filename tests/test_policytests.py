from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from slapolicy.audit.policytests import run_case
from slapolicy.errors import PolicyError
from slapolicy.policy.loader import load_policy
from tests.conftest import POLICY, ROOT

CASE = ROOT / "policies" / "tests" / "company-a" / "speed-to-lead.yaml"


def test_shipped_case_passes() -> None:
    result = run_case(load_policy(POLICY), CASE)
    assert result.passed, result.failures


def test_a_wrong_expectation_fails_with_reasons(tmp_path: Path) -> None:
    text = CASE.read_text().replace(
        "  no_breaches:\n    - {clause: speed-to-lead, subject: evening}",
        "  no_breaches:\n    - {clause: speed-to-lead, subject: late-friday}",
    ).replace("status: {speed-to-lead: fail}", "status: {speed-to-lead: pass}")
    case = tmp_path / "wrong.yaml"
    case.write_text(text)
    result = run_case(load_policy(POLICY), case)
    assert result.failures == [
        "expected no breach of speed-to-lead by late-friday, found one "
        "(first-touch: observed 1.5 business hours, threshold 1)",
        "speed-to-lead status is fail, expected pass",
    ]


def test_a_threshold_change_is_caught_by_the_cases(tmp_path: Path) -> None:
    policy = tmp_path / "company-a.yaml"
    policy.write_text(POLICY.read_text().replace("        within: 1h", "        within: 2h"))
    result = run_case(load_policy(policy), CASE)
    assert result.failures == ["expected a breach of speed-to-lead by late-friday, found none"]


def test_malformed_case_is_a_policy_error(tmp_path: Path) -> None:
    case = tmp_path / "bad.yaml"
    case.write_text(CASE.read_text().replace("- {activity_id: a1,", "- {activity_idd: a1,"))
    with pytest.raises(PolicyError, match=r"unknown column\(s\) activity_idd"):
        run_case(load_policy(POLICY), case)


def test_cli_exit_codes(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "slapolicy.cli.main", "test", "--policy", str(POLICY)]
    ok = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[-1].endswith("passed, 0 failed")
    bad = tmp_path / "cases"
    bad.mkdir()
    (bad / "x.yaml").write_text(CASE.read_text().replace("subject: untouched}", "subject: nobody}"))
    failed = subprocess.run([*cmd, "--cases", str(bad)], capture_output=True, text=True, timeout=300)
    assert failed.returncode == 1
    assert "expected a breach of speed-to-lead by nobody, found none" in failed.stdout
    (bad / "x.yaml").write_text("case: [unclosed\n")
    broken = subprocess.run([*cmd, "--cases", str(bad)], capture_output=True, text=True, timeout=300)
    assert broken.returncode == 2 and "not valid YAML" in broken.stderr
