"""pandera: obligations run in the engine and return every failing row."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from slapolicy.clauses.base import Direction


def comparison_check(name: str, direction: Direction) -> Any:
    """``observed <= threshold`` (at_most) or ``>=`` (at_least), per row, as a pandera Check."""
    import pandera.ibis as pa

    def complies(data: Any) -> Any:
        t = data.table
        return t.observed <= t.threshold if direction == "at_most" else t.observed >= t.threshold

    return pa.Check(complies, name=name)


def row_schema(name: str, check: Any) -> Any:
    """The facts schema: typed fact columns plus the clause's dataframe-level check."""
    import ibis.expr.datatypes as dt
    import pandera.ibis as pa

    return pa.DataFrameSchema(
        {
            "subject_id": pa.Column(dt.string, nullable=False),
            "observed": pa.Column(dt.float64, nullable=False),
            "threshold": pa.Column(dt.float64, nullable=False),
        },
        checks=[check],
        name=name,
    )


def failing_rows(table: ir.Table, name: str, check: Any) -> list[dict[str, Any]]:
    """Every row of ``table`` that fails ``check`` (lazy validation, no sampling).

    Raises ``ValueError`` when the facts themselves are malformed (null values),
    which the caller reports as the clause's ``error`` status.
    """
    import pandera.ibis as pa

    if int(table.count().execute()) == 0:
        return []  # pandera.ibis (0.35) reports nulls in every column of an empty table
    try:
        row_schema(name, check).validate(table, lazy=True)
    except pa.errors.SchemaErrors as e:
        cases = e.failure_cases
        structural = cases[cases["check"] != check.name]
        if len(structural):
            first = structural.iloc[0]
            raise ValueError(
                f"facts are malformed: {first['failure_case']!r} {first['check']} "
                f"({len(structural)} case(s))"
            ) from e
        return [dict(r) for r in cases["failure_case"]]
    return []
