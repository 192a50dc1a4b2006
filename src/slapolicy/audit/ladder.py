"""The consequence ladder: stage 1, 2, 3 after 30, 60, 90 days of missed shared goals.

The stage is a pure function of the sequence of per-period outcomes (shared goals
met, missed or not measured) recorded by earlier audits plus this one. Missing a
period raises the level by one; meeting them resets it (``reset``) or takes one
stage off (``one_step_down``); a period whose shared goals could not be measured
holds the ladder where it was (neither a miss nor a recovery), and breaks no run
of misses but adds no days to it. A stage is reached when the level reaches its
``consecutive_periods``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from slapolicy.policy.model import Consequences


@dataclass(frozen=True)
class LadderState:
    period: str
    outcome: str
    stage: int
    level: int
    consecutive_missed: int
    days_in_breach: int
    owner: str | None = None
    actions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "period": self.period, "shared_goals": self.outcome,
            "shared_goals_missed": self.outcome == "missed", "stage": self.stage,
            "level": self.level, "consecutive_missed": self.consecutive_missed,
            "days_in_breach": self.days_in_breach, "owner": self.owner,
            "actions": list(self.actions),
        }


def ladder_states(consequences: Consequences,
                  outcomes: Sequence[tuple[str, int, str]]) -> list[LadderState]:
    """States after each period; ``outcomes`` are (period label, days, outcome) in order,
    the outcome being ``met``, ``missed`` or ``not_measured``."""
    ladder = sorted(consequences.ladder, key=lambda s: s.stage)
    states: list[LadderState] = []
    level = consecutive = days = 0
    stage = 0
    for label, period_days, outcome in outcomes:
        if outcome not in ("met", "missed", "not_measured"):
            raise ValueError(f"{label}: shared-goal outcome {outcome!r} is not met, missed "
                             "or not_measured")
        if outcome == "not_measured":
            pass  # hold: the stage stays, the run of misses neither grows nor ends
        elif outcome == "missed":
            level += 1
            consecutive += 1
            days += period_days
        else:
            consecutive = days = 0
            if consequences.step_back == "reset" or stage <= 1:
                level = 0
            else:
                level = ladder[stage - 2].consecutive_periods
        reached = [s for s in ladder if s.consecutive_periods <= level]
        stage = reached[-1].stage if reached else 0
        current = reached[-1] if reached else None
        states.append(LadderState(
            period=label, outcome=outcome, stage=stage, level=level,
            consecutive_missed=consecutive, days_in_breach=days,
            owner=current.owner if current else None,
            actions=list(current.actions) if current else [],
        ))
    return states
