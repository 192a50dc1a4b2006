"""Every control of the review form only changes how facts are judged, never what is
measured: otherwise replaying kept facts under a proposal would be silently wrong."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path

import pytest

from slapolicy.audit.run import AuditRequest, audit_document
from slapolicy.demo import generate as demo
from slapolicy.policy.loader import load_policy, validate_policy
from slapolicy.review.controls import controls_of, plain_of, set_path
from tests.conftest import POLICY

pytestmark = pytest.mark.slow


def facts_of(folder: Path) -> dict[str, tuple[int, str]]:
    index = json.loads((folder / "facts" / "index.json").read_text())
    return {name: (e.get("rows"), e.get("sha256") or e.get("error") or e.get("not_measured"))
            for name, e in index["checks"].items()}


def test_moving_every_control_measures_the_same_facts(tmp_path: Path) -> None:
    data = demo.write_duckdb(
        demo.generate(demo.DemoConfig(start="2020-01", months=6, leads_per_month=200)),
        tmp_path / "demo.duckdb")
    plain, body = plain_of(POLICY)
    moved = copy.deepcopy(plain)
    controls = [c for c in controls_of(plain) if c.path[-2:-1] != ("tolerance",)]
    assert len(controls) > 30
    for c in controls:
        if c.kind == "date":
            new = c.value + timedelta(days=1) if c.value < c.max else c.value - timedelta(days=1)
        else:
            new = c.value * 1.5 if 0 < c.value * 1.5 <= c.max else c.value / 2
            if c.kind == "count":
                new = int(new) if int(new) != c.value else c.value + 1
        set_path(moved, c.path, c.to_policy(new))
    # Rep load's bounds must stay ordered; contact spacing too (the policy checks both).
    other = validate_policy(moved, body, source="moved", base_dir=POLICY.parent)
    assert other.content_hash != load_policy(POLICY).content_hash
    for name, doc in (("base", load_policy(POLICY)), ("moved", other)):
        audit_document(doc, AuditRequest(POLICY, "2020-06", data, output=tmp_path / name),
                       compiled=False)
    base, after = facts_of(tmp_path / "base"), facts_of(tmp_path / "moved")
    assert base.keys() == after.keys() and len(base) > 25
    differ = sorted(k for k in base if base[k] != after[k])
    assert differ == [], f"these checks measured other facts: {differ}"
