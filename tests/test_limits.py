"""Time limits from the command line or the workspace file: a notebook cell that runs past
``--cell-timeout`` (``limits.cell_seconds``) fails the run with exit 3 and says why."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.conftest import ROOT

SLAPOLICY = Path(sys.executable).with_name("slapolicy")


def _sleeping_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("policy = period = data = output = ''")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("import time\ntime.sleep(120)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("how", ["option", "workspace"])
def test_a_cell_past_the_time_limit_fails_the_run_with_exit_3(tmp_path: Path, how: str) -> None:
    notebook = _sleeping_notebook(tmp_path / "slow.ipynb")
    (tmp_path / "data").mkdir()
    args = ["audit", "--policy", str(ROOT / "policies" / "company-a.yaml"), "--period",
            "2020-01", "--data", str(tmp_path / "data"), "--audits", str(tmp_path / "audits"),
            "--notebook", str(notebook), "--json"]
    if how == "option":
        args += ["--cell-timeout", "2"]
    else:
        (tmp_path / "slapolicy.toml").write_text("[limits]\ncell_seconds = 2\n")
    result = subprocess.run([str(SLAPOLICY), *args], cwd=tmp_path, capture_output=True,
                            text=True, timeout=100)
    assert result.returncode == 3, result.stderr
    doc = json.loads(result.stdout)
    assert doc["error"]["exit_code"] == 3
    assert "CellTimeoutError" in doc["error"]["message"]
    assert "after 2 seconds" in doc["error"]["message"]
    assert "cell time limit" in doc["error"]["hint"]
    assert not (tmp_path / "audits" / "company-a" / "2020-01").exists()
