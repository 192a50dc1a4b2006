"""The audit ledger: ``audits/ledger.jsonl``, append-only and hash-chained.

Each line is one entry in canonical JSON (keys sorted, no spaces, UTF-8): an
audit run, a sign-off, a policy version, a threshold change or a saved proposal. Every entry
holds ``prev``, the hash of the entry before it (64 zeros for the first), and
``hash``, the SHA-256 of its own canonical JSON without ``hash``. Editing,
removing, inserting or reordering a line breaks the chain at that line, and
``verify_chain`` reports every break. Appends take an exclusive lock on the
ledger file, so concurrent writers never interleave or fork the chain.

The chain proves the ledger was not edited in place; it cannot stop someone
from rewriting every line after an edit. Publishing the head hash elsewhere
(``slapolicy verify --all`` prints it) anchors it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from slapolicy.errors import LedgerError, LockTimeout

if TYPE_CHECKING:
    from slapolicy.policy.document import PolicyDocument

LEDGER_NAME = "ledger.jsonl"
GENESIS = "0" * 64
ENTRY_TYPES = ("audit_run", "signoff", "policy_version", "threshold_change", "policy_proposal")


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 (not ASCII-escaped)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def utc_now() -> str:
    """The current instant as ``2026-10-01T09:00:00Z`` (seconds)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ledger_path(audits_root: Path) -> Path:
    return audits_root / LEDGER_NAME


@contextmanager
def locked(path: Path, *, timeout: float | None = None, poll: float = 0.1,
           what: str = "a lock") -> Iterator[IO[str]]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing).

    ``timeout=None`` waits as long as it takes; otherwise raises ``LockTimeout``
    after ``timeout`` seconds. The lock dies with its process, so a killed
    holder never leaves a stale lock behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (closed in finally)
    try:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or None
                    raise LockTimeout(
                        f"{what} is held by another process"
                        + (f" ({holder})" if holder else "")
                        + f"; gave up after {timeout:g} s",
                        path=str(path), holder=holder,
                        hint="wait for that process to finish, or wait longer (--wait SECONDS)",
                    ) from None
                time.sleep(poll)
        yield handle
    finally:
        handle.close()  # closing the descriptor releases the lock


def entry_hash(entry: dict[str, Any]) -> str:
    """SHA-256 of the entry's canonical JSON without its ``hash`` field."""
    return sha256_text(canonical({k: v for k, v in entry.items() if k != "hash"}))


def append(ledger: Path, entry_type: str, fields: dict[str, Any],
           *, at: str | None = None) -> dict[str, Any]:
    """Append one entry under the ledger's lock and return it (with seq, prev, hash)."""
    if entry_type not in ENTRY_TYPES:
        raise LedgerError(f"unknown ledger entry type {entry_type!r}",
                          hint=f"use one of {', '.join(ENTRY_TYPES)}")
    reserved = {"seq", "at", "type", "prev", "hash"} & set(fields)
    if reserved:
        raise LedgerError(f"fields {sorted(reserved)} are set by the ledger itself")
    with locked(ledger.with_name(f".{ledger.name}.lock"), what="the ledger"):
        last = _last_entry(ledger)
        entry = {**fields, "type": entry_type, "at": at or utc_now(),
                 "seq": (last["seq"] + 1) if last else 1,
                 "prev": last["hash"] if last else GENESIS}
        entry["hash"] = entry_hash(entry)
        line = canonical(entry) + "\n"
        fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
    return entry


def _last_entry(ledger: Path) -> dict[str, Any] | None:
    if not ledger.exists():
        return None
    lines = [ln for ln in ledger.read_bytes().split(b"\n") if ln.strip()]
    if not lines:
        return None
    try:
        entry: dict[str, Any] = json.loads(lines[-1])
        int(entry["seq"])
        str(entry["hash"])
    except (ValueError, KeyError, TypeError) as e:
        raise LedgerError(f"{ledger}: the last line is not a ledger entry",
                          hint="run slapolicy verify --all; restore the ledger from a copy") from e
    return entry


def read_entries(ledger: Path) -> list[dict[str, Any]]:
    """Every entry that parses, in file order (``verify_chain`` reports the rest)."""
    if not ledger.exists():
        return []
    out = []
    for raw in ledger.read_text(encoding="utf-8").splitlines():
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


def verify_chain(ledger: Path) -> list[str]:
    """Every break in the chain, as sentences naming the line; [] when intact."""
    if not ledger.exists():
        return []
    problems: list[str] = []
    name = ledger.name
    prev_hash = GENESIS
    expected_seq = 1
    raw = ledger.read_bytes()
    if raw and not raw.endswith(b"\n"):
        problems.append(f"{name}: the last line is incomplete (no line end): a write was cut "
                        "short or the file was edited")
    for n, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
        where = f"{name} line {n}"
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise ValueError("not an object")
        except ValueError:
            problems.append(f"{where}: not a JSON object (the line was edited)")
            prev_hash, expected_seq = "?", expected_seq + 1
            continue
        stored = entry.get("hash")
        if stored != entry_hash(entry):
            problems.append(f"{where}: its hash does not match its content (the entry was edited)")
        elif line != canonical(entry):
            problems.append(f"{where}: not in canonical form (the line was edited)")
        if prev_hash != "?" and entry.get("prev") != prev_hash:
            problems.append(f"{where}: prev does not match the hash of the entry before it "
                            "(an entry was removed, inserted or reordered, or the one before "
                            "was edited)")
        if entry.get("seq") != expected_seq:
            problems.append(f"{where}: seq is {entry.get('seq')!r}, expected {expected_seq}")
        prev_hash = stored if isinstance(stored, str) else "?"
        expected_seq += 1
    return problems


def head(ledger: Path) -> str | None:
    """The hash of the last entry, to publish elsewhere as an anchor."""
    last = _last_entry(ledger)
    return str(last["hash"]) if last else None


# --- policy versions and threshold changes ------------------------------------------------


def clause_terms(doc: PolicyDocument) -> dict[str, Any]:
    """Per clause, what a threshold change can change: params (with defaults), tolerance,
    severity, enabled."""
    terms: dict[str, Any] = {}
    for clause in doc.policy.clauses:
        params = doc.params.get(clause.id)
        terms[clause.id] = {
            "kind": clause.kind,
            "enabled": clause.enabled,
            "severity": clause.severity,
            "tolerance": clause.tolerance.model_dump(mode="json"),
            "params": params.model_dump(mode="json") if params is not None else clause.params,
        }
    normal: dict[str, Any] = json.loads(canonical(terms))
    return normal


def record_policy_version(ledger: Path, doc: PolicyDocument,
                          reason: str) -> list[dict[str, Any]]:
    """Record the policy's content hash unless it is the last one recorded for this policy.

    Appends a ``policy_version`` entry and, when a clause's parameters, tolerance,
    severity or enablement differ from the last recorded version of the same
    policy, a ``threshold_change`` entry listing each change. A return to an
    earlier version is recorded too: it changes the thresholds back. Returns the
    entries appended ([] when this version is the last recorded). Every audit run
    calls it with the policy version it audits; a saved proposal is recorded by
    ``record_proposal``.
    """
    versions = [e for e in read_entries(ledger)
                if e.get("type") == "policy_version" and e.get("policy_id") == doc.id]
    if versions and versions[-1].get("content_hash") == doc.content_hash:
        return []
    terms = clause_terms(doc)
    appended = [append(ledger, "policy_version", {
        "policy_id": doc.id, "version": doc.version, "content_hash": doc.content_hash,
        "file_sha256": doc.file_sha256, "source": doc.source, "reason": reason,
        "clauses": terms,
    })]
    if versions:
        before = versions[-1]
        changes = diff_terms(before.get("clauses") or {}, terms)
        if changes:
            appended.append(append(ledger, "threshold_change", {
                "policy_id": doc.id, "reason": reason,
                "from": {"version": before.get("version"),
                         "content_hash": before.get("content_hash")},
                "to": {"version": doc.version, "content_hash": doc.content_hash},
                "changes": changes,
            }))
    return appended


def diff_terms(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Changes between two ``clause_terms``: one item per changed leaf, added or removed clause."""
    changes: list[dict[str, Any]] = []
    for clause_id in sorted(set(old) | set(new)):
        if clause_id not in new:
            changes.append({"clause_id": clause_id, "field": "(clause)",
                            "old": old[clause_id], "new": None})
        elif clause_id not in old:
            changes.append({"clause_id": clause_id, "field": "(clause)",
                            "old": None, "new": new[clause_id]})
        else:
            a, b = _flatten(old[clause_id]), _flatten(new[clause_id])
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    changes.append({"clause_id": clause_id, "field": key,
                                    "old": a.get(key), "new": b.get(key)})
    return changes


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def record_proposal(ledger: Path, doc: PolicyDocument, *, based_on: PolicyDocument,
                    proposed_by: str, reason: str, effective_from: str,
                    changes: list[dict[str, Any]], file: str) -> dict[str, Any]:
    """Record a new policy version saved from the review form: who proposed it, why,
    from when, the version it amends and every changed value (old and new)."""
    return append(ledger, "policy_proposal", {
        "policy_id": doc.id, "version": doc.version, "content_hash": doc.content_hash,
        "file": file, "file_sha256": doc.file_sha256, "effective_from": effective_from,
        "based_on": {"version": based_on.version, "content_hash": based_on.content_hash},
        "proposed_by": proposed_by, "reason": reason, "changes": changes,
        "clause_changes": diff_terms(clause_terms(based_on), clause_terms(doc)),
    })
