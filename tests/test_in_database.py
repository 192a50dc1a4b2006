"""PostgreSQL read in place: the clauses run inside the database, bad rows are set aside
there exactly as the file loader sets them aside, and an audit gives the same results as
the same rows in a DuckDB file.

A real PostgreSQL 15 server (the ``postgres`` fixture of ``test_secrets``) holds the data.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from slapolicy.engine.context import Engine
from slapolicy.engine.postgres import PgLocation
from slapolicy.engine.sources import DataSource
from slapolicy.errors import DataSourceError
from slapolicy.trail.credentials import kernel_passfile
from tests.test_secrets import CANARY, _load, pg_data, postgres  # noqa: F401 (fixtures)
from tests.test_sources import edit, quarantined, write_dataset

POLICY = Path(__file__).resolve().parents[1] / "policies" / "company-a.yaml"


def _url(port: int, schema: str) -> str:
    return f"postgresql://slap@127.0.0.1:{port}/postgres?schema={schema}"


@pytest.fixture
def passfile(postgres: int) -> Iterator[None]:  # noqa: F811
    """The password as the audit kernel gets it: a private libpq file, no variable."""
    saved = os.environ.get("PGPASSFILE")
    with kernel_passfile(PgLocation.parse(_url(postgres, "crm")), CANARY):
        yield
    assert os.environ.get("PGPASSFILE") == saved


def _copy_csv_folder(port: int, folder: Path, schema: str, types: dict[str, str]) -> None:
    """Create ``schema`` with the contract's tables (PostgreSQL types; ``types`` overrides
    ``table.column``) and COPY each CSV of ``folder`` into it, as a database would hold it."""
    import psycopg

    from slapolicy.engine.contract import TABLES
    from tests.test_secrets import _PG_TYPES

    with psycopg.connect(host="127.0.0.1", port=port, user="slap", password=CANARY,
                         dbname="postgres", autocommit=True) as con:
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        con.execute(f"CREATE SCHEMA {schema}")
        for spec in TABLES.values():
            path = folder / f"{spec.name}.csv"
            if not path.exists():
                continue
            header = path.read_text().splitlines()[0].split(",")
            cols = ", ".join(f'"{c}" {types.get(f"{spec.name}.{c}") or _PG_TYPES[spec.column(c).type]}'
                             for c in header)
            con.execute(f'CREATE TABLE {schema}."{spec.name}" ({cols})')
            with con.cursor() as cur, cur.copy(
                    f'COPY {schema}."{spec.name}" FROM STDIN WITH (FORMAT csv, HEADER true)'
            ) as copy:
                copy.write(path.read_bytes())


#: Rows a typed database can hold that break the contract, each in its own data set.
BAD = [
    ("opportunities", "12500.50", "inf"),                       # not a finite number
    ("opportunities", "12500.50", "-5"),                        # below the minimum 0
    ("leads", ",10,5,", ",49.5,5,"),                            # fit_score not an integer
    ("activities", ",email,", ",fax,"),                         # not one of the kinds
    ("activities", "A2,L1,rep-1,", ",L1,rep-1,"),               # missing key
    ("activities", "L2,rep-2", "L2,rep-9"),                     # unknown person
    ("opportunity_stages", "O1,discovery,2020-03-04T11:00:00-05:00",
     "O1,discovery,2020-03-04T10:00:00-05:00"),                 # before its opportunity
    ("opportunity_stages", "O2,discovery,2020-03-10T11:00:00-04:00",
     "O1,proposal,2020-03-05T11:00:00-05:00"),                  # duplicate key
    ("activities", "2020-03-09T09:05:00-04:00", "2031-03-09T09:05:00-04:00"),  # future
]


@pytest.mark.parametrize(("table", "old", "new"), BAD, ids=[f"{t}-{n}" for t, _, n in BAD])
def test_bad_rows_are_set_aside_in_the_database_as_in_files(
        postgres: int, passfile: None, tmp_path: Path, table: str, old: str,  # noqa: F811
        new: str) -> None:
    folder = write_dataset(tmp_path / "csv", **{table: edit(table, old, new)})
    schema = f"q_{abs(hash((table, new))) % 10**8}"
    # fit_score is a floating column here, so 49.5 can be held (and must not be rounded).
    _copy_csv_folder(postgres, folder, schema, {"leads.fit_score": "double precision"})
    now = datetime(2026, 1, 1)
    file_report, file_rows = quarantined(folder, not_after=now)
    engine = Engine.from_source(DataSource.from_arg(_url(postgres, schema)), not_after=now)
    db_rows = engine.local.execute(
        'SELECT "table", "key", "column", reason FROM _quarantine ORDER BY ALL').fetchall()
    assert db_rows, "the bad row was not set aside"
    assert db_rows == sorted((r[0], r[2], r[3], r[5]) for r in file_rows)
    for name, counts in engine.load.tables.items():
        assert counts.read == counts.used + counts.quarantined, name
        assert (counts.read, counts.used) == (file_report.tables[name].read,
                                               file_report.tables[name].used), name
    assert engine.load.reasons == file_report.reasons
    # The rows kept are the file loader's rows, to the value.
    from slapolicy.engine.context import Engine as E

    from_files = E.from_source(DataSource.from_arg(folder), not_after=now).content_hashes()
    assert engine.content_hashes() == from_files


def test_a_column_of_the_wrong_type_is_named_with_the_type_needed(
        postgres: int, passfile: None, tmp_path: Path) -> None:  # noqa: F811
    folder = write_dataset(tmp_path / "csv")
    _copy_csv_folder(postgres, folder, "wrongtype", {"activities.occurred_at": "text"})
    with pytest.raises(DataSourceError) as err:
        Engine.from_source(DataSource.from_arg(_url(postgres, "wrongtype")))
    assert str(err.value).startswith(
        f"{_url(postgres, 'wrongtype')}: activities.occurred_at: column occurred_at is of "
        "type string, but the contract needs a timestamp")
    # Where only some clauses read the table, only they cannot be measured.
    engine = Engine.from_source(DataSource.from_arg(_url(postgres, "wrongtype")),
                                needs={"leads": frozenset({"lead_id"})})
    assert list(engine.load.unusable) == ["activities"]


def test_naive_timestamps_need_a_declared_zone(postgres: int, passfile: None,  # noqa: F811
                                               tmp_path: Path) -> None:
    folder = write_dataset(tmp_path / "csv")
    _copy_csv_folder(postgres, folder, "naive", {"activities.occurred_at": "timestamp"})
    with pytest.raises(DataSourceError, match="holds timestamps without a time zone"):
        Engine.from_source(DataSource.from_arg(_url(postgres, "naive")))
    # Declared, the wall time is read in that zone (timestamptz stays exact).
    engine = Engine.from_source(DataSource.from_arg(_url(postgres, "naive"), "Asia/Tokyo"))
    # A1 was written 2020-03-02T10:00:00-05:00; a `timestamp` column ignores the offset
    # on input and keeps the wall time 10:00, which in Tokyo (UTC+9) is 01:00 UTC.
    a = engine.table("activities")
    got = a.filter(a.activity_id == "A1").occurred_at.execute().iloc[0]
    assert got.to_pydatetime() == datetime(2020, 3, 2, 1, 0)


@pytest.mark.slow
def test_an_audit_in_postgresql_gives_the_results_of_the_same_rows_in_duckdb(
        pg_data, passfile: None, tmp_path: Path) -> None:  # noqa: F811
    from slapolicy.audit.run import AuditRequest, audit_period
    from slapolicy.demo import generate as demo

    port, tables = pg_data
    db = demo.write_duckdb(tables, tmp_path / "same.duckdb")
    out = {}
    for name, data in (("duckdb", str(db)), ("postgresql", _url(port, "crm"))):
        result = audit_period(AuditRequest(POLICY, "2020-02", data, output=tmp_path / name,
                                           as_of=datetime(2020, 3, 15)))
        result.write(tmp_path / name)
        out[name] = json.loads((tmp_path / name / "results.json").read_text())
    duck, pg = out["duckdb"], out["postgresql"]
    assert pg["data"].pop("kind") == "postgresql" and duck["data"].pop("kind") == "duckdb"
    for t in (*duck["data"]["tables"].values(), *pg["data"]["tables"].values()):
        t.pop("source")
    assert pg == duck
    assert sum(c["breaches"] for c in duck["clauses"]) > 50  # a real month, not an empty one
    # Both read February's window, leaving out the same January rows (tests/test_window.py).
    assert duck["data"]["tables"]["activities"]["not_read"] > 100
    for f in ("breaches.csv", "quarantine.csv"):
        assert (tmp_path / "postgresql" / f).read_bytes() == (tmp_path / "duckdb" / f).read_bytes()
