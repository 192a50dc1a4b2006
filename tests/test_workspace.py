"""The workspace: ``slapolicy init``, the file found from the current folder upwards, its
defaults (options on the command line win), and its mistakes reported at their line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from slapolicy.errors import WorkspaceError
from slapolicy.policy.loader import load_policy
from slapolicy.workspace import (
    find_workspace,
    load_workspace,
    packaged_example,
    packaged_notebook,
)
from tests.conftest import ROOT

SLAPOLICY = Path(sys.executable).with_name("slapolicy")


def run(*args: str, cwd: Path, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "SLAPOLICY_WORKSPACE"}
    return subprocess.run([str(SLAPOLICY), *args], cwd=cwd, capture_output=True, text=True,
                          env={**full, **(env or {})}, timeout=300)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ws") / "my-sla"
    result = run("init", str(folder), cwd=folder.parent)
    assert result.returncode == 0, result.stderr
    return folder


def test_init_scaffolds_a_workspace_whose_starter_policy_loads_and_compiles(
        workspace: Path) -> None:
    for rel in ("slapolicy.toml", "policies/sla.yaml", "policies/company-a.yaml",
                "notebooks/audit.ipynb", "audits", "expectations/our-sla.json",
                "expectations/company-a.json"):
        assert (workspace / rel).exists(), rel
    starter = (workspace / "policies" / "sla.yaml").read_text()
    assert sum(line.lstrip().startswith("#") for line in starter.splitlines()) >= 5
    doc = load_policy(workspace / "policies" / "sla.yaml")
    assert doc.id == "our-sla" and len(doc.policy.clauses) == 2
    suite = json.loads((workspace / "expectations" / "our-sla.json").read_text())
    assert suite["meta"]["policy_content_hash"] == doc.content_hash
    # The copies are the packaged files, byte for byte.
    assert (workspace / "notebooks" / "audit.ipynb").read_bytes() == \
        packaged_notebook().read_bytes()
    assert (workspace / "policies" / "company-a.yaml").read_bytes() == \
        packaged_example().read_bytes() == (ROOT / "policies" / "company-a.yaml").read_bytes()


def test_init_refuses_to_overwrite(workspace: Path) -> None:
    result = run("init", str(workspace), cwd=workspace.parent)
    assert result.returncode == 2
    assert "already holds slapolicy.toml" in result.stderr and "--force" in result.stderr
    assert "Traceback" not in result.stderr


def test_found_from_a_subfolder_and_paths_relative_to_the_file(workspace: Path) -> None:
    assert find_workspace(workspace / "policies") == workspace / "slapolicy.toml"
    ws = load_workspace(workspace / "slapolicy.toml")
    assert ws.policy == workspace / "policies" / "sla.yaml"
    assert ws.audits_root == workspace / "audits"
    assert ws.data == str(workspace / "data" / "demo.duckdb")
    assert ws.cell_seconds == 1800
    assert ws.audit_notebook() == workspace / "notebooks" / "audit.ipynb"


def test_pyproject_tool_table_is_a_workspace(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.slapolicy]\npolicy = "p/sla.yaml"\n\n'
        '[tool.slapolicy.data]\nsource = "../crm"\nzone = "Europe/London"\n')
    (tmp_path / "sub").mkdir()
    found = find_workspace(tmp_path / "sub")
    assert found == tmp_path / "pyproject.toml"
    ws = load_workspace(found)
    assert ws.policy == tmp_path / "p" / "sla.yaml"
    assert ws.data == str((tmp_path.parent / "crm").resolve())
    assert ws.data_zone == "Europe/London"
    assert ws.audit_notebook() == packaged_notebook()  # no copy of its own


def test_a_pyproject_without_the_table_is_not_a_workspace(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_workspace(tmp_path) is None


@pytest.mark.parametrize("text, line, key, fix", [
    ('policy = "p.yaml"\n\n[data]\nsource = "d"\nzone_name = "UTC"\n', 5, "data.zone_name",
     "did you mean 'zone'?"),
    ('policy = "p.yaml"\n[limits]\ncell_seconds = "ten"\n', 3, "limits.cell_seconds",
     "write cell_seconds = 600"),
    ('locale = "de"\n', 1, "locale", "use one of en, tr, zh, fa, pl, ko"),
    ('[notify.email]\nhost = "smtp"\nfrom = "a@b"\nto = ["c@d"]\npassword = "hunter2"\n', 5,
     "notify.email.password", 'password_env = "SLAPOLICY_..."'),
    ('policy = "p.yaml"\npolicy = "q.yaml"\n', 2, None, "fix the TOML syntax"),
    ('[data]\nsource = "postgresql://u:pw@db:5432/crm"\n', 2, "data.source",
     "SLAPOLICY_PG_PASSWORD"),
])
def test_mistakes_name_the_file_line_key_and_fix(tmp_path: Path, text: str, line: int,
                                                 key: str | None, fix: str) -> None:
    path = tmp_path / "slapolicy.toml"
    path.write_text(text)
    with pytest.raises(WorkspaceError) as e:
        load_workspace(path)
    assert e.value.line == line
    assert e.value.key == key
    assert fix in (e.value.hint or "")
    assert str(e.value).startswith(f"{path}:{line}")


def test_a_broken_workspace_file_exits_2_with_where_and_fix(tmp_path: Path) -> None:
    (tmp_path / "slapolicy.toml").write_text('[data]\nsorce = "x"\n')
    result = run("check-data", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'slapolicy.toml'}:2 at data.sorce: "
                                    "unknown key 'sorce' in [data]")
    assert "fix: did you mean 'source'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_commands_take_defaults_from_the_workspace_and_options_win(workspace: Path,
                                                                   tmp_path: Path) -> None:
    from slapolicy.demo.generate import DemoConfig, generate, write_duckdb

    write_duckdb(generate(DemoConfig(months=1, leads_per_month=60, seed=3)),
                 workspace / "data" / "demo.duckdb")
    # From a subfolder, no options: the workspace's policy and data.
    inside = run("check-data", cwd=workspace / "notebooks")
    assert inside.returncode in (0, 1), inside.stderr
    assert "leads" in inside.stdout
    # An option on the command line wins: this data folder does not exist.
    missing = tmp_path / "nowhere"
    given = run("check-data", "--data", str(missing), cwd=workspace / "notebooks")
    assert given.returncode == 2
    assert str(missing) in given.stderr
    # --workspace from elsewhere finds the same workspace.
    elsewhere = run("--workspace", str(workspace), "compile", cwd=tmp_path)
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert "our-sla" in elsewhere.stdout and str(workspace / "expectations") in elsewhere.stdout


def test_outside_a_workspace_options_are_required(tmp_path: Path) -> None:
    result = run("check-data", cwd=tmp_path)
    assert result.returncode == 2
    assert "Missing option '--policy'" in result.stderr


def test_workspace_option_without_a_workspace_exits_2(tmp_path: Path) -> None:
    result = run("--workspace", str(tmp_path), "compile", cwd=tmp_path)
    assert result.returncode == 2
    assert "no slapolicy.toml" in result.stderr and "slapolicy init" in result.stderr
