"""Breaches written by the engine: one DuckDB ``COPY`` per file, no Python per breach.

Every check's judged facts are selected where their state is ``breach`` or
``excused`` and unioned into one table with fixed columns; the evidence is the
JSON object of the check's other facts columns (instants as ISO 8601 UTC with a
``Z``). Rows are sorted by clause, check, subject type, subject and rep, so the
same facts give byte-identical ``breaches.parquet`` and ``breaches.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slapolicy.clauses.spec import FACT_COLUMNS

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir

BREACH_COLUMNS = (
    "clause_id", "check", "subject_type", "subject_id", "rep_id", "team", "person_id",
    "observed", "threshold", "unit", "severity", "status", "reason", "evidence",
)
_TYPES = {"observed": "DOUBLE", "threshold": "DOUBLE"}
ORDER = "clause_id, \"check\", subject_type, subject_id, rep_id"
_JUDGE_COLUMNS = {"threshold", "state", "reason"}


@dataclass(frozen=True)
class BreachSource:
    """One judged check whose breaches go into the files."""

    table: ir.Table
    clause_id: str
    check: str
    subject_type: str
    unit: str
    team: str
    team_lead: str | None
    severity: str


def _lit(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def _evidence(table: ir.Table) -> str:
    cols = [c for c in table.columns if c not in FACT_COLUMNS and c not in _JUDGE_COLUMNS]
    if not cols:
        return "'{}'"
    parts = []
    for c in sorted(cols):
        ident = '"' + c.replace('"', '""') + '"'
        dtype = table[c].type()
        if dtype.is_timestamp():
            value = f"replace(CAST({ident} AS VARCHAR), ' ', 'T') || 'Z'"
        elif dtype.is_date():
            value = f"CAST({ident} AS VARCHAR)"
        else:
            value = ident
        parts.append(f"{_lit(c)}: {value}")
    return "CAST(to_json({" + ", ".join(parts) + "}) AS VARCHAR)"


def _select(con: ibis.BaseBackend, src: BreachSource) -> str:
    sql = con.compile(src.table)
    return (
        f"SELECT {_lit(src.clause_id)} AS clause_id, {_lit(src.check)} AS \"check\", "
        f"{_lit(src.subject_type)} AS subject_type, CAST(subject_id AS VARCHAR) AS subject_id, "
        f"CAST(rep_id AS VARCHAR) AS rep_id, {_lit(src.team)} AS team, "
        f"CAST(coalesce(rep_id, {_lit(src.team_lead)}) AS VARCHAR) AS person_id, "
        f"round(CAST(observed AS DOUBLE), 6) AS observed, "
        f"round(CAST(threshold AS DOUBLE), 6) AS threshold, "
        f"{_lit(src.unit)} AS unit, {_lit(src.severity)} AS severity, "
        f"CASE WHEN state = 'excused' THEN 'excused' ELSE 'open' END AS status, "
        f"coalesce(reason, '') AS reason, {_evidence(src.table)} AS evidence "
        f"FROM ({sql}) WHERE state IN ('breach', 'excused')"
    )


def _empty() -> str:
    cols = ", ".join(f"CAST(NULL AS {_TYPES.get(c, 'VARCHAR')}) AS \"{c}\"" for c in BREACH_COLUMNS)
    return f"SELECT {cols} WHERE false"


def write_breaches(con: ibis.BaseBackend, sources: list[BreachSource], folder: Path) -> dict[str, Path]:
    """Write ``breaches.parquet`` and ``breaches.csv`` into ``folder`` with the engine."""
    folder.mkdir(parents=True, exist_ok=True)
    union = " UNION ALL ".join(_select(con, s) for s in sources) if sources else _empty()
    parquet, csv = folder / "breaches.parquet", folder / "breaches.csv"
    raw: Any = con.con
    raw.execute(f"COPY (SELECT * FROM ({union}) ORDER BY {ORDER}) TO '{_path(parquet)}' "
                "(FORMAT parquet, COMPRESSION zstd)").fetchall()
    # The CSV is for spreadsheets: text a spreadsheet would run as a formula is neutralised
    # (OWASP, CSV injection); the Parquet file keeps every value as it is.
    cells = ", ".join(f't."{c}"' if c in _TYPES else csv_safe(c) for c in BREACH_COLUMNS)
    order = ", ".join(f"t.{c.strip()}" for c in ORDER.split(","))
    raw.execute(f"COPY (SELECT {cells} FROM read_parquet('{_path(parquet)}') AS t "
                f"ORDER BY {order}) "
                f"TO '{_path(csv)}' (FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"', "
                "NEW_LINE '\\n')").fetchall()
    return {"breaches.parquet": parquet, "breaches.csv": csv}


def csv_safe(column: str, table: str = "t") -> str:
    """SQL for a text column as a spreadsheet should get it: a value starting with ``=``,
    ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``, so a spreadsheet
    shows it as text instead of running it as a formula (OWASP, CSV injection)."""
    ident = '"' + column.replace('"', '""') + '"'
    value = f"{table}.{ident}"
    return (f"CASE WHEN regexp_matches({value}, '^[=+\\-@\\t\\r]') THEN '''' || {value} "
            f"ELSE {value} END AS {ident}")


def _path(path: Path) -> str:
    return str(path.resolve()).replace("'", "''")
