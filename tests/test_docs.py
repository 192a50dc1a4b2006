import re

from slapolicy.engine.contract import TABLES
from tests.conftest import ROOT


def test_data_contract_page_lists_every_table_and_column() -> None:
    text = (ROOT / "docs" / "data-contract.md").read_text()
    for spec in TABLES.values():
        section = text.split(f"## `{spec.name}`", 1)
        assert len(section) == 2, f"docs/data-contract.md has no section for {spec.name}"
        body = section[1].split("\n## ", 1)[0]
        documented = re.findall(r"^\| `([a-z_]+)` \| (\w+) \| (yes|no) \|", body, re.M)
        assert documented == [(c.name, c.type, "yes" if c.nullable else "no")
                              for c in spec.columns], spec.name


def test_readme_quick_start_is_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    block = text.split("## Quick start", 1)[1].split("```", 2)[1]
    commands = [ln for ln in block.splitlines()[1:] if ln.strip()]
    assert commands == ["make demo", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_guarantees_page_names_only_tests_that_exist() -> None:
    text = (ROOT / "docs" / "guarantees.md").read_text()
    named = re.findall(r"`(tests/[a-z_]+\.py)(?:::([a-z0-9_]+))?`", text)
    assert len(named) >= 10
    for path, test in named:
        source = (ROOT / path).read_text()
        assert not test or f"def {test}(" in source, (path, test)
    for test in re.findall(r"`(test_[a-z0-9_]+)`", text):
        assert any(f"def {test}(" in p.read_text() for p in (ROOT / "tests").glob("test_*.py")), test
