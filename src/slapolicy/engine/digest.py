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
row hashes (its sort spills to disk when memory is short); they stream to Python in batches
only to be fed to one SHA-256.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from slapolicy.engine.contract import TABLES, ColumnSpec

ALGORITHM = "slapolicy-table/1"


def _canonical_value(c: ColumnSpec) -> str:
    col = f't."{c.name}"'
    if c.type == "timestamp":
        return f"strftime({col}, '%Y-%m-%dT%H:%M:%S.%fZ')"
    if c.type == "date":
        return f"strftime({col}, '%Y-%m-%d')"
    return col


def table_hashes(con: Any) -> dict[str, Any]:
    """Rows and content hash of every contract table in DuckDB connection ``con``.

    The tables are the typed ones the loader made (``sources.load_into``): the rows
    the audit used, after quarantine.
    """
    tables: dict[str, Any] = {}
    for spec in TABLES.values():
        fields = ", ".join(f"'{c.name}': {_canonical_value(c)}" for c in spec.columns)
        header = (f"{ALGORITHM}\n{spec.name}\n"
                  + ",".join(f"{c.name}:{c.type}" for c in spec.columns) + "\n")
        h = hashlib.sha256(header.encode("utf-8"))
        cur = con.execute(f"SELECT sha256(CAST(to_json({{{fields}}}) AS VARCHAR)) AS h "
                          f'FROM "{spec.name}" t ORDER BY h')
        rows = 0
        while batch := cur.fetchmany(100_000):
            h.update("".join(f"{r[0]}\n" for r in batch).encode("ascii"))
            rows += len(batch)
        tables[spec.name] = {"rows": rows, "sha256": h.hexdigest()}
    return {"algorithm": ALGORITHM, "digest": digest_of(tables), "tables": tables}


def digest_of(tables: dict[str, Any]) -> str:
    """One SHA-256 over every table's rows and hash (canonical JSON)."""
    text = json.dumps(tables, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
