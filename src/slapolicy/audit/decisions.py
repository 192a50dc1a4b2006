"""Decisions people record after an audit: how the team leads split the reward pool,
and disputes against breaches with the conflict panel's decision.

They live beside the audits (``audits/<policy id>/reward-splits.jsonl`` and
``disputes.jsonl``), append-only, never inside an audit folder, so an audit's
hashed files stay as they were signed.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from slapolicy.audit.history import results_path
from slapolicy.errors import DecisionError
from slapolicy.policy.document import PolicyDocument


def _log(audits_root: Path, policy_id: str, name: str) -> Path:
    return audits_root / policy_id / f"{name}.jsonl"


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _append(path: Path, entry: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n")


def _results(audits_root: Path, doc: PolicyDocument, period: str) -> tuple[Path, dict[str, Any]]:
    path = results_path(audits_root, doc.id, period)
    if path is None:
        raise DecisionError(f"{doc.id} {period} has no audit", hint="audit the period first")
    return path, json.loads(path.read_text(encoding="utf-8"))


def _leads(doc: PolicyDocument) -> set[str]:
    return {t.lead for t in doc.policy.teams.values()}


def record_split(audits_root: Path, doc: PolicyDocument, period: str,
                 shares: dict[str, str], approved_by: list[str]) -> dict[str, Any]:
    """Record how the team leads split an earned monthly pool."""
    _, results = _results(audits_root, doc, period)
    pool = results.get("standing", {}).get("rewards", {}).get("monthly_pool", {})
    if pool.get("eligible") is not True:
        raise DecisionError(f"the {period} pool was not earned: {pool.get('why', 'no verdict')}",
                            hint="only an earned pool can be split")
    path = _log(audits_root, doc.id, "reward-splits")
    if any(e["period"] == period for e in _read(path)):
        raise DecisionError(f"the {period} pool has been split already",
                            hint="a recorded split is final; see " + str(path))
    unknown = sorted(set(shares) - set(doc.policy.teams))
    if unknown:
        raise DecisionError(f"unknown team(s) {', '.join(unknown)}",
                            hint=f"split between {', '.join(sorted(doc.policy.teams))}")
    try:
        amounts = {team: Decimal(v) for team, v in shares.items()}
    except InvalidOperation as e:
        raise DecisionError(f"shares must be amounts: {shares}", hint="e.g. marketing=2500") from e
    total = Decimal(str(pool["amount"]))
    if sum(amounts.values()) != total or any(a < 0 for a in amounts.values()):
        raise DecisionError(f"the shares add up to {sum(amounts.values())}, not the pool's {total}",
                            hint="give non-negative shares that add up to the pool")
    missing = sorted(_leads(doc) - set(approved_by))
    if missing:
        raise DecisionError(f"the split lacks the approval of {', '.join(missing)}",
                            hint="both team leads decide the split")
    entry = {"period": period, "shares": {k: str(v) for k, v in sorted(amounts.items())},
             "amount": str(total), "approved_by": sorted(approved_by)}
    _append(path, entry)
    return entry


def splits(audits_root: Path, policy_id: str) -> list[dict[str, Any]]:
    return _read(_log(audits_root, policy_id, "reward-splits"))


def raise_dispute(audits_root: Path, doc: PolicyDocument, period: str, clause_id: str,
                  subject_id: str, raised_by: str, reason: str) -> dict[str, Any]:
    """Dispute a breach of an audited period; it goes to the policy's conflict panel."""
    path, _ = _results(audits_root, doc, period)
    with (path.parent / "breaches.csv").open(encoding="utf-8", newline="") as f:
        found = any(r["clause_id"] == clause_id and r["subject_id"] == subject_id
                    for r in csv.DictReader(f))
    if not found:
        raise DecisionError(f"{period} has no breach of {clause_id} by {subject_id}",
                            hint="name a breach listed in that period's breaches.csv")
    if doc.policy.person(raised_by) is None:
        raise DecisionError(f"{raised_by!r} is not a person of the policy",
                            hint="use a person id from the policy's people")
    log = _log(audits_root, doc.id, "disputes")
    number = sum(e["event"] == "raised" for e in _read(log)) + 1
    entry = {"event": "raised", "id": f"D-{number:04d}", "period": period,
             "clause_id": clause_id, "subject_id": subject_id, "raised_by": raised_by,
             "reason": reason, "panel": _panel(doc)}
    _append(log, entry)
    return entry


def _panel(doc: PolicyDocument) -> list[str]:
    panel = doc.policy.conflict_panel
    return [panel.sole_decider] if panel.sole_decider else sorted(panel.members)


def decide_dispute(audits_root: Path, doc: PolicyDocument, dispute_id: str, decision: str,
                   decided_by: list[str], note: str = "") -> dict[str, Any]:
    """Record the panel's binding decision (``upheld`` or ``overturned``) on a dispute."""
    if decision not in ("upheld", "overturned"):
        raise DecisionError(f"decision {decision!r} is not upheld or overturned",
                            hint="the breach is upheld, or overturned")
    log = _log(audits_root, doc.id, "disputes")
    events = [e for e in _read(log) if e["id"] == dispute_id]
    if not events:
        raise DecisionError(f"no dispute {dispute_id}", hint="see `slapolicy dispute list`")
    if any(e["event"] == "decided" for e in events):
        raise DecisionError(f"{dispute_id} is decided already", hint="panel decisions bind")
    panel = _panel(doc)
    if sorted(set(decided_by)) != panel:
        raise DecisionError(
            f"{dispute_id} must be decided by the panel: {', '.join(panel)}",
            hint="name every panel member (or the CRO where the policy names one)")
    entry = {"event": "decided", "id": dispute_id, "decision": decision,
             "decided_by": panel, "note": note, "binding": doc.policy.conflict_panel.binding}
    _append(log, entry)
    return entry


def disputes(audits_root: Path, policy_id: str) -> list[dict[str, Any]]:
    """Disputes with their decision folded in, in the order raised."""
    out: dict[str, dict[str, Any]] = {}
    for e in _read(_log(audits_root, policy_id, "disputes")):
        if e["event"] == "raised":
            out[e["id"]] = {**e, "status": "open"}
        elif e["id"] in out:
            out[e["id"]].update(status=e["decision"], decided_by=e["decided_by"],
                                note=e.get("note", ""))
    return list(out.values())
