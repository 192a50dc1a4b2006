"""Spark as the engine: Parquet files read in place by a real local Spark session
(``spark:/folder``), the loader's rules and every clause run in Spark, and the same
files give the same results as the embedded DuckDB.

The session is Spark's own (``local[2]``, bound to loopback, no web UI); it needs a Java
17 runtime, which ``.ci/run`` installs.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from slapolicy.engine.context import Engine
from slapolicy.engine.sources import DataSource
from tests.conftest import LEAD_DEFAULTS, PEOPLE, table

POLICY = Path(__file__).resolve().parents[1] / "policies" / "company-a.yaml"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def spark() -> Iterator[None]:
    if shutil.which("java") is None:
        if os.environ.get("CI"):
            pytest.fail("no Java runtime; .ci/run installs openjdk-17-jre-headless")
        pytest.skip("no Java runtime here (apt-get install openjdk-17-jre-headless)")
    yield
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()


def _parquet_folder(folder: Path, tables: dict[str, pa.Table]) -> Path:
    folder.mkdir(parents=True)
    for name, t in tables.items():
        pq.write_table(t, folder / f"{name}.parquet")
    return folder


def z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_bad_rows_are_set_aside_by_spark_as_by_the_embedded_engine(tmp_path: Path) -> None:
    leads = [{**LEAD_DEFAULTS, "lead_id": "L1", "created_at": z("2020-03-02T14:00:00Z")},
             {**LEAD_DEFAULTS, "lead_id": "L2", "created_at": z("2020-03-03T14:00:00Z"),
              "owner_id": "rep-zz"},                                   # unknown person
             {**LEAD_DEFAULTS, "lead_id": "L3", "created_at": z("2020-03-03T14:00:00Z"),
              "journey_stage": "purchase"}]                            # not an allowed value
    acts = [{"activity_id": "A1", "lead_id": "L1", "rep_id": "rep-ny", "kind": "call",
             "occurred_at": z("2020-03-02T15:00:00Z")},
            {"activity_id": "A1", "lead_id": "L1", "rep_id": "rep-ny", "kind": "email",
             "occurred_at": z("2020-03-02T16:00:00Z")},                # duplicate key
            {"activity_id": "A2", "lead_id": "L2", "rep_id": "rep-ny", "kind": "call",
             "occurred_at": z("2020-03-02T15:00:00Z")},                # its lead set aside
            {"activity_id": "A3", "lead_id": "L1", "rep_id": "rep-ny", "kind": "call",
             "occurred_at": z("2031-03-02T15:00:00Z")}]                # in the future
    folder = _parquet_folder(tmp_path / "pq", {
        "people": table("people", PEOPLE), "leads": table("leads", leads),
        "activities": table("activities", acts)})
    now = datetime(2026, 1, 1)
    needs = {"leads": frozenset({"lead_id"}), "activities": frozenset({"activity_id"})}
    embedded = Engine.from_source(DataSource.from_arg(folder), not_after=now, needs=needs)
    spark = Engine.from_source(DataSource.from_arg(f"spark:{folder}"), not_after=now,
                               needs=needs)
    query = 'SELECT "table", "key", "column", reason FROM _quarantine ORDER BY ALL'
    expected = embedded.local.execute(query).fetchall()
    assert [r[3] for r in expected] == [
        "duplicate key (every row with it is set aside)",
        "duplicate key (every row with it is set aside)",
        "its row in leads was set aside", "in the future (after 2026-01-01 00:00:00Z, when "
        "the audit ran)", "not in people", "not one of: awareness, consideration, decision"]
    assert spark.local.execute(query).fetchall() == expected
    for name, counts in spark.load.tables.items():
        assert counts.read == counts.used + counts.quarantined, name
    assert ({n: (t.read, t.used) for n, t in spark.load.tables.items()}
            == {n: (t.read, t.used) for n, t in embedded.load.tables.items()})
    assert spark.content_hashes() == embedded.content_hashes()


def test_an_audit_on_spark_gives_the_results_of_the_embedded_engine(tmp_path: Path) -> None:
    from slapolicy.audit.run import AuditRequest, audit_period
    from slapolicy.demo import generate as demo

    tables = demo.generate(demo.DemoConfig(start="2020-01", months=2, leads_per_month=150,
                                           seed=11))
    folder = _parquet_folder(tmp_path / "pq", tables)
    out = {}
    for name, data in (("duckdb", str(folder)), ("spark", f"spark:{folder}")):
        result = audit_period(AuditRequest(POLICY, "2020-02", data, output=tmp_path / name,
                                           as_of=datetime(2020, 3, 15)))
        result.write(tmp_path / name)
        out[name] = json.loads((tmp_path / name / "results.json").read_text())
    duck, spark = out["duckdb"], out["spark"]
    assert spark["data"].pop("kind") == "spark" and duck["data"].pop("kind") == "folder"
    for t in (*duck["data"]["tables"].values(), *spark["data"]["tables"].values()):
        t.pop("source")
    assert spark == duck
    assert sum(c["breaches"] for c in duck["clauses"]) > 20  # a real month, not an empty one
    for f in ("breaches.csv", "quarantine.csv"):
        assert (tmp_path / "spark" / f).read_bytes() == (tmp_path / "duckdb" / f).read_bytes()
