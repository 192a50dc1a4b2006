"""Read a policy file into typed models, with errors that point at the YAML line.

The policy is validated whole before anything uses it: its syntax, every value
against its declared type and bounds, every reference between its parts
(``slapolicy.policy.references``) and every clause's parameters. Whatever the
input (a NUL byte, brackets nested 20,000 deep, a 5 MB value, ``.nan``), the
only error raised is a ``PolicyError`` naming the line, the YAML path and a fix,
with quoted values cut short.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.reader import ReaderError

from slapolicy.clauses.guard import guarded
from slapolicy.errors import PluginExitError, PolicyError, UnknownClauseKindError
from slapolicy.policy.document import PolicyDocument
from slapolicy.policy.model import Policy
from slapolicy.policy.references import Problem, reference_problems
from slapolicy.policy.units import clip

#: Deepest nesting a policy may use (company A's is 7) and most values it may hold
#: (company A's: about 1,000); beyond them a file is refused, never expanded (an alias
#: bomb would otherwise take the machine's memory).
MAX_DEPTH = 40
MAX_NODES = 100_000
#: Longest message part quoted from the input.
QUOTE = 160


def load_policy(path: str | Path) -> PolicyDocument:
    """Load and validate the policy file at ``path``."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError as e:
        raise PolicyError(
            "policy file not found", path=str(p), hint="check the path, e.g. policies/company-a.yaml"
        ) from e
    except OSError as e:
        raise PolicyError(f"cannot read the policy file: {e.strerror}", path=str(p)) from e
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PolicyError("the policy file is not UTF-8 text", path=str(p),
                          hint="save it as UTF-8") from e
    doc = parse_policy(text, source=str(p), base_dir=p.parent)
    return PolicyDocument(
        policy=doc.policy,
        content_hash=doc.content_hash,
        source=str(p),
        file_sha256=hashlib.sha256(raw).hexdigest(),
        params=doc.params,
    )


def parse_policy(text: str, *, source: str = "<text>",
                 base_dir: Path | None = None) -> PolicyDocument:
    """Validate policy YAML given as text; plug-in paths resolve against ``base_dir``."""
    data = _read_yaml(text, source)
    if not isinstance(data, CommentedMap) or "policy" not in data:
        raise PolicyError(
            "the file must be a mapping with a top-level `policy:` key",
            path=source, line=data.lc.line + 1 if isinstance(data, CommentedMap) else 1,
            hint="start the file with `policy:` and indent the SLA under it",
        )
    body = data["policy"]
    return validate_policy(_plain(body, source), body, source=source, base_dir=base_dir)


def validate_policy(plain: dict[str, Any], body: Any, *, source: str = "<text>",
                    base_dir: Path | None = None) -> PolicyDocument:
    """Validate a policy given as plain data (the value of the top-level ``policy:`` key).

    ``body`` is the YAML node the data came from, for line numbers in errors; the
    review form validates edited values this way without parsing YAML again.
    """
    if isinstance(plain, dict):
        plain = dict(plain)  # the caller's dict stays as it is
    try:
        policy = Policy.model_validate(plain)
    except ValidationError as e:
        raise _policy_error(e, body, source, prefix=("policy",)) from e
    problems = reference_problems(policy)
    if problems:
        raise _located(problems, body, source)

    from slapolicy.clauses import registry  # clause kinds validate their own params

    plugin_hashes = _load_plugins(policy.plugins, body, source, base_dir or Path.cwd())

    params: dict[str, BaseModel] = {}
    checks: dict[str, list[str]] = {}
    for i, clause in enumerate(policy.clauses):
        loc = ("policy", "clauses", i)
        try:
            kind = registry.get(clause.kind)
        except UnknownClauseKindError as e:
            node = body["clauses"][i]
            raise UnknownClauseKindError(
                e.message, path=source, yaml_path=_fmt(("policy", "clauses", i, "kind")),
                line=_line_of(node, ("kind",)), hint=e.hint,
            ) from e
        try:
            with guarded(f"the params of clause {clause.id!r} (kind {clause.kind!r})"):
                params[clause.id] = kind.Params.model_validate(clause.params)
        except ValidationError as e:
            raise _policy_error(e, body["clauses"][i].get("params", body["clauses"][i]), source,
                                prefix=(*loc, "params"), model=kind.Params) from e
        try:
            found = kind.check_policy(policy, clause, params[clause.id])
            checks[clause.id] = [c.name for c in kind.checks(clause, params[clause.id])]
        except PluginExitError:
            raise
        except Exception as e:  # a plug-in kind's own bug: name it, never a traceback
            raise PolicyError(
                f"clause kind {clause.kind!r} failed checking the clause: "
                f"{type(e).__name__}: {clip(str(e), QUOTE)}", path=source,
                yaml_path=_fmt((*loc, "kind")), line=_line_of(body["clauses"][i], ("kind",)),
                hint="fix the clause kind's check_policy or checks (a plug-in module)") from e
        if found:
            raise PolicyError(
                clip("; ".join(found), 4 * QUOTE), path=source, yaml_path=_fmt((*loc, "params")),
                line=_line_of(body["clauses"][i], ("params",)),
                hint=f"change the params as described; docs/policy.md lists what a "
                     f"{clause.kind} clause takes",
            )
    measured = _measure_problems(policy, checks)
    if measured:
        raise _located(measured, body, source)
    # Plug-in code is part of what the policy means: its bytes enter the hash.
    dumped = policy.model_dump(mode="json")
    if dumped.get("version_from") is None:  # added later: absent keeps earlier hashes
        dumped.pop("version_from", None)
    canonical = json.dumps({"policy": dumped, "plugins": plugin_hashes},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return PolicyDocument(
        policy=policy,
        content_hash=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        source=source,
        params=params,
    )


def _read_yaml(text: str, source: str) -> Any:
    """The YAML document, or a ``PolicyError`` at the line where it stops being YAML."""
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    syntax = "fix the YAML syntax at that line (indentation, a missing colon or quote)"
    try:
        return yaml.load(text)
    except _BadDate as e:
        raise PolicyError(str(e.problem), path=source, line=e.problem_mark.line + 1,
                          hint="write a day that exists, as YYYY-MM-DD") from None
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise PolicyError(f"not valid YAML: {clip(str(e.problem or e.context), QUOTE)}",
                          path=source, line=mark.line + 1 if mark else None,
                          hint=syntax) from None
    except ReaderError as e:
        char = chr(e.character) if isinstance(e.character, int) else str(e.character)
        raise PolicyError(
            f"the file holds a character YAML does not allow (U+{ord(char[:1] or ' '):04X})",
            path=source,
            line=text.count("\n", 0, e.position) + 1,
            hint="remove it (a NUL byte or control character); save the file as UTF-8 text",
        ) from None
    except RecursionError:
        raise PolicyError(f"the YAML nests deeper than {MAX_DEPTH} levels", path=source,
                          hint="close every bracket you open; a policy nests a few "
                               "levels only") from None
    except Exception as e:  # the YAML library's own failure on odd input: still a user error
        raise PolicyError(f"not valid YAML: {type(e).__name__}: {clip(str(e), QUOTE)}",
                          path=source, hint=syntax) from None


class _BadDate(ConstructorError):
    """A value written as a date that is no day of the calendar."""


class _Constructor(RoundTripConstructor):
    """Round-trip constructor whose impossible dates (2020-02-30) keep their line."""

    def construct_yaml_timestamp(self, node: Any, values: Any = None) -> Any:
        try:
            return super().construct_yaml_timestamp(node, values)
        except (ValueError, OverflowError) as e:
            raise _BadDate(None, None, f"{clip(str(node.value), QUOTE)!r} is not a day of "
                           f"the calendar ({e})", node.start_mark) from e


_Constructor.add_constructor("tag:yaml.org,2002:timestamp",
                             _Constructor.construct_yaml_timestamp)


def _measure_problems(policy: Policy, checks: dict[str, list[str]]) -> list[Problem]:
    """Goals whose ``measure.check`` names no check of their clause."""
    out = []
    for i, g in enumerate(policy.goals.items):
        if g.measure is None or g.measure.check is None:
            continue
        names = checks.get(g.measure.clause, [])
        if g.measure.check not in names:
            close = difflib.get_close_matches(g.measure.check, names, n=1)
            out.append(Problem(
                ("goals", "items", i, "measure", "check"),
                f"clause {g.measure.clause!r} has no check {g.measure.check!r}",
                f"did you mean {close[0]!r}?" if close else
                f"use one of its checks ({', '.join(names)}), or omit check for the whole "
                "clause"))
    return out


def _located(problems: list[Problem], body: Any, source: str) -> PolicyError:
    """One error for all problems, at the first one's line; the others listed below it."""
    first, *others = problems
    message = first.message
    if others:
        listed = "\n    ".join(
            f"line {_line_of(body, p.loc)}: {_fmt(('policy', *p.loc))}: {p.message}"
            for p in others[:20])
        more = f"\n    ... and {len(others) - 20} more" if len(others) > 20 else ""
        message += f"\n  and {len(others)} more:\n    {listed}{more}"
    return PolicyError(message, path=source, yaml_path=_fmt(("policy", *first.loc)),
                       line=_line_of(body, first.loc), hint=first.fix)


def _load_plugins(paths: list[str], body: Any, source: str, base_dir: Path) -> dict[str, str]:
    """Import plug-in modules (which register clause kinds); return their content hashes."""
    import importlib.util
    import sys

    hashes: dict[str, str] = {}
    home = base_dir.resolve()
    for i, rel in enumerate(paths):
        path = (base_dir / rel).resolve()
        where: dict[str, Any] = {"path": source, "yaml_path": _fmt(("policy", "plugins", i)),
                                 "line": _line_of(body, ("plugins", i))}
        # Code runs only from modules the policy's own folder holds: a policy cannot
        # name a file elsewhere on the machine (an absolute path, ../, a link out).
        if Path(rel).is_absolute() or not path.is_relative_to(home) or path.suffix != ".py":
            raise PolicyError(
                f"plug-in {clip(rel, QUOTE)!r} is not a Python file inside the policy's folder "
                f"({home})", hint="put the module beside the policy (e.g. plugins/my_kind.py) "
                                  "and name it relative to the policy file", **where)
        if not path.is_file():
            raise PolicyError(f"plug-in file {rel!r} not found (looked in {base_dir})",
                              hint="give a path relative to the policy file", **where)
        raw = path.read_bytes()
        hashes[rel] = hashlib.sha256(raw).hexdigest()
        name = f"slapolicy_plugin_{path.stem}_{hashes[rel][:12]}"
        if name in sys.modules:
            # Loaded before, but another version of the file may have registered its kinds
            # since: register this version's again, so it is the code that measures.
            _register_again(sys.modules[name])
            continue
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            with guarded(f"plug-in {rel!r}"):
                spec.loader.exec_module(module)
        except PluginExitError:
            del sys.modules[name]
            raise
        except Exception as e:
            del sys.modules[name]
            raise PolicyError(f"plug-in {rel!r} failed to import: {type(e).__name__}: {e}",
                              hint="fix the plug-in module; run it with python to see the error",
                              **where) from e
    return hashes


def _register_again(module: Any) -> None:
    import inspect

    from slapolicy.clauses.base import ClauseKind
    from slapolicy.clauses.registry import registry

    for _, obj in inspect.getmembers(module, inspect.isclass):
        if (issubclass(obj, ClauseKind) and obj.__module__ == module.__name__
                and not inspect.isabstract(obj)):
            registry.register(obj, force=True)


# --- error mapping ------------------------------------------------------------------------


def _plain(node: Any, source: str) -> Any:
    """Plain dicts and lists, refusing a file nested or expanded past the bounds."""
    count = 0
    seen: set[int] = set()  # containers walked: one met again is an alias (*name) used

    def walk(node: Any, depth: int, line: int | None, alias_line: int | None) -> Any:
        # ``line``: where this value is written; ``alias_line``: where the outermost alias
        # on the way to it is used (an expansion is reported where it is asked for).
        nonlocal count
        count += 1
        if isinstance(node, CommentedMap | CommentedSeq):
            seen.add(id(node))
        if depth > MAX_DEPTH or count > MAX_NODES:
            raise PolicyError(
                f"the policy nests deeper than {MAX_DEPTH} levels" if depth > MAX_DEPTH else
                f"the policy holds more than {MAX_NODES:,} values (aliases count each time "
                "they are used)", path=source, line=alias_line or line,
                hint="a policy states each thing once, a few levels deep; check for unclosed "
                     "brackets or aliases (*name) that repeat large parts")
        def alias(child: Any) -> int | None:  # an alias's own mark is its anchor's
            return alias_line or (line if id(child) in seen else None)

        if isinstance(node, CommentedMap):
            return {str(k): walk(v, depth + 1, node.lc.key(k)[0] + 1, alias(v))
                    for k, v in node.items()}
        if isinstance(node, CommentedSeq):
            return [walk(v, depth + 1, node.lc.item(i)[0] + 1, alias(v))
                    for i, v in enumerate(node)]
        if isinstance(node, TaggedScalar):
            # A YAML tag (!!python/object:..., !custom) is never run or kept: refused.
            tag = getattr(getattr(node, "tag", None), "value", None) or "a YAML tag"
            raise PolicyError(
                f"the value is tagged {tag}; a policy holds plain values only", path=source,
                line=line, hint="remove the tag (the text starting with !) and write the value")
        return node

    return walk(node, 0, node.lc.line + 1 if hasattr(node, "lc") else None, None)


def _fmt(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(node: Any, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest node along ``loc`` that the YAML has."""
    line: int | None = None
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    if line is None and hasattr(node, "lc"):
        line = node.lc.line + 1
    return line


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class whose fields apply at ``loc`` (to suggest a misspelt key)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current, part)
        if current is None:
            return None
    current = _unwrap_container(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap_container(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0] if len(args) == 1 else tp
            if len(args) != 1:
                return tp
        elif origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        else:
            return tp


def _unwrap(tp: Any, part: Any) -> Any:
    tp = _unwrap_container(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        f = tp.model_fields.get(part) if isinstance(part, str) else None
        return f.annotation if f else None
    origin = typing.get_origin(tp)
    if origin in (list, tuple) and isinstance(part, int):
        return typing.get_args(tp)[0]
    if origin is dict:
        return typing.get_args(tp)[1]
    return None


def _policy_error(
    err: ValidationError,
    node: Any,
    source: str,
    *,
    prefix: tuple[Any, ...],
    model: type[BaseModel] = Policy,
) -> PolicyError:
    problems: list[tuple[str, int | None, str, str | None]] = []
    for item in err.errors():
        loc = tuple(item["loc"])
        msg = clip(item["msg"].removeprefix("Value error, "), 2 * QUOTE)
        hint: str | None = None
        if item["type"] == "extra_forbidden":
            target = _model_at(model, loc[:-1])
            known = sorted(target.model_fields) if target else []
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            msg = f"unknown key {loc[-1]!r}"
            hint = (f"did you mean {close[0]!r}?" if close
                    else f"remove it; allowed keys here: {', '.join(known)}")
        elif item["type"] == "missing":
            hint = f"add `{loc[-1]}:` here"
        if not loc and isinstance(node, CommentedMap):
            # Cross-field checks name the key they are about first: point at that key.
            head = msg.split(" ", 1)[0].rstrip(":").split(".")
            if head[0] in node:
                loc = tuple(int(p) if p.isdigit() else p for p in head)
        problems.append((_fmt((*prefix, *loc)), _line_of(node, loc), msg, hint))
    # A misspelt required key is one mistake, not two: keep "unknown key" with its
    # suggestion and drop the "Field required" it explains.
    suggested = {(yp.rsplit(".", 1)[0], h.split("'")[1]) for yp, _, m, h in problems
                 if m.startswith("unknown key") and h and h.startswith("did you mean")}
    problems = [p for p in problems
                if not (p[2] == "Field required" and tuple(p[0].rsplit(".", 1)) in suggested)
                ] or problems
    yaml_path, line, message, hint = problems[0]
    if len(problems) > 1:
        others = "\n    ".join(
            f"line {ln}: {yp}: {m}" + (f" ({h})" if h else "") for yp, ln, m, h in problems[1:21]
        )
        more = f"\n    ... and {len(problems) - 21} more" if len(problems) > 21 else ""
        message += f"\n  and {len(problems) - 1} more:\n    {others}{more}"
    return PolicyError(
        message, path=source, yaml_path=yaml_path, line=line,
        hint=hint or "correct the value as described; docs/policy.md explains every key",
    )
