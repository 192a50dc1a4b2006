"""Kept facts: each check's threshold-free facts, written as Parquet by the engine.

An audit keeps the facts it judged in ``<audit>/facts/``: one Parquet file per
check (``<clause>.<check>.parquet``, rows sorted by subject) and ``index.json``
naming what determines them: the policy content hash, the period and as-of
instant, the input data's fingerprint, and per check its clause, kind, rows and
SHA-256. Judging the period again under other thresholds reads these files
(``FactsStore.open``) instead of measuring again.

The files are part of the audit's hashed content (the manifest lists them):
they are the evidence every verdict and breach was derived from, and the review
form replays them, so a signature must cover them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slapolicy.errors import FactsError

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir

FACTS_DIR = "facts"
INDEX = "index.json"
FORMAT = "slapolicy-facts/1"


@dataclass
class FactsStore:
    """The kept facts of one audited period."""

    folder: Path
    key: dict[str, Any]
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def create(cls, folder: Path, key: dict[str, Any]) -> FactsStore:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.parquet"):
            old.unlink()
        return cls(folder, dict(key))

    @classmethod
    def open(cls, folder: Path) -> FactsStore:
        """Read a kept store; refuse one whose files do not match their index."""
        index = folder / INDEX
        if not index.is_file():
            raise FactsError(f"{folder} holds no kept facts ({INDEX} is missing)",
                             hint="audit the period (facts are kept by every audit)")
        data = json.loads(index.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise FactsError(f"{index}: format {data.get('format')!r} is not {FORMAT}",
                             hint="audit the period again with this version of slapolicy")
        store = cls(folder, data["key"], data["checks"])
        for name, entry in store.checks.items():
            if not entry.get("file"):
                continue
            path = folder / entry["file"]
            if not path.is_file() or _sha256(path) != entry["sha256"]:
                raise FactsError(f"{path}: kept facts of {name} are missing or changed",
                                 hint="audit the period again; kept facts are never edited")
        return store

    @staticmethod
    def file_name(clause_id: str, check: str) -> str:
        return f"{clause_id}.{check}.parquet"

    def note(self, clause_id: str, kind: str, check: str, *, error: str | None = None,
             not_measured: str | None = None) -> None:
        """Record a check that could not be measured: an ``error``, or ``not_measured``
        when the data lacks what it reads."""
        entry: dict[str, Any] = {"clause_id": clause_id, "kind": kind, "check": check,
                                 "notes": []}
        if not_measured is not None:
            entry["not_measured"] = not_measured
        else:
            entry["error"] = error or "not measured"
        self.checks[f"{clause_id}:{check}"] = entry

    def keep(self, backend: ibis.BaseBackend, clause_id: str, kind: str, check: str,
             table: ir.Table, notes: list[str] | None = None, *, local: Any = None) -> Path:
        """Write ``table`` (sorted by subject) with the engine that holds it; ``local``:
        the embedded DuckDB that writes facts measured in another database (the engine's
        ``local``; default: a new one, bounded like it)."""
        path = self.folder / self.file_name(clause_id, check)
        order = ", ".join(f'"{c}"' for c in ("subject_id", "rep_id", "observed")
                          if c in table.columns)
        # The fact columns get their contract types here: ibis may leave a literal such
        # as 1.0 to DuckDB, which types it DECIMAL.
        streamed = backend.name != "duckdb"
        if not streamed:
            raw: Any = backend.con
            sql = backend.compile(table)
        else:
            # Measured inside a database: the facts (one row per subject) stream out once,
            # in batches, and the embedded engine writes them exactly as it writes its own
            # (sorting within its memory bound, spilling beyond it).
            from slapolicy.engine.places import STREAM_ROWS

            raw = local if local is not None else _bounded_duckdb()
            raw.register("_measured", table.to_pyarrow_batches(chunk_size=STREAM_ROWS))
            sql = "SELECT * FROM _measured"
        # Every column gets the type its expression declares (an integer count as BIGINT,
        # whatever a backend's sum returns), so the same facts are the same bytes on every
        # engine the audit can run on.
        typed = ", ".join(f'CAST("{name}" AS {_SQL.get(name) or _sql_type(dtype)}) AS "{name}"'
                          for name, dtype in table.schema().items())
        raw.execute(
            f"COPY (SELECT {typed} FROM ({sql}) ORDER BY {order}) "
            f"TO '{_quoted(path)}' (FORMAT parquet, COMPRESSION zstd)").fetchall()
        if streamed:
            raw.unregister("_measured")  # a stream, read once
        rows = int(raw.execute(f"SELECT count(*) FROM read_parquet('{_quoted(path)}')")
                   .fetchall()[0][0])
        self.checks[f"{clause_id}:{check}"] = {
            "clause_id": clause_id, "kind": kind, "check": check, "file": path.name,
            "rows": rows, "sha256": _sha256(path), "notes": list(notes or [])}
        return path

    def path(self, clause_id: str, check: str) -> Path:
        entry = self.checks.get(f"{clause_id}:{check}")
        if entry is None:
            raise FactsError(f"no kept facts for {clause_id}:{check} in {self.folder}",
                             hint="the check was not measured in that audit")
        return self.folder / entry["file"]

    def table(self, con: ibis.BaseBackend, clause_id: str, check: str) -> ir.Table:
        """The kept facts of one check, read in place by ``con``."""
        path = self.path(clause_id, check)
        return con.read_parquet(path, table_name=f"facts_{_ident(clause_id)}_{_ident(check)}")

    def write_index(self) -> Path:
        body = {"format": FORMAT, "key": self.key,
                "checks": dict(sorted(self.checks.items()))}
        path = self.folder / INDEX
        path.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8",
                        newline="\n")
        return path


def _bounded_duckdb() -> Any:
    import duckdb

    from slapolicy.engine.context import bound_memory

    con = duckdb.connect()
    bound_memory(con)
    return con


#: The fact columns' types (``clauses.spec.FACT_COLUMNS``).
_SQL = {"subject_id": "VARCHAR", "rep_id": "VARCHAR", "observed": "DOUBLE", "open": "BOOLEAN"}


def _sql_type(dtype: Any) -> str:
    if dtype.is_integer():
        return "BIGINT"
    if dtype.is_floating() or dtype.is_decimal():
        return "DOUBLE"
    if dtype.is_boolean():
        return "BOOLEAN"
    if dtype.is_timestamp():
        return "TIMESTAMP"
    if dtype.is_date():
        return "DATE"
    return "VARCHAR"


def _quoted(path: Path) -> str:
    return str(path.resolve()).replace("'", "''")


def _ident(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
