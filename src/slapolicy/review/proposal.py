"""Save a review meeting's proposal as a new version of the policy.

The new version is the latest version's file with only the proposed values changed,
the version bumped and ``version_from`` set: every other byte (comments, key order,
quoting, underscores in numbers) is kept. Each value is replaced where ruamel.yaml's
round-trip parser located it, and the result is parsed again and compared with what
was intended, so a file that would say anything else is never written. Before the file
is written, the version must compile to an expectation suite and pass the policy's own
test cases (``slapolicy test``); then it is written beside the policy
(``slapolicy.policy.versions``), its suite is compiled, and the ledger records who
proposed it, why, from when, and every old and new value. No audit is touched.
"""

from __future__ import annotations

import copy
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slapolicy.errors import PolicyError

if TYPE_CHECKING:
    from slapolicy.policy.document import PolicyDocument

YamlPath = tuple[str | int, ...]


@dataclass(frozen=True)
class SavedProposal:
    path: Path
    doc: PolicyDocument
    suite: Path
    ledger_entry: dict[str, Any]
    tests_passed: int


def save_proposal(policy: Path, values: dict[str, Any], *, audits: Path, proposed_by: str,
                  reason: str, effective_from: date | str, version: str | None = None,
                  expectations: Path | None = None) -> SavedProposal:
    """Write ``values`` (control id -> value in display units, see
    ``slapolicy.review.controls``) as a new version of the policy at ``policy`` and
    record it in ``<audits>/ledger.jsonl``.

    Raises ``PolicyError`` (nothing written) when there is nothing to save, the date
    does not start a period after the latest version's, the version exists, the new
    file would not validate or compile, or a policy test case fails.
    """
    from slapolicy.audit.run import default_expectations_dir
    from slapolicy.engine.suites import compile_suite, write_suite
    from slapolicy.policy.loader import load_policy
    from slapolicy.policy.periods import Period
    from slapolicy.policy.versions import version_path, versions
    from slapolicy.review.controls import controls_of, plain_of
    from slapolicy.trail.ledger import ledger_path, record_proposal

    if not values:
        raise PolicyError("the proposal changes nothing", path=str(policy),
                          hint="move a control first")
    if not proposed_by.strip() or not reason.strip():
        raise PolicyError("a proposal needs who proposes it and why", path=str(policy),
                          hint="fill in 'proposed by' and 'reason'")
    found = versions(Path(policy))
    base = found[-1]  # a proposal amends the latest version
    base_plain, _ = plain_of(base.path)
    controls = {c.id: c for c in controls_of(base_plain)}
    unknown = sorted(set(values) - set(controls))
    if unknown:
        raise PolicyError(f"no control {', '.join(unknown)} in {base.path.name}",
                          hint="use the ids ReviewSession.controls lists")
    start = effective_from if isinstance(effective_from, date) else _date(effective_from)
    unit = base.doc.policy.periods.unit
    if Period.containing(start, unit).start != start:
        raise PolicyError(f"effective date {start} is not the first day of a {unit}",
                          path=str(base.path),
                          hint="a version applies from the start of a period, e.g. 2020-07-01")
    if start <= base.starts:
        raise PolicyError(f"effective date {start} is not after {base.starts}, when version "
                          f"{base.doc.version} took effect", path=str(base.path),
                          hint="periods already under a version keep it; choose a later date")
    until = base.doc.policy.effective_until
    if until is not None and start > until:
        raise PolicyError(f"effective date {start} is after the SLA ends ({until})",
                          path=str(base.path),
                          hint="choose a date while the SLA is in force")
    new_version = version or bump(base.doc.version)
    target = version_path(base.path, new_version)
    if target.exists() or new_version in {v.doc.version for v in found}:
        raise PolicyError(f"version {new_version} exists already ({target.name})",
                          hint="give another version")

    edits: dict[YamlPath, Any] = {controls[cid].path: controls[cid].to_policy(v)
                                  for cid, v in values.items()}
    changes = [{"control": cid, "path": controls[cid].to_dict()["path"],
                "unit": controls[cid].unit, "old": _plainv(controls[cid].value),
                "new": _plainv(v), "old_in_file": _plainv(_at(base_plain, controls[cid].path)),
                "new_in_file": _plainv(edits[controls[cid].path])}
               for cid, v in sorted(values.items())]
    edits[("version",)] = new_version
    edits[("version_from",)] = start
    text = base.path.read_text(encoding="utf-8")
    new_text = apply_edits(text, edits)
    doc = _check(new_text, target, base_plain, edits)
    compile_suite(doc)  # a clause that cannot compile refuses the version here
    passed = _policy_tests(doc)

    _write_atomic(target, new_text)
    doc = load_policy(target)  # as written: its file hash goes to the ledger
    suite = write_suite(expectations or default_expectations_dir(base.path), doc)
    entry = record_proposal(
        ledger_path(Path(audits)), doc, based_on=base.doc, proposed_by=proposed_by.strip(),
        reason=reason.strip(), effective_from=start.isoformat(), changes=changes,
        file=target.name)
    return SavedProposal(target, doc, suite, entry, passed)


def _at(plain: Any, path: YamlPath) -> Any:
    node = plain
    for part in path:
        if isinstance(node, dict) and part not in node:
            return None
        node = node[part]
    return node


def _plainv(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def bump(version: str) -> str:
    """The next version: the last number goes up by one (``2020.1`` -> ``2020.2``)."""
    m = re.fullmatch(r"(.*?)(\d+)([^\d]*)", version)
    if not m:
        raise PolicyError(f"version {version!r} has no number to increase",
                          hint="give the new version explicitly")
    return f"{m.group(1)}{int(m.group(2)) + 1}{m.group(3)}"


def apply_edits(text: str, edits: dict[YamlPath, Any]) -> str:
    """``text`` with each value at a YAML path (under ``policy:``) replaced or added.

    Replacements go where ruamel.yaml located the scalar; a missing key is added to
    its mapping (flow or block) or, with its mapping, below the parent's ``owner`` or
    first key. Nothing else in the text changes.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    lines = text.splitlines(keepends=True)
    root = YAML(typ="rt").load(text)["policy"]
    ops: list[tuple[int, int, int, str]] = []  # line, start col, end col, new text
    for path, value in edits.items():
        parent: Any = root
        for depth, part in enumerate(path[:-1]):
            if isinstance(parent, CommentedMap) and part not in parent:
                ops.append(_insert_key(parent, lines, path[depth:], value))
                break
            parent = parent[part]
        else:
            key = path[-1]
            if isinstance(parent, CommentedMap) and key not in parent:
                if key == "version_from":
                    ops.append(_insert_after(parent, lines, ["effective_until", "effective_from"],
                                             key, value))
                else:
                    ops.append(_insert_key(parent, lines, (key,), value))
                continue
            line, col = parent.lc.value(key) if isinstance(parent, CommentedMap) else \
                parent.lc.item(key)
            flow = bool(parent.fa.flow_style())
            end = _scalar_end(lines[line], col, flow)
            old = lines[line][col:end]
            ops.append((line, col, end, _format(value, old)))
    for line, start, end, new in sorted(ops, key=lambda o: (o[0], o[1]), reverse=True):
        if start < 0:  # a new line before ``line``
            lines.insert(line, new)
        else:
            lines[line] = lines[line][:start] + new + lines[line][end:]
    return "".join(lines)


def _insert_key(mapping: Any, lines: list[str], path: YamlPath,
                value: Any) -> tuple[int, int, int, str]:
    """Add ``path`` (a key, or a key with nested keys) to ``mapping``."""
    body = _format(value, "")
    for part in reversed(path[1:]):
        body = "{" + f"{part}: {body}" + "}"
    key = path[0]
    if mapping.fa.flow_style():
        line, col = mapping.lc.line, mapping.lc.col
        brace = lines[line].index("{", col)
        return line, brace + 1, brace + 1, f"{key}: {body}, "
    anchor = "owner" if "owner" in mapping else next(iter(mapping))
    line, col = mapping.lc.key(anchor)
    return line + 1, -1, -1, " " * col + f"{key}: {body}\n"


def _insert_after(mapping: Any, lines: list[str], anchors: list[str], key: str,
                  value: Any) -> tuple[int, int, int, str]:
    anchor = next(a for a in anchors if a in mapping)
    line, col = mapping.lc.key(anchor)
    return line + 1, -1, -1, " " * col + f"{key}: {_format(value, '')}\n"


def _scalar_end(line: str, col: int, flow: bool) -> int:
    if line[col:col + 1] in ("'", '"'):
        quote = line[col]
        end = line.index(quote, col + 1)
        return end + 1
    stops = [i for i in (line.find(" #", col),) if i >= 0]
    if flow:
        stops += [i for i in (line.find(",", col), line.find("}", col), line.find("]", col))
                  if i >= 0]
    end = min(stops) if stops else len(line.rstrip("\r\n"))
    return len(line[:end].rstrip())


def _format(value: Any, old: str) -> str:
    """A value as YAML, in the style of the value it replaces."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:_}" if "_" in old else str(value)
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    quote = old[:1] if old[:1] in ("'", '"') else ""
    return f"{quote}{text}{quote}"


def _check(text: str, target: Path, base_plain: dict[str, Any],
           edits: dict[YamlPath, Any]) -> PolicyDocument:
    """Parse the new text; refuse it unless it states exactly the intended values."""
    from ruamel.yaml import YAML

    from slapolicy.policy.loader import _plain, parse_policy
    from slapolicy.review.controls import set_path

    doc = parse_policy(text, source=str(target), base_dir=target.parent)
    expected = copy.deepcopy(base_plain)
    for path, value in edits.items():
        set_path(expected, path, value)
    got = _plain(YAML(typ="rt").load(text)["policy"], str(target))
    if got != expected:
        raise PolicyError("the new version would not state exactly the proposed values "
                          "(a value could not be located in the file)", path=str(target),
                          hint="edit the policy file by hand for this change")
    return doc


def _policy_tests(doc: PolicyDocument) -> int:
    from slapolicy.audit.policytests import case_files, run_case

    results = [run_case(doc, p) for p in case_files(doc)]
    failed = [r for r in results if not r.passed]
    if failed:
        detail = "; ".join(f"{r.path.name}: {', '.join(r.failures)}" for r in failed)
        raise PolicyError(f"the proposal fails {len(failed)} of the policy's test cases: {detail}",
                          path=str(Path(doc.source)),
                          hint="change the proposal, or update the test cases first if the "
                               "new threshold is intended (slapolicy test shows them)")
    return len(results)


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        if path.exists():
            raise PolicyError(f"{path} appeared while saving", hint="save again")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as e:
        raise PolicyError(f"{text!r} is not a date", hint="write it as 2020-07-01") from e
