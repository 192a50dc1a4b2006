"""Policy tests: analyst-written cases that a policy change must pass before sign-off.

A case is a YAML file (by default under ``<policy folder>/tests/<policy id>/``)
with small input tables and the breaches the policy must, or must not, produce::

    case: after-hours lead answered in the first business hour
    period: 2020-03
    as_of: 2020-03-31T20:00:00Z
    clauses: [speed-to-lead]          # optional: audit only these
    defaults:                         # optional: values for columns a row leaves out
      leads: {source: content, followup_requested: true, journey_stage: decision}
    tables:
      leads:
        - {lead_id: L1, created_at: 2020-03-06T21:00:00Z, notified_at: 2020-03-06T21:30:00Z}
      activities: [...]
    expect:
      breaches: [{clause: speed-to-lead, subject: L2}]
      no_breaches: [{clause: speed-to-lead, subject: L1}]
      status: {speed-to-lead: fail}

Tables a case leaves out are empty; columns a row leaves out are null unless
``defaults`` gives them. Expected breaches may name ``check`` too.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

from slapolicy.audit.run import AuditRequest, audit_document
from slapolicy.engine.contract import TABLES
from slapolicy.errors import PolicyError
from slapolicy.policy.document import PolicyDocument


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExpectedBreach(_Strict):
    clause: str
    subject: str
    check: str | None = None
    status: str | None = Field(None, description="open or excused")


class Expect(_Strict):
    breaches: list[ExpectedBreach] = Field(default_factory=list)
    no_breaches: list[ExpectedBreach] = Field(default_factory=list)
    status: dict[str, str] = Field(default_factory=dict)


class Case(_Strict):
    case: str
    period: str
    as_of: datetime | None = None
    clauses: list[str] | None = None
    defaults: dict[str, dict[str, Any]] = Field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]]
    expect: Expect


@dataclass
class CaseResult:
    path: Path
    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def case_files(doc: PolicyDocument, cases: Path | None = None) -> list[Path]:
    folder = cases or Path(doc.source).resolve().parent / "tests" / doc.id
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise PolicyError(f"no policy tests folder {folder}",
                          hint="add case files there, or pass --cases")
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml"))


def load_case(path: Path) -> Case:
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except MarkedYAMLError as e:
        mark = e.problem_mark
        raise PolicyError(f"not valid YAML: {e.problem}", path=str(path),
                          line=mark.line + 1 if mark else None) from e
    try:
        case = Case.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        raise PolicyError(first["msg"], path=str(path),
                          yaml_path=".".join(str(p) for p in first["loc"]),
                          hint="see the case format in docs/policy-tests.md") from e
    unknown = sorted(set(case.tables) - set(TABLES))
    if unknown:
        raise PolicyError(f"unknown table(s) {', '.join(unknown)}", path=str(path),
                          yaml_path="tables", hint=f"tables are: {', '.join(TABLES)}")
    return case


def run_case(doc: PolicyDocument, path: Path) -> CaseResult:
    """Audit the case's tables with the policy (uncompiled) and compare."""
    case = load_case(path)
    known = {c.id for c in doc.policy.clauses}
    named = set(case.clauses or []) | {e.clause for e in case.expect.breaches} | {
        e.clause for e in case.expect.no_breaches} | set(case.expect.status)
    missing = sorted(named - known)
    if missing:
        return CaseResult(path, case.case, [f"the policy has no clause {c!r}" for c in missing])
    with tempfile.TemporaryDirectory(prefix="slapolicy-case-") as tmp:
        folder = Path(tmp)
        _write_tables(case, folder, path)
        as_of = case.as_of.replace(tzinfo=None) - (case.as_of.utcoffset() or _zero()) \
            if case.as_of else None
        result = audit_document(
            doc, AuditRequest(Path(doc.source), case.period, folder, as_of=as_of,
                              exceptions=folder / "none.yaml", output=folder / "audit"),
            compiled=False, only=set(case.clauses) if case.clauses else None)
        found = {(b.clause_id, b.subject_id): b for b in result.read_breaches()}
    failures: list[str] = []
    for e in case.expect.breaches:
        b = found.get((e.clause, e.subject))
        if b is None or (e.check and b.check != e.check):
            failures.append(f"expected a breach of {e.clause} by {e.subject}"
                            + (f" ({e.check})" if e.check else "") + ", found none")
        elif e.status and b.status != e.status:
            failures.append(f"{e.clause} by {e.subject} is {b.status}, expected {e.status}")
    for e in case.expect.no_breaches:
        b = found.get((e.clause, e.subject))
        if b is not None and (not e.check or b.check == e.check):
            failures.append(f"expected no breach of {e.clause} by {e.subject}, found one "
                            f"({b.check}: observed {b.observed:g} {b.unit}, threshold "
                            f"{b.threshold:g})")
    statuses = {c.clause_id: c for c in result.clauses}
    for clause_id, want in case.expect.status.items():
        got = statuses[clause_id].status if clause_id in statuses else "not evaluated"
        if got != want:
            why = f": {statuses[clause_id].message}" if clause_id in statuses and \
                statuses[clause_id].message else ""
            failures.append(f"{clause_id} status is {got}, expected {want}{why}")
    return CaseResult(path, case.case, failures)


def _zero() -> Any:
    from datetime import timedelta

    return timedelta(0)


def _write_tables(case: Case, folder: Path, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"string": pa.string(), "timestamp": pa.timestamp("us", tz="UTC"),
             "date": pa.date32(), "int64": pa.int64(), "float64": pa.float64(),
             "boolean": pa.bool_()}
    for name, spec in TABLES.items():
        defaults = case.defaults.get(name, {})
        rows = [{**defaults, **r} for r in case.tables.get(name, [])]
        for i, row in enumerate(rows):
            extra = sorted(set(row) - set(spec.column_names))
            if extra:
                raise PolicyError(f"unknown column(s) {', '.join(extra)}", path=str(path),
                                  yaml_path=f"tables.{name}[{i}]",
                                  hint="docs/data-contract.md lists the columns")
        columns = {}
        for c in spec.columns:
            values = [_value(r.get(c.name), c.type) for r in rows]
            try:
                columns[c.name] = pa.array(values, type=types[c.type])
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as e:
                raise PolicyError(f"column {c.name}: {e}", path=str(path),
                                  yaml_path=f"tables.{name}",
                                  hint=f"{c.name} holds {c.type} values") from e
        pq.write_table(pa.table(columns), folder / f"{name}.parquet")


def _value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "timestamp" and isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    if kind == "timestamp" and isinstance(value, datetime) and value.tzinfo is None:
        raise TypeError(f"timestamp {value} has no zone: write ...Z or an offset")
    if kind == "date" and isinstance(value, str):
        return date.fromisoformat(value)
    if kind == "float64" and isinstance(value, int):
        return float(value)
    return value
