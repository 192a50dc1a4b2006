"""Publish, then record: a run's ledger entry is written only once its audit is in place.

Publishing an audit is two steps that cannot be one: moving its folder into place,
and appending its entry to the ledger. Before the move, the entry is written as an
intent, ``<audits>/.pending.<manifest sha>.json``; after the append, the intent is
removed. Whoever next holds the publish lock (any audit run, ``run-due``) completes
what a killed run left:

- an intent whose audit is in place with that manifest: the entry is appended (if
  the ledger does not have it yet), and the intent removed;
- an intent whose audit never moved into place: the intent is removed (the staging
  folder is removed by ``cleanup_stale``).

So a crash at any moment leaves either no trace or a complete audit and its entry
once the next run has started; in between, ``verify --all`` reports the audit as
published but not yet recorded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

PENDING_PREFIX = ".pending."


def write_intent(root: Path, entry: dict[str, Any]) -> Path:
    """Write the run's ledger entry as an intent (durably: written, synced, renamed)."""
    path = root / f"{PENDING_PREFIX}{entry['manifest_sha256']}.json"
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(entry, f, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def intents(root: Path) -> list[Path]:
    return sorted(root.glob(f"{PENDING_PREFIX}*.json")) if root.is_dir() else []


def complete_intents(root: Path) -> list[str]:
    """Finish or drop every intent under ``root`` (hold the publish lock). Returns what
    was done, as sentences."""
    from slapolicy.errors import ManifestError
    from slapolicy.trail.ledger import append, ledger_path, read_entries
    from slapolicy.trail.manifest import load_manifest

    done: list[str] = []
    for path in intents(root):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            folder = root / entry["folder"]
            sha = entry["manifest_sha256"]
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)  # cut off while written: its run never published
            done.append(f"removed an unreadable intent {path.name}")
            continue
        try:
            _, published = load_manifest(folder)
        except ManifestError:
            published = None
        if published != sha:
            path.unlink()
            done.append(f"{entry['folder']}: the run was stopped before publishing; dropped")
            continue
        ledger = ledger_path(root)
        recorded = any(e.get("type") == "audit_run" and e.get("manifest_sha256") == sha
                       for e in read_entries(ledger))
        if not recorded:
            append(ledger, "audit_run", entry)
            done.append(f"{entry['folder']}: published before the run was stopped; recorded")
        path.unlink()
    return done
