"""Shared fixtures: tiny hand-made datasets in the contract's shape."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from slapolicy.engine.contract import TABLES

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "policies" / "company-a.yaml"

_ARROW = {
    "string": pa.string(), "timestamp": pa.timestamp("us", tz="UTC"), "date": pa.date32(),
    "int64": pa.int64(), "float64": pa.float64(), "boolean": pa.bool_(),
}

PEOPLE = [
    {"person_id": "rep-ny", "name": "Rep NY", "team": "sales", "role": "rep",
     "region": "us-east", "time_zone": "America/New_York"},
    {"person_id": "rep-la", "name": "Rep LA", "team": "sales", "role": "rep",
     "region": "us-west", "time_zone": "America/Los_Angeles"},
    {"person_id": "rep-uk", "name": "Rep UK", "team": "sales", "role": "rep",
     "region": "emea", "time_zone": "Europe/London"},
    {"person_id": "mkt-1", "name": "Marketer", "team": "marketing", "role": "marketer",
     "region": "us-east", "time_zone": "America/New_York"},
]

LEAD_DEFAULTS: dict[str, Any] = {
    "source": "content", "marketer_id": "mkt-1", "owner_id": "rep-ny",
    "followup_requested": True, "journey_stage": "decision", "conversion": "demo_request",
    "industry": "software", "company_size": "201-1000", "department": "it",
    "job_title": "cio", "technology": "cloud", "content_fit": "high",
    "fit_score": 70, "interest_score": 60,
}


def table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    spec = TABLES[name]
    schema = pa.schema([(c.name, _ARROW[c.type]) for c in spec.columns])
    cols = {c.name: [r.get(c.name) for r in rows] for c in spec.columns}
    return pa.table(cols, schema=schema)


@pytest.fixture
def make_dataset(tmp_path: Path) -> Callable[..., Path]:
    """Write a folder of contract CSVs; tables not given are empty (people defaults)."""

    def make(folder: str = "data", **tables: list[dict[str, Any]]) -> Path:
        out = tmp_path / folder
        out.mkdir(parents=True, exist_ok=True)
        tables.setdefault("people", PEOPLE)
        if "leads" in tables:
            tables["leads"] = [{**LEAD_DEFAULTS, **r} for r in tables["leads"]]
        for name in TABLES:
            pacsv.write_csv(table(name, tables.get(name, [])), out / f"{name}.csv")
        return out

    return make


def policy_with(clauses_yaml: str, *, keep_speed_to_lead: bool = False):
    """Company A's policy with its clauses replaced by ``clauses_yaml``.

    ``clauses_yaml`` is YAML for list items, indented as under ``clauses:`` (4 spaces
    before ``- id:``). The result is never compiled: audit it with ``compiled=False``.
    """
    from slapolicy.policy.loader import parse_policy

    text = POLICY.read_text()
    head, rest = text.split("  clauses:\n", 1)
    tail = rest[rest.index("\n  rewards:"):]
    body = rest[: rest.index("\n  rewards:")] if keep_speed_to_lead else ""
    new = head + "  clauses:\n" + body + ("\n" if body else "") + clauses_yaml.rstrip() + tail
    return parse_policy(without_goal_references(new), source="test-policy.yaml",
                        base_dir=POLICY.parent)


def without_goal_references(text: str) -> str:
    """Drop goals, shared goals and reward requirements that name Company A's clauses."""
    import re

    start = text.index("    items:\n", text.index("  goals:\n"))
    end = text.index("\n  ramps:")
    text = text[:start] + "    items: []" + text[end:]
    text = re.sub(r"^  shared_goals: \[.*\]$", "  shared_goals: []", text, flags=re.M)
    return re.sub(r"^(\s+)requires: \[.*\]$", r"\1requires: []", text, flags=re.M)


def audit_with(doc, data: Path, period: str, as_of=None):
    """Audit ``doc`` on ``data`` for ``period`` without a compiled suite."""
    from slapolicy.audit.run import AuditRequest, audit_document

    return audit_document(doc, AuditRequest(POLICY, period, data, as_of=as_of), compiled=False)
