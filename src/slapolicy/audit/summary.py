"""A published audit in a few lines of JSON, for schedulers and notifications.

``run_summary`` reads what the audit published (``results.json``, ``breaches.parquet``
and ``manifest.json``) and states its outcome: the overall status, each clause's status
and counts, open and excused breaches per team, the ladder stage and the rewards, and
where the audit is. It holds no credential and no data location: only what the audit
page itself shows.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from slapolicy.audit.results import STATUSES

FORMAT = "slapolicy-run/1"


def run_summary(folder: Path) -> dict[str, Any]:
    """The summary of the audit published in ``folder``."""
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    manifest_path = folder / "manifest.json"
    manifest = (json.loads(manifest_path.read_text(encoding="utf-8"))
                if manifest_path.is_file() else {})
    sha = (hashlib.sha256(manifest_path.read_bytes()).hexdigest()
           if manifest_path.is_file() else None)
    clauses = {
        c["clause_id"]: {"status": c["status"], "owner": c["owner"], "title": c["title"],
                         "subjects": c["subjects"], "breaches": c["breaches"],
                         "excused": c["excused"], "pending": c["pending"],
                         "compliance": c["compliance"]}
        for c in results["clauses"]
    }
    teams: dict[str, dict[str, Any]] = {}
    for c in clauses.values():
        team = teams.setdefault(c["owner"], _team())
        team["clauses"][c["status"]] += 1
    for team_name, status, n in _breaches_by_team(folder / "breaches.parquet"):
        team = teams.setdefault(team_name or "unassigned", _team())
        team["open_breaches" if status == "open" else "excused_breaches"] += n
    standing = results.get("standing") or {}
    ladder = standing.get("ladder") or {}
    rewards = standing.get("rewards") or {}
    pool = rewards.get("monthly_pool") or {}
    annual = rewards.get("annual") or {}
    summary = results["summary"]
    return {
        "policy": results["policy"]["id"],
        "policy_version": results["policy"]["version"],
        "period": results["period"]["label"],
        "revision": (manifest.get("audit") or {}).get("revision"),
        "status": summary["status"],
        "clause_counts": summary["clauses"],
        "open_breaches": summary["breaches"],
        "excused_breaches": summary["excused"],
        "clauses": clauses,
        "teams": dict(sorted(teams.items())),
        "ladder": {"stage": ladder.get("stage"), "level": ladder.get("level"),
                   "owner": ladder.get("owner"), "shared_goals": ladder.get("shared_goals"),
                   "consecutive_missed": ladder.get("consecutive_missed"),
                   "actions": ladder.get("actions", [])},
        "reward": {"monthly_pool": {k: pool.get(k) for k in
                                    ("eligible", "amount", "currency", "why")},
                   "annual": {k: annual.get(k) for k in ("eligible", "judged_in", "why")}},
        "audit": {"folder": str(folder), "html": str(folder / "audit.html"),
                  "manifest_sha256": sha},
    }


def _team() -> dict[str, Any]:
    return {"clauses": {s: 0 for s in STATUSES}, "open_breaches": 0, "excused_breaches": 0}


def _breaches_by_team(path: Path) -> list[tuple[str | None, str, int]]:
    if not path.is_file():
        return []
    import duckdb

    con = duckdb.connect()
    try:
        rows = con.execute("SELECT team, status, count(*) FROM read_parquet(?) "
                           "GROUP BY ALL ORDER BY ALL", [str(path)]).fetchall()
    finally:
        con.close()
    return [(r[0], r[1], int(r[2])) for r in rows]
