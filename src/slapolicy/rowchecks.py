"""pandera: row-level obligations run in the engine and return every failing row."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from slapolicy.clauses.base import Direction


def row_schema(clause_id: str, direction: Direction) -> Any:
    """A pandera (ibis) schema whose dataframe check is the clause's obligation per row."""
    import ibis.expr.datatypes as dt
    import pandera.ibis as pa

    def complies(data: Any) -> Any:
        t = data.table
        return t.observed <= t.threshold if direction == "at_most" else t.observed >= t.threshold

    return pa.DataFrameSchema(
        {
            "subject_id": pa.Column(dt.string, nullable=False),
            "observed": pa.Column(dt.float64, nullable=False),
            "threshold": pa.Column(dt.float64, nullable=False),
        },
        checks=[pa.Check(complies, name=clause_id)],
        name=clause_id,
    )


def failing_rows(table: ir.Table, clause_id: str, direction: Direction) -> list[dict[str, Any]]:
    """Every row of ``table`` that breaks the clause (pandera lazy validation, no sampling).

    Raises ``ValueError`` when the facts themselves are malformed (null values),
    which the caller reports as the clause's ``error`` status.
    """
    import pandera.ibis as pa

    if int(table.count().execute()) == 0:
        return []  # pandera.ibis (0.35) reports nulls in every column of an empty table
    try:
        row_schema(clause_id, direction).validate(table, lazy=True)
    except pa.errors.SchemaErrors as e:
        cases = e.failure_cases
        structural = cases[cases["check"] != clause_id]
        if len(structural):
            first = structural.iloc[0]
            raise ValueError(
                f"facts are malformed: {first['column']} {first['check']} "
                f"({len(structural)} case(s))"
            ) from e
        return [dict(r) for r in cases["failure_case"]]
    return []
