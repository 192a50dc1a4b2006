"""Where data read in place lives: a PostgreSQL schema, or files a Spark session reads.

A place names the tables it holds, gives each as an Ibis table of its own types, says
which timestamp columns hold instants (and which hold wall times needing a declared
zone), and keeps the audit's intermediate tables inside itself (temporary tables in
PostgreSQL, cached temporary views in Spark), so that nothing is copied out.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slapolicy.engine.contract import TableSpec
from slapolicy.errors import DataSourceError

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir


#: Rows per batch when rows stream out of a database read in place: the driver holds a
#: batch as Python objects first (a million activities took about 1 GB).
STREAM_ROWS = 100_000


class Place:
    """The interface ``engine.database`` reads through."""

    backend: ibis.BaseBackend
    where: str

    def tables(self) -> set[str]:
        raise NotImplementedError

    def raw(self, name: str) -> ir.Table:
        raise NotImplementedError

    def holds_instants(self, name: str, column: str, dtype: Any) -> bool:
        """Whether a timestamp column holds instants (else wall times)."""
        raise NotImplementedError

    def to_utc(self, value: Any, zone: str | None) -> Any:
        """An instant (``zone`` None) or a wall time in ``zone`` as naive UTC."""
        raise NotImplementedError

    def temp(self, name: str, expr: ir.Table) -> ir.Table:
        """``expr`` computed once into a temporary table of the session."""
        raise NotImplementedError

    def empty(self, spec: TableSpec) -> ir.Table:
        import ibis

        schema = ibis.schema({c.name: c.type for c in spec.columns})
        return self.temp(spec.name, ibis.memtable(schema.to_pyarrow().empty_table()))


class PostgresSchema(Place):
    def __init__(self, backend: ibis.BaseBackend, schema: str, where: str) -> None:
        self.backend, self.schema, self.where = backend, schema, where

    def tables(self) -> set[str]:
        return set(self.backend.list_tables(database=self.schema))

    def raw(self, name: str) -> ir.Table:
        return self.backend.table(name, database=self.schema)

    def holds_instants(self, name: str, column: str, dtype: Any) -> bool:
        return bool(dtype.timezone is not None)  # timestamptz; a timestamp is a wall time

    def to_utc(self, value: Any, zone: str | None) -> Any:
        # PostgreSQL's timezone(zone, ts): a wall time in zone to the instant, an instant
        # to the wall time in zone.
        if zone is not None:
            value = _builtin("timezone", value.cast("timestamp"), zone)
        return _builtin("timezone", value, "UTC")

    def temp(self, name: str, expr: ir.Table) -> ir.Table:
        table = self.backend.create_table(name, expr, temp=True, overwrite=True)
        # Autovacuum never analyzes temporary tables: without statistics the planner takes
        # them for tiny and joins millions of rows by nested loops.
        self.backend.raw_sql(f'ANALYZE "{name.replace(chr(34), chr(34) * 2)}"')
        return table

    def empty(self, spec: TableSpec) -> ir.Table:
        import ibis

        return self.backend.create_table(
            spec.name, schema=ibis.schema({c.name: c.type for c in spec.columns}), temp=True,
            overwrite=True)


class SparkFiles(Place):
    """Parquet files (``<table>.parquet``, a file or a folder of parts) in ``folder``, read
    by a Spark session; the session's clock is UTC."""

    def __init__(self, backend: ibis.BaseBackend, folder: Path, where: str) -> None:
        self.backend, self.folder, self.where = backend, folder, where
        self.session: Any = getattr(backend, "_session")  # noqa: B009 (ibis keeps it private)
        self._types: dict[str, dict[str, str]] = {}

    def tables(self) -> set[str]:
        return {p.name.removesuffix(".parquet") for p in self.folder.glob("*.parquet")}

    def raw(self, name: str) -> ir.Table:
        try:
            df = self.session.read.parquet(str(self.folder / f"{name}.parquet"))
        except Exception as e:
            raise DataSourceError(f"Spark cannot read the table: {_first_line(e)}",
                                  source=self.where, table=name,
                                  hint="write it as Parquet (one file or a folder of parts)"
                                  ) from None
        self._types[name] = {f.name: type(f.dataType).__name__ for f in df.schema.fields}
        view = f"_src_{name}"
        df.createOrReplaceTempView(view)
        return self.backend.table(view)

    def holds_instants(self, name: str, column: str, dtype: Any) -> bool:
        # Spark's TimestampType is an instant; TimestampNTZType (Parquet timestamps not
        # adjusted to UTC) is a wall time.
        return self._types.get(name, {}).get(column) == "TimestampType"

    def to_utc(self, value: Any, zone: str | None) -> Any:
        if zone is None:
            return value.cast("timestamp")  # an instant, shown in the session's UTC
        return _builtin("to_utc_timestamp", value.cast("timestamp"), zone)

    def temp(self, name: str, expr: ir.Table) -> ir.Table:
        # Small frames the audit brings (calendars, months) become session views first.
        self.backend._run_pre_execute_hooks(expr)
        df = self.session.sql(self.backend.compile(expr))
        # Computed once and kept by the session, as a temporary table would be.
        df = df.cache()
        df.count()
        df.createOrReplaceTempView(name)
        return self.backend.table(name)


def spark_session() -> Any:
    """A local Spark session (``SLAPOLICY_SPARK_MASTER``, default ``local[2]``) bound to
    loopback, without its web UI, on UTC."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:
        raise DataSourceError(
            "reading with Spark needs pyspark", hint='pip install "slapolicy[spark]" '
            "(pyspark and a Java 17 runtime)") from e
    master = os.environ.get("SLAPOLICY_SPARK_MASTER", "local[2]")
    try:
        return (SparkSession.builder.master(master).appName("slapolicy")
                .config("spark.ui.enabled", "false")
                .config("spark.sql.session.timeZone", "UTC")
                .config("spark.sql.shuffle.partitions", "4")
                # The loader's plans are wide (a rule per column); adaptive execution
                # renders each plan as text on every update, which is what runs out of
                # memory on them.
                .config("spark.sql.adaptive.enabled", "false")
                .config("spark.driver.memory", os.environ.get("SLAPOLICY_SPARK_MEMORY", "2g"))
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .getOrCreate())
    except Exception as e:
        raise DataSourceError(f"cannot start Spark: {_first_line(e)}",
                              hint="Spark needs a Java 17 runtime (JAVA_HOME or java on PATH)"
                              ) from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def _builtin(name: str, value: Any, zone: str) -> Any:
    import ibis
    import ibis.expr.datatypes as dt

    if name == "timezone":
        fn = ibis.udf.scalar.builtin(lambda zone, ts: None, name=name,
                                     signature=((dt.string, dt.Timestamp()), dt.Timestamp()))
        return fn(zone, value).cast("timestamp")
    fn = ibis.udf.scalar.builtin(lambda ts, zone: None, name=name,
                                 signature=((dt.Timestamp(), dt.string), dt.Timestamp()))
    return fn(value, zone)
