"""Read input data (a folder of CSV/Parquet files, or a DuckDB file) into the engine.

Every contract table is typed into an in-memory DuckDB database with the contract's
types; timestamps become naive UTC. A *row* that breaks the contract is quarantined,
not dropped and not fatal: it is set aside with its reasons in ``_quarantine`` (table,
row, key, column, value, reason) and the audit goes on with the rest, counting rows
read = used + quarantined per table. A *table* that cannot be read (a missing file or
column, naive timestamps with no declared zone) stops the load with an error naming
the file and column.

Instants: values with an offset or ``Z`` are exact; naive date-times and date-only
values are wall time in the declared zone (a date-only value is that day's midnight
there); without a declared zone they are refused, never guessed to be UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slapolicy.engine.contract import TABLES, ColumnSpec, TableSpec
from slapolicy.errors import DataSourceError

if TYPE_CHECKING:
    import duckdb

_SQL_TYPES = {
    "string": "VARCHAR", "timestamp": "TIMESTAMP", "date": "DATE",
    "int64": "BIGINT", "float64": "DOUBLE", "boolean": "BOOLEAN",
}
# An offset only counts after a time of day: "2017-03-01" ends in "-01", which is a day.
_OFFSET = r"\d\d:\d\d(:\d\d(\.\d+)?)?\s*([+-]\d\d(:?\d\d)?|Z|UTC)$"
_DATE_ONLY = r"^\d{4}-\d{2}-\d{2}$"
_INTEGER = r"^[+-]?[0-9]+$"


@dataclass(frozen=True)
class DataSource:
    """Where the period's data comes from, and the zone of any naive timestamps in it."""

    location: Path
    declared_zone: str | None = None
    #: A CRM export mapping (a shipped name such as ``hubspot``, or a YAML file) that turns
    #: the export files in ``location`` into the contract's tables.
    mapping: str | None = None
    #: A database read in place (``postgresql://user@host:port/db?schema=name``, no
    #: password); ``location`` is then unused.
    url: str | None = None

    @classmethod
    def from_arg(cls, location: str | Path, declared_zone: str | None = None,
                 mapping: str | None = None) -> DataSource:
        from slapolicy.engine.postgres import PgLocation, is_postgres_url

        if str(location).startswith(SPARK):
            folder = Path(str(location).removeprefix(SPARK)).resolve()
            if not folder.is_dir():
                raise DataSourceError(
                    "no such folder", source=str(location),
                    hint="write spark:/path/to/folder, a folder of <table>.parquet")
            if mapping is not None:
                raise DataSourceError("a mapping reads CRM export files with the embedded "
                                      "engine", source=str(location), hint="leave out --mapping")
            _check_zone(declared_zone, str(location))
            return cls(folder, declared_zone, None, url=f"{SPARK}{folder}")
        if is_postgres_url(location):
            loc = PgLocation.parse(str(location))
            if mapping is not None:
                raise DataSourceError("a mapping reads CRM export files, not a database",
                                      source=loc.url(), hint="leave out --mapping")
            _check_zone(declared_zone, loc.url())
            return cls(Path(), declared_zone, None, url=loc.url())
        p = Path(location)
        if not p.exists():
            raise DataSourceError(
                "no such folder or DuckDB file", source=str(p),
                hint="pass --data a folder of <table>.csv/.parquet files or a .duckdb file "
                     "(make demo writes data/demo.duckdb)",
            )
        _check_zone(declared_zone, str(p))
        if mapping is not None:
            if not p.is_dir():
                raise DataSourceError("a mapping reads a folder of export files", source=str(p),
                                      hint="pass --data the folder that holds the export")
            from slapolicy.engine.mappings import load_mapping

            mapping = _resolve_mapping(mapping)
            load_mapping(mapping)  # a bad mapping is refused here, before a kernel starts
        return cls(p, declared_zone, mapping)

    @property
    def where(self) -> str:
        """The source as messages name it."""
        return self.url or str(self.location)

    @property
    def kind(self) -> str:
        if self.url is not None:
            return "spark" if self.url.startswith(SPARK) else "postgresql"
        if self.mapping is not None:
            return f"export ({self.mapping})"
        return "folder" if self.location.is_dir() else "duckdb"


def _check_zone(zone: str | None, where: str) -> None:
    if zone is None:
        return
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise DataSourceError(f"unknown time zone {zone!r}", source=where,
                              hint="declare an IANA zone, e.g. America/New_York") from e


@dataclass(frozen=True)
class TableLoad:
    """How one contract table was read: rows read = rows used + rows quarantined."""

    name: str
    where: str | None
    read: int
    used: int
    quarantined: int
    #: Rows of the source older than the period's window (``WINDOWED``): not read at all.
    not_read: int = 0
    #: The window's first instant (naive UTC), for a table read from a window.
    read_from: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.where, "read": self.read, "used": self.used,
                               "quarantined": self.quarantined}
        if self.read_from is not None:
            out["read_from"] = self.read_from.isoformat() + "Z"
            out["not_read"] = self.not_read
        return out


@dataclass(frozen=True)
class LoadReport:
    """Every table's counts and the quarantined rows' reasons (in ``_quarantine``)."""

    tables: dict[str, TableLoad]
    reasons: dict[str, int]
    #: Tables and columns the audit needs that the data does not have ("*": the table).
    missing: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Columns the data does not have and nothing needs (loaded as NULL).
    absent: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Tables that exist but cannot be read (loaded empty), with the reason.
    unusable: dict[str, str] = field(default_factory=dict)
    #: The latest instant of the rows left out by the window (they still count for the
    #: default as-of, the data's latest instant, so that the window never moves it).
    latest_not_read: datetime | None = None
    #: Per table, the export rows a CRM mapping's ``where:`` rules leave out, by source.
    left_out_by_mapping: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def unusable_for(self, reads: dict[str, frozenset[str]] | None) -> list[str]:
        """Why the tables of ``reads`` (None: every table) that cannot be read are unusable."""
        return [f"{t} cannot be read: {why}" for t, why in sorted(self.unusable.items())
                if reads is None or t in reads]

    def lacks(self, reads: dict[str, frozenset[str]] | None) -> list[str]:
        """What of ``reads`` (None: everything) the data lacks, as ``table`` or ``table.col``."""
        out = []
        for table, cols in sorted(self.missing.items()):
            if reads is not None and table not in reads:
                continue
            if "*" in cols:
                out.append(table)
                continue
            wanted = cols if reads is None else [c for c in cols if c in reads[table]]
            out.extend(f"{table}.{c}" for c in wanted)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"tables": {n: t.to_dict() for n, t in sorted(self.tables.items())},
                "quarantine_reasons": dict(sorted(self.reasons.items())),
                "missing": {t: list(c) for t, c in sorted(self.missing.items())},
                "absent": {t: list(c) for t, c in sorted(self.absent.items())},
                "unusable": dict(sorted(self.unusable.items())),
                **({"left_out_by_mapping": dict(sorted(self.left_out_by_mapping.items()))}
                   if self.left_out_by_mapping else {})}


QUARANTINE = "_quarantine"
#: Event tables an audit reads from a window before its period (``Window``): table ->
#: (the subject column, its table) whose whole history is read when anything of the
#: subject happens in the window; None: the events stand alone.
WINDOWED: dict[str, tuple[str, str] | None] = {
    "activities": ("lead_id", "leads"),
    "opportunity_stages": ("opportunity_id", "opportunities"),
    "feedback": None,
    "meetings": None,
    "web_traffic": None,
}
#: ``spark:/path/to/folder``: Parquet files read in place by a Spark session.
SPARK = "spark:"


def read_in_place(data: str | Path) -> bool:
    """Whether ``data`` names a source the audit reads where it lives (not a local path)."""
    text = str(data)
    return text.startswith((SPARK, "postgresql://", "postgres://"))
SLA_FOLDER = "sla"


def load_into(con: duckdb.DuckDBPyConnection, source: DataSource, *,
              not_after: datetime | None = None,
              needs: dict[str, frozenset[str]] | None = None,
              window: dict[str, datetime] | None = None) -> LoadReport:
    """Create one typed table per contract table in ``con`` (an in-memory database).

    Rows that break the contract go to ``_quarantine`` instead; so do rows with an
    instant after ``not_after`` (the run's clock, when the audit takes its as-of from the
    data), which would otherwise move the default as-of into the future.

    ``needs`` names the tables and columns the audit reads (None: all of them, and every
    required table must exist). A table or column it does not name may be absent and is
    loaded empty or as NULL; one it names that is absent is reported in ``missing``, so
    that only the clauses reading it are not measured.

    ``window`` (table -> first instant, naive UTC; None: everything) reads each
    ``WINDOWED`` table from that instant on: a row is read when one of its instants is
    in the window, or its subject (a lead, an opportunity) has anything in the window
    (its own instants, or any of its rows in this table), or an instant of it cannot be
    read (to be set aside). People, leads and opportunities are always read whole: they
    are the subjects and what every reference is checked against. Duplicate keys are
    found over the whole table, so a row is set aside exactly as a whole read would.
    """
    con.execute("SET TimeZone='UTC'")
    con.execute(f"CREATE OR REPLACE TABLE {QUARANTINE} (\"table\" VARCHAR, \"row\" BIGINT, "
                "location VARCHAR, \"key\" VARCHAR, \"column\" VARCHAR, \"value\" VARCHAR, "
                "reason VARCHAR)")
    if source.kind == "duckdb":
        try:
            con.execute(f"ATTACH '{_quote(source.location)}' AS src (READ_ONLY)")
        except Exception as e:
            raise DataSourceError(
                f"cannot open as a DuckDB database: {e}", source=str(source.location),
                hint="pass a DuckDB file, or a folder of CSV/Parquet files",
            ) from e
    tables: dict[str, TableLoad] = {}
    missing: dict[str, tuple[str, ...]] = {}
    absent: dict[str, tuple[str, ...]] = {}
    unusable: dict[str, str] = {}
    mapped: dict[str, tuple[str, str]] = {}
    filtered: dict[str, list[dict[str, Any]]] = {}
    latest_not_read: datetime | None = None
    if source.mapping is not None:
        from slapolicy.engine.mappings import left_out_by_mapping, load_mapping, mapped_relations

        mapping = load_mapping(source.mapping)
        mapped = mapped_relations(con, source.location, mapping)
        filtered = left_out_by_mapping(con, source.location, mapping)
    try:
        for spec in TABLES.values():
            # Tables the mapping does not provide are read as <table>.csv/.parquet there.
            optional = needs is not None or not spec.required
            found = mapped.get(spec.name) or _raw_relation(con, source, spec, optional)
            if found is None:
                _create_empty(con, spec)
                tables[spec.name] = TableLoad(spec.name, None, 0, 0, 0)
                if needs is not None and spec.name in needs:
                    missing[spec.name] = ("*",)
                continue
            raw, where = found
            wanted = None if needs is None else needs.get(spec.name, frozenset())
            loaded = frozenset(n for n, t in tables.items() if t.where is not None)
            since = None if window is None else window.get(spec.name)
            try:
                tables[spec.name], gone, latest = _create_typed(
                    con, source, spec, raw, where, not_after, wanted, loaded, since)
                if latest is not None:
                    latest_not_read = max(latest, latest_not_read or latest)
            except DataSourceError as e:
                if needs is None:
                    raise
                # One unreadable table errs only the clauses that read it (its reason
                # goes with them); the rest of the audit goes on.
                for temp in ("_raw", "_typed", "_dups", "_active"):
                    con.execute(f"DROP TABLE IF EXISTS {temp}")
                _create_empty(con, spec)
                tables[spec.name] = TableLoad(spec.name, where, 0, 0, 0)
                unusable[spec.name] = str(e)
                continue
            sort_gone(spec.name, gone, wanted, missing, absent)
    finally:
        if source.kind == "duckdb":
            con.execute("DETACH src")
    reasons = dict(con.execute(
        f"SELECT \"table\" || ': ' || reason, count(*) FROM {QUARANTINE} GROUP BY 1").fetchall())
    return LoadReport(tables, {k: int(v) for k, v in reasons.items()}, missing, absent,
                      unusable, latest_not_read, filtered)


def _raw_relation(con: duckdb.DuckDBPyConnection, source: DataSource,
                  spec: TableSpec, optional: bool) -> tuple[str, str] | None:
    """The table's relation (SQL) and where it comes from (for messages), if it exists."""
    if source.kind == "duckdb":
        names = {r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'src' "
            "UNION SELECT view_name FROM duckdb_views() WHERE database_name = 'src'"
        ).fetchall()}
        if spec.name in names:
            return f'src."{spec.name}"', str(source.location)
        if optional:
            return None
        raise DataSourceError(
            f"table {spec.name!r} is missing (found: {', '.join(sorted(names)) or 'none'})",
            source=str(source.location), table=spec.name,
            hint=f"add a table named {spec.name}; see docs/data-contract.md",
        )
    # Beside a CRM export, the tables no mapping provides (the SLA's own feedback and
    # meetings, web traffic) sit in its sla/ folder, apart from the CRM's files.
    folder = source.location / SLA_FOLDER if source.mapping else source.location
    found = [folder / f"{spec.name}.{ext}" for ext in ("csv", "parquet")]
    found = [p for p in found if p.exists()]
    if len(found) > 1:
        raise DataSourceError(
            f"both {found[0].name} and {found[1].name} exist", source=str(source.location),
            table=spec.name, hint="keep one file per table",
        )
    if not found:
        if optional:
            return None
        present = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        raise DataSourceError(
            f"no {spec.name}.csv or {spec.name}.parquet (found: {', '.join(present) or 'none'})",
            source=str(folder), table=spec.name,
            hint=f"add {spec.name}.csv or {spec.name}.parquet; see docs/data-contract.md",
        )
    path = _quote(found[0])
    if found[0].suffix == ".csv":
        return (f"read_csv('{path}', header=true, all_varchar=true, null_padding=true)",
                str(found[0]))
    return f"read_parquet('{path}')", str(found[0])


def _create_empty(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
    cols = ", ".join(f'"{c.name}" {_SQL_TYPES[c.type]}' for c in spec.columns)
    con.execute(f'CREATE OR REPLACE TABLE "{spec.name}" ({cols})')


def _create_typed(con: duckdb.DuckDBPyConnection, source: DataSource, spec: TableSpec,
                  raw: str, where: str, not_after: datetime | None,
                  wanted: frozenset[str] | None = None,
                  loaded: frozenset[str] = frozenset(TABLES),
                  since: datetime | None = None,
                  ) -> tuple[TableLoad, list[str], datetime | None]:
    """Type the table into the engine; returns its counts, the columns it lacks (which
    are loaded as NULL and exempt from the row rules: only ``wanted=None`` refuses them)
    and, for a window (``since``), the latest instant of the rows it left out."""
    try:
        types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {raw}").fetchall()}
    except DataSourceError:
        raise
    except Exception as e:
        raise DataSourceError(f"cannot read the table: {e}", source=where, table=spec.name,
                              hint="check the file is valid CSV (with a header) or Parquet") from e
    if where.endswith(".csv") and _blank_file(Path(where)):
        types = {}  # no header row: DuckDB would name one column after nothing
    missing = [c.name for c in spec.columns if c.name not in types]
    refused = refused_columns(spec, missing, wanted)
    if refused:
        raise DataSourceError(
            f"missing column(s) {', '.join(refused)}", source=where,
            table=spec.name, hint="add them; docs/data-contract.md lists every column and its type",
        )
    is_csv = where.endswith(".csv")
    present = [c for c in spec.columns if c.name not in missing]
    exprs = {c.name: _typed_expr(c, types[c.name], source) for c in present}
    exprs.update({name: f"CAST(NULL AS {_SQL_TYPES[spec.column(name).type]})"
                  for name in missing})
    # Duplicate keys over the whole table, the window or not (a copy outside it still
    # makes the key ambiguous).
    con.execute(f"CREATE OR REPLACE TEMP TABLE _dups AS SELECT {_key_text(spec, exprs)} AS k "
                f"FROM {raw} GROUP BY ALL HAVING count(*) > 1")
    numbered = f"(SELECT *, row_number() OVER () AS _row FROM {raw})"
    latest, not_read = None, 0
    try:
        if since is None or spec.name not in WINDOWED:
            since = None
            con.execute(f"CREATE OR REPLACE TEMP TABLE _raw AS SELECT * FROM {numbered}")
        else:
            inside = _in_window(con, spec, exprs, types, raw, since)
            con.execute(f"CREATE OR REPLACE TEMP TABLE _raw AS SELECT * FROM {numbered} "
                        f"WHERE {inside}")
            if not_after is None:  # a given as-of: only the count is needed (no scan)
                ((total,),) = con.execute(f"SELECT count(*) FROM {raw}").fetchall()
                ((kept,),) = con.execute("SELECT count(*) FROM _raw").fetchall()
                not_read = int(total) - int(kept)
            else:  # the default as-of, the data's latest instant, counts the rows left out
                limit = not_after.strftime("%Y-%m-%d %H:%M:%S.%f")
                stamps = [exprs[c.name] for c in present if c.type == "timestamp"]
                newest = (f"greatest({', '.join(stamps)})" if len(stamps) > 1
                          else stamps[0] if stamps else "CAST(NULL AS TIMESTAMP)")
                newest = f"CASE WHEN {newest} <= TIMESTAMP '{limit}' THEN {newest} END"
                ((not_read, latest),) = con.execute(
                    f"SELECT count(*), max({newest}) FROM {raw} WHERE NOT ({inside})").fetchall()
            con.execute("DROP TABLE IF EXISTS _active")
    except Exception as e:
        raise DataSourceError(f"cannot read the table: {e}", source=where, table=spec.name,
                              hint="check the file is valid CSV (with a header) or Parquet") from e
    for c in present:
        if c.type == "timestamp" and source.declared_zone is None:
            _refuse_naive(con, c, types[c.name], where, spec)
    problems = [p for c in present for p in _problems(c, exprs[c.name])]
    select = ", ".join(f'{exprs[c.name]} AS "{c.name}"' for c in spec.columns)
    listed = "[" + ", ".join(problems) + "]" if problems else "[]"
    con.execute(f"CREATE OR REPLACE TEMP TABLE _typed AS SELECT _row, {select}, "
                f"list_filter({listed}, lambda p: p IS NOT NULL) AS _problems, "
                f"{_key_text(spec, exprs)} IN (SELECT k FROM _dups) AS _dup FROM _raw")
    con.execute("DROP TABLE _raw")  # one copy of a big table at a time
    con.execute("DROP TABLE _dups")
    _flag_rows(con, spec, not_after, loaded)
    key = " || '/' || ".join(f"coalesce(CAST(\"{k}\" AS VARCHAR), '')" for k in spec.key)
    location = ("'line ' || CAST(_row + 1 AS VARCHAR)" if is_csv
                else "'row ' || CAST(_row AS VARCHAR)")
    con.execute(
        f"INSERT INTO {QUARANTINE} SELECT '{spec.name}', _row, {location}, {key}, "
        f"p.column, p.value, p.reason FROM (SELECT *, unnest(_problems) AS p FROM _typed "
        f"WHERE len(_problems) > 0)")
    cols = ", ".join(f'"{c.name}"' for c in spec.columns)
    order = ", ".join(f'"{k}"' for k in spec.key)
    con.execute(f'CREATE OR REPLACE TABLE "{spec.name}" AS SELECT {cols} FROM _typed '
                f"WHERE len(_problems) = 0 ORDER BY {order}")
    ((read, bad),) = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE len(_problems) > 0) FROM _typed").fetchall()
    con.execute("DROP TABLE _typed")
    return (TableLoad(spec.name, where, int(read), int(read) - int(bad), int(bad),
                      int(not_read), since), missing, latest)


def refused_columns(spec: TableSpec, gone: list[str], wanted: frozenset[str] | None) -> list[str]:
    """The columns the data lacks that the audit cannot do without: all required ones when
    it reads the whole contract (``wanted`` None), else the key (the needed columns are the
    clauses' business: ``sort_gone``)."""
    if wanted is None:
        return [c for c in gone if c in spec.key or not spec.column(c).optional]
    return [k for k in spec.key if k in gone]


def sort_gone(table: str, gone: list[str], wanted: frozenset[str] | None,
              missing: dict[str, tuple[str, ...]], absent: dict[str, tuple[str, ...]]) -> None:
    """File the columns a table lacks: needed ones in ``missing``, the rest in ``absent``."""
    lacking = tuple(c for c in gone if wanted is not None and c in wanted)
    if lacking:
        missing[table] = lacking
    if len(lacking) < len(gone):
        absent[table] = tuple(c for c in gone if c not in lacking)


def _blank_file(path: Path) -> bool:
    """The file holds nothing but white space (no header row)."""
    try:
        if path.stat().st_size > 64:
            return False
        return not path.read_bytes().replace(b"\xef\xbb\xbf", b"").strip()
    except OSError:
        return False


def _key_text(spec: TableSpec, exprs: dict[str, str]) -> str:
    """The key as one text (a NULL part kept apart from any value), for duplicates."""
    return " || chr(31) || ".join(f"coalesce(CAST(({exprs[k]}) AS VARCHAR), chr(30))"
                                  for k in spec.key)


def _in_window(con: duckdb.DuckDBPyConnection, spec: TableSpec, exprs: dict[str, str],
               types: dict[str, str], raw: str, since: datetime) -> str:
    """SQL: the row is in the window from ``since`` (see ``load_into``), never NULL. The
    subjects active in the window go to the temporary table ``_active`` first."""
    at = since.strftime("%Y-%m-%d %H:%M:%S.%f")
    recent: list[str] = []
    unreadable: list[str] = []
    for c in spec.columns:
        if c.type not in ("timestamp", "date") or c.name not in types:
            continue
        bound = f"TIMESTAMP '{at}'" if c.type == "timestamp" else f"DATE '{at[:10]}'"
        given = f"trim(CAST(\"{c.name}\" AS VARCHAR)) <> ''"
        recent.append(f"coalesce(({exprs[c.name]}) >= {bound}, false)")
        # An instant that cannot be read, or a required one left out, is read: to be
        # set aside with its reason, not passed over.
        unreadable.append(f"(({exprs[c.name]}) IS NULL AND "
                          + (f"coalesce({given}, false))" if c.nullable else "true)"))
    inside = " OR ".join(recent) or "false"
    read = f"({inside} OR {' OR '.join(unreadable) or 'false'})"
    link = WINDOWED.get(spec.name)
    if link is None:
        return read
    col, parent = link
    subject = exprs[col]
    stamps = [f'"{c.name}" >= TIMESTAMP \'{at}\'' for c in TABLES[parent].columns
              if c.type == "timestamp"]
    # Once, as a table: in the predicate, each subquery would scan the source again.
    con.execute(f"CREATE OR REPLACE TEMP TABLE _active AS SELECT \"{col}\" AS k FROM "
                f"\"{parent}\" WHERE {' OR '.join(stamps)} UNION SELECT {subject} FROM {raw} "
                f"WHERE {inside}")
    return f"({read} OR coalesce(({subject}) IN (SELECT k FROM _active), false))"


def _problem(cond: str, column: str, value: str, reason: str) -> str:
    return (f"CASE WHEN {cond} THEN {{'column': '{column}', 'value': {value}, "
            f"'reason': {reason}}} END")


def _problems(c: ColumnSpec, typed: str) -> list[str]:
    """Per-row checks of one column, each a struct (column, value, reason) or NULL."""
    col = f'"{c.name}"'
    text = f"CAST({col} AS VARCHAR)"
    present = f"({col} IS NOT NULL AND trim({text}) <> '')"
    out = [_problem(f"{present} AND ({typed}) IS NULL", c.name, text,
                    f"'not {_A[c.type]}'")]
    if not c.nullable:
        out.append(_problem(f"NOT {present}", c.name, "NULL", "'missing (the column is required)'"))
    if c.allowed is not None:
        allowed = ", ".join(f"'{v}'" for v in c.allowed)
        out.append(_problem(f"({typed}) IS NOT NULL AND ({typed}) NOT IN ({allowed})", c.name,
                            text, f"'not one of: {', '.join(c.allowed)}'"))
    if c.min_value is not None:
        out.append(_problem(f"({typed}) < {c.min_value}", c.name, text,
                            f"'below the minimum {c.min_value:g}'"))
    return out


_A = {"string": "text", "timestamp": "an instant (ISO 8601)", "date": "a date (YYYY-MM-DD)",
      "int64": "an integer", "float64": "a finite number", "boolean": "true or false"}


def _flag_rows(con: duckdb.DuckDBPyConnection, spec: TableSpec,
               not_after: datetime | None, loaded: frozenset[str]) -> None:
    """Row rules across columns and tables: keys, references, instants in order."""
    clean = "len(_problems) = 0"
    rules: list[str] = [_problem("_dup", ",".join(spec.key),
                                 " || '/' || ".join(f'CAST("{k}" AS VARCHAR)' for k in spec.key),
                                 "'duplicate key (every row with it is set aside)'")]
    for col, other, other_col in spec.references:
        # A table referring to itself (a manager is a person) is checked against its own
        # rows as read.
        within = "_typed" if other == spec.name else f'"{other}"'
        if other not in loaded and other != spec.name:
            continue  # the data has no such table (and nothing needs it): nothing to check
        missing = f'"{col}" IS NOT NULL AND "{col}" NOT IN (SELECT "{other_col}" FROM {within})'
        set_aside = (f'"{col}" IN (SELECT "key" FROM {QUARANTINE} WHERE "table" = \'{other}\')')
        rules.append(_problem(f"{missing} AND {set_aside}", col, f'"{col}"',
                              f"'its row in {other} was set aside'"))
        rules.append(_problem(f"{missing} AND NOT ({set_aside})", col, f'"{col}"',
                              f"'not in {other}'"))
    for col, other, other_col, when, other_when in _ORDER_RULES.get(spec.name, ()):
        if other not in loaded:
            continue
        rules.append(_problem(
            f'"{when}" < (SELECT o."{other_when}" FROM "{other}" o WHERE o."{other_col}" = '
            f'_typed."{col}")', when, f'CAST("{when}" AS VARCHAR)',
            f"'before its {_SINGULAR.get(other, other)}''s {other_when}'"))
    if not_after is not None:
        limit = not_after.strftime("%Y-%m-%d %H:%M:%S.%f")
        for c in spec.columns:
            if c.type == "timestamp":
                rules.append(_problem(f'"{c.name}" > TIMESTAMP \'{limit}\'', c.name,
                                      f'CAST("{c.name}" AS VARCHAR)',
                                      f"'in the future (after {limit[:19]}Z, when the audit ran)'"))
    listed = "[" + ", ".join(rules) + "]"
    con.execute(f"CREATE OR REPLACE TEMP TABLE _typed AS SELECT * REPLACE ("
                f"CASE WHEN {clean} THEN list_filter({listed}, lambda p: p IS NOT NULL) "
                f"ELSE _problems END AS _problems) FROM _typed")


#: (column, parent table, parent key, instant, parent's instant): the row's instant may not
#: come before its parent's. A stage entered before its opportunity was created is set
#: aside. Activities and opportunities before their lead's ``created_at`` are kept: CRMs
#: often create the lead record after the first touch (and the clauses that compare them
#: only count what happens after the clock starts).
_SINGULAR = {"leads": "lead", "opportunities": "opportunity"}
_ORDER_RULES: dict[str, tuple[tuple[str, str, str, str, str], ...]] = {
    "opportunity_stages": (("opportunity_id", "opportunities", "opportunity_id", "entered_at",
                            "created_at"),),
}


def _typed_expr(c: ColumnSpec, raw_type: str, source: DataSource) -> str:
    col = f'"{c.name}"'
    if c.type == "boolean" and raw_type == "VARCHAR":
        return (f"CASE lower(trim({col})) WHEN 'true' THEN true WHEN 'false' THEN false "
                f"WHEN '1' THEN true WHEN '0' THEN false WHEN 'yes' THEN true "
                f"WHEN 'no' THEN false END")
    if c.type == "int64":
        # Never rounded: 49.5 is not an integer, 50.0 is 50.
        text = f"trim(CAST({col} AS VARCHAR))"
        as_double = f"TRY_CAST({text} AS DOUBLE)"
        return (f"CASE WHEN regexp_matches({text}, '{_INTEGER}') THEN TRY_CAST({text} AS BIGINT) "
                f"WHEN {as_double} = floor({as_double}) AND isfinite({as_double}) "
                f"THEN TRY_CAST({as_double} AS BIGINT) END")
    if c.type == "float64":
        v = (f"TRY_CAST(NULLIF(trim({col}), '') AS DOUBLE)" if raw_type == "VARCHAR"
             else f"TRY_CAST({col} AS DOUBLE)")
        return f"CASE WHEN isfinite({v}) THEN {v} END"
    if c.type != "timestamp":
        if raw_type == "VARCHAR":
            return f"TRY_CAST(NULLIF(trim({col}), '') AS {_SQL_TYPES[c.type]})"
        return f"TRY_CAST({col} AS {_SQL_TYPES[c.type]})"
    zone = source.declared_zone
    if raw_type.startswith("TIMESTAMP WITH TIME ZONE"):
        return f"timezone('UTC', {col})"
    if raw_type.startswith("TIMESTAMP") or raw_type == "DATE":
        # Naive date-times and dates are wall time in the declared zone (checked present).
        return f"timezone('UTC', timezone('{zone}', CAST({col} AS TIMESTAMP)))"
    if raw_type == "VARCHAR":
        v = f"NULLIF(trim({col}), '')"
        naive = (f"timezone('UTC', timezone('{zone}', TRY_CAST({v} AS TIMESTAMP)))"
                 if zone else "NULL")
        return (f"CASE WHEN regexp_matches({v}, '{_OFFSET}') "
                f"THEN timezone('UTC', TRY_CAST({v} AS TIMESTAMPTZ)) ELSE {naive} END")
    return "CAST(NULL AS TIMESTAMP)"  # every value is quarantined as not an instant


def _naive(where: str, spec: TableSpec, c: ColumnSpec) -> DataSourceError:
    return DataSourceError(
        "holds timestamps without a time zone (date-times or dates), and the source declares "
        "none", source=where, table=spec.name, column=c.name,
        hint="write offsets (2026-10-01T09:00:00+00:00) or declare the zone with "
             "--data-zone America/New_York",
    )


def _refuse_naive(con: duckdb.DuckDBPyConnection, c: ColumnSpec, raw_type: str, where: str,
                  spec: TableSpec) -> None:
    """Without a declared zone, a naive instant cannot be placed: refuse the table."""
    col = f'"{c.name}"'
    if raw_type.startswith("TIMESTAMP WITH TIME ZONE"):
        return
    if raw_type.startswith("TIMESTAMP") or raw_type == "DATE":
        ((n,),) = con.execute(f"SELECT count({col}) FROM _raw").fetchall()
        if n:
            raise _naive(where, spec, c)
        return
    if raw_type == "VARCHAR":
        v = f"NULLIF(trim({col}), '')"
        rows = con.execute(
            f"SELECT _row FROM _raw WHERE {v} IS NOT NULL AND NOT regexp_matches({v}, "
            f"'{_OFFSET}') AND TRY_CAST({v} AS TIMESTAMP) IS NOT NULL LIMIT 1").fetchall()
        if rows:
            raise _naive(where, spec, c)


def _resolve_mapping(mapping: str) -> str:
    """A mapping file (given as a path, or as a name in the workspace's ``mappings/``) as an
    absolute path, so that a kernel in another folder finds the same file; a shipped name
    stays a name."""
    if mapping.endswith((".yaml", ".yml")) or "/" in mapping:
        return str(Path(mapping).resolve())
    for ext in (".yaml", ".yml"):
        local = Path.cwd() / "mappings" / f"{mapping}{ext}"
        if local.is_file():
            return str(local.resolve())
    return mapping


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")
