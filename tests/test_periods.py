from datetime import date, datetime
from pathlib import Path

import pytest

from slapolicy.errors import PeriodError
from slapolicy.policy.periods import Period


def test_month_quarter_week() -> None:
    m = Period.parse("2020-02")
    assert (m.start, m.end, m.label) == (date(2020, 2, 1), date(2020, 3, 1), "2020-02")
    assert m.previous().label == "2020-01" and m.next().label == "2020-03"
    assert Period.parse("2020-12").next().label == "2021-01"
    q = Period.parse("2020-Q4", "quarter")
    assert (q.start, q.end) == (date(2020, 10, 1), date(2021, 1, 1))
    assert q.next().label == "2021-Q1"
    w = Period.parse("2020-W01", "week")
    assert w.start == date(2019, 12, 30) and w.previous().label == "2019-W52"


def test_bounds_follow_the_zone_and_dst() -> None:
    start, end = Period.parse("2020-03").bounds_utc("America/New_York")
    assert start == datetime(2020, 3, 1, 5) and end == datetime(2020, 4, 1, 4)


@pytest.mark.parametrize("label", ["2020-13", "2020/03", "March", "2020-W60"])
def test_bad_labels(label: str) -> None:
    with pytest.raises(PeriodError):
        Period.parse(label, "week" if "W" in label else "month")


def test_unit_must_match_policy() -> None:
    with pytest.raises(PeriodError, match="policy audits by month"):
        Period.parse("2020-Q1", "month")


@pytest.mark.parametrize(("label", "says"), [
    ("2019-12", "period 2019-12 ends before company-a takes effect (2020-01-01)"),
    ("2021-01", "period 2021-01 starts after company-a ends (2020-12-31)"),
])
def test_a_period_the_policy_does_not_cover_is_refused(label: str, says: str,
                                                       tmp_path: Path) -> None:
    from slapolicy.audit.run import AuditRequest, audit_document
    from slapolicy.errors import PeriodError
    from slapolicy.policy.loader import load_policy
    from tests.conftest import POLICY

    with pytest.raises(PeriodError) as err:
        audit_document(load_policy(POLICY), AuditRequest(POLICY, label, tmp_path / "no-data"),
                       compiled=False)
    assert err.value.message == says
    assert err.value.exit_code == 2
