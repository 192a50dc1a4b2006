"""Not measured is neither met nor missed: shared goals, the ladder and rewards say so."""

from __future__ import annotations

import pytest

from slapolicy.audit.history import History, PeriodRecord
from slapolicy.audit.results import ClauseResult
from slapolicy.audit.standing import assess
from slapolicy.errors import PolicyError
from slapolicy.policy.loader import load_policy, parse_policy
from slapolicy.policy.periods import Period
from tests.conftest import POLICY

SHARED = ["monthly-run-rate", "speed-to-lead", "mql-worked", "marketer-quota", "lead-value"]
NO_REVIEW = {"due": False, "reasons": []}


def results(**status: str) -> list[ClauseResult]:
    return [ClauseResult(clause_id=c, kind="k", title=c, owner="shared",
                         status=status.get(c.replace("-", "_"), "pass"),  # type: ignore[arg-type]
                         subject_type="lead", unit="") for c in SHARED]


def missed_in(label: str) -> PeriodRecord:
    return PeriodRecord(Period.parse(label, "month"),
                        {"shared_goals_met": False, "shared_goals": "missed"})


def test_a_shared_goal_not_measured_holds_the_ladder_and_withholds_the_pool() -> None:
    policy = load_policy(POLICY).policy
    body = assess(policy, Period.parse("2020-04", "month"), results(lead_value="not_measured"),
                  History([missed_in("2020-03")], "test"), NO_REVIEW).body
    shared = body["shared_goals"]
    assert (shared["met"], shared["status"], shared["missed"], shared["not_measured"]) == (
        False, "not_measured", [], ["lead-value"])
    # One missed month gave stage 1; a month not measured neither climbs nor resets it.
    assert (body["ladder"]["stage"], body["ladder"]["consecutive_missed"]) == (1, 1)
    pool = body["rewards"]["monthly_pool"]
    assert pool["eligible"] is False and pool["why"] == "not met: lead-value (not_measured)"
    assert body["outcome"]["shared_goals"] == "not_measured"


def test_a_miss_outweighs_a_goal_not_measured() -> None:
    policy = load_policy(POLICY).policy
    body = assess(policy, Period.parse("2020-04", "month"),
                  results(lead_value="not_measured", speed_to_lead="fail"),
                  History([missed_in("2020-03")], "test"), NO_REVIEW).body
    assert body["shared_goals"]["status"] == "missed"
    assert body["ladder"]["stage"] == 2


def test_all_met_resets_the_ladder_and_earns_the_pool() -> None:
    policy = load_policy(POLICY).policy
    body = assess(policy, Period.parse("2020-04", "month"), results(),
                  History([missed_in("2020-03")], "test"), NO_REVIEW).body
    assert body["shared_goals"]["status"] == "met" and body["ladder"]["stage"] == 0
    assert body["rewards"]["monthly_pool"]["eligible"] is True


@pytest.mark.parametrize("where", ["shared_goals", "monthly_pool"])
def test_a_policy_naming_a_disabled_clause_is_refused(where: str) -> None:
    text = POLICY.read_text()
    head, tail = text.split("    - id: lead-value\n", 1)
    text = head + "    - id: lead-value\n      enabled: false\n" + tail
    if where == "monthly_pool":  # keep it out of the shared goals, leave it in the pool
        text = text.replace("  shared_goals: [monthly-run-rate, speed-to-lead, mql-worked, "
                            "marketer-quota, lead-value]",
                            "  shared_goals: [monthly-run-rate, speed-to-lead, mql-worked, "
                            "marketer-quota]")
    with pytest.raises(PolicyError) as err:
        parse_policy(text, source="p.yaml", base_dir=POLICY.parent)
    key = "shared_goals[4]" if where == "shared_goals" else "rewards.monthly_pool.requires[4]"
    text = str(err.value)
    assert (f"at policy.{key}: 'lead-value' is disabled (enabled: false) or measured by a "
            "disabled clause\n") in text
    assert text.endswith("\n  fix: enable it or remove it from the list")
