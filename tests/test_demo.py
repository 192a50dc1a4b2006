"""The demo generator: reproducible, faithful to the data contract, realistic."""

from __future__ import annotations

import hashlib
import re
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pytest

from slapolicy.demo.generate import DemoConfig, generate, performance_curve, write_duckdb, write_folder
from slapolicy.engine.contract import TABLES
from slapolicy.errors import PeriodError

SMALL = DemoConfig(months=3, leads_per_month=600, seed=7)

ARROW_TYPES = {
    "string": pa.string(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "boolean": pa.bool_(),
}


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return generate(SMALL)


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _rows(table: pa.Table) -> list[dict]:
    return table.to_pylist()


# --- reproducibility -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_same_config_gives_identical_bytes(tmp_path: Path, fmt: str) -> None:
    first = _digests(write_folder(generate(SMALL), tmp_path / "a", fmt))
    second = _digests(write_folder(generate(SMALL), tmp_path / "b", fmt))
    assert first == second
    assert sorted(first) == sorted(f"{name}.{fmt}" for name in TABLES)


def test_different_seed_gives_different_data(tmp_path: Path) -> None:
    other = DemoConfig(months=SMALL.months, leads_per_month=SMALL.leads_per_month, seed=8)
    a = _digests(write_folder(generate(SMALL), tmp_path / "a", "parquet"))
    b = _digests(write_folder(generate(other), tmp_path / "b", "parquet"))
    assert a["leads.parquet"] != b["leads.parquet"]
    assert a["activities.parquet"] != b["activities.parquet"]
    assert a["people.parquet"] == b["people.parquet"]  # the cast does not depend on the seed


# --- the contract ----------------------------------------------------------------------


def test_every_contract_table_with_its_columns_and_types(tables: dict[str, pa.Table]) -> None:
    assert list(tables) == list(TABLES)
    for name, spec in TABLES.items():
        schema = tables[name].schema
        assert schema.names == spec.column_names, name
        for col in spec.columns:
            assert schema.field(col.name).type == ARROW_TYPES[col.type], (name, col.name)
        assert tables[name].num_rows > 0, name


def test_keys_are_unique_and_rows_sorted_by_key(tables: dict[str, pa.Table]) -> None:
    for name, spec in TABLES.items():
        keys = list(zip(*(tables[name].column(k).to_pylist() for k in spec.key), strict=True))
        assert len(set(keys)) == len(keys), name
        assert keys == sorted(keys), name


def test_foreign_keys_resolve(tables: dict[str, pa.Table]) -> None:
    for name, spec in TABLES.items():
        for column, target, target_column in spec.references:
            known = set(tables[target].column(target_column).to_pylist())
            used = set(tables[name].column(column).drop_null().to_pylist())
            assert used <= known, (name, column, sorted(used - known)[:5])
    people = set(tables["people"].column("person_id").to_pylist())
    for column in ("requested_by", "responded_by"):
        assert set(tables["feedback"].column(column).drop_null().to_pylist()) <= people


def test_allowed_values_minimums_and_nulls(tables: dict[str, pa.Table]) -> None:
    for name, spec in TABLES.items():
        table = tables[name]
        for col in spec.columns:
            values = table.column(col.name)
            if not col.nullable:
                assert values.null_count == 0, (name, col.name)
            if col.allowed is not None:
                assert set(values.drop_null().to_pylist()) <= set(col.allowed), (name, col.name)
            if col.min_value is not None:
                assert pc.min(values).as_py() >= col.min_value, (name, col.name)


def test_lead_vocabularies(tables: dict[str, pa.Table]) -> None:
    leads = tables["leads"]

    def values(col: str) -> set[str]:
        return set(leads.column(col).drop_null().to_pylist())

    assert values("source") == {"referral", "content", "webinar", "web_sales_ready",
                                "paid_search"}
    assert values("conversion") <= {"demo_request", "assessment", "consultation"}
    assert values("return_reason") == {"no_response", "not_a_fit", "timing", "junk"}
    assert values("nurture_track") <= {"awareness", "consideration", "decision"}
    assert values("owner_id") <= {p for p in tables["people"].column("person_id").to_pylist()
                                  if p.startswith("rep-")}
    assert pc.max(leads.column("fit_score")).as_py() <= 100
    assert pc.max(leads.column("interest_score")).as_py() <= 100
    stages = set(tables["opportunity_stages"].column("stage").to_pylist())
    assert stages <= {"discovery", "proposal", "negotiation", "closed_won", "closed_lost"}


def test_lifecycles_run_forward_and_stop_at_the_export(tables: dict[str, pa.Table]) -> None:
    as_of = datetime.fromisoformat(f"{SMALL.end_day.isoformat()}T00:00:00+00:00")
    for name, spec in TABLES.items():
        for col in spec.columns:
            if col.type == "timestamp":
                latest = pc.max(tables[name].column(col.name)).as_py()
                assert latest is None or latest < as_of, (name, col.name)
    leads = {r["lead_id"]: r for r in _rows(tables["leads"])}
    for r in leads.values():
        assert r["mql_at"] is None or r["mql_at"] >= r["created_at"]
        assert (r["notified_at"] is None) == (r["owner_id"] is None)
        assert r["notified_at"] is None or r["notified_at"] >= r["mql_at"]
        assert r["returned_at"] is not None or r["return_reason"] is None
        assert r["nurture_enrolled_at"] is None or r["nurture_enrolled_at"] > r["returned_at"]
    first_touch: dict[str, datetime] = {}
    for a in _rows(tables["activities"]):
        lead = leads[a["lead_id"]]
        assert a["rep_id"] == lead["owner_id"]
        assert a["occurred_at"] > lead["notified_at"]
        first_touch.setdefault(a["lead_id"], a["occurred_at"])
    for r in leads.values():
        if r["sql_at"] is not None:
            assert r["sql_at"] > first_touch[r["lead_id"]]
    opps = {o["opportunity_id"]: o for o in _rows(tables["opportunities"])}
    for o in opps.values():
        lead = leads[o["lead_id"]]
        assert o["rep_id"] == lead["owner_id"] and o["created_at"] > lead["sql_at"]
        assert (o["closed_at"] is None) == (o["status"] == "open")
        assert o["closed_at"] is None or o["closed_at"] > o["created_at"]
    for s in _rows(tables["opportunity_stages"]):
        assert s["entered_at"] >= opps[s["opportunity_id"]]["created_at"]


# --- realism ---------------------------------------------------------------------------


def test_realistic_shares(tables: dict[str, pa.Table]) -> None:
    people = _rows(tables["people"])
    reps = [p for p in people if p["role"] == "rep"]
    assert {p["team"] for p in reps} == {"sales"}
    assert len({p["time_zone"] for p in reps}) >= 3
    assert {p["role"] for p in people} >= {"rep", "marketer", "team_lead", "cmo", "cso", "ceo"}

    leads = _rows(tables["leads"])
    hq = ZoneInfo("America/New_York")
    local = [r["created_at"].astimezone(hq) for r in leads]
    after_hours = sum(t.weekday() >= 5 or not 9 <= t.hour < 17 for t in local) / len(leads)
    assert 0.12 < after_hours < 0.35

    notified = [r for r in leads if r["notified_at"] is not None]
    touched = set(tables["activities"].column("lead_id").to_pylist())
    never = sum(r["lead_id"] not in touched for r in notified) / len(notified)
    assert 0.0 < never < 0.08
    mql_share = sum(r["mql_at"] is not None for r in leads) / len(leads)
    assert 0.25 < mql_share < 0.5
    followup = sum(r["followup_requested"] for r in leads) / len(leads)
    assert 0.3 < followup < 0.5
    # Out-of-scope follow-up requests exist, so the audit's scope filter matters.
    assert any(r["followup_requested"] and r["source"] == "webinar" for r in leads)
    assert any(r["returned_at"] is not None and r["nurture_enrolled_at"] is None
               for r in leads)


def test_most_leads_notified_in_office_hours_are_touched_within_the_hour(
        tables: dict[str, pa.Table]) -> None:
    # An independent, calendar-free look: a lead notified on a weekday between 09:00 and
    # 16:00 in the rep's zone should mostly be touched within 60 wall-clock minutes.
    zones = {p["person_id"]: ZoneInfo(p["time_zone"]) for p in _rows(tables["people"])}
    first: dict[str, datetime] = {}
    for a in _rows(tables["activities"]):
        first.setdefault(a["lead_id"], a["occurred_at"])
    fast = total = 0
    for r in _rows(tables["leads"]):
        if r["notified_at"] is None or r["lead_id"] not in first:
            continue
        local = r["notified_at"].astimezone(zones[r["owner_id"]])
        if local.weekday() < 5 and 9 <= local.hour < 16:
            total += 1
            fast += (first[r["lead_id"]] - r["notified_at"]).total_seconds() <= 3600
    assert total > 100
    assert 0.7 < fast / total < 0.97


def test_meetings_feedback_and_traffic(tables: dict[str, pa.Table]) -> None:
    meetings = _rows(tables["meetings"])
    weekly = [m for m in meetings if m["kind"] == "leadership_weekly"]
    monthly = [m for m in meetings if m["kind"] == "teams_monthly"]
    assert 9 <= len(weekly) <= 14 and 1 <= len(monthly) <= SMALL.months
    assert max(m["duration_minutes"] for m in weekly) == 30
    assert max(m["duration_minutes"] for m in monthly) == 60
    feedback = _rows(tables["feedback"])
    assert 25 * SMALL.months <= len(feedback) <= 55 * SMALL.months
    assert all(f["from_team"] != f["to_team"] for f in feedback)
    traffic = tables["web_traffic"]
    assert traffic.num_rows == (SMALL.end_day - SMALL.first_day).days
    assert pc.min(traffic.column("visitors")).as_py() >= 1_500
    assert pc.max(traffic.column("visitors")).as_py() <= 7_000


def test_default_config_tells_the_story_quickly() -> None:
    started = time.perf_counter()
    tables = generate()
    assert time.perf_counter() - started < 10  # a few seconds, even on a slow runner
    won = tables["opportunities"].filter(pc.equal(tables["opportunities"]["status"], "won"))
    revenue: dict[str, float] = {}
    for o in _rows(won):
        month = o["closed_at"].strftime("%Y-%m")
        revenue[month] = revenue.get(month, 0.0) + o["amount"]
    months = [f"2020-{m:02d}" for m in range(1, 7)]
    assert 800_000 <= revenue["2020-01"] <= 1_050_000
    assert all(revenue[m] < 1_250_000 for m in months[:5])
    assert revenue["2020-06"] >= 1_250_000
    # Rep loads: mostly within 150-350 MQLs a month, with outliers in some months.
    loads: dict[tuple[str, str], int] = {}
    for r in _rows(tables["leads"].select(["owner_id", "notified_at"])):
        if r["notified_at"] is not None and r["notified_at"].year == 2020:
            key = (r["owner_id"], r["notified_at"].strftime("%Y-%m"))
            loads[key] = loads.get(key, 0) + 1
    inside = sum(130 <= n <= 350 for n in loads.values()) / len(loads)
    assert inside > 0.8
    assert max(loads.values()) > 300 and min(loads.values()) < 130


def test_performance_shapes_the_months() -> None:
    config = DemoConfig(months=4, leads_per_month=800, seed=11,
                        performance=(0.0, 0.0, 1.0, 1.0))
    opps = _rows(generate(config)["opportunities"])
    revenue: dict[str, float] = {}
    for o in opps:
        if o["status"] == "won":
            month = o["closed_at"].strftime("%Y-%m")
            revenue[month] = revenue.get(month, 0.0) + o["amount"]
    assert revenue["2020-03"] > 1.3 * revenue["2020-01"]
    assert revenue["2020-04"] > 1.3 * revenue["2020-02"]


def test_built_in_curve_and_config_checks() -> None:
    curve = performance_curve(8)
    assert len(curve) == 8 and all(0 <= p <= 1 for p in curve)
    assert curve[0] < curve[4] < curve[5]
    assert DemoConfig().levels == performance_curve(6)
    with pytest.raises(PeriodError):
        DemoConfig(start="2020-13")
    with pytest.raises(ValueError, match="one level per month"):
        DemoConfig(months=2, performance=(0.5,))
    with pytest.raises(ValueError, match=r"within \[0, 1\]"):
        DemoConfig(months=1, performance=(1.5,))


# --- writers ---------------------------------------------------------------------------


def test_csv_is_iso_with_offset_and_round_trips(tables: dict[str, pa.Table],
                                                tmp_path: Path) -> None:
    folder = write_folder(tables, tmp_path, "csv")
    first_row = (folder / "leads.csv").read_text().splitlines()[1]
    assert re.search(r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"', first_row)
    for name, spec in TABLES.items():
        types = {c.name: ARROW_TYPES[c.type] for c in spec.columns}
        back = pcsv.read_csv(folder / f"{name}.csv",
                             convert_options=pcsv.ConvertOptions(column_types=types,
                                                                 strings_can_be_null=True))
        for col in spec.column_names:
            assert back.column(col).equals(tables[name].column(col)), (name, col)


def test_write_duckdb_holds_every_table(tables: dict[str, pa.Table], tmp_path: Path) -> None:
    path = write_duckdb(tables, tmp_path / "demo.duckdb")
    path = write_duckdb(tables, path)  # replacing an existing file works too
    assert not path.with_suffix(".tmp").exists()
    con = duckdb.connect(str(path), read_only=True)
    try:
        for name, table in tables.items():
            count = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()
            assert count is not None and count[0] == table.num_rows, name
        columns = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'leads'").fetchall()
    finally:
        con.close()
    assert dict(columns)["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert [c for c, _ in columns] == TABLES["leads"].column_names
