"""Read input data (a folder of CSV/Parquet files, or a DuckDB file) into the engine.

Every contract table is copied into an in-memory DuckDB database with the
contract's types; timestamps become naive UTC. Nothing is dropped: a value that
does not parse, a missing column or a naive timestamp without a declared zone
stops the load with an error naming the file, column and first bad rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from slapolicy.engine.contract import TABLES, ColumnSpec, TableSpec
from slapolicy.errors import DataSourceError

if TYPE_CHECKING:
    import duckdb

_SQL_TYPES = {
    "string": "VARCHAR", "timestamp": "TIMESTAMP", "date": "DATE",
    "int64": "BIGINT", "float64": "DOUBLE", "boolean": "BOOLEAN",
}
_OFFSET = r"([+-]\d\d(:?\d\d)?|Z|UTC)$"
_SHOW_BAD_ROWS = 5


@dataclass(frozen=True)
class DataSource:
    """Where the period's data comes from, and the zone of any naive timestamps in it."""

    location: Path
    declared_zone: str | None = None

    @classmethod
    def from_arg(cls, location: str | Path, declared_zone: str | None = None) -> DataSource:
        p = Path(location)
        if not p.exists():
            raise DataSourceError(
                "no such folder or DuckDB file", source=str(p),
                hint="pass --data a folder of <table>.csv/.parquet files or a .duckdb file "
                     "(make demo writes data/demo.duckdb)",
            )
        if declared_zone is not None:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(declared_zone)
            except (ZoneInfoNotFoundError, ValueError) as e:
                raise DataSourceError(f"unknown time zone {declared_zone!r}", source=str(p),
                                      hint="declare an IANA zone, e.g. America/New_York") from e
        return cls(p, declared_zone)

    @property
    def kind(self) -> str:
        return "folder" if self.location.is_dir() else "duckdb"


def load_into(con: duckdb.DuckDBPyConnection, source: DataSource) -> None:
    """Create one typed table per contract table in ``con`` (an in-memory database)."""
    con.execute("SET TimeZone='UTC'")
    if source.kind == "duckdb":
        try:
            con.execute(f"ATTACH '{_quote(source.location)}' AS src (READ_ONLY)")
        except Exception as e:
            raise DataSourceError(
                f"cannot open as a DuckDB database: {e}", source=str(source.location),
                hint="pass a DuckDB file, or a folder of CSV/Parquet files",
            ) from e
    try:
        for spec in TABLES.values():
            found = _raw_relation(con, source, spec)
            if found is None:
                _create_empty(con, spec)
                continue
            raw, where = found
            _create_typed(con, source, spec, raw, where)
    finally:
        if source.kind == "duckdb":
            con.execute("DETACH src")


def _raw_relation(con: duckdb.DuckDBPyConnection, source: DataSource,
                  spec: TableSpec) -> tuple[str, str] | None:
    """The table's relation (SQL) and where it comes from (for messages), if it exists."""
    if source.kind == "duckdb":
        names = {r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'src' "
            "UNION SELECT view_name FROM duckdb_views() WHERE database_name = 'src'"
        ).fetchall()}
        if spec.name in names:
            return f'src."{spec.name}"', str(source.location)
        if not spec.required:
            return None
        raise DataSourceError(
            f"table {spec.name!r} is missing (found: {', '.join(sorted(names)) or 'none'})",
            source=str(source.location), table=spec.name,
            hint=f"add a table named {spec.name}; see docs/data-contract.md",
        )
    found = [source.location / f"{spec.name}.{ext}" for ext in ("csv", "parquet")]
    found = [p for p in found if p.exists()]
    if len(found) > 1:
        raise DataSourceError(
            f"both {found[0].name} and {found[1].name} exist", source=str(source.location),
            table=spec.name, hint="keep one file per table",
        )
    if not found:
        if not spec.required:
            return None
        present = sorted(p.name for p in source.location.iterdir() if p.is_file())
        raise DataSourceError(
            f"no {spec.name}.csv or {spec.name}.parquet (found: {', '.join(present) or 'none'})",
            source=str(source.location), table=spec.name,
            hint=f"add {spec.name}.csv or {spec.name}.parquet; see docs/data-contract.md",
        )
    path = _quote(found[0])
    if found[0].suffix == ".csv":
        return f"read_csv('{path}', header=true, all_varchar=true)", str(found[0])
    return f"read_parquet('{path}')", str(found[0])


def _create_empty(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
    cols = ", ".join(f'"{c.name}" {_SQL_TYPES[c.type]}' for c in spec.columns)
    con.execute(f'CREATE OR REPLACE TABLE "{spec.name}" ({cols})')


def _create_typed(con: duckdb.DuckDBPyConnection, source: DataSource, spec: TableSpec,
                  raw: str, where: str) -> None:
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _raw AS "
            f"SELECT *, row_number() OVER () AS _row FROM {raw}"
        )
        types = dict(con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = '_raw'"
        ).fetchall())
    except DataSourceError:
        raise
    except Exception as e:
        raise DataSourceError(f"cannot read the table: {e}", source=where, table=spec.name,
                              hint="check the file is valid CSV (with a header) or Parquet") from e
    missing = [c.name for c in spec.columns if c.name not in types]
    if missing:
        raise DataSourceError(
            f"missing column(s) {', '.join(missing)}", source=where, table=spec.name,
            hint="add them; docs/data-contract.md lists every column and its type",
        )
    exprs = {c.name: _typed_expr(c, types[c.name], source, where, spec) for c in spec.columns}
    for c in spec.columns:
        _check_cast(con, c, exprs[c.name], where, spec, where.endswith(".csv"))
    select = ", ".join(f'{exprs[c.name]} AS "{c.name}"' for c in spec.columns)
    order = ", ".join(f'"{k}"' for k in spec.key)
    con.execute(f'CREATE OR REPLACE TABLE "{spec.name}" AS SELECT {select} FROM _raw '
                f"ORDER BY {order}")
    con.execute("DROP TABLE _raw")


def _typed_expr(c: ColumnSpec, raw_type: str, source: DataSource, where: str,
                spec: TableSpec) -> str:
    col = f'"{c.name}"'
    if c.type != "timestamp":
        if c.type == "boolean" and raw_type == "VARCHAR":
            return (f"CASE lower(trim({col})) WHEN 'true' THEN true WHEN 'false' THEN false "
                    f"WHEN '1' THEN true WHEN '0' THEN false WHEN 'yes' THEN true "
                    f"WHEN 'no' THEN false WHEN '' THEN NULL END")
        if raw_type == "VARCHAR":
            return f"TRY_CAST(NULLIF(trim({col}), '') AS {_SQL_TYPES[c.type]})"
        return f"TRY_CAST({col} AS {_SQL_TYPES[c.type]})"
    zone = source.declared_zone
    if raw_type.startswith("TIMESTAMP WITH TIME ZONE"):
        return f"timezone('UTC', {col})"
    if raw_type.startswith("TIMESTAMP"):
        if zone is None:
            raise _naive(where, spec, c)
        return f"timezone('UTC', timezone('{zone}', {col}))"
    if raw_type == "VARCHAR":
        v = f"NULLIF(trim({col}), '')"
        naive = (f"timezone('UTC', timezone('{zone}', TRY_CAST({v} AS TIMESTAMP)))"
                 if zone else "NULL")
        return (f"CASE WHEN regexp_matches({v}, '{_OFFSET}') "
                f"THEN timezone('UTC', TRY_CAST({v} AS TIMESTAMPTZ)) ELSE {naive} END")
    raise DataSourceError(
        f"has type {raw_type}, not a timestamp", source=where, table=spec.name, column=c.name,
        hint="store instants as TIMESTAMPTZ, or ISO-8601 text with an offset (2026-10-01T09:00Z)",
    )


def _naive(where: str, spec: TableSpec, c: ColumnSpec) -> DataSourceError:
    return DataSourceError(
        "holds timestamps without a time zone, and the source declares none",
        source=where, table=spec.name, column=c.name,
        hint="write offsets (2026-10-01T09:00:00+00:00) or declare the zone with "
             "--data-zone America/New_York",
    )


def _check_cast(con: duckdb.DuckDBPyConnection, c: ColumnSpec, expr: str, where: str,
                spec: TableSpec, is_csv: bool) -> None:
    col = f'"{c.name}"'
    raw_present = f"{col} IS NOT NULL AND trim(CAST({col} AS VARCHAR)) <> ''"
    text = f"trim(CAST({col} AS VARCHAR))"
    bad = con.execute(
        f"SELECT _row, CAST({col} AS VARCHAR), TRY_CAST({text} AS TIMESTAMP) IS NOT NULL "
        f"FROM _raw WHERE {raw_present} AND ({expr}) IS NULL ORDER BY _row "
        f"LIMIT {_SHOW_BAD_ROWS}"
    ).fetchall()
    if bad:
        # A valid wall time without an offset fails only for want of a zone; anything else
        # (a typo, "not-a-date") is a bad value, reported by line like any other.
        if c.type == "timestamp" and any(
            parses and not _has_offset(str(v)) for _, v, parses in bad
        ):
            raise _naive(where, spec, c)
        rows = ", ".join(f"{'line ' + str(r + 1) if is_csv else 'row ' + str(r)}: {v!r}"
                         for r, v, _ in bad)
        raise DataSourceError(
            f"values that are not {c.type}: {rows}", source=where, table=spec.name,
            column=c.name, hint=f"correct those values to {c.type}; "
                                "docs/data-contract.md gives each column's type",
        )


def _has_offset(value: str) -> bool:
    import re

    return re.search(_OFFSET.replace("\\\\", "\\"), value.strip()) is not None


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")
