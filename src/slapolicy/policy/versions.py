"""Versions of a policy and the one in force for a period.

A policy file (``policies/company-a.yaml``) is the first version. A saved amendment is
written beside it as ``<name>.v<version>.yaml`` (``policies/company-a.v2020.2.yaml``)
with ``version_from``, the first day of the period it applies from. The version in
force for a period is the one with the latest start (``version_from``, else
``effective_from``) on or before the period's first day, so amending the thresholds
in June never changes how January is audited. Files are never edited in place: an
earlier version's content hash stays what its audits recorded.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from slapolicy.errors import PolicyError
from slapolicy.policy.document import PolicyDocument
from slapolicy.policy.periods import Period

_VERSIONED = re.compile(r"^(?P<base>.+?)\.v(?P<version>[0-9][0-9A-Za-z._-]*)$")


@dataclass(frozen=True)
class PolicyVersion:
    """One version of a policy: its file, document and the first day it applies."""

    path: Path
    doc: PolicyDocument

    @property
    def starts(self) -> date:
        policy = self.doc.policy
        return policy.version_from or policy.effective_from


def base_name(path: Path) -> str:
    """The policy's file stem without a version suffix (``company-a``)."""
    m = _VERSIONED.match(path.stem)
    return m.group("base") if m else path.stem


def version_path(path: Path, version: str) -> Path:
    """Where version ``version`` of the policy at ``path`` is written."""
    if not re.fullmatch(r"[0-9][0-9A-Za-z._-]*", version):
        raise PolicyError(f"version {version!r} cannot name a file",
                          hint="use digits, letters, dots and dashes, starting with a digit, "
                               "e.g. 2020.2")
    return path.with_name(f"{base_name(path)}.v{version}{path.suffix}")


def family(path: Path) -> list[Path]:
    """The policy file and its saved versions, in name order."""
    base = base_name(path)
    first = path.with_name(f"{base}{path.suffix}")
    saved = sorted(p for p in path.parent.glob(f"{base}.v*{path.suffix}")
                   if _VERSIONED.match(p.stem) and base_name(p) == base)
    return ([first] if first.exists() else []) + saved


def versions(path: Path) -> list[PolicyVersion]:
    """Every version of the policy, oldest start first; refuses an inconsistent family."""
    from slapolicy.policy.loader import load_policy

    found = [PolicyVersion(p, load_policy(p)) for p in family(path)]
    if not found:
        raise PolicyError("policy file not found", path=str(path),
                          hint="check the path, e.g. policies/company-a.yaml")
    ids = {v.doc.id for v in found}
    if len(ids) > 1:
        raise PolicyError(
            f"the versions of {base_name(path)} name different policy ids ({', '.join(sorted(ids))})",
            path=str(path.parent), hint="a saved version keeps the id of the policy it amends")
    found.sort(key=lambda v: v.starts)
    for a, b in itertools.pairwise(found):
        if a.starts == b.starts:
            raise PolicyError(
                f"{a.path.name} and {b.path.name} both apply from {a.starts}",
                path=str(b.path), hint="give the later version a later version_from")
        if a.doc.version == b.doc.version:
            raise PolicyError(f"{a.path.name} and {b.path.name} are both version "
                              f"{a.doc.version}", path=str(b.path),
                              hint="each saved version has its own version string")
    for v in found:
        unit = v.doc.policy.periods.unit
        if v.doc.policy.version_from is not None and Period.containing(
                v.starts, unit).start != v.starts:
            raise PolicyError(
                f"version_from {v.starts} is not the first day of a {unit}",
                path=str(v.path), yaml_path="policy.version_from",
                hint="a version applies from the start of a period, e.g. 2020-07-01")
    return found


def in_force(path: Path, period: str) -> PolicyVersion:
    """The version of the policy at ``path`` in force for ``period``.

    A period before every version's start gets the first version (its audit says the
    policy was not yet in force if it checks that).
    """
    return pick(versions(path), period)


def pick(found: list[PolicyVersion], period: str) -> PolicyVersion:
    """Of ``versions()``, the one in force for ``period``."""
    start = Period.parse(period, found[0].doc.policy.periods.unit).start
    chosen = found[0]
    for v in found:
        if v.starts <= start:
            chosen = v
    return chosen


def in_force_path(path: Path, period: str) -> Path:
    """The file of the version in force for ``period`` (``path`` itself when it has no
    saved versions)."""
    if len(family(path)) <= 1:
        return path
    chosen = in_force(path, period).path
    return chosen if chosen.parent == path.parent else path
