"""Reading input data into the engine: CSV, Parquet and DuckDB sources, and their errors."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from slapolicy.engine.context import Engine
from slapolicy.engine.contract import TABLES
from slapolicy.engine.sources import DataSource, load_into
from slapolicy.errors import DataSourceError

# A tiny valid dataset, by hand. New York wall times in early March 2020 (EST, -05:00), one
# after the spring-forward change (EDT, -04:00), and a few already in UTC.
VALID = {
    "people": """\
person_id,name,team,role,region,time_zone
rep-1,Ann Rep,sales,rep,us-east,America/New_York
rep-2,Bob Rep,sales,rep,us-west,America/Los_Angeles
mkt-1,Max Marketer,marketing,marketer,us-east,America/New_York
""",
    "leads": """\
lead_id,created_at,source,marketer_id,owner_id,followup_requested,journey_stage,conversion,\
industry,company_size,department,job_title,technology,content_fit,fit_score,interest_score,\
mql_at,notified_at,sql_at,returned_at,return_reason,nurture_track,nurture_enrolled_at
L1,2020-03-02T09:00:00-05:00,referral,mkt-1,rep-1,true,decision,demo_request,software,\
201-1000,it,cio,cloud,high,70,60,2020-03-02T09:30:00-05:00,2020-03-02T09:35:00-05:00,\
2020-03-03T10:00:00-05:00,,,,
L2,2020-03-06T16:00:00-05:00,content,mkt-1,rep-2,false,awareness,,,,,,,,10,5,,,,,,awareness,\
2020-03-09T09:00:00-04:00
L3,2020-03-09T12:00:00Z,webinar,,,true,consideration,,,,,,,,0,0,,,,,,,
""",
    "activities": """\
activity_id,lead_id,rep_id,kind,occurred_at,outcome
A1,L1,rep-1,call,2020-03-02T10:00:00-05:00,connected
A2,L1,rep-1,email,2020-03-03T09:15:00-05:00,
A3,L2,rep-2,video,2020-03-09T09:05:00-04:00,no_answer
""",
    "opportunities": """\
opportunity_id,lead_id,rep_id,created_at,proposal_submitted_at,amount,closed_at,status
O1,L1,rep-1,2020-03-04T11:00:00-05:00,2020-03-05T11:00:00-05:00,12500.50,,open
O2,L2,rep-2,2020-03-10T11:00:00-04:00,,0,2020-03-11T15:00:00Z,lost
""",
    "opportunity_stages": """\
opportunity_id,stage,entered_at
O1,discovery,2020-03-04T11:00:00-05:00
O1,proposal,2020-03-05T11:00:00-05:00
O2,discovery,2020-03-10T11:00:00-04:00
""",
    "feedback": """\
feedback_id,from_team,to_team,requested_by,requested_at,responded_by,responded_at,topic
F1,sales,marketing,rep-1,2020-03-03T09:00:00-05:00,mkt-1,2020-03-04T09:00:00-05:00,lead quality
""",
    "meetings": """\
meeting_id,kind,started_at,duration_minutes,attendees
M1,leadership_weekly,2020-03-06T15:00:00-05:00,30,4
M2,both_teams_monthly,2020-03-31T15:00:00-04:00,60,12
""",
}
WEB_TRAFFIC = "day,visitors\n2020-03-02,1200\n2020-03-03,980\n"
REQUIRED = sorted(VALID)
_NEW_YORK_OFFSET = re.compile(r"T(\d\d:\d\d:\d\d)-0[45]:00")


def write_dataset(folder: Path, **tables: str | None) -> Path:
    """Write ``VALID`` as CSVs into ``folder``; a keyword replaces (text) or omits (None) one."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in {**VALID, **tables}.items():
        if text is not None:
            (folder / f"{name}.csv").write_text(text)
    return folder


def edit(name: str, old: str, new: str) -> str:
    """``VALID[name]`` with one substring replaced (which must occur exactly once)."""
    assert VALID[name].count(old) == 1, (name, old)
    return VALID[name].replace(old, new)


def load(location: Path, zone: str | None = None) -> Engine:
    """The engine, contract enforced (about 1.5 s: pandera runs a query per check)."""
    return Engine.from_source(DataSource.from_arg(location, zone))


def read(location: Path, zone: str | None = None) -> dict[str, pd.DataFrame]:
    """Just the loading step (``load_into``), as frames: for comparing sources."""
    con = duckdb.connect()
    load_into(con, DataSource.from_arg(location, zone))
    return {name: con.execute(f'SELECT * FROM "{name}"').df() for name in TABLES}


def error_text(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    return str(excinfo.value)


@pytest.fixture(scope="module")
def csv_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("valid") / "csv")


@pytest.fixture(scope="module")
def engine(csv_folder: Path) -> Engine:
    return load(csv_folder)


@pytest.fixture(scope="module")
def from_csv(csv_folder: Path) -> dict[str, pd.DataFrame]:
    return read(csv_folder)


# --- valid sources ---------------------------------------------------------------------------


def test_csv_folder_with_offsets_loads_as_naive_utc(engine):
    leads = engine.table("leads").execute().set_index("lead_id")
    assert leads.loc["L1", "created_at"] == pd.Timestamp("2020-03-02 14:00:00")
    assert leads.loc["L2", "nurture_enrolled_at"] == pd.Timestamp("2020-03-09 13:00:00")  # EDT
    assert leads.loc["L3", "created_at"] == pd.Timestamp("2020-03-09 12:00:00")
    assert leads["created_at"].dt.tz is None
    assert pd.isna(leads.loc["L1", "returned_at"])
    assert leads["followup_requested"].tolist() == [True, False, True]
    assert pd.isna(leads.loc["L3", "owner_id"])
    assert leads.loc["L1", "fit_score"] == 70
    opps = engine.table("opportunities").execute().set_index("opportunity_id")
    assert opps.loc["O1", "amount"] == 12500.5
    assert opps.loc["O2", "closed_at"] == pd.Timestamp("2020-03-11 15:00:00")


def test_column_types_follow_the_contract(engine):
    types = {"string": "string", "timestamp": "timestamp(6)", "date": "date", "int64": "int64",
             "float64": "float64", "boolean": "boolean"}
    for spec in TABLES.values():
        schema = engine.table(spec.name).schema()
        assert list(schema.names) == spec.column_names
        got = {c.name: str(schema[c.name]).lstrip("!") for c in spec.columns}
        assert got == {c.name: types[c.type] for c in spec.columns}, spec.name


def test_nothing_is_dropped(csv_folder, engine):
    for name in REQUIRED:
        in_file = len((csv_folder / f"{name}.csv").read_text().splitlines()) - 1
        assert engine.table(name).count().execute() == in_file, name
    assert engine.table("web_traffic").count().execute() == 0  # optional, absent: empty


def test_optional_web_traffic_loads_when_present(tmp_path):
    traffic = read(write_dataset(tmp_path / "csv", web_traffic=WEB_TRAFFIC))["web_traffic"]
    assert traffic["visitors"].tolist() == [1200, 980]
    assert pd.to_datetime(traffic["day"]).dt.strftime("%Y-%m-%d").tolist() == [
        "2020-03-02", "2020-03-03"]


def _parquet_types(name: str) -> dict[str, pa.DataType]:
    arrow = {"string": pa.string(), "timestamp": pa.timestamp("s", tz="UTC"),
             "date": pa.date32(), "int64": pa.int64(), "float64": pa.float64(),
             "boolean": pa.bool_()}
    return {c.name: arrow[c.type] for c in TABLES[name].columns}


def test_parquet_folder_loads_the_same(csv_folder, from_csv, tmp_path):
    folder = tmp_path / "parquet"
    folder.mkdir()
    for name in REQUIRED:
        table = pacsv.read_csv(
            csv_folder / f"{name}.csv",
            convert_options=pacsv.ConvertOptions(column_types=_parquet_types(name),
                                                 strings_can_be_null=True),
        )
        pq.write_table(table, folder / f"{name}.parquet")
    # Instants stored as such (TIMESTAMP WITH TIME ZONE in DuckDB), not as text.
    stored = pq.read_schema(folder / "leads.parquet").field("created_at").type
    assert pa.types.is_timestamp(stored) and stored.tz == "UTC"
    got = read(folder)
    for name in TABLES:
        pd.testing.assert_frame_equal(got[name], from_csv[name], obj=name)


def test_duckdb_file_loads_the_same(csv_folder, from_csv, tmp_path):
    path = tmp_path / "data.duckdb"
    with duckdb.connect(str(path)) as con:
        for name in REQUIRED:
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv(?)",
                        [str(csv_folder / f"{name}.csv")])
        kinds = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                 "WHERE table_name = 'leads'").fetchall())
    assert kinds["created_at"] == "TIMESTAMP WITH TIME ZONE"
    got = read(path)
    for name in TABLES:
        pd.testing.assert_frame_equal(got[name], from_csv[name], obj=name)


# --- time zones ------------------------------------------------------------------------------


def _naive(text: str) -> str:
    """The same New York wall times without their offsets ("2020-03-02 09:00:00")."""
    return _NEW_YORK_OFFSET.sub(r" \1", text)


def test_naive_timestamps_without_a_zone_are_refused(tmp_path):
    folder = write_dataset(tmp_path / "naive", leads=_naive(VALID["leads"]))
    with pytest.raises(DataSourceError) as info:
        read(folder)
    assert error_text(info) == (
        f"{folder / 'leads.csv'}: leads.created_at: holds timestamps without a time zone "
        "(date-times or dates), and the source declares none\n"
        "  fix: write offsets (2026-10-01T09:00:00+00:00) or declare the zone with "
        "--data-zone America/New_York"
    )
    assert (info.value.table, info.value.column) == ("leads", "created_at")


def test_naive_timestamps_in_a_duckdb_file_are_refused(tmp_path):
    path = tmp_path / "naive.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE meetings AS SELECT 'M1' AS meeting_id, 'x' AS kind, "
                    "TIMESTAMP '2020-03-06 15:00:00' AS started_at, 30 AS duration_minutes, "
                    "4 AS attendees")
        folder = write_dataset(tmp_path / "csv")
        for name in REQUIRED:
            if name != "meetings":
                con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv(?)",
                            [str(folder / f"{name}.csv")])
    with pytest.raises(DataSourceError, match="--data-zone") as info:
        read(path)
    assert error_text(info).startswith(
        f"{path}: meetings.started_at: holds timestamps without a time zone")
    assert read(path, "America/New_York")["meetings"]["started_at"].tolist() == [
        pd.Timestamp("2020-03-06 20:00:00")]


def test_declared_zone_converts_naive_timestamps(tmp_path, from_csv):
    naive = {name: _naive(text) for name, text in VALID.items()}
    assert "-05:00" not in "".join(naive.values())
    assert "2020-03-09 09:00:00" in naive["leads"]  # after the spring-forward change
    folder = write_dataset(tmp_path / "naive", **naive)
    got = read(folder, "America/New_York")
    for name in TABLES:
        pd.testing.assert_frame_equal(got[name], from_csv[name], obj=name)


def test_offsets_win_over_the_declared_zone(csv_folder, from_csv):
    got = read(csv_folder, "Asia/Tokyo")
    for name in TABLES:
        pd.testing.assert_frame_equal(got[name], from_csv[name], obj=name)


def test_unknown_declared_zone(csv_folder):
    with pytest.raises(DataSourceError) as info:
        DataSource.from_arg(csv_folder, "America/Nowhere")
    assert error_text(info) == (
        f"{csv_folder}: unknown time zone 'America/Nowhere'\n"
        "  fix: declare an IANA zone, e.g. America/New_York"
    )


def test_missing_location(tmp_path):
    with pytest.raises(DataSourceError) as info:
        DataSource.from_arg(tmp_path / "nope")
    assert error_text(info) == (
        f"{tmp_path / 'nope'}: no such folder or DuckDB file\n"
        "  fix: pass --data a folder of <table>.csv/.parquet files or a .duckdb file "
        "(make demo writes data/demo.duckdb)"
    )


# --- rows that break the contract are quarantined, not fatal -----------------------------------


def quarantined(location: Path, zone: str | None = None, **kw) -> tuple[object, list[tuple]]:
    """The load report and every quarantined row (table, location, key, column, value, reason)."""
    con = duckdb.connect()
    report = load_into(con, DataSource.from_arg(location, zone), **kw)
    rows = con.execute('SELECT "table", location, "key", "column", "value", reason '
                       'FROM _quarantine ORDER BY "table", "row", "column"').fetchall()
    return report, rows


@pytest.mark.parametrize(
    ("table", "old", "new", "row"),
    [
        ("activities", "2020-03-03T09:15:00-05:00", "not-a-date",
         ("activities", "line 3", "A2", "occurred_at", "not-a-date",
          "not an instant (ISO 8601)")),
        ("activities", "2020-03-09T09:05:00-04:00", "2020-03-32T09:05:00-04:00",
         ("activities", "line 4", "A3", "occurred_at", "2020-03-32T09:05:00-04:00",
          "not an instant (ISO 8601)")),
        ("opportunities", "12500.50", "abc",
         ("opportunities", "line 2", "O1", "amount", "abc", "not a finite number")),
        ("opportunities", "12500.50", "inf",
         ("opportunities", "line 2", "O1", "amount", "inf", "not a finite number")),
        ("opportunities", "12500.50", "-5",
         ("opportunities", "line 2", "O1", "amount", "-5", "below the minimum 0")),
        ("meetings", ",60,12", ",sixty,12",
         ("meetings", "line 3", "M2", "duration_minutes", "sixty", "not an integer")),
        ("leads", ",10,5,", ",49.5,5,",
         ("leads", "line 3", "L2", "fit_score", "49.5", "not an integer")),
        ("leads", ",false,awareness,", ",maybe,awareness,",
         ("leads", "line 3", "L2", "followup_requested", "maybe", "not true or false")),
        ("activities", ",email,", ",fax,",
         ("activities", "line 3", "A2", "kind", "fax", "not one of: call, email, video, meeting")),
        ("activities", "A2,L1,rep-1,", ",L1,rep-1,",
         ("activities", "line 3", "", "activity_id", None, "missing (the column is required)")),
        ("activities", "L2,rep-2", "L2,rep-9",
         ("activities", "line 4", "A3", "rep_id", "rep-9", "not in people")),
        ("opportunity_stages", "O1,discovery,2020-03-04T11:00:00-05:00",
         "O1,discovery,2020-03-04T10:00:00-05:00",
         ("opportunity_stages", "line 2", "O1/discovery/2020-03-04 15:00:00", "entered_at",
          "2020-03-04 15:00:00", "before its opportunity's created_at")),
    ],
)
def test_a_bad_row_is_quarantined_with_its_reason(tmp_path, table, old, new, row):
    folder = write_dataset(tmp_path / "csv", **{table: edit(table, old, new)})
    report, rows = quarantined(folder)
    assert [r for r in rows if r[0] == table] == [row]
    counts = report.tables[table]
    assert (counts.read, counts.used, counts.quarantined) == (
        counts.used + 1, counts.read - 1, 1)
    # Rows that refer to a row set aside are set aside too, and say so.
    assert all(r[5].startswith("its row in ") and r[5].endswith(" was set aside")
               for r in rows if r[0] != table)
    assert report.reasons[f"{table}: {row[5]}"] == 1


def test_read_is_used_plus_quarantined_in_every_table(tmp_path):
    folder = write_dataset(tmp_path / "csv",
                           leads=edit("leads", ",10,5,", ",49.5,5,"),
                           activities=edit("activities", ",email,", ",fax,"))
    report, rows = quarantined(folder)
    for name, counts in report.tables.items():
        assert counts.read == counts.used + counts.quarantined, name
    # L2 is set aside, so what refers to it is set aside too: its activity A3, its
    # opportunity O2, and O2's stage.
    assert [(r[0], r[2], r[3], r[5]) for r in rows] == [
        ("activities", "A2", "kind", "not one of: call, email, video, meeting"),
        ("activities", "A3", "lead_id", "its row in leads was set aside"),
        ("leads", "L2", "fit_score", "not an integer"),
        ("opportunities", "O2", "lead_id", "its row in leads was set aside"),
        ("opportunity_stages", "O2/discovery/2020-03-10 15:00:00", "opportunity_id",
         "its row in opportunities was set aside")]
    assert (report.tables["leads"].read, report.tables["leads"].used) == (3, 2)
    assert (report.tables["activities"].read, report.tables["activities"].used) == (3, 1)


def test_duplicate_keys_set_every_copy_aside(tmp_path):
    stages = VALID["opportunity_stages"] + "O1,proposal,2020-03-05T16:00:00Z\n"  # same instant
    folder = write_dataset(tmp_path / "csv", opportunity_stages=stages)
    _, rows = quarantined(folder)
    assert rows == [
        ("opportunity_stages", "line 3", "O1/proposal/2020-03-05 16:00:00",
         "opportunity_id,stage,entered_at", "O1/proposal/2020-03-05 16:00:00",
         "duplicate key (every row with it is set aside)"),
        ("opportunity_stages", "line 5", "O1/proposal/2020-03-05 16:00:00",
         "opportunity_id,stage,entered_at", "O1/proposal/2020-03-05 16:00:00",
         "duplicate key (every row with it is set aside)")]


def test_a_row_from_the_future_is_quarantined(tmp_path):
    from datetime import datetime

    folder = write_dataset(tmp_path / "csv", activities=edit(
        "activities", "2020-03-09T09:05:00-04:00", "2031-03-09T09:05:00-04:00"))
    report, rows = quarantined(folder, not_after=datetime(2026, 11, 25, 12, 0))
    assert rows == [("activities", "line 4", "A3", "occurred_at", "2031-03-09 13:05:00",
                     "in the future (after 2026-11-25 12:00:00Z, when the audit ran)")]
    assert report.tables["activities"].used == 2


# --- every instant right ---------------------------------------------------------------------


def _leads_created(tmp_path: Path, value: str, zone: str | None) -> pd.Timestamp:
    folder = write_dataset(tmp_path / "csv", leads=edit(
        "leads", "L3,2020-03-09T12:00:00Z,", f"L3,{value},"))
    return read(folder, zone)["leads"].set_index("lead_id").loc["L3", "created_at"]


@pytest.mark.parametrize(
    ("value", "zone", "utc"),
    [
        ("2017-03-01", "America/New_York", "2017-03-01 05:00:00"),   # west of UTC: same day
        ("2017-03-01", "Asia/Tokyo", "2017-02-28 15:00:00"),         # east: the day before
        ("2017-03-01", "UTC", "2017-03-01 00:00:00"),
        ("2017-03-01 09:30:00", "America/New_York", "2017-03-01 14:30:00"),
        ("2017-03-01T09:30:00", "Europe/Berlin", "2017-03-01 08:30:00"),
        ("2017-03-01T09:30:00-05:00", "Asia/Tokyo", "2017-03-01 14:30:00"),  # offset wins
        ("2017-03-01T09:30:00+0100", None, "2017-03-01 08:30:00"),
        ("2017-03-01T09:30:00Z", None, "2017-03-01 09:30:00"),
        ("2017-03-01 09:30:00 UTC", None, "2017-03-01 09:30:00"),
    ],
)
def test_each_instant_format(tmp_path, value, zone, utc):
    assert _leads_created(tmp_path, value, zone) == pd.Timestamp(utc)


def test_a_date_only_value_is_not_taken_for_an_offset(tmp_path):
    """'2017-03-01' ends in '-01': it is a day, not UTC-01:00, so it needs a zone."""
    folder = write_dataset(tmp_path / "csv", leads=edit(
        "leads", "L3,2020-03-09T12:00:00Z,", "L3,2017-03-01,"))
    with pytest.raises(DataSourceError, match="holds timestamps without a time zone"):
        read(folder)


def test_date_columns_in_parquet_use_the_declared_zone(tmp_path):
    folder = write_dataset(tmp_path / "csv", meetings=None)
    pq.write_table(pa.table({
        "meeting_id": ["M1"], "kind": ["leadership_weekly"],
        "started_at": pa.array([pd.Timestamp("2020-03-06").date()], pa.date32()),
        "duration_minutes": [30], "attendees": [4]}), folder / "meetings.parquet")
    with pytest.raises(DataSourceError, match=r"meetings\.started_at: holds timestamps without"):
        read(folder)
    got = read(folder, "Asia/Tokyo")["meetings"]["started_at"].tolist()
    assert got == [pd.Timestamp("2020-03-05 15:00:00")]


# --- missing or doubled files and columns -----------------------------------------------------


def test_missing_table_file_lists_the_files_present(tmp_path):
    folder = write_dataset(tmp_path / "csv", activities=None)
    (folder / "notes.txt").write_text("not a table")
    with pytest.raises(DataSourceError) as info:
        read(folder)
    present = "feedback.csv, leads.csv, meetings.csv, notes.txt, opportunities.csv, " \
              "opportunity_stages.csv, people.csv"
    assert error_text(info) == (
        f"{folder}: activities: no activities.csv or activities.parquet (found: {present})\n"
        "  fix: add activities.csv or activities.parquet; see docs/data-contract.md"
    )


def test_missing_table_in_a_duckdb_file(tmp_path):
    path = tmp_path / "data.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE people AS SELECT * FROM read_csv(?)",
                    [str(write_dataset(tmp_path / "csv") / "people.csv")])
    with pytest.raises(DataSourceError) as info:
        read(path)
    assert error_text(info) == (
        f"{path}: leads: table 'leads' is missing (found: people)\n"
        "  fix: add a table named leads; see docs/data-contract.md"
    )


def test_missing_column_is_named(tmp_path):
    without_outcome = "\n".join(line.rsplit(",", 1)[0] for line in VALID["activities"].split("\n"))
    folder = write_dataset(tmp_path / "csv", activities=without_outcome)
    with pytest.raises(DataSourceError) as info:
        read(folder)
    assert error_text(info) == (
        f"{folder / 'activities.csv'}: activities: missing column(s) outcome\n"
        "  fix: add them; docs/data-contract.md lists every column and its type"
    )


def test_both_csv_and_parquet_for_one_table(tmp_path):
    folder = write_dataset(tmp_path / "csv")
    pq.write_table(pacsv.read_csv(folder / "meetings.csv"), folder / "meetings.parquet")
    with pytest.raises(DataSourceError) as info:
        read(folder)
    assert error_text(info) == (
        f"{folder}: meetings: both meetings.csv and meetings.parquet exist\n"
        "  fix: keep one file per table"
    )


def test_errors_survive_pickling(tmp_path):
    folder = write_dataset(tmp_path / "csv", activities=None)
    with pytest.raises(DataSourceError) as info:
        read(folder)
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value) and again.table == "activities"

