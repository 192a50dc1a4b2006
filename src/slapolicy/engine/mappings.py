"""Declarative mappings from CRM exports (HubSpot, Salesforce, ...) to the data contract.

A mapping is a YAML file that says, per contract table, which export file(s) hold it and
how each contract column is computed from the export's columns, in DuckDB SQL::

    name: hubspot
    tables:
      leads:
        file: contacts*.csv            # a file name or glob in the export folder
        where: hs_object_id IS NOT NULL   # optional row filter
        columns:                       # every contract column: SQL over the export's columns
          lead_id: hs_object_id
          mql_at: hs_lifecyclestage_marketingqualifiedlead_date
          source: COALESCE(lower(hs_analytics_source), 'unknown')
          marketer_id: null            # a CRM without it: NULL (nullable columns only)
      activities:
        columns: {rep_id: hubspot_owner_id}     # shared by every part of the union
        union:                         # several exports, stacked (UNION ALL)
          calls: {file: calls*.csv, columns: {kind: "'call'"}}
          emails: {file: emails*.csv, columns: {kind: "'email'"}}

A column's value is a SQL expression (a bare name is a column of the export; text needs
single quotes, ``"'call'"``), a number, ``true``/``false``, or ``null``. ``lookups`` join one
row of another export file per row, by a key (``lead: {file: Lead.csv, key:
ConvertedOpportunityId, equals: Id}``), and expressions read its columns as ``lead.Id``.

A workspace mapping may ``extends: hubspot`` (a shipped name, another mapping's name, or a
path) and override tables, sources, lookups or single columns; ``null`` removes a table, a
union part or a lookup. A column overridden at a table's level applies to every part of
its union.

:func:`mapped_relations` turns a mapping and an export folder into one DuckDB relation per
contract table it provides, whose columns are the contract's, as text;
``slapolicy.engine.sources`` casts them with the contract's types like any other input.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from slapolicy.engine.contract import TABLES
from slapolicy.errors import DataSourceError, PolicyError

if TYPE_CHECKING:
    import duckdb

#: Where the shipped mappings live (package data).
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "mappings"

Loc = tuple[str, ...]
#: A column's value: SQL text, a literal, or null.
Value = str | bool | int | float | None

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DOCS = "docs/crm-exports.md"
_P = "_slapolicy_"  # prefix of the names the generated SQL adds


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Lookup(_Spec):
    """One row of another export file per row: the first whose ``key`` ``equals`` ours."""

    file: str = Field(description="file name or glob in the export folder")
    key: str = Field(description="SQL over the lookup file's columns")
    equals: str = Field(description="SQL over the main export's columns")
    where: str | None = Field(None, description="row filter on the lookup file")
    order: str | None = Field(None, description="ORDER BY over the lookup file: the first wins")


class Source(_Spec):
    """One export file (or glob) read into a table, or into one part of a table's union."""

    file: str
    where: str | None = None
    lookups: dict[str, Lookup] = Field(default_factory=dict)
    columns: dict[str, Value] = Field(default_factory=dict)


class TableMapping(_Spec):
    """How one contract table comes from the export: one ``file``, or a ``union`` of parts."""

    file: str | None = None
    where: str | None = None
    lookups: dict[str, Lookup] = Field(default_factory=dict)
    columns: dict[str, Value] = Field(default_factory=dict)
    union: dict[str, Source] | None = None


class Mapping(_Spec):
    """A validated mapping, with where each of its values came from (file and line)."""

    name: str
    description: str = ""
    tables: dict[str, TableMapping] = Field(default_factory=dict)

    _origins: dict[Loc, tuple[str, int | None]] = PrivateAttr(default_factory=dict)
    _files: list[str] = PrivateAttr(default_factory=list)

    @property
    def files(self) -> list[str]:
        """The YAML files this mapping was read from, the most derived first."""
        return list(self._files)

    def origin(self, loc: Loc) -> tuple[str | None, int | None]:
        """The YAML file and line that gave the value at ``loc`` (or its nearest parent)."""
        for n in range(len(loc), -1, -1):
            if loc[:n] in self._origins:
                return self._origins[loc[:n]]
        return (self._files[0] if self._files else None), None

    def describe(self, loc: Loc) -> str:
        """``tables.leads.columns.mql_at (hubspot.yaml:42)``: a YAML path and its origin."""
        path, line = self.origin(loc)
        if path is None:
            return _fmt(loc)
        return f"{_fmt(loc)} ({path}{f':{line}' if line else ''})"


# --- loading ------------------------------------------------------------------------------


def shipped_mappings() -> list[str]:
    """Names of the mappings that ship with slapolicy (``hubspot``, ``salesforce``)."""
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml"))


def load_mapping(name_or_path: str | Path, search_dirs: Sequence[str | Path] = ()) -> Mapping:
    """Load a mapping by name (``search_dirs`` first, then the shipped ones) or by path.

    ``extends:`` chains are followed (a name resolves next to the extending file, then in
    ``search_dirs``, then among the shipped mappings, never to a file already in the chain,
    so ``mappings/hubspot.yaml`` may extend the shipped ``hubspot``). Errors are
    :class:`~slapolicy.errors.PolicyError` with the file, line and YAML path.
    """
    dirs = [Path(d) for d in search_dirs]
    top = _locate(str(name_or_path), dirs, base_dir=None, skip=set(), asked_by=None)
    layers: list[tuple[Path, Any]] = []
    current = top
    while True:
        data = _read_yaml(current)
        layers.insert(0, (current, data))
        ext = data.get("extends")
        if ext is None:
            break
        where: dict[str, Any] = {"path": str(current), "yaml_path": "extends",
                                 "line": _line(data, ("extends",))}
        if not isinstance(ext, str) or not ext.strip():
            raise PolicyError("`extends:` names one mapping", hint="e.g. `extends: hubspot`",
                              **where)
        current = _locate(ext.strip(), dirs, base_dir=current.parent,
                          skip={p for p, _ in layers}, asked_by=where)
    return _build(layers)


def parse_mapping(text: str, *, source: str = "<text>") -> Mapping:
    """A mapping from YAML text (no ``extends:``; for tests and tools)."""
    data = _parse_yaml(text, source)
    if data.get("extends") is not None:
        raise PolicyError("`extends:` needs a mapping file", path=source, yaml_path="extends",
                          line=_line(data, ("extends",)), hint="use load_mapping(path)")
    return _build([(Path(source), data)])


def _locate(ref: str, dirs: list[Path], *, base_dir: Path | None, skip: set[Path],
            asked_by: dict[str, Any] | None) -> Path:
    looks_like_path = ref.endswith((".yaml", ".yml")) or "/" in ref or "\\" in ref
    if looks_like_path:
        p = Path(ref)
        if not p.is_absolute() and base_dir is not None:
            p = base_dir / p
        p = p.resolve()
        if p in skip:
            raise PolicyError(f"mapping {ref!r} extends itself (through {len(skip)} file(s))",
                              hint="remove the cycle of `extends:`", **(asked_by or {}))
        if not p.is_file():
            hint = "check the path, or give a shipped mapping's name: " + ", ".join(
                shipped_mappings())
            if asked_by:
                raise PolicyError(f"mapping file {p} not found", hint=hint, **asked_by)
            raise PolicyError("mapping file not found", path=str(p), hint=hint)
        return p
    candidates = ([base_dir] if base_dir is not None else []) + dirs + [SHIPPED_DIR]
    for d in candidates:
        for ext in (".yaml", ".yml"):
            p = (d / f"{ref}{ext}").resolve()
            if p.is_file() and p not in skip:
                return p
    looked = ", ".join(dict.fromkeys(str(d) for d in candidates))
    raise PolicyError(
        f"no mapping named {ref!r} (looked in {looked})",
        hint="shipped mappings: " + ", ".join(shipped_mappings())
             + "; or give the path of a mapping file", **(asked_by or {"path": "<mapping>"}))


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise PolicyError("the mapping file is not UTF-8 text", path=str(path),
                          hint="save it as UTF-8") from e
    except OSError as e:
        raise PolicyError(f"cannot read the mapping file: {e.strerror}", path=str(path)) from e
    return _parse_yaml(text, str(path))


def _parse_yaml(text: str, source: str) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import MarkedYAMLError

    try:
        data = YAML(typ="rt").load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise PolicyError(f"not valid YAML: {e.problem or e.context}", path=source,
                          line=mark.line + 1 if mark else None,
                          hint="fix the YAML syntax at that line (indentation, a missing colon "
                               "or quote)") from e
    if not isinstance(data, CommentedMap):
        raise PolicyError("a mapping file is a YAML mapping with `tables:`", path=source, line=1,
                          hint=f"see {_DOCS}")
    return data


def _build(layers: list[tuple[Path, Any]]) -> Mapping:
    """Merge the layers (base first) and validate; record where every value came from."""
    merged: dict[str, Any] = {}
    origins: dict[Loc, tuple[str, int | None]] = {}
    for path, data in layers:
        merged = _merge_top(merged, _plain(data))
        origins[()] = (str(path), None)
        for loc, line in _lines(data):
            origins[loc] = (str(path), line)
    top_path, top = layers[-1]
    merged.pop("extends", None)
    # The name is the most derived file's own (or its file name): never inherited.
    merged["name"] = _plain(top["name"]) if top.get("name") is not None else top_path.stem
    try:
        mapping = Mapping.model_validate(merged)
    except ValidationError as e:
        raise _validation_error(e, merged, origins) from e
    mapping._origins = origins
    mapping._files = [str(p) for p, _ in reversed(layers)]
    _plan(mapping)  # the contract-level checks, with the same file/line/YAML path errors
    return mapping


def _merge_top(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in child.items():
        if k == "extends":
            continue
        if k == "tables" and isinstance(v, dict) and isinstance(base.get(k), dict):
            out[k] = _merge_keyed(base[k], v, _merge_table)
        else:
            out[k] = v
    return out


def _merge_keyed(base: dict[str, Any], child: dict[str, Any],
                 merge: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]],
                 ) -> dict[str, Any]:
    """Merge named items: ``null`` removes one, a mapping merges into the base's item."""
    out = dict(base)
    for name, item in child.items():
        if item is None:
            out.pop(name, None)
        elif isinstance(item, dict) and isinstance(base.get(name), dict):
            out[name] = merge(base[name], item)
        else:
            out[name] = item
    return out


def _merge_source(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in child.items():
        if k == "columns" and isinstance(v, dict) and isinstance(base.get(k), dict):
            out[k] = {**base[k], **v}
        elif k == "lookups" and isinstance(v, dict) and isinstance(base.get(k), dict):
            out[k] = _merge_keyed(base[k], v, lambda _b, c: c)  # a lookup is replaced whole
        elif k == "union" and isinstance(v, dict) and isinstance(base.get(k), dict):
            out[k] = _merge_keyed(base[k], v, _merge_source)
        else:
            out[k] = v
    return out


def _merge_table(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    out = _merge_source(base, child)
    # A column the extension sets at the table's level applies to every part of the union,
    # unless the extension also sets it on that part.
    shared = child.get("columns")
    parts = out.get("union")
    if isinstance(shared, dict) and isinstance(parts, dict):
        new_parts: dict[str, Any] = {}
        for name, part in parts.items():
            if isinstance(part, dict) and isinstance(part.get("columns"), dict):
                own_cols = _get(_get(child, "union"), name, "columns")
                part = {**part, "columns": {c: v for c, v in part["columns"].items()
                                            if c not in shared or c in own_cols}}
            new_parts[name] = part
        out["union"] = new_parts
    return out


def _get(node: Any, *keys: str) -> dict[str, Any]:
    """The mapping at ``keys`` under ``node``, or an empty one."""
    for k in keys:
        node = node.get(k) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def _plain(node: Any) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarbool import ScalarBoolean

    if isinstance(node, CommentedMap):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, CommentedSeq):
        return [_plain(v) for v in node]
    if isinstance(node, bool | ScalarBoolean):  # ScalarBoolean (anchored) is an int
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _lines(node: Any, prefix: Loc = ()) -> list[tuple[Loc, int]]:
    """(YAML path, 1-based line) of every key in a ruamel document."""
    from ruamel.yaml.comments import CommentedMap

    out: list[tuple[Loc, int]] = []
    if isinstance(node, CommentedMap):
        for k, v in node.items():
            loc = (*prefix, str(k))
            out.append((loc, node.lc.key(k)[0] + 1))
            out.extend(_lines(v, loc))
    return out


def _line(node: Any, loc: Loc) -> int | None:
    for part in loc[:-1]:
        node = node[part]
    try:
        return int(node.lc.key(loc[-1])[0]) + 1
    except (AttributeError, KeyError):
        return None


def _fmt(loc: Loc) -> str:
    return ".".join(loc) if loc else "<top>"


_FIELDS: dict[str, set[str]] = {
    "mapping": {*Mapping.model_fields, "extends"},
    "table": set(TableMapping.model_fields),
    "source": set(Source.model_fields),
    "lookup": set(Lookup.model_fields),
}


def _kind_at(parent: Loc) -> str | None:
    """Which part of a mapping the keys under ``parent`` belong to."""
    if parent == ():
        return "mapping"
    if len(parent) == 2 and parent[0] == "tables":
        return "table"
    if len(parent) == 4 and parent[2] == "union":
        return "source"
    if len(parent) in (4, 6) and parent[-2] == "lookups":
        return "lookup"
    return None


def _validation_error(err: ValidationError, data: dict[str, Any],
                      origins: dict[Loc, tuple[str, int | None]]) -> PolicyError:
    def in_document(raw: Loc) -> Loc:
        # The part of pydantic's location that names keys of the document (it appends
        # union member names for a value that matches none of them).
        loc: Loc = ()
        node: Any = data
        for part in raw:
            if isinstance(node, dict) and part in node:
                loc = (*loc, part)
                node = node[part]
            else:
                break
        return loc

    errors = err.errors()
    item = errors[0]
    raw = tuple(str(p) for p in item["loc"])
    loc = in_document(raw)
    msg = str(item["msg"]).removeprefix("Value error, ")
    hint: str | None = f"see {_DOCS}"
    if item["type"] == "extra_forbidden":
        kind = _kind_at(loc[:-1])
        known = sorted(_FIELDS[kind]) if kind else []
        close = difflib.get_close_matches(loc[-1], known, n=1)
        msg = f"unknown key {loc[-1]!r}"
        hint = (f"did you mean {close[0]!r}?" if close
                else f"remove it; allowed keys here: {', '.join(known)}")
    elif item["type"] == "missing":
        missing = raw[len(loc)] if len(raw) > len(loc) else raw[-1]
        msg = f"`{missing}:` is missing"
        hint = f"add `{missing}:` here; see {_DOCS}"
    elif len(loc) >= 2 and loc[-2] == "columns":
        msg = ("a column's value is SQL text (a column of the export or an expression), "
               "a number, true/false or null")
        hint = "quote it as text, e.g. \"'2020-01-01'\" for a literal"
    more = len({in_document(tuple(str(p) for p in e["loc"])) for e in errors} - {loc})
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    path, line = None, None
    for n in range(len(loc), -1, -1):
        if loc[:n] in origins:
            path, line = origins[loc[:n]]
            break
    return PolicyError(msg, path=path, yaml_path=_fmt(loc), line=line, hint=hint)


# --- the plan: each contract table as sources with every contract column ---------------------


@dataclass(frozen=True)
class _LookupPlan:
    alias: str
    spec: Lookup
    loc: Loc


@dataclass
class _SourcePlan:
    table: str
    loc: Loc                         # ("tables", t) or ("tables", t, "union", part)
    file: str
    wheres: list[tuple[str, Loc]] = field(default_factory=list)
    lookups: list[_LookupPlan] = field(default_factory=list)
    columns: dict[str, tuple[Value, Loc]] = field(default_factory=dict)


def _problem(mapping: Mapping, loc: Loc, message: str, hint: str) -> PolicyError:
    path, line = mapping.origin(loc)
    return PolicyError(message, path=path or f"<mapping {mapping.name}>", yaml_path=_fmt(loc),
                       line=line, hint=hint)


def _plan(mapping: Mapping) -> dict[str, list[_SourcePlan]]:
    """Check the mapping against the contract; resolve each table into its sources."""
    plan: dict[str, list[_SourcePlan]] = {}
    for t, tm in mapping.tables.items():
        tloc: Loc = ("tables", t)
        if t not in TABLES:
            close = difflib.get_close_matches(t, list(TABLES), n=1)
            raise _problem(mapping, tloc, f"{t!r} is not a table of the data contract",
                           f"did you mean {close[0]!r}?" if close
                           else "contract tables: " + ", ".join(TABLES))
        spec = TABLES[t]
        _check_columns_known(mapping, t, tm.columns, (*tloc, "columns"))
        if (tm.file is None) == (tm.union is None):
            raise _problem(mapping, tloc, "a table has either `file:` or `union:`",
                           "give the export file, or a `union:` of named parts each with "
                           "its `file:`")
        parts: list[tuple[Source, Loc]]
        if tm.union is not None:
            if not tm.union:
                raise _problem(mapping, (*tloc, "union"), "the union has no parts",
                               "name at least one part with its `file:`")
            parts = [(s, (*tloc, "union", name)) for name, s in tm.union.items()]
        else:
            assert tm.file is not None
            parts = [(Source(file=tm.file), tloc)]
        sources: list[_SourcePlan] = []
        for src, loc in parts:
            inherited = loc == tloc
            sp = _SourcePlan(t, loc, src.file)
            for sql, wloc in ((tm.where, (*tloc, "where")),
                              (None if inherited else src.where, (*loc, "where"))):
                if sql is not None:
                    sp.wheres.append((_sql_text(mapping, sql, wloc), wloc))
            lookups = {a: (lk, (*tloc, "lookups", a)) for a, lk in tm.lookups.items()}
            if not inherited:
                lookups.update({a: (lk, (*loc, "lookups", a)) for a, lk in src.lookups.items()})
                _check_columns_known(mapping, t, src.columns, (*loc, "columns"))
            for alias, (lk, lloc) in lookups.items():
                if not _IDENT.match(alias):
                    raise _problem(mapping, lloc, f"lookup name {alias!r} is not a plain name",
                                   "use letters, digits and _ (it prefixes the lookup's "
                                   "columns: lead.Id)")
                for k in ("key", "equals", "where", "order"):
                    v = getattr(lk, k)
                    if v is not None:
                        _sql_text(mapping, v, (*lloc, k))
                _check_file(mapping, lk.file, (*lloc, "file"))
                sp.lookups.append(_LookupPlan(alias, lk, lloc))
            _check_file(mapping, src.file, (*loc, "file"))
            values = {c: (v, (*tloc, "columns", c)) for c, v in tm.columns.items()}
            if not inherited:
                values.update({c: (v, (*loc, "columns", c)) for c, v in src.columns.items()})
            missing = [c.name for c in spec.columns if c.name not in values and not c.optional]
            if missing:
                raise _problem(
                    mapping, (*loc, "columns"),
                    f"no value for {t} column(s) {', '.join(missing)}",
                    "map each contract column to a column of the export or a SQL expression, "
                    "or to null if the contract lets it be empty (docs/data-contract.md)")
            for c in spec.column_names:
                v, vloc = values.get(c, (None, (*loc, "columns")))  # optional: NULL
                if v is None and not spec.column(c).nullable:
                    raise _problem(mapping, vloc,
                                   f"{t}.{c} may not be empty in the data contract",
                                   "map it to a column, an expression or a default value")
                if isinstance(v, str):
                    _sql_text(mapping, v, vloc)
                sp.columns[c] = (v, vloc)
            sources.append(sp)
        plan[t] = sources
    return plan


def _check_columns_known(mapping: Mapping, table: str, columns: dict[str, Value],
                         loc: Loc) -> None:
    names = TABLES[table].column_names
    for c in columns:
        if c not in names:
            close = difflib.get_close_matches(c, names, n=1)
            raise _problem(mapping, (*loc, c), f"{c!r} is not a column of {table}",
                           f"did you mean {close[0]!r}?" if close
                           else f"{table} columns: {', '.join(names)}")


def _check_file(mapping: Mapping, pattern: str, loc: Loc) -> None:
    if not pattern.strip() or "/" in pattern or "\\" in pattern:
        raise _problem(mapping, loc, f"{pattern!r} is not a file name in the export folder",
                       "give a file name or glob, e.g. contacts*.csv")


def _sql_text(mapping: Mapping, sql: str, loc: Loc) -> str:
    if not sql.strip():
        raise _problem(mapping, loc, "empty SQL", "give a column name or an expression, or null")
    return sql


# --- relations ----------------------------------------------------------------------------


def mapped_relations(con: duckdb.DuckDBPyConnection, folder: Path,
                     mapping: Mapping) -> dict[str, tuple[str, str]]:
    """Per contract table the mapping provides: (DuckDB relation SQL, where it comes from).

    Each relation has exactly the contract's columns, in its order, as VARCHAR (``NULL``
    where the mapping says null); ``sources`` casts them. Export files are CSV, read with
    ``read_csv(path, header=true, all_varchar=true)``. A missing export file or column is a
    :class:`~slapolicy.errors.DataSourceError` naming the file, the column(s), and the YAML
    path and file of the mapping that expects them; SQL that does not run on the export is
    a :class:`~slapolicy.errors.PolicyError` at the expression's YAML path.
    """
    folder = Path(folder)
    plan = _plan(mapping)
    if not folder.is_dir():
        raise DataSourceError("no such folder", source=str(folder),
                              hint=f"pass the folder the {mapping.name} export files are in")
    listing = sorted(p.name for p in folder.iterdir() if p.is_file())
    headers: dict[Path, list[str]] = {}
    out: dict[str, tuple[str, str]] = {}
    for table in TABLES:
        if table not in plan:
            continue
        parts: list[str] = []
        read: list[Path] = []
        for sp in plan[table]:
            main = _match(mapping, folder, listing, sp.file, (*sp.loc, "file"), table)
            looked = {lp.alias: _match(mapping, folder, listing, lp.spec.file,
                                       (*lp.loc, "file"), table) for lp in sp.lookups}
            for f in [*main, *(p for fs in looked.values() for p in fs)]:
                if f not in headers:
                    headers[f] = _header(con, f, table, mapping)
            _check_references(mapping, sp, main, looked, headers)
            sql = _source_sql(sp, main, looked)
            _check_binds(con, mapping, sp, main, looked, sql)
            parts.append(sql)
            read.extend(f for f in main if f not in read)
        relation = parts[0] if len(parts) == 1 else " UNION ALL ".join(f"({p})" for p in parts)
        where = ", ".join(str(f) for f in read) + f" (mapping {mapping.name})"
        # In a fixed order (the contract's key columns come first), so that "row N" in the
        # loader's messages names the same row on every run.
        out[table] = (f"(SELECT * FROM ({relation}) ORDER BY ALL)", where)
    return out


def left_out_by_mapping(con: duckdb.DuckDBPyConnection, folder: Path,
                       mapping: Mapping) -> dict[str, list[dict[str, Any]]]:
    """Per contract table, each export source the mapping filters (its ``where:`` rules):
    the export's rows, and how many the rules keep (before an expression such as
    ``unnest`` makes several contract rows of one). Run after :func:`mapped_relations`
    has checked the export, so that no export row leaves the audit uncounted."""
    folder = Path(folder)
    listing = sorted(p.name for p in folder.iterdir() if p.is_file())
    out: dict[str, list[dict[str, Any]]] = {}
    for table, sources in _plan(mapping).items():
        for sp in sources:
            if not sp.wheres:
                continue
            main = _match(mapping, folder, listing, sp.file, (*sp.loc, "file"), table)
            looked = {lp.alias: _match(mapping, folder, listing, lp.spec.file,
                                       (*lp.loc, "file"), table) for lp in sp.lookups}
            keep = " AND ".join(_wrap(w) for w, _ in sp.wheres)
            row = con.execute(
                f"SELECT count(*), count(*) FILTER (WHERE {_P}keep) FROM (SELECT {keep} AS "
                f"{_P}keep FROM {_joined_sql(sp, main, looked)})").fetchone()
            rows, kept = (int(row[0]), int(row[1])) if row else (0, 0)
            out.setdefault(table, []).append({
                "files": [f.name for f in main], "rows": rows, "kept": kept,
                "left_out": rows - kept,
                "rules": [f"{_fmt(loc)}: {' '.join(w.split())}" for w, loc in sp.wheres]})
    return out


def _match(mapping: Mapping, folder: Path, listing: list[str], pattern: str, loc: Loc,
           table: str) -> list[Path]:
    found = [n for n in listing if fnmatch.fnmatchcase(n.lower(), pattern.lower())]
    if not found:
        raise DataSourceError(
            f"no export file matches {pattern!r} (found: {', '.join(listing) or 'none'}); "
            f"mapping {mapping.name} expects it at {mapping.describe(loc)}",
            source=str(folder), table=table,
            hint=f"export it into this folder, or name the file you have at {_fmt(loc)} in a "
                 f"mapping that `extends: {mapping.name}` ({_DOCS})",
        )
    return [folder / n for n in found]


def _q(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _read(files: list[Path]) -> str:
    if len(files) == 1:
        return f"read_csv({_q(files[0])}, header=true, all_varchar=true)"
    paths = ", ".join(_q(f) for f in files)
    return f"read_csv([{paths}], header=true, all_varchar=true, union_by_name=true)"


def _header(con: duckdb.DuckDBPyConnection, path: Path, table: str,
            mapping: Mapping) -> list[str]:
    import duckdb

    try:
        rel = con.execute(f"SELECT * FROM {_read([path])} LIMIT 0")
    except duckdb.Error as e:
        raise DataSourceError(
            f"cannot read the export file: {str(e).splitlines()[0]}", source=str(path),
            table=table, hint=f"mapping {mapping.name} reads CSV files with a header row",
        ) from e
    return [d[0] for d in rel.description or []]


def _sql(v: Value) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    return v


def _wrap(sql: str) -> str:
    return f"(\n{sql}\n)"  # newlines keep a trailing -- comment from eating what follows


def _lookup_sql(lp: _LookupPlan, files: list[Path]) -> str:
    r = f"{_P}r"
    key = _wrap(lp.spec.key)
    order = f"\n{lp.spec.order}\n, " if lp.spec.order else ""  # may end in DESC: no ( )
    where = f" WHERE {_wrap(lp.spec.where)}" if lp.spec.where else ""
    return (
        f"SELECT {_P}key, {_P}row FROM (SELECT {key} AS {_P}key, {r} AS {_P}row, "
        f"row_number() OVER (PARTITION BY {key} ORDER BY {order}{r}) AS {_P}rn "
        f"FROM {_read(files)} AS {r}{where}) WHERE {_P}rn = 1 AND {_P}key IS NOT NULL"
    )


def _joined_sql(sp: _SourcePlan, main: list[Path], looked: dict[str, list[Path]]) -> str:
    """The export's rows, with each lookup's matching row as a column named by its alias."""
    if not sp.lookups:
        return _read(main)
    keys = ", ".join(f"{_wrap(lp.spec.equals)} AS {_P}k{i}" for i, lp in enumerate(sp.lookups))
    drop = ", ".join(f"{_P}k{i}" for i in range(len(sp.lookups)))
    cols = ", ".join(f'{_P}l{i}.{_P}row AS "{lp.alias}"' for i, lp in enumerate(sp.lookups))
    joins = " ".join(
        f"LEFT JOIN ({_lookup_sql(lp, looked[lp.alias])}) AS {_P}l{i} "
        f"ON {_P}l{i}.{_P}key = {_P}m.{_P}k{i}" for i, lp in enumerate(sp.lookups))
    return (f"(SELECT {_P}m.* EXCLUDE ({drop}), {cols} "
            f"FROM (SELECT *, {keys} FROM {_read(main)}) AS {_P}m {joins})")


def _source_sql(sp: _SourcePlan, main: list[Path], looked: dict[str, list[Path]]) -> str:
    select = ", ".join(f'CAST({_wrap(_sql(v))} AS VARCHAR) AS "{c}"'
                       for c, (v, _) in sp.columns.items())
    joined = _joined_sql(sp, main, looked)
    if not sp.wheres:
        return f"SELECT {select} FROM {joined}"
    # The filter is computed as a column, so that it may use window functions (lag(...)).
    keep = " AND ".join(_wrap(w) for w, _ in sp.wheres)
    return (f"SELECT {select} FROM (SELECT *, {keep} AS {_P}keep FROM {joined}) "
            f"WHERE {_P}keep")


# --- checks against the export ------------------------------------------------------------


def _referenced(sql: str) -> list[tuple[str | None, str]] | None:
    """Columns an expression reads, as (qualifier, name); None if sqlglot cannot parse it."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.SqlglotError:
        return None
    if tree is None:
        return None
    return [(c.table or None, c.name) for c in tree.find_all(exp.Column)]


def _expressions(sp: _SourcePlan) -> list[tuple[str, Loc, str | None]]:
    """Every SQL text of a source: (sql, YAML path, scope: None = the export, else a lookup)."""
    out: list[tuple[str, Loc, str | None]] = []
    for lp in sp.lookups:
        out.append((lp.spec.equals, (*lp.loc, "equals"), None))
        for k in ("key", "where", "order"):
            v = getattr(lp.spec, k)
            if v is not None:
                out.append((v, (*lp.loc, k), lp.alias))
    out.extend((w, loc, None) for w, loc in sp.wheres)
    out.extend((v, loc, None) for v, loc in sp.columns.values() if isinstance(v, str))
    return out


def _check_references(mapping: Mapping, sp: _SourcePlan, main: list[Path],
                      looked: dict[str, list[Path]], headers: dict[Path, list[str]]) -> None:
    aliases = {lp.alias.lower(): lp.alias for lp in sp.lookups}
    for lp in sp.lookups:
        for f in main:
            if lp.alias.lower() in {h.lower() for h in headers[f]}:
                raise _problem(mapping, lp.loc,
                               f"lookup name {lp.alias!r} is also a column of {f.name}",
                               "rename the lookup")
    # file -> export column -> YAML paths that read it
    missing: dict[Path, dict[str, list[Loc]]] = {}
    for sql, loc, scope in _expressions(sp):
        refs = _referenced(sql)
        if refs is None:
            continue  # DuckDB's binder will say what is wrong with it
        for qual, name in refs:
            if scope is not None:
                files = looked[scope] if qual is None else []
            elif qual is None:
                files = main
            elif qual.lower() in aliases:
                files = looked[aliases[qual.lower()]]
            else:
                files = []
            for f in files:
                if name.lower() not in {h.lower() for h in headers[f]}:
                    locs = missing.setdefault(f, {}).setdefault(name, [])
                    if loc not in locs:
                        locs.append(loc)
    if missing:
        f, cols = next(iter(missing.items()))
        raise _missing_columns(mapping, sp.table, f, cols)


def _missing_columns(mapping: Mapping, table: str, file: Path,
                     cols: dict[str, list[Loc]]) -> DataSourceError:
    names = list(cols)
    what = f"column {names[0]}" if len(names) == 1 else f"columns {', '.join(names)}"
    expects = "; ".join(
        f"{'it' if len(names) == 1 else name} at "
        f"{' and '.join(mapping.describe(loc) for loc in locs)}" for name, locs in cols.items())
    return DataSourceError(
        f"no {what} in the export; mapping {mapping.name} expects {expects}",
        source=str(file), table=table,
        hint="export the column(s) too, or map what reads them differently in a mapping "
             f"that `extends: {mapping.name}` ({_DOCS})",
    )


_NOT_FOUND = re.compile(r'Referenced column "([^"]+)" not found')


def _check_binds(con: duckdb.DuckDBPyConnection, mapping: Mapping, sp: _SourcePlan,
                 main: list[Path], looked: dict[str, list[Path]], sql: str) -> None:
    """Bind the source's SQL on the export; blame the first expression that fails."""
    import duckdb

    def fails(query: str) -> str | None:
        try:
            con.execute(f"SELECT * FROM ({query}) LIMIT 0")
        except duckdb.Error as e:
            return str(e)
        return None

    if fails(sql) is None:
        return
    joined = _joined_sql(sp, main, looked)
    candidates: list[tuple[str, Loc, Path]] = []
    for lp in sp.lookups:
        one = _SourcePlan(sp.table, sp.loc, sp.file, lookups=[lp])
        candidates.append((f"SELECT * FROM {_joined_sql(one, main, looked)}", lp.loc,
                           looked[lp.alias][0]))
    candidates += [(f"SELECT {_wrap(w)} FROM {joined}", loc, main[0]) for w, loc in sp.wheres]
    candidates += [(f"SELECT {_wrap(_sql(v))} FROM {joined}", loc, main[0])
                   for v, loc in sp.columns.values()]
    for query, loc, file in candidates:
        error = fails(query)
        if error is None:
            continue
        found = _NOT_FOUND.search(error)
        if found:
            raise _missing_columns(mapping, sp.table, file, {found.group(1): [loc]})
        raise _problem(mapping, loc, f"the SQL does not run on {file.name}: "
                                     f"{error.splitlines()[0]}",
                       "write DuckDB SQL over the export's columns; text values need single "
                       "quotes ('call'), and names with spaces double quotes (\"Record ID\")")
    error = fails(sql) or ""
    raise _problem(mapping, sp.loc, f"the SQL does not run: {error.splitlines()[0]}",
                   "check the expressions of this table against DuckDB's SQL")


__all__ = [
    "SHIPPED_DIR",
    "Lookup",
    "Mapping",
    "Source",
    "TableMapping",
    "left_out_by_mapping",
    "load_mapping",
    "mapped_relations",
    "parse_mapping",
    "shipped_mappings",
]
