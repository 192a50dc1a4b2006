"""Hypothesis properties of the policy loader and of the business clock.

The loader: whatever text it is given (random text, random YAML, company A's policy
with a line broken in a random way), it returns a validated policy or raises
``PolicyError``, never anything else. The clock, on the engine path (segments ->
``business_seconds_between`` on DuckDB): never negative from an instant to a later
one; zero across closed time; additive over adjacent intervals; equal to
businesstimedelta (the independent implementation of ``tests/test_clock.py``).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from slapolicy.engine.clock import BusinessCalendar
from slapolicy.errors import PolicyError
from slapolicy.policy.loader import parse_policy
from tests.conftest import POLICY
from tests.test_clock import CALENDARS, ZONES, engine_seconds, reference_seconds

TEXT = POLICY.read_text()
PLAIN = YAML(typ="safe").load(TEXT)
LINES = TEXT.splitlines()
SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def loads_or_refuses(text: str) -> None:
    """The property: a policy, or a PolicyError with a message of sensible length."""
    try:
        parse_policy(text, source="p.yaml", base_dir=POLICY.parent)
    except PolicyError as e:
        assert 0 < len(str(e)) < 6_000
        assert "Traceback" not in str(e)


# --- the loader ------------------------------------------------------------------------------

HOSTILE = st.sampled_from([
    ".nan", ".inf", "-.inf", "-1", "-3600", "0", "1e308", "1e400", "99999999999999999999999",
    "null", "~", "[]", "{}", "''", '""', "true", "no", "2020-02-30", "2020-13-01", "9999-12-31",
    "0001-01-01", "x" * 2000, "[" * 60 + "]" * 60, "{a: {b: {c: {d: [1, [2, [3]]]}}}}",
    "!!binary AAAA", "!!python/object:os.system ls", "&a x", "*a", "*undefined", "'\x00'",
    "\"\\u0000\"", "|\n  block", ">-", "- item", "@reserved", "`tick`", "%TAG", "! x",
    "日本語", "\u202e", "<<: *a", "? complex", ": x", "0x1F", "0o17", "1_000_000", "12:30",
    "09:00-17:00", "17:00-09:00", "1h", "-1h", "400d", "9999w", "USD", "usd",
])


@SETTINGS
@given(line=st.integers(0, len(LINES) - 1), value=HOSTILE)
def test_any_value_on_any_line_loads_or_is_refused(line: int, value: str) -> None:
    lines = list(LINES)
    text = lines[line]
    if ":" in text and not text.lstrip().startswith("#"):
        key = text.split(":", 1)[0]
        lines[line] = f"{key}: {value}"
    else:
        lines[line] = text[: len(text) - len(text.lstrip())] + value
    loads_or_refuses("\n".join(lines) + "\n")


@SETTINGS
@given(cut=st.integers(0, len(LINES) - 1), how=st.sampled_from(["drop", "twice", "indent",
                                                                "dedent", "truncate"]))
def test_a_line_dropped_doubled_or_moved_loads_or_is_refused(cut: int, how: str) -> None:
    lines = list(LINES)
    if how == "drop":
        del lines[cut]
    elif how == "twice":
        lines.insert(cut, lines[cut])
    elif how == "indent":
        lines[cut] = "  " + lines[cut]
    elif how == "dedent":
        lines[cut] = lines[cut][2:]
    else:
        lines[cut] = lines[cut][: len(lines[cut]) // 2]
    loads_or_refuses("\n".join(lines) + "\n")


@SETTINGS
@given(st.text(max_size=400))
def test_any_text_loads_or_is_refused(text: str) -> None:
    loads_or_refuses(text)
    loads_or_refuses("policy:\n" + text)


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                    st.text(max_size=30), st.dates())
TREES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=25)
KEYS = ["id", "version", "title", "effective_from", "teams", "people", "calendars", "clauses",
        "goals", "rewards", "consequences", "communication", "conflict_panel", "definitions",
        "default_calendar", "exceptions", "lead_values", "ramps", "plugins", "signoff"]


@SETTINGS
@given(key=st.sampled_from(KEYS), tree=TREES)
def test_any_yaml_under_any_section_loads_or_is_refused(key: str, tree: object) -> None:
    # JSON is YAML: the policy as one flow mapping, with the section replaced.
    body = dict(PLAIN["policy"], **{key: tree})
    loads_or_refuses(json.dumps({"policy": body}, default=str, allow_nan=True))


# --- the business clock ------------------------------------------------------------------------

FIRST, LAST = datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 12, 31, tzinfo=UTC)
INSTANTS = st.integers(0, int((LAST - FIRST).total_seconds())).map(
    lambda s: FIRST + timedelta(seconds=s))
HALF_HOURS = st.integers(0, 47).map(lambda n: time(n // 2, 30 * (n % 2)))


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    """A calendar in a real zone with random opening hours (one or two spans a day)."""
    zone, country, subdiv = ZONES[draw(st.sampled_from(sorted(ZONES)))]
    hours: dict[int, tuple[tuple[time, time], ...]] = {}
    for day in range(7):
        cuts = sorted(set(draw(st.lists(HALF_HOURS, max_size=4))))
        spans = tuple((a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False) if a < b)
        if spans:
            hours[day] = spans
    return BusinessCalendar("cal", zone, hours, country, subdiv)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cal=calendars(), instants=st.lists(INSTANTS, min_size=3, max_size=3))
def test_business_time_is_never_negative_and_additive(cal: BusinessCalendar,
                                                       instants: list[datetime]) -> None:
    t0, t1, t2 = sorted(instants)
    a, b, whole, back = engine_seconds(
        [("cal", t0, t1), ("cal", t1, t2), ("cal", t0, t2), ("cal", t2, t0)], [cal])
    assert a >= 0 and b >= 0 and whole >= 0
    assert whole == a + b
    assert back == -whole
    assert whole <= (t2 - t0).total_seconds()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cal=calendars(), day=st.dates(date(2020, 1, 2), date(2021, 12, 30)),
       fractions=st.lists(st.floats(0, 1), min_size=2, max_size=2))
def test_business_time_is_zero_across_closed_time(cal: BusinessCalendar, day: date,
                                                  fractions: list[float]) -> None:
    """Between two instants of closed time, no business time passes. Closed time is found
    from the calendar's stated hours and the holidays package, not from the clock: the
    whole local day when it has no hours or is a public holiday, else from local midnight
    to the day's first opening."""
    import holidays

    zone = ZoneInfo(cal.time_zone)
    lo = datetime.combine(day, time(0), zone).astimezone(UTC)
    public = holidays.country_holidays(cal.holiday_country, subdiv=cal.holiday_subdivision,
                                       years=day.year)
    spans = cal.hours.get(day.weekday(), ())
    if not spans or day in public:
        hi = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    else:
        hi = datetime.combine(day, min(a for a, _ in spans), zone).astimezone(UTC)
    span = (hi - lo).total_seconds()
    s, e = sorted(lo + timedelta(seconds=int(f * span)) for f in fractions)
    assert engine_seconds([("cal", s, e)], [cal]) == [0]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cid=st.sampled_from(sorted(ZONES)), start=INSTANTS,
       length=st.integers(0, 20 * 86_400))
def test_business_time_agrees_with_businesstimedelta(cid: str, start: datetime,
                                                     length: int) -> None:
    end = start + timedelta(seconds=length)
    got = engine_seconds([(cid, start, end)], [CALENDARS[cid]])
    assert got == [reference_seconds(cid, start, end)]
