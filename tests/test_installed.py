"""Works installed: build the wheel, install it into a fresh virtual environment, and use
it from empty folders outside the repository as a new user would.

The fresh environment gets the wheel (``--no-deps``) and reads the project's
dependencies from this environment's site-packages through a ``.pth`` line (a plain
path: the editable install's own ``.pth`` there is not processed, so ``slapolicy`` can
only come from the wheel). Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _sh(*args: str | Path, cwd: Path, env: dict[str, str] | None = None,
        timeout: int = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                            env=env, timeout=timeout)
    assert result.returncode == 0, f"{args}: exit {result.returncode}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("installed")
    # A copy of the sources (symlinks resolved), so the build writes nothing in the checkout.
    src = base / "src-copy"
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, src / name)
    shutil.copytree(ROOT / "src", src / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = base / "dist"
    _sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--disable-pip-version-check", "-q", "-w", dist, src, cwd=base)
    [wheel] = dist.glob("slapolicy-*.whl")
    venv = base / "venv"
    _sh(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base)
    python = venv / "bin" / "python"
    _sh(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
        "--disable-pip-version-check", "-q", wheel, cwd=base)
    site = Path(_sh(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                    cwd=base).stdout.strip())
    (site / "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return {"base": base, "venv": venv, "python": python, "wheel": wheel,
            "slapolicy": venv / "bin" / "slapolicy"}


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "VIRTUAL_ENV", "SLAPOLICY_WORKSPACE")}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_package_comes_from_the_wheel(installed: dict[str, Path]) -> None:
    out = _sh(installed["python"], "-c",
              "import slapolicy, slapolicy.workspace as w; print(slapolicy.__file__); "
              "print(w.packaged_notebook()); print(w.packaged_example())",
              cwd=installed["base"], env=_env()).stdout.split()
    venv = str(installed["venv"])
    assert all(line.startswith(venv) for line in out), out
    assert Path(out[1]).is_file() and not Path(out[1]).is_symlink()
    assert _sha(Path(out[1])) == _sha(ROOT / "notebooks" / "audit.ipynb")
    assert _sha(Path(out[2])) == _sha(ROOT / "policies" / "company-a.yaml")


def test_init_demo_and_an_audit_from_empty_folders(installed: dict[str, Path]) -> None:
    exe, env, base = installed["slapolicy"], _env(), installed["base"]
    assert ROOT not in base.parents

    # slapolicy demo in an empty folder: the policy and notebook come from the package.
    demo = base / "demo"
    demo.mkdir()
    _sh(exe, "demo", "--months", "1", "--leads-per-month", "150", cwd=demo, env=env)
    first = demo / "audits" / "company-a" / "2020-01"
    assert (demo / "policies" / "company-a.yaml").read_bytes() == \
        (ROOT / "policies" / "company-a.yaml").read_bytes()
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["notebook"]["kind"] == "packaged"
    assert manifest["notebook"]["sha256"] == _sha(ROOT / "notebooks" / "audit.ipynb")
    assert (first / "audit.html").is_file()

    # slapolicy init, then an audit from a subfolder with the workspace's defaults.
    _sh(exe, "init", "ws", cwd=base, env=env)
    ws = base / "ws"
    (ws / "data").mkdir()
    shutil.copyfile(demo / "data" / "demo.duckdb", ws / "data" / "demo.duckdb")
    toml = ws / "slapolicy.toml"
    toml.write_text(toml.read_text().replace('policy = "policies/sla.yaml"',
                                             'policy = "policies/company-a.yaml"'))
    result = subprocess.run([str(exe), "audit", "--period", "2020-01", "--json"],
                            cwd=ws / "policies", capture_output=True, text=True, env=env,
                            timeout=600)
    assert result.returncode == 1, result.stderr  # the demo's January fails clauses
    doc = json.loads(result.stdout)
    [run] = doc["runs"]
    audit = ws / "audits" / "company-a" / "2020-01"
    assert run["audit"]["folder"] == str(audit)
    results = json.loads((audit / "results.json").read_text())
    assert run["status"] == results["summary"]["status"] == "fail"
    # The workspace's own notebook ran, and the manifest says so.
    manifest = json.loads((audit / "manifest.json").read_text())
    assert manifest["notebook"]["kind"] == "file"
    assert manifest["notebook"]["sha256"] == _sha(ws / "notebooks" / "audit.ipynb")
    # Same policy, data and period as the demo's audit: the same findings, byte for byte
    # (results.json also names where the data file was read from, which differs).
    for name in ("breaches.csv", "audit.body.html"):
        assert (audit / name).read_bytes() == (first / name).read_bytes(), name
    earlier = json.loads((first / "results.json").read_text())
    for key in ("summary", "clauses", "standing", "period", "policy"):
        assert results[key] == earlier[key], key
    verify = _sh(exe, "verify", "--all", cwd=ws, env=env)
    assert "chain intact" in verify.stdout
