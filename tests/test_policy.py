from __future__ import annotations

import pickle

import pytest

from slapolicy.errors import PolicyError, UnknownClauseKindError
from slapolicy.policy.loader import load_policy, parse_policy
from tests.conftest import POLICY

TEXT = POLICY.read_text()


def broken(old: str, new: str) -> PolicyError:
    assert old in TEXT
    with pytest.raises(PolicyError) as info:
        parse_policy(TEXT.replace(old, new, 1), source="company-a.yaml")
    return info.value


def test_company_a_loads_with_identity() -> None:
    doc = load_policy(POLICY)
    assert doc.id == "company-a"
    assert doc.version == "2020.1"
    assert len(doc.content_hash) == 64
    assert doc.file_sha256 and len(doc.file_sha256) == 64
    assert load_policy(POLICY).content_hash == doc.content_hash


def test_company_a_states_every_seed_figure() -> None:
    p = load_policy(POLICY).policy
    assert (p.goals.annual_revenue_from, p.goals.annual_revenue_to) == (10_000_000, 15_000_000)
    run_rate = p.ramps["revenue-run-rate"]
    assert [pt.value for pt in run_rate.points] == [833_000, 1_250_000]
    assert [pt.value for pt in p.ramps["close-rate"].points] == [0.25, 0.35, 0.50]
    assert [pt.value for pt in p.ramps["sales-cycle"].points] == [45, 40, 35]
    assert {k: int(v) for k, v in p.lead_values.items()} == {
        "referral": 5000, "content": 1000, "webinar": 2000, "web_sales_ready": 4000}
    assert p.rewards.monthly_pool.amount == 5000
    assert [s.after_days for s in p.consequences.ladder] == [30, 60, 90]
    assert p.conflict_panel.members == ["cmo", "cso", "ceo"]
    assert p.conflict_panel.minutes_per_side == 15
    assert p.communication.feedback_within.total_seconds() == 24 * 3600
    assert [(m.every, m.duration.total_seconds()) for m in p.communication.meetings] == [
        ("week", 1800), ("month", 3600)]
    assert p.review.cadence == "quarterly"
    assert p.definitions.handoff.conversions == ["demo_request", "assessment", "consultation"]


def test_ramp_interpolation() -> None:
    from datetime import date

    p = load_policy(POLICY).policy
    close = p.ramps["close-rate"]
    assert close.target_on(date(2020, 6, 29)) == 0.25
    assert close.target_on(date(2020, 6, 30)) == 0.35
    assert close.target_on(date(2021, 1, 1)) == 0.50
    run = p.ramps["revenue-run-rate"]
    assert run.target_on(date(2020, 1, 1)) == 833_000
    assert run.target_on(date(2020, 6, 1)) == 1_250_000
    assert 833_000 < run.target_on(date(2020, 3, 15)) < 1_250_000


def test_content_hash_ignores_comments_but_not_values() -> None:
    base = parse_policy(TEXT).content_hash
    assert parse_policy("# a new comment\n" + TEXT).content_hash == base
    assert parse_policy(TEXT.replace("within: 1h", "within: 2h")).content_hash != base


def test_misspelt_key_suggests_the_right_one() -> None:
    err = broken("    cadence: quarterly", "    cadense: quarterly")
    assert str(err) == (
        "company-a.yaml:13 at policy.review.cadense: unknown key 'cadense'\n"
        "  fix: did you mean 'cadence'?"
    )
    assert (err.path, err.line, err.yaml_path) == ("company-a.yaml", 13, "policy.review.cadense")


def test_bad_duration_in_clause_params_points_at_line() -> None:
    err = broken("        within: 1h", "        within: 1 hour")
    assert err.yaml_path == "policy.clauses[0].params.within"
    assert err.line == TEXT.splitlines().index("        within: 1h") + 1
    assert "write a number and a unit: 90s, 30m, 1h, 24h, 7d or 2w" in str(err)


def test_unknown_clause_kind_suggests() -> None:
    err = broken("kind: speed_to_lead", "kind: speed_to_leed")
    assert isinstance(err, UnknownClauseKindError)
    assert "did you mean 'speed_to_lead'?" in str(err)


def test_missing_key_and_unknown_zone() -> None:
    err = broken('  version: "2020.1"\n', "")
    assert str(err).endswith("policy.version: Field required\n  fix: add `version:` here")
    err = broken("time_zone: America/New_York", "time_zone: America/NewYork")
    assert "unknown IANA time zone 'America/NewYork'" in str(err)


def test_cross_reference_error_points_at_key() -> None:
    err = broken("default_calendar: us-east", "default_calendar: us-central")
    assert err.yaml_path == "policy.default_calendar"
    assert str(err) == ("company-a.yaml:119 at policy.default_calendar: default_calendar "
                        "'us-central' is not a calendar\n"
                        "  fix: use a key of `calendars`: emea, us-east, us-west")


def test_yaml_syntax_error_and_missing_file(tmp_path) -> None:
    err = broken("  title: Company A marketing", "  title: [Company A marketing")
    assert "not valid YAML" in str(err) and err.line is not None
    with pytest.raises(PolicyError, match="policy file not found"):
        load_policy(tmp_path / "nope.yaml")
    with pytest.raises(PolicyError, match="top-level `policy:` key"):
        parse_policy("- just a list\n")


def test_errors_pickle() -> None:
    err = broken("    cadence: quarterly", "    cadense: quarterly")
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is type(err)
    assert str(again) == str(err) and again.line == err.line


def test_a_negative_duration_is_refused_at_its_line() -> None:
    err = broken("        within: 1h", "        within: -3600")
    assert err.yaml_path == "policy.clauses[0].params.within"
    assert err.line == TEXT.splitlines().index("        within: 1h") + 1
    assert "a duration cannot be negative (-3600s)" in str(err)


def test_a_calendar_that_never_opens_is_refused() -> None:
    lines = TEXT.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("      hours: {mon:"))
    end = next(i for i in range(start, len(lines)) if lines[i].rstrip().endswith("}"))
    text = "\n".join([*lines[:start], "      hours: {}", *lines[end + 1:]]) + "\n"
    with pytest.raises(PolicyError) as info:
        parse_policy(text, source="company-a.yaml")
    assert "the calendar opens on no day" in str(info.value)
    assert info.value.yaml_path is not None and info.value.yaml_path.endswith(".hours")


def test_a_reversed_goal_window_is_refused_at_its_line() -> None:
    err = broken("        window: [2020-06-01, 2020-12-31]", "        window: [2020-12-31, 2020-06-01]")
    assert err.line == TEXT.splitlines().index("        window: [2020-06-01, 2020-12-31]") + 1
    assert "the window ends (2020-06-01) before it starts (2020-12-31)" in str(err)
