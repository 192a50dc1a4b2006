"""What earlier audits recorded: the memory the ladder, goals and rewards read.

Only recorded results count: each earlier period's ``results.json`` (its latest
revision). A period with no audit is never guessed at: the caller is told which
periods are missing, and decides to stop or to audit them first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slapolicy.errors import HistoryMissingError
from slapolicy.policy.model import Policy
from slapolicy.policy.periods import Period


@dataclass(frozen=True)
class PeriodRecord:
    period: Period
    outcome: dict[str, Any]

    @property
    def shared_met(self) -> bool:
        return bool(self.outcome.get("shared_goals_met"))

    @property
    def shared_outcome(self) -> str:
        """``met``, ``missed`` or ``not_measured`` (older audits recorded only met/missed)."""
        value = self.outcome.get("shared_goals")
        if value is not None:
            return str(value)
        return "met" if self.shared_met else "missed"

    def goal_status(self, goal_id: str) -> str | None:
        value = self.outcome.get("goal_status", {}).get(goal_id)
        return None if value is None else str(value)

    def actual(self, goal_id: str) -> float | None:
        value = self.outcome.get("actuals", {}).get(goal_id)
        return None if value is None else float(value)


@dataclass(frozen=True)
class History:
    """Earlier periods of the policy, oldest first; ``source`` says where they came from."""

    records: list[PeriodRecord] = field(default_factory=list)
    source: str = "none"

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "periods": [r.period.label for r in self.records]}


def results_path(audits_root: Path, policy_id: str, period: str) -> Path | None:
    """The latest recorded results of a period, or None."""
    from slapolicy.trail.manifest import find_audit  # the audit trail knows about revisions

    folder = find_audit(audits_root, policy_id, period)
    if folder is None:
        return None
    path = folder / "results.json"
    return path if path.exists() else None


def earlier_periods(policy: Policy, period: Period) -> list[Period]:
    """Periods of the policy from its effective date up to (not including) ``period``."""
    first = Period.containing(policy.effective_from, period.unit)
    out = []
    p = first
    while p < period:
        out.append(p)
        p = p.next()
    return out


def load_history(audits_root: Path | None, policy: Policy, period: Period) -> History:
    if audits_root is None:
        return History(source="none")
    records, missing = [], []
    for p in earlier_periods(policy, period):
        path = results_path(audits_root, policy.id, p.label)
        if path is None:
            missing.append(p.label)
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        outcome = data.get("standing", {}).get("outcome")
        if outcome is None:
            missing.append(p.label)
            continue
        records.append(PeriodRecord(p, outcome))
    if missing:
        raise HistoryMissingError(missing, policy.id)
    return History(records, source="audits")
