"""Excused breaches: named leads or reps a clause does not hold against anyone.

Grants come from the policy's ``exceptions:`` and from a period file
``policies/exceptions/<policy id>/<period>.yaml``. An excused breach is still
listed (status ``excused``, with the reason); it only leaves the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

from slapolicy.errors import PolicyError
from slapolicy.policy.model import Excusal, Policy, Spec
from slapolicy.policy.references import excusal_problems


class _PeriodFile(Spec):
    exceptions: list[Excusal]


@dataclass(frozen=True)
class Excusals:
    grants: list[Excusal] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    @classmethod
    def for_period(cls, policy: Policy, period: str, period_file: Path | None) -> Excusals:
        grants = [g for g in policy.exceptions if not g.periods or period in g.periods]
        sources = ["policy"] if grants else []
        if period_file is not None and period_file.exists():
            extra = load_period_file(period_file, policy)
            grants += [g for g in extra if not g.periods or period in g.periods]
            sources.append(str(period_file))
        return cls(grants, sources)

    def find(self, clause_id: str, subject_type: str, subject_id: str,
             rep_id: str | None) -> Excusal | None:
        for g in self.grants:
            if g.clause not in ("*", clause_id):
                continue
            if g.subject_type == subject_type and g.subject_id == subject_id:
                return g
            if g.subject_type == "rep" and rep_id is not None and g.subject_id == rep_id:
                return g
        return None


def load_period_file(path: Path, policy: Policy) -> list[Excusal]:
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except MarkedYAMLError as e:
        mark = e.problem_mark
        raise PolicyError(f"not valid YAML: {e.problem}", path=str(path),
                          line=mark.line + 1 if mark else None) from e
    try:
        parsed = _PeriodFile.model_validate(data or {})
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise PolicyError(first["msg"], path=str(path), yaml_path=loc,
                          hint="each exception needs clause, subject_type, subject_id, reason "
                               "and approved_by; see docs/policy.md") from e
    problems = excusal_problems(policy, parsed.exceptions, ("exceptions",))
    if problems:
        raise PolicyError("; ".join(p.message for p in problems), path=str(path),
                          yaml_path=".".join(str(part) for part in problems[0].loc),
                          hint=problems[0].fix)
    return list(parsed.exceptions)


__all__ = ["Excusals", "load_period_file"]
