from slapolicy.audit.ladder import ladder_states
from slapolicy.policy.loader import load_policy
from tests.conftest import POLICY

LADDER = load_policy(POLICY).policy.consequences
OUTCOME = {"x": "missed", ".": "met", "?": "not_measured"}


def stages(outcomes: str, step_back: str = "reset") -> list[int]:
    consequences = LADDER.model_copy(update={"step_back": step_back})
    seq = [(f"p{i}", 30, OUTCOME[c]) for i, c in enumerate(outcomes)]
    return [s.stage for s in ladder_states(consequences, seq)]


def test_climbs_30_60_90_and_resets() -> None:
    #                 x = shared goals missed, . = met
    assert stages("..xxxx.x..") == [0, 0, 1, 2, 3, 3, 0, 1, 0, 0]


def test_one_step_down() -> None:
    assert stages("xxx.x..x", "one_step_down") == [1, 2, 3, 2, 3, 2, 1, 2]


def test_not_measured_holds_the_stage() -> None:
    #                 ? = shared goals not measured: neither a miss nor a recovery
    assert stages("??x?x?.?") == [0, 0, 1, 1, 2, 2, 0, 0]
    assert stages("xx?.", "one_step_down") == [1, 2, 2, 1]


def test_not_measured_adds_no_days_in_breach() -> None:
    seq = [("2020-03", 31, "missed"), ("2020-04", 30, "not_measured"), ("2020-05", 31, "missed")]
    states = ladder_states(LADDER, seq)
    assert [(s.stage, s.days_in_breach, s.consecutive_missed) for s in states] == [
        (1, 31, 1), (1, 31, 1), (2, 62, 2)]
    assert states[1].to_dict()["shared_goals"] == "not_measured"


def test_state_carries_days_owner_and_actions() -> None:
    seq = [("2020-03", 31, "missed"), ("2020-04", 30, "missed")]
    state = ladder_states(LADDER, seq)[-1]
    assert (state.stage, state.days_in_breach, state.consecutive_missed) == (2, 61, 2)
    assert state.owner == "executive team"
    assert "The SWAT team reports weekly to the executive team" in state.actions
    assert ladder_states(LADDER, [("2020-05", 31, "met")])[0].to_dict()["actions"] == []
