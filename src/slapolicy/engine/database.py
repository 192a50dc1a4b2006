"""Contract tables read in place inside a database (PostgreSQL) or by Spark, through Ibis.

Nothing is copied out: each contract table becomes a temporary table of the
session, typed to the contract (instants as naive UTC), holding the rows that keep
the contract; the clauses then run inside the database like on DuckDB. Rows that
break the contract are set aside exactly as the file loader sets them aside
(``sources``), with the same reasons, and only they (a few, normally) leave the
database, for ``quarantine.parquet``. A database row has no line number: it is
located by its key.

Column types come from the database, so a value cannot have the wrong type; a
*column* of the wrong type makes its table unusable (named, with the type found
and the type needed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from slapolicy.engine.contract import TABLES, ColumnSpec, TableSpec
from slapolicy.engine.places import Place
from slapolicy.engine.sources import (
    _ORDER_RULES,
    _SINGULAR,
    WINDOWED,
    LoadReport,
    TableLoad,
    refused_columns,
    sort_gone,
)
from slapolicy.errors import DataSourceError

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir

_NEEDS = {"string": "text", "timestamp": "a timestamp (with time zone, or with --data-zone)",
          "date": "a date", "int64": "an integer", "float64": "a number",
          "boolean": "a boolean"}
#: Quarantine rows as the file loader writes them (``sources.QUARANTINE``).
QUARANTINE_COLUMNS = ("table", "row", "location", "key", "column", "value", "reason")


@dataclass(frozen=True)
class _Rule:
    column: str
    value: Any  # string expression
    reason: Any  # string (literal or expression)
    when: Any   # boolean expression
    #: Column rules come first; the rules across rows and tables judge only a row whose
    #: columns are sound (as in the file loader, a row lists one kind of problem).
    across: bool = False


def load_in_database(place: Place, *, declared_zone: str | None, not_after: datetime | None,
                     needs: dict[str, frozenset[str]] | None,
                     window: dict[str, datetime] | None = None) -> tuple[LoadReport, Any]:
    """Create the typed contract tables as temporary tables of the place's session.

    Returns the load report and the quarantined rows (an Arrow table, small).
    ``needs`` and ``window`` as in ``sources.load_into``.
    """
    import ibis
    import pyarrow as pa

    con, where = place.backend, place.where
    present = place.tables()
    tables: dict[str, TableLoad] = {}
    missing: dict[str, tuple[str, ...]] = {}
    absent: dict[str, tuple[str, ...]] = {}
    unusable: dict[str, str] = {}
    set_aside: dict[str, ir.Table] = {}  # per table, the keys of the rows set aside
    quarantined: list[pa.Table] = []
    latest_not_read: datetime | None = None
    for spec in TABLES.values():
        optional = needs is not None or not spec.required
        if spec.name not in present:
            if not optional:
                raise DataSourceError(
                    f"table {spec.name!r} is missing (found: "
                    f"{', '.join(sorted(present)) or 'none'})", source=where,
                    table=spec.name, hint=f"add a table {spec.name}; see docs/data-contract.md")
            place.empty(spec)
            tables[spec.name] = TableLoad(spec.name, None, 0, 0, 0)
            if needs is not None and spec.name in needs:
                missing[spec.name] = ("*",)
            continue
        wanted = None if needs is None else needs.get(spec.name, frozenset())
        loaded = frozenset(n for n, t in tables.items() if t.where is not None)
        try:
            typed, gone = _typed(place, spec, declared_zone, wanted)
        except DataSourceError as e:
            if needs is None:
                raise
            place.empty(spec)
            tables[spec.name] = TableLoad(spec.name, where, 0, 0, 0)
            unusable[spec.name] = str(e)
            continue
        # Duplicates over the whole table, before any window (as the file loader).
        typed = typed.mutate(_dupn=typed[spec.key[0]].count().over(
            ibis.window(group_by=[typed[k] for k in spec.key])))
        since = None if window is None or spec.name not in WINDOWED else window.get(spec.name)
        not_read = 0
        if since is not None:
            typed = _with_active(place, typed, spec, gone, since)
            inside = _in_window(typed, spec, gone, since)
            newest = _newest(typed, spec, gone, not_after)
            aggs = {"n": ibis._.count()} | ({} if newest is None else {"latest": newest.max()})
            row = typed.filter(~inside).aggregate(**aggs).to_pyarrow()
            not_read = int(row["n"][0].as_py())
            latest = row["latest"][0].as_py() if newest is not None else None
            if latest is not None:
                latest = latest.replace(tzinfo=None)
                latest_not_read = max(latest, latest_not_read or latest)
            typed = typed.filter(inside).drop("_active")
        typed = _with_parents(con, typed, spec, loaded)
        rules = _rules(con, typed, spec, gone, not_after, loaded, set_aside)
        sound = ~_any([r.when for r in rules if not r.across])
        bad = ~sound | _any([r.when for r in rules if r.across])
        flagged = place.temp(f"_flagged_{spec.name}", typed.mutate(_sound=sound, _bad=bad))
        # The reasons are worked out on the rows set aside alone (few, normally): every
        # rule's verdict is already in _sound/_bad, and a duplicate's copies are all bad.
        bad_rows = place.temp(f"_bad_{spec.name}", flagged.filter(flagged._bad))
        rows = _quarantine_rows(bad_rows, spec, _rules(con, bad_rows, spec, gone, not_after,
                                                       loaded, set_aside))
        found = rows.to_pyarrow() if rows is not None else None
        if found is not None and found.num_rows:
            quarantined.append(found)
        key = _key(flagged, spec)
        set_aside[spec.name] = place.temp(
            f"_set_aside_{spec.name}", flagged.filter(flagged._bad).select(key=key).distinct())
        place.temp(spec.name, flagged.filter(~flagged._bad).select(spec.column_names))
        counts = flagged.aggregate(read=flagged.count(),
                                   bad=flagged._bad.ifelse(1, 0).sum()).to_pyarrow()
        read, n_bad = int(counts["read"][0].as_py()), int(counts["bad"][0].as_py() or 0)
        tables[spec.name] = TableLoad(spec.name, where, read, read - n_bad, n_bad, not_read,
                                      since)
        sort_gone(spec.name, gone, wanted, missing, absent)
    q = (pa.concat_tables(quarantined) if quarantined
         else pa.table({c: pa.array([], pa.int64() if c == "row" else pa.string())
                        for c in QUARANTINE_COLUMNS}))
    reasons: dict[str, int] = {}
    for t, r in zip(q.column("table").to_pylist(), q.column("reason").to_pylist(), strict=True):
        reasons[f"{t}: {r}"] = reasons.get(f"{t}: {r}", 0) + 1
    return LoadReport(tables, reasons, missing, absent, unusable, latest_not_read), q


def _recent(t: ir.Table, spec: TableSpec, gone: list[str], since: datetime) -> tuple[Any, Any]:
    """The row has an instant in the window; the row cannot be left out (see ``_in_window``)."""
    import ibis

    recent, unreadable = [], []
    for c in spec.columns:
        if c.type not in ("timestamp", "date") or c.name in gone:
            continue
        bound = ibis.timestamp(since) if c.type == "timestamp" else ibis.date(since.date())
        recent.append(t[c.name] >= bound)
        # Types come from the database: a NULL is a value left out, never an unreadable one.
        if not c.nullable:
            unreadable.append(t[c.name].isnull())
    return _any(recent), _any(unreadable)


def _with_active(place: Place, t: ir.Table, spec: TableSpec, gone: list[str],
                 since: datetime) -> ir.Table:
    """``t`` with ``_active``: its subject (a lead, an opportunity) has anything in the window.

    The active subjects go to a temporary table first and are joined (a hash join): an
    ``IN`` over millions of keys, negated to count the rows left out, is a nested loop in
    PostgreSQL past its ``work_mem``.
    """
    import ibis

    link = WINDOWED.get(spec.name)
    if link is None:
        return t.mutate(_active=ibis.literal(False))
    col, parent = link
    p = place.backend.table(parent)
    stamps = [p[c.name] >= ibis.timestamp(since) for c in TABLES[parent].columns
              if c.type == "timestamp"]
    recent, _ = _recent(t, spec, gone, since)
    subjects = ibis.union(p.filter(_any(stamps)).select(_subject=p[col]),
                          t.filter(recent).select(_subject=t[col]), distinct=True)
    active = place.temp(f"_active_{spec.name}", subjects.filter(subjects._subject.notnull()))
    joined = t.left_join(active, t[col] == active._subject)
    return joined.mutate(_active=joined._subject.notnull()).drop("_subject")


def _in_window(t: ir.Table, spec: TableSpec, gone: list[str], since: datetime) -> Any:
    """The row is in the window from ``since``, as ``sources._in_window`` states it."""
    recent, unreadable = _recent(t, spec, gone, since)
    return recent | unreadable | t._active


def _newest(t: ir.Table, spec: TableSpec, gone: list[str], not_after: datetime | None) -> Any:
    """The row's latest instant (at most ``not_after``), for the default as-of."""
    import ibis

    stamps = [t[c.name] for c in spec.columns if c.type == "timestamp" and c.name not in gone]
    if not stamps:
        return None
    newest = stamps[0] if len(stamps) == 1 else ibis.greatest(*stamps)
    if not_after is not None:
        newest = (newest <= ibis.timestamp(not_after.replace(tzinfo=None))).ifelse(newest, None)
    return newest


def _typed(place: Place, spec: TableSpec, zone: str | None,
           wanted: frozenset[str] | None) -> tuple[ir.Table, list[str]]:
    """The table in the contract's columns and types; the columns the data lacks."""
    import ibis

    raw, where = place.raw(spec.name), place.where
    types = raw.schema()
    gone = [c.name for c in spec.columns if c.name not in types]
    refused = refused_columns(spec, gone, wanted)
    if refused:
        raise DataSourceError(
            f"missing column(s) {', '.join(refused)}", source=where, table=spec.name,
            hint="add them; docs/data-contract.md lists every column and its type")
    cols: dict[str, Any] = {}
    for c in spec.columns:
        if c.name in gone:
            cols[c.name] = ibis.null(c.type)
            continue
        cols[c.name] = _typed_column(place, raw[c.name], types[c.name], c, zone, spec)
        if c.type == "int64" and not types[c.name].is_integer():
            cols[f"_raw_{c.name}"] = raw[c.name].cast("float64")  # to name a fraction
    return raw.select(**cols), gone


def _typed_column(place: Place, col: Any, dtype: Any, c: ColumnSpec, zone: str | None,
                  spec: TableSpec) -> Any:
    where = place.where

    def wrong() -> DataSourceError:
        return DataSourceError(
            f"column {c.name} is of type {dtype}, but the contract needs {_NEEDS[c.type]}",
            source=where, table=spec.name, column=c.name,
            hint=f"change the column's type (or expose a view with {c.name} converted)")

    if c.type == "string":
        if not dtype.is_string():
            raise wrong()
        return col
    if c.type == "boolean":
        if not dtype.is_boolean():
            raise wrong()
        return col
    if c.type == "int64":
        if dtype.is_integer():
            return col.cast("int64")
        if not (dtype.is_floating() or dtype.is_decimal()):
            raise wrong()
        # 50.0 is 50; 49.5 is not an integer and is set aside (``_rules``), never rounded.
        d = col.cast("float64")
        return ((d == d.floor()) & ~d.isinf()).ifelse(d.cast("int64"), None)
    if c.type == "float64":
        if not (dtype.is_integer() or dtype.is_floating() or dtype.is_decimal()):
            raise wrong()
        return col.cast("float64")
    if c.type == "date":
        if not dtype.is_date():
            raise wrong()
        return col
    # Instants: with a zone they are exact; naive date-times and dates are wall time in
    # the declared zone, refused without one (never guessed to be UTC).
    if dtype.is_timestamp() and place.holds_instants(spec.name, c.name, dtype):
        return place.to_utc(col, None)
    if dtype.is_timestamp() or dtype.is_date():
        if zone is None:
            raise DataSourceError(
                "holds timestamps without a time zone (date-times or dates), and the source "
                "declares none", source=where, table=spec.name, column=c.name,
                hint="store instants (timestamptz; Parquet timestamps adjusted to UTC), or "
                     "declare the zone with --data-zone America/New_York")
        return place.to_utc(col, zone)
    raise wrong()


def _key(t: ir.Table, spec: TableSpec) -> Any:
    import ibis

    parts = [t[k].cast("string").fill_null("") for k in spec.key]
    out = parts[0]
    for p in parts[1:]:
        out = out.concat(ibis.literal("/"), p)
    return out


def _rules(con: ibis.BaseBackend, t: ir.Table, spec: TableSpec, gone: list[str],
           not_after: datetime | None, loaded: frozenset[str],
           set_aside: dict[str, ir.Table]) -> list[_Rule]:
    """Every per-row rule as the file loader states it (``sources._problems`` and
    ``sources._flag_rows``); a column the data lacks is exempt."""
    import ibis

    out: list[_Rule] = []
    for c in spec.columns:
        if c.name in gone:
            continue
        v = t[c.name]
        text = v.cast("string")
        if c.type == "int64" and f"_raw_{c.name}" in t.columns:
            r = t[f"_raw_{c.name}"]
            out.append(_Rule(c.name, r.cast("string"), "not an integer",
                             r.notnull() & v.isnull()))
        if c.type == "float64":
            d = v.cast("float64")
            out.append(_Rule(c.name, text, "not a finite number",
                             v.notnull() & (d.isnan() | d.isinf())))
        if not c.nullable:
            given = t[f"_raw_{c.name}"] if f"_raw_{c.name}" in t.columns else v
            blank = given.isnull() | ((text.strip() == "") if c.type == "string"
                                      else ibis.literal(False))
            out.append(_Rule(c.name, ibis.null("string"), "missing (the column is required)",
                             blank))
        if c.allowed is not None:
            out.append(_Rule(c.name, text, f"not one of: {', '.join(c.allowed)}",
                             v.notnull() & ~v.isin(list(c.allowed))))
        if c.min_value is not None:
            out.append(_Rule(c.name, text, f"below the minimum {c.min_value:g}",
                             v < c.min_value))
    # Across rows and tables.
    keys = list(spec.key)
    out.append(_Rule(",".join(keys), _key(t, spec),
                     "duplicate key (every row with it is set aside)",
                     t._dupn > 1, across=True))
    for col, other, _other_col in spec.references:
        if col in gone or (other not in loaded and other != spec.name):
            continue
        if f"_known_{col}" not in t.columns:
            continue
        unknown = t[col].notnull() & ~t[f"_known_{col}"]
        aside = set_aside.get(other)
        was_set_aside = (t[col].isin(aside.key) if aside is not None else ibis.literal(False))
        out.append(_Rule(col, t[col].cast("string"), f"its row in {other} was set aside",
                         unknown & was_set_aside, across=True))
        out.append(_Rule(col, t[col].cast("string"), f"not in {other}",
                         unknown & ~was_set_aside, across=True))
    for _col, other, _other_col, when, other_when in _ORDER_RULES.get(spec.name, ()):
        if other not in loaded or when in gone:
            continue
        out.append(_Rule(when, t[when].cast("string"),
                         f"before its {_SINGULAR.get(other, other)}'s {other_when}",
                         t[when] < t[f"_parent_{when}"], across=True))
    if not_after is not None:
        limit = ibis.timestamp(not_after.replace(tzinfo=None))
        for c in spec.columns:
            if c.type == "timestamp" and c.name not in gone:
                out.append(_Rule(c.name, t[c.name].cast("string"),
                                 f"in the future (after {not_after:%Y-%m-%d %H:%M:%S}Z, when "
                                 "the audit ran)", t[c.name] > limit, across=True))
    return out


def _any(conditions: list[Any]) -> Any:
    import ibis

    if not conditions:
        return ibis.literal(False)
    return ibis.or_(*(c.fill_null(False) for c in conditions))


def _with_parents(con: ibis.BaseBackend, t: ir.Table, spec: TableSpec,
                  loaded: frozenset[str]) -> ir.Table:
    """``t`` with, beside each row, whether each reference is known (a hash join: an ``IN``
    over millions of keys is a nested loop in PostgreSQL past its ``work_mem``) and its
    parent's instant for the order rules."""
    import ibis

    for col, other, other_col in spec.references:
        if other not in loaded and other != spec.name:
            continue
        src = t.view() if other == spec.name else con.table(other)
        ref = f"_ref_{col}"
        keys = src.select(**{ref: src[other_col]}).distinct()
        t = (t.left_join(keys, t[col] == keys[ref])
             .mutate(**{f"_known_{col}": ibis._[ref].notnull()}).drop(ref))
    for col, other, other_col, when, other_when in _ORDER_RULES.get(spec.name, ()):
        if other not in loaded:
            continue
        parent = con.table(other)
        first = parent.group_by(_pk=parent[other_col]).agg(
            **{f"_parent_{when}": parent[other_when].min()})
        t = t.left_join(first, t[col] == first._pk).drop("_pk")
    return t


def _quarantine_rows(t: ir.Table, spec: TableSpec, rules: list[_Rule]) -> ir.Table | None:
    """One row per broken rule per row, as the file loader's ``_quarantine``."""
    import ibis

    if not rules:
        return None
    key = _key(t, spec)
    parts = [t.filter(r.when.fill_null(False) & (t._sound if r.across else True)).select(
        table=ibis.literal(spec.name), row=ibis.null("int64"),
        location=ibis.literal("key ").concat(key), key=key,
        column=ibis.literal(r.column), value=r.value.cast("string"),
        reason=ibis.literal(r.reason)) for r in rules]
    return ibis.union(*parts, distinct=False)
