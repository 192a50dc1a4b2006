"""Compiled expectation suites: the policy's checks as Great Expectations JSON.

``slapolicy compile`` writes ``expectations/<policy id>.json``; audits run the
expectations from that file and refuse a file compiled from another policy hash.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from slapolicy.clauses import registry
from slapolicy.engine.expectations import suite_json
from slapolicy.errors import StaleSuiteError
from slapolicy.policy.document import PolicyDocument


def compile_suite(doc: PolicyDocument) -> str:
    """The suite for every enabled clause and check, deterministic JSON."""
    expectations: list[dict[str, Any]] = []
    for clause in doc.policy.clauses:
        if not clause.enabled:
            continue
        kind = registry.get(clause.kind)
        params = doc.params_for(clause.id)
        for check in kind.checks(clause, params):
            config = kind.expectation(clause, params, check)
            config["meta"] = {
                **config.get("meta", {}),
                "clause_id": clause.id, "check": check.name, "kind": clause.kind,
                "level": check.level, "subject_type": check.subject_type, "unit": check.unit,
                "owner": clause.owner, "severity": clause.severity,
                "params": params.model_dump(mode="json"),
            }
            expectations.append(config)
    meta = {"policy_id": doc.id, "policy_version": doc.version,
            "policy_content_hash": doc.content_hash}
    return suite_json(doc.id, expectations, meta)


def suite_path(root: Path, doc: PolicyDocument) -> Path:
    # A saved version (``version_from``) has its own suite beside the first version's.
    if doc.policy.version_from is not None:
        return root / f"{doc.id}.v{doc.version}.json"
    return root / f"{doc.id}.json"


def write_suite(root: Path, doc: PolicyDocument) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = suite_path(root, doc)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(compile_suite(doc), encoding="utf-8", newline="\n")
    tmp.replace(path)
    return path


def load_suite(root: Path, doc: PolicyDocument) -> dict[str, dict[str, Any]]:
    """Expectations by ``"<clause>:<check>"``; refuses a missing or stale suite."""
    path = suite_path(root, doc)
    fix = f"run: slapolicy compile --policy {doc.source}"
    if not path.exists():
        raise StaleSuiteError(f"no compiled suite at {path}", hint=fix)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        compiled_hash = data["meta"]["policy_content_hash"]
    except (ValueError, KeyError, TypeError) as e:
        raise StaleSuiteError(f"{path} is not a suite slapolicy compiled", hint=fix) from e
    if compiled_hash != doc.content_hash:
        raise StaleSuiteError(
            f"{path} was compiled from policy content {compiled_hash[:12]}, but "
            f"{doc.source} is now {doc.content_hash[:12]}: the suite is stale", hint=fix)
    if data != json.loads(compile_suite(doc)):
        raise StaleSuiteError(f"{path} was edited after it was compiled", hint=fix)
    return {f"{e['meta']['clause_id']}:{e['meta']['check']}": e for e in data["expectations"]}
