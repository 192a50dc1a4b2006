"""Custom clause kinds: a module beside the policy, and a package's entry point."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import pytest

from slapolicy.clauses.registry import ClauseRegistry
from slapolicy.engine.suites import compile_suite
from slapolicy.errors import PolicyError
from slapolicy.policy.loader import parse_policy
from tests.conftest import POLICY, audit_with

CLAUSE = """
    - id: big-deal-proposal
      kind: big_deal_proposal
      title: Deals of $100,000 or more get a proposal within 14 days
      owner: sales
      params: {min_amount: 100000, within_days: 14}
"""


def policy_text(plugins: str = "[plugins/big_deals.py]") -> str:
    text = POLICY.read_text()
    text = text.replace("  clauses:\n", f"  plugins: {plugins}\n  clauses:\n" + CLAUSE, 1)
    return text


def z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_plugin_kind_audits_like_a_builtin(make_dataset) -> None:
    doc = parse_policy(policy_text(), source="p.yaml", base_dir=POLICY.parent)
    leads = [{"lead_id": f"L{i}", "created_at": z("2020-02-01T10:00:00Z")} for i in range(4)]
    opps = [
        # id, amount, created, proposal
        ("O1", 150_000.0, "2020-03-02T15:00:00Z", "2020-03-16T15:00:00Z"),  # exactly 14 days
        ("O2", 150_000.0, "2020-03-02T15:00:00Z", "2020-03-20T15:00:00Z"),  # 18 days
        ("O3", 50_000.0, "2020-03-02T15:00:00Z", None),                      # small deal
        ("O4", 120_000.0, "2020-03-25T15:00:00Z", None),                     # not yet due
    ]
    data = make_dataset(leads=leads, opportunities=[
        {"opportunity_id": o, "lead_id": f"L{i}", "rep_id": "rep-ny", "created_at": z(c),
         "proposal_submitted_at": z(p) if p else None, "amount": a, "status": "open"}
        for i, (o, a, c, p) in enumerate(opps)])
    result = audit_with(doc, data, "2020-03", as_of=datetime(2020, 3, 31, 20))
    clause = next(c for c in result.clauses if c.clause_id == "big-deal-proposal")
    assert (clause.status, clause.subjects, clause.breaches, clause.pending) == ("fail", 2, 1, 1)
    # O1, O2 and O4 are big deals created in March; O4 (6.2 days so far) is still open.
    assert clause.checks["proposal"]["in_scope"] == 3
    assert clause.checks["proposal"]["threshold_rule"] == {
        "value": 14.0, "basis": "within 14 days of creation"}
    (breach,) = [b for b in result.read_breaches() if b.clause_id == "big-deal-proposal"]
    assert (breach.subject_id, breach.observed, breach.threshold) == ("O2", 18.0, 14.0)
    ge = clause.checks["proposal"]["great_expectations"]
    assert ge["expectation"] == "expect_column_values_to_be_between"


def test_plugin_expectation_is_compiled_with_its_threshold() -> None:
    doc = parse_policy(policy_text(), source="p.yaml", base_dir=POLICY.parent)
    suite = compile_suite(doc)
    assert '"max_value": 14.0' in suite and "big-deal-proposal" in suite


def test_plugin_code_is_part_of_the_policy_hash(tmp_path: Path) -> None:
    (tmp_path / "plugins").mkdir()
    source = (POLICY.parent / "plugins" / "big_deals.py").read_text()
    plugin = tmp_path / "plugins" / "big_deals.py"
    plugin.write_text(source)
    first = parse_policy(policy_text(), base_dir=tmp_path).content_hash
    plugin.write_text(source + "\n# changed\n")
    assert parse_policy(policy_text(), base_dir=tmp_path).content_hash != first


def test_missing_or_broken_plugin_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"plug-in file 'plugins/nope\.py' not found"):
        parse_policy(policy_text("[plugins/nope.py]"), base_dir=POLICY.parent)
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(PolicyError, match=r"plug-in 'broken\.py' failed to import: RuntimeError: boom"):
        parse_policy(policy_text("[broken.py]"), base_dir=tmp_path)


def test_entry_point_kinds_are_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real installed distribution (dist-info on sys.path) declaring the entry point.
    (tmp_path / "acme_clauses.py").write_text(
        "from slapolicy.clauses.speed_to_lead import SpeedToLead\n"
        "class AcmeSpeed(SpeedToLead):\n    name = 'acme_speed'\n")
    dist = tmp_path / "acme_clauses-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-clauses\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[slapolicy.clauses]\nacme_speed = acme_clauses:AcmeSpeed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = ClauseRegistry()
    assert "acme_speed" in registry.names()
    assert "speed_to_lead" in registry.names()
    sys.modules.pop("acme_clauses", None)


def test_the_loaded_version_of_a_plugin_file_is_the_one_that_measures(tmp_path: Path) -> None:
    """Two versions of one plug-in file loaded in turn, then the first again: its kinds
    must be registered again (a cached module must not leave the other version's code)."""
    from slapolicy.clauses.registry import registry

    folder = tmp_path / "plugins"
    folder.mkdir()
    source = (POLICY.parent / "plugins" / "big_deals.py").read_text()
    marker = 'name = "big_deal_proposal"'
    assert marker in source

    def load(version: str) -> object:
        (folder / "big_deals.py").write_text(source.replace(
            marker, f"{marker}\n    version = {version!r}"))
        (tmp_path / "p.yaml").write_text(policy_text())
        parse_policy(policy_text(), source="p.yaml", base_dir=tmp_path)
        return getattr(registry.get("big_deal_proposal"), "version", None)

    assert load("one") == "one"
    assert load("two") == "two"
    assert load("one") == "one"
