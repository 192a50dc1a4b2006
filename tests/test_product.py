"""The product speaks for itself: no reference to material outside the repository, a
licence that matches the package metadata, and a docs site that builds strictly."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import ROOT

#: Words that point at material users do not have (a shared folder, source articles
#: called "seeds", a domain notes file). A random-number seed is fine.
# The folder's name is built, so that this file does not name it itself.
_UP = r"\.\./" + "sha" + "red"
OUTSIDE = re.compile(_UP + r"|\bshared/|\bseeds\b|\bseeds'|\bseed example|domain\.md", re.I)
SKIP_DIRS = {".git", ".venv", "build", "site", "data", "audits", "__pycache__", ".pytest_cache",
             ".ruff_cache", ".mypy_cache", ".ipynb_checkpoints"}
THIS = Path(__file__).resolve()


def _files() -> list[Path]:
    out = []
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts):
            continue
        if path.is_file() and not path.is_symlink() and path.resolve() != THIS:
            out.append(path)
    return out


def test_nothing_refers_to_material_outside_the_repository() -> None:
    found = []
    files = _files()
    assert len(files) > 100  # the walk really sees the repository
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # images
        for n, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert found == []


def test_the_pattern_catches_what_it_is_for() -> None:
    for bad in ("see .." + "/sha" + "red/domain.md", "the seeds' Company A", "The seeds name these",
                "encodes the seed example"):
        assert OUTSIDE.search(bad), bad
    for fine in ("--seed 7", "seed: int = 20200101", "shared_goals: [a]", "owner: shared"):
        assert not OUTSIDE.search(fine), fine


def test_licence_file_matches_the_package_metadata() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_docs_site_builds_strictly(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                             "-f", str(ROOT / "mkdocs.yml"), "-d", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for page in ("install", "workspace", "policy", "data-contract", "crm-exports", "audit-page",
                 "review-meetings", "audit-trail", "scheduling", "performance", "guarantees",
                 "sla"):
        assert (tmp_path / "site" / page / "index.html").is_file(), page


def test_docs_nav_lists_every_page() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in (ROOT / "docs").glob("*.md"):
        assert f" {page.name}" in nav, page.name
