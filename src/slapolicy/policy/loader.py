"""Read a policy file into typed models, with errors that point at the YAML line."""

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
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from slapolicy.errors import PolicyError, UnknownClauseKindError
from slapolicy.policy.document import PolicyDocument
from slapolicy.policy.model import Policy


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
    yaml = YAML(typ="rt")
    try:
        data = yaml.load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise PolicyError(
            f"not valid YAML: {e.problem or e.context}",
            path=source,
            line=mark.line + 1 if mark else None,
            hint="fix the YAML syntax at that line (indentation, a missing colon or quote)",
        ) from e
    if not isinstance(data, CommentedMap) or "policy" not in data:
        raise PolicyError(
            "the file must be a mapping with a top-level `policy:` key",
            path=source, line=1, hint="start the file with `policy:` and indent the SLA under it",
        )
    body = data["policy"]
    return validate_policy(_plain(body), body, source=source, base_dir=base_dir)


def validate_policy(plain: dict[str, Any], body: Any, *, source: str = "<text>",
                    base_dir: Path | None = None) -> PolicyDocument:
    """Validate a policy given as plain data (the value of the top-level ``policy:`` key).

    ``body`` is the YAML node the data came from, for line numbers in errors; the
    review form validates edited values this way without parsing YAML again.
    """
    plain = dict(plain)
    try:
        policy = Policy.model_validate(plain)
    except ValidationError as e:
        raise _policy_error(e, body, source, prefix=("policy",)) from e

    from slapolicy.clauses import registry  # clause kinds validate their own params

    plugin_hashes = _load_plugins(policy.plugins, body, source, base_dir or Path.cwd())

    params: dict[str, BaseModel] = {}
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
            params[clause.id] = kind.Params.model_validate(clause.params)
        except ValidationError as e:
            raise _policy_error(e, body["clauses"][i].get("params", body["clauses"][i]), source,
                                prefix=(*loc, "params"), model=kind.Params) from e
        problems = kind.check_policy(policy, clause, params[clause.id])
        if problems:
            raise PolicyError(
                "; ".join(problems), path=source, yaml_path=_fmt((*loc, "params")),
                line=_line_of(body["clauses"][i], ("params",)),
            )
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


def _load_plugins(paths: list[str], body: Any, source: str, base_dir: Path) -> dict[str, str]:
    """Import plug-in modules (which register clause kinds); return their content hashes."""
    import importlib.util
    import sys

    hashes: dict[str, str] = {}
    for i, rel in enumerate(paths):
        path = (base_dir / rel).resolve()
        where: dict[str, Any] = {"path": source, "yaml_path": _fmt(("policy", "plugins", i)),
                                 "line": _line_of(body, ("plugins", i))}
        if not path.is_file():
            raise PolicyError(f"plug-in file {rel!r} not found (looked in {base_dir})",
                              hint="give a path relative to the policy file", **where)
        raw = path.read_bytes()
        hashes[rel] = hashlib.sha256(raw).hexdigest()
        name = f"slapolicy_plugin_{path.stem}_{hashes[rel][:12]}"
        if name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            del sys.modules[name]
            raise PolicyError(f"plug-in {rel!r} failed to import: {type(e).__name__}: {e}",
                              hint="fix the plug-in module; run it with python to see the error",
                              **where) from e
    return hashes


# --- error mapping ------------------------------------------------------------------------


def _plain(node: Any) -> Any:
    if isinstance(node, CommentedMap):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, CommentedSeq):
        return [_plain(v) for v in node]
    return node


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
        msg = item["msg"].removeprefix("Value error, ")
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
    yaml_path, line, message, hint = problems[0]
    if len(problems) > 1:
        others = "\n    ".join(
            f"line {ln}: {yp}: {m}" + (f" ({h})" if h else "") for yp, ln, m, h in problems[1:]
        )
        message += f"\n  and {len(problems) - 1} more:\n    {others}"
    return PolicyError(
        message, path=source, yaml_path=yaml_path, line=line,
        hint=hint or "correct the value as described; docs/policy.md explains every key",
    )
