from slapolicy.audit.ladder import ladder_states
from slapolicy.policy.loader import load_policy
from tests.conftest import POLICY

LADDER = load_policy(POLICY).policy.consequences


def stages(outcomes: str, step_back: str = "reset") -> list[int]:
    consequences = LADDER.model_copy(update={"step_back": step_back})
    seq = [(f"p{i}", 30, c == "x") for i, c in enumerate(outcomes)]
    return [s.stage for s in ladder_states(consequences, seq)]


def test_climbs_30_60_90_and_resets() -> None:
    #                 x = shared goals missed, . = met
    assert stages("..xxxx.x..") == [0, 0, 1, 2, 3, 3, 0, 1, 0, 0]


def test_one_step_down() -> None:
    assert stages("xxx.x..x", "one_step_down") == [1, 2, 3, 2, 3, 2, 1, 2]


def test_state_carries_days_owner_and_actions() -> None:
    seq = [("2020-03", 31, True), ("2020-04", 30, True)]
    state = ladder_states(LADDER, seq)[-1]
    assert (state.stage, state.days_in_breach, state.consecutive_missed) == (2, 61, 2)
    assert state.owner == "executive team"
    assert "The SWAT team reports weekly to the executive team" in state.actions
    assert ladder_states(LADDER, [("2020-05", 31, False)])[0].to_dict()["actions"] == []
