"""The query engine an audit runs on, holding the contract tables.

Clause code only sees Ibis expressions (``Engine.table``), so the same code runs
on DuckDB (the embedded default) and on any backend Ibis targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slapolicy.engine.clock import BusinessCalendar, segments_frame
from slapolicy.engine.contract import TABLES, schemas
from slapolicy.engine.sources import QUARANTINE, DataSource, LoadReport, load_into
from slapolicy.errors import ContractViolation, DataSourceError

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir

    from slapolicy.engine.places import Place
    from slapolicy.policy.document import PolicyDocument
    from slapolicy.policy.periods import Period

_SHOW_FAILURES = 10


#: DuckDB's memory limit for the audit's engine; beyond it DuckDB spills to a temporary
#: folder instead of growing. At 1M leads and 10M activities the whole `slapolicy audit`
#: process tree peaks at 1.7 GiB instead of 4.9 GiB, and runs about 12% longer.
#: ``SLAPOLICY_DUCKDB_MEMORY`` overrides it (e.g. "4GB"; "0": no limit).
DEFAULT_MEMORY_LIMIT = "1GB"
#: ``<prefix><pid>.<random>`` in the temporary folder: a process killed before its exit
#: handlers run leaves its folder, which the next run removes (``trail.notebook``).
SPILL_PREFIX = "slapolicy-spill-"


def bound_memory(con: Any) -> None:
    """Bound DuckDB's memory and give it a private folder to spill to."""
    import atexit
    import os
    import shutil
    import tempfile

    limit = os.environ.get("SLAPOLICY_DUCKDB_MEMORY", DEFAULT_MEMORY_LIMIT)
    if limit == "0":
        return
    spill = tempfile.mkdtemp(prefix=f"{SPILL_PREFIX}{os.getpid()}.")
    atexit.register(shutil.rmtree, spill, ignore_errors=True)
    con.execute(f"SET memory_limit='{limit.replace(chr(39), '')}'")
    con.execute(f"SET temp_directory='{spill.replace(chr(39), chr(39) * 2)}'")


class Engine:
    """An Ibis backend with one table per contract table."""

    def __init__(self, backend: ibis.BaseBackend, source: DataSource | None = None,
                 load: LoadReport | None = None, local: Any = None) -> None:
        self.backend = backend
        self.source = source
        self.load = load or LoadReport({}, {})
        #: The embedded DuckDB that writes files (quarantine, hashes): the backend itself,
        #: or beside a database the audit reads in place.
        self.local: Any = local if local is not None else backend.con
        #: Where the data lives when it is read in place (None: the embedded DuckDB).
        self.place: Place | None = None
        self._bounds: tuple[tuple[datetime, datetime] | None] | None = None

    @classmethod
    def from_source(cls, source: DataSource, *, not_after: datetime | None = None,
                    needs: dict[str, frozenset[str]] | None = None,
                    window: dict[str, datetime] | None = None) -> Engine:
        """Load ``source``, quarantining rows that break the contract or come after
        ``not_after`` (naive UTC), and check what is left against the contract.
        ``needs``: the tables and columns the audit reads; ``window``: where the event
        tables are read from (see ``sources.load_into``)."""
        import ibis

        if source.url is not None:
            return cls._in_database(source, not_after=not_after, needs=needs, window=window)
        backend = ibis.duckdb.connect()
        bound_memory(backend.con)
        report = load_into(backend.con, source, not_after=not_after, needs=needs,
                           window=window)
        engine = cls(backend, source, report)
        engine.validate_contract()
        return engine

    @classmethod
    def _in_database(cls, source: DataSource, *, not_after: datetime | None,
                     needs: dict[str, frozenset[str]] | None,
                     window: dict[str, datetime] | None = None) -> Engine:
        """The contract tables as temporary tables where the data lives (``database``)."""
        import duckdb

        from slapolicy.engine.database import load_in_database

        place = _place(source)
        report, quarantined = load_in_database(
            place, declared_zone=source.declared_zone, not_after=not_after, needs=needs,
            window=window)
        local = duckdb.connect()
        bound_memory(local)
        local.register("_found", quarantined)
        local.execute(f'CREATE TABLE {QUARANTINE} AS SELECT "table", CAST("row" AS BIGINT) AS '
                      f'"row", location, "key", "column", "value", reason FROM _found')
        local.unregister("_found")
        engine = cls(place.backend, source, report, local)
        engine.place = place
        if source.kind != "spark":
            # pandera.ibis (0.35) compares Spark's timestamps by precision and finds
            # timestamp(6) != timestamp; the loader typed every column itself.
            engine.validate_contract()
        return engine

    def write_quarantine(self, folder: Path) -> dict[str, Path]:
        """Every quarantined row, by the engine, to ``quarantine.parquet`` and ``.csv``."""
        from slapolicy.engine.breaches import csv_safe

        raw: Any = self.local
        out = {"quarantine.parquet": folder / "quarantine.parquet",
               "quarantine.csv": folder / "quarantine.csv"}
        order = 'ORDER BY t."table", t."row", t."column", t.reason'
        raw_cells = 't."table", t."row", t.location, t."key", t."column", t."value", t.reason'
        # The CSV is for spreadsheets: CRM text a spreadsheet would run as a formula is
        # neutralised (OWASP, CSV injection); the Parquet file keeps the values as read.
        safe_cells = ", ".join([csv_safe("table"), 't."row"',
                                *(csv_safe(c) for c in ("location", "key", "column", "value",
                                                        "reason"))])
        for name, cells, fmt in (
                ("quarantine.parquet", raw_cells, "FORMAT parquet, COMPRESSION zstd"),
                ("quarantine.csv", safe_cells, "FORMAT csv, HEADER true")):
            target = str(out[name].resolve()).replace("'", "''")
            raw.execute(f"COPY (SELECT {cells} FROM {QUARANTINE} AS t {order}) "
                        f"TO '{target}' ({fmt})").fetchall()
        return out

    def table(self, name: str) -> ir.Table:
        return self.backend.table(name)

    def materialize(self, name: str, expr: ir.Table) -> ir.Table:
        """Compute ``expr`` once into a temporary table, so checks do not recompute it."""
        if self.place is not None:
            return self.place.temp(name, expr)
        return self.backend.create_table(name, expr, temp=True, overwrite=True)

    def register(self, name: str, frame: Any) -> ir.Table:
        """Put a small pandas/arrow frame into the engine (calendars, parameters)."""
        if self.place is not None:
            import ibis

            return self.place.temp(name, ibis.memtable(frame))
        return self.backend.create_table(name, frame, temp=True, overwrite=True)

    def validate_contract(self) -> None:
        """Check what the loader kept against the contract's pandera schemas, in the engine.

        Keys and references are not checked again here: the loader set aside every row
        with a duplicate key or an unknown reference (``sources.load_into``), and skips
        references to tables the data does not have. A failure here is a loader bug.
        """
        import pandera.ibis as pa

        where = self.source.where if self.source else None
        relaxed = schemas(types_only=True)
        lacking = {t: (*self.load.missing.get(t, ()), *self.load.absent.get(t, ()))
                   for t in TABLES}
        for name, schema in schemas(absent=lacking).items():
            table = self.table(name)
            if int(table.count().execute()) == 0:
                # pandera.ibis reports nulls in every non-nullable column of an empty
                # table (0.35); an empty table has no values, so check its types only.
                schema = relaxed[name]
            try:
                schema.validate(table, lazy=True)  # type: ignore[attr-defined]
            except pa.errors.SchemaErrors as e:
                raise self._violation(name, e.failure_cases, where) from e

    def _violation(self, name: str, cases: Any, where: str | None) -> ContractViolation:
        """Group pandera's failure cases by column, check and value, with example keys."""
        spec = TABLES[name]
        groups: dict[tuple[str, str, str], int] = {}
        values: dict[tuple[str, str, str], Any] = {}
        for r in cases.to_dict("records"):
            case = r["failure_case"]
            column, value = (next(iter(case.items())) if isinstance(case, dict) and case
                             else (str(r.get("column")), case))
            key = (str(column), str(r["check"]), repr(value))
            groups[key] = groups.get(key, 0) + 1
            values[key] = value
        lines = []
        t = self.table(name)
        for (column, check, shown), count in sorted(groups.items())[:_SHOW_FAILURES]:
            line = f"{column}: {check} failed for {shown} ({count} row(s))"
            value = values[(column, check, shown)]
            if column in spec.column_names and not isinstance(value, dict | list):
                try:
                    keys = (t.filter(t[column] == value).select(*spec.key)
                            .order_by(list(spec.key)).limit(3).execute())
                    line += "; e.g. " + ", ".join(
                        "/".join(str(v) for v in row) for row in keys.itertuples(index=False))
                except Exception:  # examples are a courtesy; the violation stands
                    pass
            lines.append(line)
        total = sum(groups.values())
        return ContractViolation(
            f"{total} value(s) break the data contract:\n    " + "\n    ".join(lines),
            source=where, table=name, failures=cases.astype(str).to_dict("records"),
            hint="correct the data at its source; docs/data-contract.md gives the rules",
        )

    def content_hashes(self) -> dict[str, Any]:
        """Rows and an order-independent SHA-256 content hash per contract table, in the
        engine (``engine.digest``): the manifest's input hashes, and the key that ties kept
        facts to the data they were measured from."""
        from slapolicy.engine.digest import hash_lines, row_hashes_sql, summary, table_hashes
        from slapolicy.engine.places import STREAM_ROWS

        if self.local is getattr(self.backend, "con", None):
            return table_hashes(self.local)
        # A database read in place: its rows stream through the embedded engine, which
        # hashes them the same way (so the same rows hash the same wherever they live) and
        # keeps only the hashes, batch by batch, never the rows.
        tables = {}
        for spec in TABLES.values():
            self.local.execute("CREATE OR REPLACE TEMP TABLE _lines (h VARCHAR)")
            try:
                for batch in self.table(spec.name).to_pyarrow_batches(chunk_size=STREAM_ROWS):
                    self.local.register("_rows", batch)
                    self.local.execute(f"INSERT INTO _lines {row_hashes_sql(spec, '_rows')}")
                    self.local.unregister("_rows")
                tables[spec.name] = hash_lines(self.local, spec, "_lines")
            finally:
                self.local.execute("DROP TABLE IF EXISTS _lines")
        return summary(tables)

    def timestamp_bounds(self) -> tuple[datetime, datetime] | None:
        """Earliest and latest instant in any timestamp column of the data."""
        if self._bounds is None:
            lows, highs = [], []
            for spec in TABLES.values():
                t = self.table(spec.name)
                cols = [c.name for c in spec.columns if c.type == "timestamp"]
                if not cols:
                    continue
                aggs = {}
                for c in cols:
                    aggs[f"lo_{c}"] = t[c].min()
                    aggs[f"hi_{c}"] = t[c].max()
                row = t.aggregate(**aggs).execute().iloc[0]
                for c in cols:
                    lo, hi = row[f"lo_{c}"], row[f"hi_{c}"]
                    if lo is not None and lo == lo:
                        lows.append(lo.to_pydatetime())
                        highs.append(hi.to_pydatetime())
            if self.load.latest_not_read is not None:  # rows the window left out
                highs.append(self.load.latest_not_read)
                lows.append(min(lows, default=self.load.latest_not_read))
            self._bounds = ((min(lows), max(highs)),) if lows else (None,)
        return self._bounds[0]


def _place(source: DataSource) -> Place:
    """The place a source read in place lives in, with a session open on it."""
    from slapolicy.engine import places

    assert source.url is not None
    if source.kind == "spark":
        import ibis

        folder = Path(source.url.removeprefix("spark:"))
        return places.SparkFiles(ibis.pyspark.connect(places.spark_session()), folder,
                                 source.url)
    from slapolicy.engine.postgres import PgLocation, connect

    loc = PgLocation.parse(source.url)
    return places.PostgresSchema(connect(loc), loc.schema, loc.url())


@dataclass
class AuditContext:
    """Everything a clause needs to evaluate one period."""

    doc: PolicyDocument
    period: Period
    engine: Engine
    as_of: datetime
    calendars: dict[str, BusinessCalendar] = field(default_factory=dict)

    @classmethod
    def build(cls, doc: PolicyDocument, period: Period, engine: Engine,
              as_of: datetime | None = None) -> AuditContext:
        calendars = {k: BusinessCalendar.from_spec(k, v) for k, v in doc.policy.calendars.items()}
        if as_of is None:
            bounds = engine.timestamp_bounds()
            if bounds is None:
                raise DataSourceError("the data holds no timestamps at all",
                                      hint="load the period's leads and activities")
            as_of = bounds[1]
        return cls(doc=doc, period=period, engine=engine, as_of=as_of, calendars=calendars)

    @property
    def policy_zone(self) -> str:
        return self.doc.policy.calendars[self.doc.policy.default_calendar].time_zone

    @cached_property
    def bounds(self) -> tuple[datetime, datetime]:
        """The period as naive UTC instants ``[start, end)``, in the policy's default zone."""
        return self.period.bounds_utc(self.policy_zone)

    def table(self, name: str) -> ir.Table:
        return self.engine.table(name)

    @cached_property
    def segments(self) -> ir.Table:
        """Business-clock segments covering every instant in the data and the period."""
        bounds = self.engine.timestamp_bounds()
        lo = min(self.bounds[0], bounds[0] if bounds else self.bounds[0], self.as_of)
        hi = max(self.bounds[1], bounds[1] if bounds else self.bounds[1], self.as_of)
        frame = segments_frame(
            list(self.calendars.values()),
            lo.date() - timedelta(days=1),
            hi.date() + timedelta(days=1),
        )
        return self.engine.register("_business_segments", frame)

    @cached_property
    def person_calendars(self) -> ir.Table:
        """person_id -> calendar_id, from people.region and the policy's calendars."""
        import ibis

        region_to_cal = {r: k for k, cal in self.doc.policy.calendars.items() for r in cal.regions}
        people = self.table("people")
        regions = sorted(people.select("region").distinct().execute()["region"])
        unknown = [r for r in regions if r not in region_to_cal]
        if unknown:
            raise DataSourceError(
                f"people.region value(s) {', '.join(map(repr, unknown))} belong to no calendar",
                table="people", column="region",
                hint="list each region under one calendar's `regions:` in the policy",
            )
        mapping = ibis.cases(*[(people.region == r, c) for r, c in sorted(region_to_cal.items())
                               if r in regions], else_=ibis.null("string"))
        return people.select(person_id=people.person_id, calendar_id=mapping)

    def day(self) -> date:
        return self.period.end - timedelta(days=1)
