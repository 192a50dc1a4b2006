"""Content hashes of the input tables, computed by the engine that holds them.

Each contract table's hash is independent of the file format and of row order, and
counts duplicate rows: a CSV folder, Parquet files, a DuckDB file, PostgreSQL or Spark
holding the same rows hash the same. The audit computes them right after
loading, in the same engine, and keeps them with its facts; the manifest takes them
from there instead of reading the data a second time.

A row's canonical text is the JSON object of its contract columns in contract order
(instants as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, dates as ``YYYY-MM-DD``); its hash is the
SHA-256 of that text. The table hash is the SHA-256 of a header (algorithm, table, typed
columns) followed by the sorted row hashes, one per line. The engine computes and sorts the
row hashes (its sort spills to disk when memory is short); they stream to Python as Arrow
batches whose bytes are fed to one SHA-256.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from slapolicy.engine.contract import TABLES, ColumnSpec, TableSpec

ALGORITHM = "slapolicy-table/1"
#: Row hashes per Arrow batch on their way to SHA-256.
_BATCH = 1_000_000


def _canonical_value(c: ColumnSpec) -> str:
    col = f't."{c.name}"'
    if c.type == "timestamp":
        return f"strftime({col}, '%Y-%m-%dT%H:%M:%S.%fZ')"
    if c.type == "date":
        return f"strftime({col}, '%Y-%m-%d')"
    return col


def row_hashes_sql(spec: TableSpec, relation: str) -> str:
    """SQL: each row's hash of ``relation`` (with ``spec``'s columns) as a line, ``<hex>\\n``."""
    fields = ", ".join(f"'{c.name}': {_canonical_value(c)}" for c in spec.columns)
    return f"SELECT sha256(CAST(to_json({{{fields}}}) AS VARCHAR)) || chr(10) AS h FROM {relation} t"


def hash_lines(con: Any, spec: TableSpec, lines: str) -> dict[str, Any]:
    """Rows and hash of one table from ``lines`` (a relation of row-hash lines, column h)."""
    header = (f"{ALGORITHM}\n{spec.name}\n"
              + ",".join(f"{c.name}:{c.type}" for c in spec.columns) + "\n")
    h = hashlib.sha256(header.encode("utf-8"))
    # The lines all have one length, so their order is the hashes' order; an Arrow batch's
    # string data is then exactly the text to hash, with no Python object per row.
    reader = con.sql(f"SELECT h FROM {lines} ORDER BY h").to_arrow_reader(_BATCH)
    rows = 0
    for batch in reader:
        rows += batch.num_rows
        h.update(_string_data(batch.column(0)))
    return {"rows": rows, "sha256": h.hexdigest()}


def table_hashes(con: Any) -> dict[str, Any]:
    """Rows and content hash of every contract table in DuckDB connection ``con``.

    The tables are the typed ones the loader made (``sources.load_into``): the rows
    the audit used, after quarantine.
    """
    tables = {}
    for spec in TABLES.values():
        rows = row_hashes_sql(spec, f'"{spec.name}"')
        tables[spec.name] = hash_lines(con, spec, f"({rows})")
    return summary(tables)


def summary(tables: dict[str, Any]) -> dict[str, Any]:
    """The input hashes as the manifest records them, from each table's rows and hash."""
    return {"algorithm": ALGORITHM, "digest": digest_of(tables), "tables": tables}



def _string_data(col: Any) -> memoryview:
    """The concatenated values of an Arrow string array (no nulls), without copying."""
    import numpy as np
    import pyarrow as pa

    if col.null_count:
        raise ValueError("a row hash is NULL")  # sha256 of a text is never NULL
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        col = col.cast(pa.large_string())
    width = np.int32 if pa.types.is_string(col.type) else np.int64
    _, offsets, data = col.buffers()
    ends = np.frombuffer(offsets, dtype=width, count=len(col) + 1, offset=col.offset * width().itemsize)
    return memoryview(data)[int(ends[0]):int(ends[-1])]


def digest_of(tables: dict[str, Any]) -> str:
    """One SHA-256 over every table's rows and hash (canonical JSON)."""
    text = json.dumps(tables, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
