"""Demo data: a seeded, realistic "Company A" that satisfies the data contract exactly.

``generate`` simulates the marketing-sales funnel of Company A (the worked example) month by
month: leads arrive with business-hours peaks (and after hours, on weekends and on
public holidays), the best become MQLs, marketing automation notifies a sales rep,
the rep touches the lead (mostly within one business hour of the rep's own
calendar), some leads become SQLs and opportunities, others are returned to
marketing and enrolled in a nurture track. Feedback requests, SLA meetings and web
traffic complete the picture. Every table in ``contract.TABLES`` is produced, with
its columns, types, keys and references.

Design choices, and why:

- **Performance curve.** Each month has a performance level in ``[0, 1]`` that moves
  every rate a month controls (MQL share, follow-up speed, SQL and close rates, sales
  cycle, revenue, meeting discipline), so the data tells a story an audit can find:
  weak first months, then strong ones. ``DemoConfig.performance`` shapes it.
- **Warm pipeline.** Deals take 30-50 days to close, so the funnel is simulated from
  ``WARMUP_MONTHS`` before ``start``; otherwise the first months would show no
  revenue. Of the warm-up months only the leads that matter to the audited months
  are kept: those that became opportunities, and those that became MQLs on or after
  ``start`` (a CRM export lists the open pipeline's history too).
- **A snapshot.** The data is an export taken at the end of the last month: nothing
  happens after it (later touches do not exist, deals still running are ``open``).
- **Revenue.** Deal sizes are scaled per closing month so that won revenue follows
  the performance curve (about $0.9M in a weak month, $1.35M in a strong one at the
  default 3,000 leads a month; the target scales with ``leads_per_month``).
- **The cast.** Six reps, two in each region (New York, Los Angeles and London
  calendars), so that about 1,100 MQLs a month give each rep 150-350 of them; three
  marketers, two team leads and three executives.
- **Reproducible.** One numpy ``default_rng`` stream per part, keyed by the seed and
  a fixed stream number, so changing one part does not reshuffle the others; all
  instants are whole UTC seconds; every table is sorted by its key.

Internally instants are ``int64`` seconds since the Unix epoch (UTC), with ``NAT``
for "no timestamp"; they become ``timestamp("us", tz="UTC")`` only in the tables.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from slapolicy.engine.contract import TABLES
from slapolicy.errors import PeriodError

__all__ = [
    "REGIONS",
    "DemoConfig",
    "generate",
    "performance_curve",
    "write_duckdb",
    "write_folder",
]

NAT = np.iinfo(np.int64).min  # "no timestamp" in int64-second arrays
MINUTE = 60
HOUR = 3_600
DAY = 86_400
WARMUP_MONTHS = 3
HQ_REGION = "us-east"  # where leads, feedback and meetings keep their hours

#: region -> (IANA zone, holidays country, holidays subdivision): the reps' calendars.
REGIONS: dict[str, tuple[str, str, str | None]] = {
    "us-east": ("America/New_York", "US", None),
    "us-west": ("America/Los_Angeles", "US", None),
    "emea": ("Europe/London", "GB", "ENG"),
}
OPEN_HOUR, CLOSE_HOUR = 9, 17  # Mon-Fri, local time, in every region

# person_id, name, team, role, region
PEOPLE: tuple[tuple[str, str, str, str, str], ...] = (
    ("rep-01", "Avery Brooks", "sales", "rep", "us-east"),
    ("rep-02", "Jordan Mills", "sales", "rep", "us-east"),
    ("rep-03", "Casey Ortega", "sales", "rep", "us-west"),
    ("rep-04", "Riley Chen", "sales", "rep", "us-west"),
    ("rep-05", "Morgan Hughes", "sales", "rep", "emea"),
    ("rep-06", "Priya Patel", "sales", "rep", "emea"),
    ("mkt-01", "Taylor Nguyen", "marketing", "marketer", "us-east"),
    ("mkt-02", "Jamie Fischer", "marketing", "marketer", "us-east"),
    ("mkt-03", "Alex Moreau", "marketing", "marketer", "us-east"),
    ("sales-lead", "Dana Whitfield", "sales", "team_lead", "us-east"),
    ("mkt-lead", "Sam Okafor", "marketing", "team_lead", "us-east"),
    ("exec-cmo", "Elena Rossi", "executive", "cmo", "us-east"),
    ("exec-cso", "Marcus Reed", "executive", "cso", "us-east"),
    ("exec-ceo", "Helen Park", "executive", "ceo", "us-east"),
)
#: Who each person reports to, by team (team leads report to the CSO; executives to none).
MANAGERS = {"sales": "sales-lead", "marketing": "mkt-lead", "lead": "exec-cso"}
REPS = tuple(p[0] for p in PEOPLE if p[3] == "rep")
REP_REGIONS = tuple(p[4] for p in PEOPLE if p[3] == "rep")
REP_REGION_INDEX = np.array([list(REGIONS).index(r) for r in REP_REGIONS])
MARKETERS = tuple(p[0] for p in PEOPLE if p[3] == "marketer")

SOURCES = ("referral", "content", "webinar", "web_sales_ready", "paid_search")
SOURCE_P = (0.02, 0.60, 0.15, 0.15, 0.08)
WEBINAR = SOURCES.index("webinar")
STAGES = ("awareness", "consideration", "decision")
# P(journey stage | source): sales-ready and referral leads arrive late in the journey.
STAGE_GIVEN_SOURCE = np.array([
    [0.10, 0.30, 0.60],
    [0.50, 0.35, 0.15],
    [0.20, 0.60, 0.20],
    [0.05, 0.25, 0.70],
    [0.35, 0.40, 0.25],
])
CONVERSIONS = ("demo_request", "assessment", "consultation")
CONVERSION_P = (0.5, 0.25, 0.25)

# ICP attribute -> (values, shares, fit points). A null counts half the mean points.
ICP: dict[str, tuple[tuple[str, ...], tuple[float, ...], tuple[int, ...]]] = {
    "industry": (("software", "manufacturing", "healthcare", "retail", "finance", "education"),
                 (0.28, 0.18, 0.16, 0.14, 0.14, 0.10), (16, 12, 10, 4, 12, 2)),
    "company_size": (("1-10", "11-50", "51-200", "201-1000", "1000+"),
                     (0.18, 0.24, 0.26, 0.20, 0.12), (0, 6, 14, 16, 10)),
    "department": (("it", "operations", "marketing", "finance", "hr"),
                   (0.36, 0.20, 0.20, 0.14, 0.10), (14, 10, 4, 6, 0)),
    "job_title": (("cio", "it manager", "vp operations", "analyst", "director of marketing",
                   "intern"), (0.08, 0.26, 0.12, 0.28, 0.16, 0.10), (18, 14, 14, 6, 6, 0)),
    "technology": (("cloud", "on-prem", "hybrid"), (0.48, 0.22, 0.30), (12, 4, 9)),
    "content_fit": (("high", "medium", "low"), (0.30, 0.45, 0.25), (14, 8, 0)),
}
ICP_NULL_SHARE = 0.06
# Company A's ideal customer profile (policies/company-a.yaml): marketing qualifies mostly
# leads that fit it, so an MQL matches each attribute with this probability.
ICP_IDEAL = {
    "industry": ("software", "manufacturing", "healthcare", "finance"),
    "company_size": ("51-200", "201-1000", "1000+"),
    "department": ("it", "operations"),
    "job_title": ("cio", "it manager", "vp operations"),
    "technology": ("cloud", "hybrid"),
    "content_fit": ("high", "medium"),
}
MQL_ICP_MATCH = 0.97

KINDS = ("call", "email", "video", "meeting")
FIRST_KIND_P = np.array([0.55, 0.40, 0.05, 0.00])
LATER_KIND_P = np.array([0.45, 0.38, 0.11, 0.06])
OUTCOMES = ("connected", "no_answer", "left_message", "bounced")
OUTCOME_GIVEN_KIND = np.array([
    [0.30, 0.42, 0.28, 0.00],
    [0.20, 0.70, 0.00, 0.10],
    [0.85, 0.15, 0.00, 0.00],
    [1.00, 0.00, 0.00, 0.00],
])
TOUCH_COUNT_P = (0.18, 0.20, 0.20, 0.17, 0.14, 0.11)  # 1..6 touches for a worked lead
RETURN_REASONS = ("no_response", "not_a_fit", "timing", "junk")
RETURN_REASON_P = (0.50, 0.25, 0.17, 0.08)
OPP_STAGES = ("discovery", "proposal", "negotiation", "closed_won", "closed_lost")
OPP_STATUSES = ("open", "won", "lost")
FEEDBACK_TOPICS = ("lead quality", "follow-up speed", "content request", "ICP definition",
                   "campaign results", "handoff data", "pricing questions")

# Numbered streams: a part's random numbers do not depend on the parts before it.
STREAMS = ("leads", "owners", "activities", "pipeline", "deals", "feedback", "meetings",
           "traffic", "revenue", "profile", "cadence")


def performance_curve(months: int) -> tuple[float, ...]:
    """The built-in performance levels: a weak start, the goal reached in month six.

    Months one to five ramp up from 0.1 to 0.6 (revenue below $1.25M), month six
    reaches 1.0 and later months stay strong (0.85-1.0), like Company A
    that wants $1.25M a month by June 2020 and to hold it.

    Args:
        months: How many monthly levels to return.

    Returns:
        One level in ``[0, 1]`` per month, 0 the weakest month the generator models.
    """
    ramp = (0.10, 0.25, 0.40, 0.50, 0.60, 1.00)
    plateau = (0.90, 1.00, 0.85, 0.95, 1.00, 0.90)
    return tuple(ramp[i] if i < len(ramp) else plateau[(i - len(ramp)) % len(plateau)]
                 for i in range(months))


@dataclass(frozen=True)
class DemoConfig:
    """What to generate.

    Attributes:
        start: First month, ``YYYY-MM``.
        months: Number of monthly periods.
        leads_per_month: New leads each month (revenue targets scale with it).
        seed: Seed of every random stream; the same config gives the same bytes.
        performance: One level in ``[0, 1]`` per month (0 weak, 1 strong), or
            ``None`` for ``performance_curve(months)``.
        activities_per_lead: ``None`` (the default) for the demo's light touch
            pattern, 1 to 6 touches per worked lead (about 1.3 activities per lead);
            or the activities per lead to aim for (benchmarks use 10): worked leads
            then get a sales cadence of touches, generated in bulk (see
            ``_simulate_cadence``). Only this parameter changes the data: ``None``
            gives the same bytes as before it existed.
    """

    start: str = "2020-01"
    months: int = 6
    leads_per_month: int = 3000
    seed: int = 20200101
    performance: tuple[float, ...] | None = None
    activities_per_lead: float | None = None

    def __post_init__(self) -> None:
        m = re.fullmatch(r"(\d{4})-(\d{2})", self.start)
        if m is None or not 1 <= int(m.group(2)) <= 12:
            raise PeriodError(f"demo start {self.start!r} is not a month",
                              hint="write the first month as YYYY-MM, e.g. 2020-01")
        if self.months < 1:
            raise ValueError(f"months must be at least 1, got {self.months}")
        if self.leads_per_month < 1:
            raise ValueError(f"leads_per_month must be at least 1, got {self.leads_per_month}")
        if self.performance is not None:
            if len(self.performance) != self.months:
                raise ValueError(f"performance has {len(self.performance)} levels for "
                                 f"{self.months} months; give one level per month")
            bad = [p for p in self.performance if not 0.0 <= p <= 1.0]
            if bad:
                raise ValueError(f"performance levels must be within [0, 1], got {bad}")
        if self.activities_per_lead is not None and not 1.0 <= self.activities_per_lead <= 100:
            raise ValueError("activities_per_lead must be between 1 and 100 (or None), got "
                             f"{self.activities_per_lead}")

    @property
    def levels(self) -> tuple[float, ...]:
        """The performance level of each month (the built-in curve if none was given)."""
        return self.performance if self.performance is not None else \
            performance_curve(self.months)

    @property
    def first_day(self) -> date:
        """The first day of the first month."""
        return date(int(self.start[:4]), int(self.start[5:7]), 1)

    @property
    def end_day(self) -> date:
        """The day after the last month: the export is taken at its UTC midnight."""
        return _add_months(self.first_day, self.months)


# --- public API ------------------------------------------------------------------------


def generate(config: DemoConfig = DemoConfig()) -> dict[str, pa.Table]:
    """Generate every contract table for Company A.

    Args:
        config: What to generate; the same config always gives the same tables.

    Returns:
        Table name -> table, in the order of ``contract.TABLES``, each with exactly the
        contract's columns and types and sorted by its key.
    """
    tl = _Timeline.build(config)
    rng = _streams(config.seed)
    cals = {region: _Calendar.build(region, tl.first_day, tl.last_day) for region in REGIONS}

    leads = _simulate_leads(rng("leads"), tl, config.leads_per_month)
    _assign_owners(rng("owners"), tl, leads)
    _profile_mqls(rng("profile"), leads)
    per_lead = config.activities_per_lead
    if per_lead is None:
        acts = _simulate_touches(rng("activities"), tl, leads, cals)
    else:  # a dense cadence: planned per lead now, rows once the kept leads are known
        _simulate_cadence(rng("activities"), tl, leads, cals, per_lead)
    _qualify_and_return(rng("pipeline"), tl, leads, cals)
    opps = _opportunities(rng("deals"), tl, leads, cals)
    stages = _opportunity_stages(opps)
    if per_lead is not None:
        acts = _cadence_rows(rng("cadence"), leads, opps, cals, tl.start)

    _censor(tl.as_of, leads, acts, opps, stages)
    leads, acts, opps, stages = _drop_idle_warmup(tl, leads, acts, opps, stages)
    if per_lead is not None:
        acts = _thin_cadence(rng("cadence"), acts, len(leads["created_at"]), per_lead)
    _scale_revenue(rng("revenue"), tl, opps, config.leads_per_month)

    tables = {
        "people": _people_table(),
        "leads": _leads_table(leads),
        "activities": _activities_table(acts, leads["lead_id"]),
        "opportunities": _opportunities_table(opps, leads["lead_id"]),
        "opportunity_stages": _stages_table(stages, opps["opportunity_id"]),
        "feedback": _feedback_table(rng("feedback"), tl, cals[HQ_REGION]),
        "meetings": _meetings_table(rng("meetings"), tl),
        "web_traffic": _traffic_table(rng("traffic"), tl),
    }
    return {name: _conform(name, tables[name]) for name in TABLES}


def write_duckdb(tables: dict[str, pa.Table], path: Path) -> Path:
    """Write the tables to a DuckDB file, one table each, replacing ``path`` atomically.

    Timestamps become ``TIMESTAMP WITH TIME ZONE`` (instants, zone-aware input).

    Args:
        tables: Table name -> table, as ``generate`` returns.
        path: The DuckDB file to create or replace.

    Returns:
        ``path``.
    """
    import duckdb

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    # A crashed earlier run may have left a partial file (and its WAL) behind.
    for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
        leftover.unlink(missing_ok=True)
    # DuckDB would replay a stale WAL of the old file into the new one.
    path.with_name(path.name + ".wal").unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        for name, table in tables.items():
            con.register("_demo_src", table)
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _demo_src')
            con.unregister("_demo_src")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, path)
    return path


def write_folder(tables: dict[str, pa.Table], folder: Path,
                 fmt: Literal["csv", "parquet"]) -> Path:
    """Write one file per table, ``<table>.csv`` or ``<table>.parquet``.

    CSV timestamps are ISO-8601 with offset (``2020-01-02T14:03:00+00:00``), dates
    ``YYYY-MM-DD``, booleans ``true``/``false`` and nulls empty. Each file is written
    next to its place and then renamed, so a reader never sees half a file.

    Args:
        tables: Table name -> table, as ``generate`` returns.
        folder: Where to write; created if missing.
        fmt: ``"csv"`` or ``"parquet"``.

    Returns:
        ``folder``.
    """
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unknown format {fmt!r}; use 'csv' or 'parquet'")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        target = folder / f"{name}.{fmt}"
        tmp = target.with_name(target.name + ".tmp")
        if fmt == "parquet":
            pq.write_table(table, tmp)
        else:
            pcsv.write_csv(_csv_ready(table), tmp)
        os.replace(tmp, target)
    return folder


# --- time ------------------------------------------------------------------------------


def _add_months(d: date, n: int) -> date:
    k = d.year * 12 + d.month - 1 + n
    return date(k // 12, k % 12 + 1, 1)


def _epoch(d: date) -> int:
    """UTC midnight of a date, in seconds."""
    return int(datetime.combine(d, time(0), UTC).timestamp())


def _weekday(days: np.ndarray) -> np.ndarray:
    """Monday=0 weekday of days counted from 1970-01-01 (a Thursday)."""
    return (days + 3) % 7


@cache
def _holidays(country: str, subdiv: str | None, first_year: int, last_year: int) -> frozenset:
    import holidays

    cal = holidays.country_holidays(country, subdiv=subdiv,
                                    years=range(first_year, last_year + 1))
    return frozenset(cal)


@dataclass(frozen=True)
class _Timeline:
    """The simulated months: warm-up months first, then the audited ones."""

    month_starts: np.ndarray  # UTC seconds; n_months + 1 edges
    levels: np.ndarray  # performance per simulated month
    start: int  # first audited instant
    as_of: int  # export instant: end of the last audited month
    first_day: date  # calendars cover these local dates
    last_day: date
    audited: tuple[date, ...]  # first day of each audited month

    @classmethod
    def build(cls, cfg: DemoConfig) -> _Timeline:
        firsts = [_add_months(cfg.first_day, i)
                  for i in range(-WARMUP_MONTHS, cfg.months + 1)]
        levels = np.array([cfg.levels[0]] * WARMUP_MONTHS + list(cfg.levels))
        return cls(
            month_starts=np.array([_epoch(d) for d in firsts], dtype=np.int64),
            levels=levels,
            start=_epoch(cfg.first_day),
            as_of=_epoch(cfg.end_day),
            first_day=firsts[0] - timedelta(days=7),
            # Touches and deals run on after the last lead; the calendar must outlast them.
            last_day=cfg.end_day + timedelta(days=120),
            audited=tuple(firsts[WARMUP_MONTHS:-1]),
        )

    @property
    def n_months(self) -> int:
        return len(self.levels)

    def month_of(self, t: np.ndarray) -> np.ndarray:
        """Simulated month index of instants, clipped to the simulated months."""
        i = np.searchsorted(self.month_starts, t, side="right") - 1
        return np.clip(i, 0, self.n_months - 1)

    def level_at(self, t: np.ndarray) -> np.ndarray:
        return self.levels[self.month_of(t)]


@dataclass(frozen=True)
class _Calendar:
    """A region's opening intervals as UTC seconds, for vectorised business-time sums."""

    opens: np.ndarray
    closes: np.ndarray
    cum: np.ndarray  # business seconds before each opening

    @classmethod
    def build(cls, region: str, first: date, last: date) -> _Calendar:
        zone_name, country, subdiv = REGIONS[region]
        zone = ZoneInfo(zone_name)
        closed = _holidays(country, subdiv, first.year, last.year)
        opens, closes = [], []
        d = first
        while d <= last:
            if d.weekday() < 5 and d not in closed:
                opens.append(datetime.combine(d, time(OPEN_HOUR), zone).timestamp())
                closes.append(datetime.combine(d, time(CLOSE_HOUR), zone).timestamp())
            d += timedelta(days=1)
        o = np.array(opens, dtype=np.int64)
        c = np.array(closes, dtype=np.int64)
        return cls(o, c, np.concatenate([[0], np.cumsum(c - o)[:-1]]))

    def position(self, t: np.ndarray) -> np.ndarray:
        """Business seconds from the calendar's origin to each instant."""
        i = np.searchsorted(self.opens, t, side="right") - 1
        k = np.clip(i, 0, None)
        inside = np.minimum(t - self.opens[k], self.closes[k] - self.opens[k])
        return np.where(i >= 0, self.cum[k] + inside, 0)

    def add(self, t: np.ndarray, seconds: np.ndarray) -> np.ndarray:
        """The instants ``seconds`` (> 0) business seconds after ``t``.

        An instant after hours counts from the next opening, so a positive delay
        always lands inside opening hours.
        """
        target = self.position(t) + seconds
        ends = self.cum + (self.closes - self.opens)
        j = np.minimum(np.searchsorted(ends, target, side="left"), len(ends) - 1)
        return self.opens[j] + (target - self.cum[j])


def _local_to_utc(zone_name: str, days: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """UTC instants of local wall times (day number since 1970-01-01, seconds into it).

    The offset is the one at local noon, which is exact except in the hour a DST
    change skips or repeats; for generated arrival times that does not matter.
    """
    zone = ZoneInfo(zone_name)
    uniq, inv = np.unique(days, return_inverse=True)
    offsets = np.array([_noon_offset(zone, int(d)) for d in uniq], dtype=np.int64)
    return days * DAY + seconds - offsets[inv]


def _noon_offset(zone: ZoneInfo, day: int) -> int:
    """UTC offset in seconds at local noon of a day counted from 1970-01-01."""
    noon = datetime.combine(date(1970, 1, 1) + timedelta(days=day), time(12))
    return int(noon.replace(tzinfo=UTC).timestamp()) - int(noon.replace(tzinfo=zone).timestamp())


# --- random helpers --------------------------------------------------------------------


def _streams(seed: int) -> Callable[[str], np.random.Generator]:
    def rng(name: str) -> np.random.Generator:
        return np.random.default_rng([seed, STREAMS.index(name)])

    return rng


def _pick(rng: np.random.Generator, p: Sequence[float], n: int) -> np.ndarray:
    """n category codes drawn with probabilities p."""
    return rng.choice(len(p), size=n, p=np.asarray(p) / np.sum(p))


def _pick_rows(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One code per element, drawn from the probability row ``probs[rows]``."""
    cum = np.cumsum(probs, axis=1)
    cum = cum / cum[:, -1:]
    u = rng.random(len(rows))
    return np.minimum((u[:, None] >= cum[rows]).sum(axis=1), probs.shape[1] - 1)


def _null_ts(n: int) -> np.ndarray:
    return np.full(n, NAT, dtype=np.int64)


def _lognormal_s(rng: np.random.Generator, median: float, sigma: float, n: int,
                 lo: float, hi: float) -> np.ndarray:
    """Whole seconds, log-normal around ``median`` and clipped to ``[lo, hi]``."""
    x = rng.lognormal(np.log(median), sigma, n)
    return np.clip(np.rint(x), lo, hi).astype(np.int64)


# --- leads -----------------------------------------------------------------------------


def _arrival_times(rng: np.random.Generator, tl: _Timeline, per_month: int) -> np.ndarray:
    """Lead arrival instants: weekday business-hours peaks at HQ, evenings, weekends."""
    zone, country, subdiv = REGIONS[HQ_REGION]
    holidays = _holidays(country, subdiv, tl.first_day.year, tl.last_day.year)
    out = []
    for m in range(tl.n_months):
        lo, hi = int(tl.month_starts[m]), int(tl.month_starts[m + 1])
        days = np.arange(lo // DAY, hi // DAY)
        off = np.array([date(1970, 1, 1) + timedelta(days=int(d)) in holidays for d in days])
        wd = _weekday(days)
        weight = np.where(wd < 5, 1.0, np.where(wd == 5, 0.30, 0.25))
        weight = np.where(off, 0.35, weight)  # holidays: fewer leads, but some
        pick = rng.choice(len(days), size=per_month, p=weight / weight.sum())
        business_day = (wd[pick] < 5) & ~off[pick]
        t = _local_to_utc(zone, days[pick], _time_of_day(rng, business_day))
        # Keep each month's leads inside the month (a late evening at HQ on the last
        # day is already next month in UTC): wrap them to the same time a month earlier.
        out.append(lo + (t - lo) % (hi - lo))
    return np.sort(np.concatenate(out))


def _time_of_day(rng: np.random.Generator, business_day: np.ndarray) -> np.ndarray:
    """Seconds into the local day: two peaks in office hours, some evenings and nights."""
    n = len(business_day)
    peak = np.where(rng.random(n) < 0.55, rng.normal(10.8, 1.2, n), rng.normal(14.6, 1.3, n))
    office = OPEN_HOUR + (peak - OPEN_HOUR) % (CLOSE_HOUR - OPEN_HOUR)
    after = np.where(rng.random(n) < 0.65, rng.uniform(CLOSE_HOUR, 24, n),
                     rng.triangular(0, OPEN_HOUR, OPEN_HOUR, n))
    day_off = np.clip(rng.normal(13.5, 3.5, n), 0, 23.99)
    hours = np.where(business_day, np.where(rng.random(n) < 0.86, office, after), day_off)
    return np.minimum(np.floor(hours * HOUR), DAY - 1).astype(np.int64)


def _simulate_leads(rng: np.random.Generator, tl: _Timeline, per_month: int
                    ) -> dict[str, np.ndarray]:
    """Leads with attributes, scores and marketing-side lifecycle (MQL, notification)."""
    created = _arrival_times(rng, tl, per_month)
    n = len(created)
    source = _pick(rng, SOURCE_P, n)
    stage = _pick_rows(rng, STAGE_GIVEN_SOURCE, source)
    webinar = source == WEBINAR
    # Bottom-of-funnel conversions come late in the journey, rarely from webinars.
    conv_p = np.where(webinar, 0.05, np.array([0.04, 0.18, 0.72])[stage])
    converted = rng.random(n) < conv_p
    conversion = np.where(converted, _pick(rng, CONVERSION_P, n), -1)
    # A few webinar leads ask for follow-up too; the speed-to-lead clause excludes them.
    follow_p = np.where(converted, 0.95, np.array([0.10, 0.37, 0.70])[stage])
    followup = rng.random(n) < np.where(webinar, 0.03, follow_p)

    leads: dict[str, np.ndarray] = {
        "created_at": created, "source": source, "journey_stage": stage,
        "conversion": conversion, "followup_requested": followup,
        "marketer": np.where(rng.random(n) < 0.03, -1,
                             _pick(rng, (0.40, 0.35, 0.25), n)),
    }
    _profile_and_score(rng, leads)
    _qualify_marketing(rng, tl, leads)
    return leads


def _profile_and_score(rng: np.random.Generator, leads: dict[str, np.ndarray]) -> None:
    """ICP attributes (some unknown), and fit and interest scores that follow them."""
    n = len(leads["created_at"])
    stage, converted = leads["journey_stage"], leads["conversion"] >= 0
    followup = leads["followup_requested"]
    points = np.zeros(n)
    for col, (_values, shares, pts) in ICP.items():
        code = _pick(rng, shares, n)
        code[rng.random(n) < ICP_NULL_SHARE] = -1
        leads[col] = code
        mean = float(np.dot(shares, pts))
        points += np.where(code >= 0, np.asarray(pts)[np.maximum(code, 0)], mean / 2)
    fit = np.clip(np.rint(points + 8 + rng.normal(0, 6, n)), 0, 100).astype(np.int64)
    interest = np.array([25.0, 50.0, 72.0])[stage] + 12 * converted + 6 * followup
    interest = np.clip(np.rint(interest + rng.normal(0, 10, n)), 0, 100).astype(np.int64)
    leads["fit_score"], leads["interest_score"] = fit, interest


def _profile_mqls(rng: np.random.Generator, leads: dict[str, np.ndarray]) -> None:
    """MQLs mostly fit the ideal profile: redraw each attribute inside it, most of the time."""
    mql = leads["mql_at"] != NAT
    for col, ideal in ICP_IDEAL.items():
        values = ICP[col][0]
        inside = np.array([values.index(v) for v in ideal])
        redraw = mql & (rng.random(len(mql)) < MQL_ICP_MATCH)
        leads[col] = np.where(redraw, inside[rng.integers(0, len(inside), len(mql))], leads[col])


def _qualify_marketing(rng: np.random.Generator, tl: _Timeline,
                       leads: dict[str, np.ndarray]) -> None:
    """MQL and notification instants: marketing's side of the lifecycle."""
    created, fit, interest = leads["created_at"], leads["fit_score"], leads["interest_score"]
    converted, followup = leads["conversion"] >= 0, leads["followup_requested"]
    n = len(created)
    # MQLs: a conversion or follow-up request with a decent fit, or a high lead score.
    # The share per month follows the performance curve (weak months: fewer MQLs).
    priority = (fit + interest) / 2 + 35 * converted + 18 * followup + rng.normal(0, 6, n)
    month = tl.month_of(created)
    is_mql = np.zeros(n, dtype=bool)
    for m in range(tl.n_months):
        idx = np.flatnonzero(month == m)
        k = round(len(idx) * (0.34 + 0.07 * tl.levels[m]))
        is_mql[idx[np.argsort(-priority[idx], kind="stable")[:k]]] = True
    # A conversion hands over at once; a score crosses the threshold hours or days later.
    delay = np.where(converted, _lognormal_s(rng, 3 * MINUTE, 1.0, n, 10, 2 * HOUR),
                     _lognormal_s(rng, 20 * HOUR, 1.0, n, 10 * MINUTE, 12 * DAY))
    leads["mql_at"] = np.where(is_mql, created + delay, NAT)
    # Marketing automation notifies a rep seconds to minutes later; a few MQLs are
    # never routed to sales.
    routed = is_mql & (rng.random(n) < 0.97)
    ping = _lognormal_s(rng, 40, 1.0, n, 2, 15 * MINUTE)
    leads["notified_at"] = np.where(routed, leads["mql_at"] + ping, NAT)


def _assign_owners(rng: np.random.Generator, tl: _Timeline, leads: dict[str, np.ndarray]
                   ) -> None:
    """Route notified leads to reps; some months overload one rep and starve another.

    Adds ``owner`` (rep index or -1) and ``load`` (the owner's weight that month,
    relative to a normal rep: above 1 means overloaded, which slows follow-up).
    """
    notified = leads["notified_at"]
    n = len(notified)
    base = 1 + rng.normal(0, 0.06, len(REPS))
    weights = np.tile(base, (tl.n_months, 1))
    for m in range(tl.n_months):
        if rng.random() < 0.8 - 0.6 * tl.levels[m]:
            over, under = rng.choice(len(REPS), size=2, replace=False)
            weights[m, over] *= 2.4
            weights[m, under] *= 0.45
    month = tl.month_of(notified)
    owner = np.full(n, -1, dtype=np.int64)
    has = notified != NAT
    owner[has] = _pick_rows(rng, weights, month[has])
    leads["owner"] = owner
    rep = np.maximum(owner, 0)
    leads["load"] = np.where(has, weights[month, rep] / base[rep], 0.0)


# --- sales touches ---------------------------------------------------------------------


def _rep_add(cals: dict[str, _Calendar], rep: np.ndarray, t: np.ndarray,
             seconds: np.ndarray) -> np.ndarray:
    """``t`` plus business seconds on each element's rep calendar (all defined, > 0)."""
    out = np.full(len(t), NAT, dtype=np.int64)
    region = REP_REGION_INDEX[rep]
    for r, name in enumerate(REGIONS):
        m = region == r
        out[m] = cals[name].add(t[m], seconds[m])
    return out


def _simulate_touches(rng: np.random.Generator, tl: _Timeline, leads: dict[str, np.ndarray],
                      cals: dict[str, _Calendar]) -> dict[str, np.ndarray]:
    """Touches by the owner: the first mostly within one business hour of notification.

    Adds ``first_touch``, ``last_touch`` and ``touches`` to ``leads``; returns the
    activities (lead index, rep, kind, instant, outcome) in no particular order.
    """
    n = len(leads["created_at"])
    owner, notified = leads["owner"], leads["notified_at"]
    has, never, delay = _touch_plan(rng, tl, leads)
    count = np.where(has & ~never, _pick(rng, TOUCH_COUNT_P, n) + 1, 0)
    gaps = _lognormal_s(rng, 5 * HOUR, 0.8, n * 5, 30 * MINUTE, 3 * 8 * HOUR).reshape(n, 5)

    times = np.full((n, 6), NAT, dtype=np.int64)
    idx = np.flatnonzero(count > 0)
    t = _rep_add(cals, owner[idx], notified[idx], delay[idx])
    times[idx, 0] = t
    for step in range(1, 6):
        t = _rep_add(cals, owner[idx], t, gaps[idx, step - 1])
        times[idx, step] = np.where(count[idx] > step, t, NAT)

    leads["touches"] = count
    leads["first_touch"] = times[:, 0]
    leads["last_touch"] = times[np.arange(n), np.maximum(count - 1, 0)]
    lead_i, slot = np.nonzero(times != NAT)
    kinds = _pick_rows(rng, np.stack([FIRST_KIND_P, LATER_KIND_P]),
                       (slot > 0).astype(np.int64))
    outcome = _pick_rows(rng, OUTCOME_GIVEN_KIND, kinds)
    outcome[rng.random(len(outcome)) < 0.03] = -1  # the rep logged no outcome
    return {"lead": lead_i, "rep": owner[lead_i], "kind": kinds,
            "occurred_at": times[lead_i, slot], "outcome": outcome}


def _touch_plan(rng: np.random.Generator, tl: _Timeline, leads: dict[str, np.ndarray]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Who is worked, and the business seconds from notification to the first touch.

    Overloaded reps and weak months leave more leads waiting. Returns (has an owner,
    never touched, delay to the first touch).
    """
    n = len(leads["created_at"])
    owner, notified, load = leads["owner"], leads["notified_at"], leads["load"]
    has = owner >= 0
    level = np.where(has, tl.level_at(notified), 0.0)
    # An overloaded rep leaves more leads waiting; weak months are slower for everyone.
    overloaded = load > 1.5
    never = rng.random(n) < (0.035 - 0.02 * level) * np.where(overloaded, 1.6, 1.0)
    slow_p = 0.15 - 0.10 * level + np.where(overloaded, 0.12, 0.0) \
        - np.where(load < 0.7, 0.03, 0.0)
    slow = rng.random(n) < slow_p
    # Business seconds to the first touch: under an hour for most, a long tail otherwise.
    # Counting in business time puts an after-hours lead's touch early next business day.
    fast_delay = 60 + np.rint(rng.beta(1.3, 3.0, n) * 56 * MINUTE).astype(np.int64)
    slow_delay = _lognormal_s(rng, 3 * HOUR, 0.9, n, HOUR + MINUTE, 5 * 8 * HOUR)
    return has, never, np.where(slow, slow_delay, fast_delay)


def _simulate_cadence(rng: np.random.Generator, tl: _Timeline, leads: dict[str, np.ndarray],
                      cals: dict[str, _Calendar], per_lead: float) -> None:
    """Plan a sales cadence per worked lead: how many touches, the first and the last.

    The first touch follows the same rules as ``_simulate_touches`` (speed to lead sees
    the same behaviour); then the rep keeps working the lead, a few touches a business
    day, for about a week. Only the plan is drawn here, per lead; ``_cadence_rows``
    makes the activity rows later, for the leads the export keeps, and
    ``_thin_cadence`` trims them to ``per_lead`` activities per exported lead.

    Adds ``first_touch``, ``last_touch``, ``touches``, ``touch_delay`` and
    ``cadence_span`` (business seconds from the first touch to the last) to ``leads``.
    """
    n = len(leads["created_at"])
    owner, notified = leads["owner"], leads["notified_at"]
    has, never, delay = _touch_plan(rng, tl, leads)
    worked = has & ~never
    audited = leads["created_at"] >= tl.start
    # Touches per worked lead, with headroom for the touches the export cuts off (the
    # rows are thinned to the target afterwards).
    mean = 1.3 * per_lead * max(int(audited.sum()), 1) / max(int((worked & audited).sum()), 1)
    spread = rng.gamma(2.0, 0.5, n)  # mean 1: some leads get far more touches
    count = np.where(worked, 1 + rng.poisson(max(mean - 1.0, 0.0) * spread), 0)
    gap = _lognormal_s(rng, 90 * MINUTE, 0.35, n, 45 * MINUTE, 6 * HOUR)  # a lead's mean gap
    span = np.maximum(count - 1, 0) * gap
    idx = np.flatnonzero(worked)
    first = _null_ts(n)
    last = _null_ts(n)
    first[idx] = _rep_add(cals, owner[idx], notified[idx], delay[idx])
    last[idx] = _rep_add(cals, owner[idx], notified[idx], delay[idx] + span[idx])
    leads["touches"], leads["first_touch"], leads["last_touch"] = count, first, last
    leads["touch_delay"], leads["cadence_span"] = delay, span


def _cadence_rows(rng: np.random.Generator, leads: dict[str, np.ndarray],
                  opps: dict[str, np.ndarray], cals: dict[str, _Calendar],
                  start: int) -> dict[str, np.ndarray]:
    """The activity rows of the planned cadences, in bulk (no Python per row).

    Only for leads the export can keep (see ``_drop_idle_warmup``): a warm-up lead with
    neither a deal nor an MQL since ``start`` is dropped with its touches, so they are
    never made. Business time is additive, so touch ``k`` of a lead sits the delay plus
    its first ``k`` gaps business seconds after the notification, on the owner's
    calendar: one cumulative sum and one calendar lookup for all rows. Gaps are at
    least 30 minutes and split the lead's ``cadence_span``, so the last row is the
    planned last touch. Rows come grouped by lead, in time order.
    """
    n = len(leads["created_at"])
    has_opp = np.zeros(n, dtype=bool)
    has_opp[opps["lead"]] = True
    may_keep = (leads["created_at"] >= start) | has_opp | (leads["mql_at"] >= start)
    idx = np.flatnonzero(may_keep & (leads["touches"] > 0))
    counts = leads["touches"][idx]
    total = int(counts.sum())
    row = np.repeat(np.arange(len(idx)), counts)
    starts = np.cumsum(counts) - counts  # first row of each lead
    step = np.arange(total) - starts[row]
    share = rng.lognormal(0.0, 0.6, total)
    share[step == 0] = 0.0
    run = np.cumsum(share)
    run -= run[starts][row]  # each lead's running sum of shares, 0 at its first touch
    whole = run[starts + counts - 1][row]  # each lead's sum of shares
    floor = 30 * MINUTE
    span = leads["cadence_span"][idx][row]
    free = np.maximum(span - (counts[row] - 1) * floor, 0)
    frac = np.divide(run, whole, out=np.zeros(total), where=whole > 0)
    offset = leads["touch_delay"][idx][row] + step * floor + np.rint(frac * free).astype(np.int64)
    lead_i = idx[row]
    owner = leads["owner"][lead_i]
    times = _rep_add(cals, owner, leads["notified_at"][lead_i], offset)
    kinds = _pick_lean(rng, np.stack([FIRST_KIND_P, LATER_KIND_P]), (step > 0).astype(np.int64))
    outcome = _pick_lean(rng, OUTCOME_GIVEN_KIND, kinds)
    outcome[rng.random(total) < 0.03] = -1  # the rep logged no outcome
    return {"lead": lead_i, "rep": owner, "kind": kinds, "occurred_at": times,
            "outcome": outcome, "step": step}


def _thin_cadence(rng: np.random.Generator, acts: dict[str, np.ndarray], n_leads: int,
                  per_lead: float) -> dict[str, np.ndarray]:
    """Keep every first touch and a random share of later ones: ``per_lead`` per lead."""
    later = acts.pop("step") > 0
    n_later = int(later.sum())
    want = per_lead * n_leads - (len(later) - n_later)
    if n_later == 0 or want >= n_later:
        return acts
    keep = ~later | (rng.random(len(later)) < max(want, 0) / n_later)
    return {k: v[keep] for k, v in acts.items()}


def _pick_lean(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Like ``_pick_rows``, without an (n, k) matrix: one sorted lookup per row kind."""
    u = rng.random(len(rows))
    out = np.empty(len(rows), dtype=np.int64)
    for r in range(probs.shape[0]):
        m = rows == r
        cum = np.cumsum(probs[r]) / np.sum(probs[r])
        out[m] = np.minimum(np.searchsorted(cum, u[m], side="right"), probs.shape[1] - 1)
    return out


# --- SQLs, returns, opportunities ------------------------------------------------------


def _qualify_and_return(rng: np.random.Generator, tl: _Timeline, leads: dict[str, np.ndarray],
                        cals: dict[str, _Calendar]) -> None:
    """Sales accepts some worked leads as SQLs and returns others; adds their columns."""
    n = len(leads["created_at"])
    owner, first, last, count = (leads[c] for c in ("owner", "first_touch", "last_touch",
                                                     "touches"))
    touched = count > 0
    level = tl.level_at(np.where(touched, first, tl.start))
    sql_p = (0.34 + 0.08 * level) * (0.6 + 0.8 * leads["fit_score"] / 100)
    is_sql = touched & (rng.random(n) < sql_p)
    wait = _lognormal_s(rng, 2 * 8 * HOUR, 0.9, n, HOUR, 15 * 8 * HOUR)
    leads["sql_at"] = _null_ts(n)
    leads["sql_at"][is_sql] = _rep_add(cals, owner[is_sql], first[is_sql], wait[is_sql])

    # Worked leads that do not progress go back to marketing, mostly after the agreed
    # attempts; a few too early, a few without a documented reason.
    returned = touched & ~is_sql & (rng.random(n) < np.where(count >= 3, 0.55, 0.08))
    wait = _lognormal_s(rng, 8 * HOUR, 0.8, n, 30 * MINUTE, 10 * 8 * HOUR)
    returned_at = _null_ts(n)
    returned_at[returned] = _rep_add(cals, owner[returned], last[returned], wait[returned])
    reason = _pick(rng, RETURN_REASON_P, n)
    reason[rng.random(n) < 0.03] = -1
    # Nurture usually follows the journey stage. Marketing automation enrols most
    # returned leads within a day; some late (more in weak months), a few never.
    track = np.where(rng.random(n) < 0.8, leads["journey_stage"], _pick(rng, (1, 1, 1), n))
    u = rng.random(n)
    enrol = np.where(u < 0.10 - 0.06 * level,
                     _lognormal_s(rng, 2.5 * DAY, 0.5, n, 25 * HOUR, 8 * DAY),
                     _lognormal_s(rng, 2 * HOUR, 1.2, n, MINUTE, 23 * HOUR))
    missing = u > 0.96
    leads["returned_at"] = returned_at
    leads["return_reason"] = np.where(returned, reason, -1)
    leads["nurture_track"] = np.where(returned & ~(u > 0.98), track, -1)
    leads["nurture_enrolled_at"] = np.where(returned & ~missing, returned_at + enrol, NAT)


def _opportunities(rng: np.random.Generator, tl: _Timeline, leads: dict[str, np.ndarray],
                   cals: dict[str, _Calendar]) -> dict[str, np.ndarray]:
    """About half the SQLs become opportunities; their whole path, before any snapshot.

    Besides the table's columns, returns ``negotiation_at`` and ``revisit_at`` and the
    path flags ``negotiates``, ``skip`` and ``back`` that ``_opportunity_stages`` needs.
    """
    sql_at = leads["sql_at"]
    is_sql = sql_at != NAT
    level_all = tl.level_at(np.where(is_sql, sql_at, tl.start))
    lead = np.flatnonzero(is_sql & (rng.random(len(sql_at)) < 0.48 + 0.04 * level_all))
    k = len(lead)
    rep = leads["owner"][lead]
    created = _rep_add(cals, rep, sql_at[lead],
                       _lognormal_s(rng, 6 * HOUR, 0.8, k, 30 * MINUTE, 5 * 8 * HOUR))
    level = tl.level_at(created)
    # Sales cycle (created to closed): about 48 days in a weak month, 32 in a strong one.
    cycle = np.rint(np.clip(rng.normal(50 - 18 * level, 5, k), 18, 80) * DAY).astype(np.int64)
    proposed = rng.random(k) < 0.80
    won = proposed & (rng.random(k) < 0.25 + 0.22 * level)
    # Without a proposal a deal is lost early, or it stalls and stays open.
    stalled = ~proposed & (rng.random(k) < 0.25)
    negotiates = proposed & (won | (rng.random(k) < 0.5))
    # About 2% of deals leave the process: skip the proposal stage, or go back to it.
    anomaly = rng.random(k)
    skip = negotiates & (anomaly < 0.02)
    back = negotiates & (anomaly >= 0.02) & (anomaly < 0.04)

    def frac(lo: float, hi: float) -> np.ndarray:
        return rng.uniform(lo, hi, k)

    raw_close = created + np.where(proposed, cycle, np.rint(frac(0.3, 0.8) * cycle))
    raw_proposal = created + np.rint(frac(0.25, 0.55) * cycle)
    raw_negotiation = raw_proposal + np.rint(frac(0.3, 0.8) * (raw_close - raw_proposal))
    raw_revisit = raw_negotiation + np.rint(frac(0.2, 0.8) * (raw_close - raw_negotiation))
    # Milestones land in the rep's office hours. One offset per deal keeps the snapping
    # monotone, and the guards keep the path strictly ordered.
    offset = rng.integers(5 * MINUTE, 2 * HOUR, k)

    def snap(t: np.ndarray) -> np.ndarray:
        return _rep_add(cals, rep, t.astype(np.int64), offset)

    proposal = np.maximum(snap(raw_proposal), created + MINUTE)
    negotiation = np.maximum(snap(raw_negotiation), proposal + MINUTE)
    revisit = np.maximum(snap(raw_revisit), negotiation + MINUTE)
    before_close = np.where(back, revisit, np.where(negotiates, negotiation,
                                                    np.where(proposed, proposal, created)))
    closed = np.maximum(snap(raw_close), before_close + MINUTE)
    status = np.where(won, OPP_STATUSES.index("won"),
                      np.where(stalled, OPP_STATUSES.index("open"), OPP_STATUSES.index("lost")))
    return {
        "lead": lead, "rep": rep, "created_at": created,
        "proposal_submitted_at": np.where(proposed, proposal, NAT),
        "closed_at": np.where(stalled, NAT, closed), "status": status,
        "amount": np.clip(rng.lognormal(np.log(16_000), 0.75, k), 5_000, 120_000),
        "negotiation_at": negotiation, "revisit_at": revisit,
        "negotiates": negotiates, "skip": skip, "back": back,
    }


def _opportunity_stages(opps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Stage rows per opportunity: discovery, proposal, negotiation, closed_won/lost."""
    k = len(opps["lead"])
    status = opps["status"]
    won = status == OPP_STATUSES.index("won")
    lost = status == OPP_STATUSES.index("lost")
    proposed = opps["proposal_submitted_at"] != NAT
    negotiates, skip, back = opps["negotiates"], opps["skip"], opps["back"]
    ids = np.arange(k)
    rows = [
        (ids, "discovery", opps["created_at"]),
        (ids[proposed & ~skip], "proposal", opps["proposal_submitted_at"][proposed & ~skip]),
        (ids[negotiates], "negotiation", opps["negotiation_at"][negotiates]),
        (ids[back], "proposal", opps["revisit_at"][back]),
        (ids[won], "closed_won", opps["closed_at"][won]),
        (ids[lost], "closed_lost", opps["closed_at"][lost]),
    ]
    return {
        "opp": np.concatenate([r[0] for r in rows]),
        "stage": np.concatenate([np.full(len(r[0]), OPP_STAGES.index(r[1])) for r in rows]),
        "entered_at": np.concatenate([r[2] for r in rows]).astype(np.int64),
    }


# --- snapshot --------------------------------------------------------------------------


def _censor(as_of: int, leads: dict[str, np.ndarray], acts: dict[str, np.ndarray],
            opps: dict[str, np.ndarray], stages: dict[str, np.ndarray]) -> None:
    """Forget everything after the export instant, in place."""
    for col in ("mql_at", "notified_at", "sql_at", "returned_at", "nurture_enrolled_at"):
        leads[col] = np.where(leads[col] >= as_of, NAT, leads[col])
    leads["owner"] = np.where(leads["notified_at"] == NAT, -1, leads["owner"])
    not_returned = leads["returned_at"] == NAT
    for col in ("return_reason", "nurture_track"):
        leads[col] = np.where(not_returned, -1, leads[col])

    keep = acts["occurred_at"] < as_of
    for col in list(acts):
        acts[col] = acts[col][keep]

    keep = opps["created_at"] < as_of
    for col in list(opps):
        opps[col] = opps[col][keep]
    # A stage is entered after its opportunity is created: no dangling references.
    new_index = np.cumsum(keep) - 1
    kept = stages["entered_at"] < as_of
    for col in list(stages):
        stages[col] = stages[col][kept]
    stages["opp"] = new_index[stages["opp"]]
    opps["proposal_submitted_at"] = np.where(opps["proposal_submitted_at"] >= as_of, NAT,
                                             opps["proposal_submitted_at"])
    running = opps["closed_at"] >= as_of
    opps["closed_at"] = np.where(running, NAT, opps["closed_at"])
    opps["status"] = np.where(running, OPP_STATUSES.index("open"), opps["status"])


def _drop_idle_warmup(tl: _Timeline, leads: dict[str, np.ndarray],
                      acts: dict[str, np.ndarray], opps: dict[str, np.ndarray],
                      stages: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], ...]:
    """Keep audited-month leads, and warm-up leads with a deal or an MQL since ``start``.

    Also numbers the surviving leads, activities and opportunities (their ids).
    """
    n = len(leads["created_at"])
    has_opp = np.zeros(n, dtype=bool)
    has_opp[opps["lead"]] = True
    keep = (leads["created_at"] >= tl.start) | has_opp | (leads["mql_at"] >= tl.start)
    new_index = np.cumsum(keep) - 1
    leads = {k: v[keep] for k, v in leads.items()}
    leads["lead_id"] = _ids("lead-", len(leads["created_at"]), 7)

    keep_act = keep[acts["lead"]]
    acts = {k: v[keep_act] for k, v in acts.items()}
    acts["lead"] = new_index[acts["lead"]]
    order = np.lexsort((acts["occurred_at"], acts["lead"]))
    acts = {k: v[order] for k, v in acts.items()}

    opps = dict(opps)
    opps["lead"] = new_index[opps["lead"]]
    order = np.lexsort((opps["created_at"], opps["lead"]))
    remap = np.empty_like(order)
    remap[order] = np.arange(len(order))
    opps = {k: v[order] for k, v in opps.items()}
    opps["opportunity_id"] = _ids("opp-", len(order), 6)
    stages = dict(stages)
    stages["opp"] = remap[stages["opp"]]
    return leads, acts, opps, stages


def _scale_revenue(rng: np.random.Generator, tl: _Timeline, opps: dict[str, np.ndarray],
                   per_month: int) -> None:
    """Scale deal sizes so each audited month's revenue follows the performance curve.

    A month's factor applies to every deal closed in it, won or lost, so that won and
    lost deals stay alike in size; open deals and deals closed before ``start`` take
    the median factor.
    """
    won = opps["status"] == OPP_STATUSES.index("won")
    closed = opps["closed_at"] != NAT
    month = np.where(closed, tl.month_of(np.where(closed, opps["closed_at"], tl.start)), -1)
    raw = opps["amount"]
    amount = raw.copy()
    factors = []
    for m in range(WARMUP_MONTHS, tl.n_months):
        target = (850_000 + 500_000 * tl.levels[m]) * (1 + rng.normal(0, 0.02))
        target *= per_month / 3000
        wins = won & (month == m)
        if not wins.any():
            continue
        factor = 1.0
        for _ in range(5):  # clipping at the bounds moves the sum off target: iterate
            factor *= target / np.clip(raw[wins] * factor, 5_000, 120_000).sum()
        amount[month == m] *= factor
        factors.append(factor)
    amount[month < WARMUP_MONTHS] *= float(np.median(factors)) if factors else 1.0
    opps["amount"] = np.rint(np.clip(amount, 5_000, 120_000) / 10) * 10  # whole tens


# --- tables ----------------------------------------------------------------------------


def _ids(prefix: str, n: int, width: int) -> pa.Array:
    """``prefix`` + 1..n zero-padded to ``width`` digits, built by Arrow (no Python per id)."""
    import pyarrow.compute as pc

    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n + 1, dtype=np.int64)), pa.string()),
                          width=width, padding="0")
    return pc.binary_join_element_wise(pa.scalar(prefix), digits, "")


def _ts(values: np.ndarray) -> pa.Array:
    values = np.asarray(values, dtype=np.int64)
    missing = values == NAT
    return pa.array(np.where(missing, 0, values) * 1_000_000, mask=missing,
                    type=pa.timestamp("us", tz="UTC"))


def _cat(values: Sequence[str], codes: np.ndarray) -> pa.Array:
    """Strings from category codes; -1 is null."""
    codes = np.asarray(codes, dtype=np.int64)
    idx = pa.array(np.maximum(codes, 0), mask=codes < 0)
    return pa.array(list(values), type=pa.string()).take(idx)


def _str(values: Sequence[str] | np.ndarray | pa.Array) -> pa.Array:
    if isinstance(values, pa.Array):
        return values.cast(pa.string())
    return pa.array(list(values), type=pa.string())


def _take(ids: pa.Array, index: np.ndarray) -> pa.Array:
    """``ids[index]``, gathered by Arrow."""
    return ids.take(pa.array(np.asarray(index, dtype=np.int64)))


def _people_table() -> dict[str, pa.Array]:
    return {
        "person_id": _str([p[0] for p in PEOPLE]),
        "name": _str([p[1] for p in PEOPLE]),
        "team": _str([p[2] for p in PEOPLE]),
        "role": _str([p[3] for p in PEOPLE]),
        "region": _str([p[4] for p in PEOPLE]),
        "time_zone": _str([REGIONS[p[4]][0] for p in PEOPLE]),
        "manager_id": _str([MANAGERS.get(p[2] if p[3] != "team_lead" else "lead")
                            for p in PEOPLE]),
    }


def _leads_table(leads: dict[str, np.ndarray]) -> dict[str, pa.Array]:
    cols: dict[str, pa.Array] = {
        "lead_id": leads["lead_id"],
        "source": _cat(SOURCES, leads["source"]),
        "marketer_id": _cat(MARKETERS, leads["marketer"]),
        "owner_id": _cat(REPS, leads["owner"]),
        "followup_requested": pa.array(leads["followup_requested"], type=pa.bool_()),
        "journey_stage": _cat(STAGES, leads["journey_stage"]),
        "conversion": _cat(CONVERSIONS, leads["conversion"]),
        "fit_score": pa.array(leads["fit_score"], type=pa.int64()),
        "interest_score": pa.array(leads["interest_score"], type=pa.int64()),
        "return_reason": _cat(RETURN_REASONS, leads["return_reason"]),
        "nurture_track": _cat(STAGES, leads["nurture_track"]),
    }
    for col, (values, _shares, _pts) in ICP.items():
        cols[col] = _cat(values, leads[col])
    for col in ("created_at", "mql_at", "notified_at", "sql_at", "returned_at",
                "nurture_enrolled_at"):
        cols[col] = _ts(leads[col])
    return cols


def _activities_table(acts: dict[str, np.ndarray], lead_ids: pa.Array
                      ) -> dict[str, pa.Array]:
    return {
        "activity_id": _ids("act-", len(acts["lead"]), 8),
        "lead_id": _take(lead_ids, acts["lead"]),
        "rep_id": _cat(REPS, acts["rep"]),
        "kind": _cat(KINDS, acts["kind"]),
        "occurred_at": _ts(acts["occurred_at"]),
        "outcome": _cat(OUTCOMES, acts["outcome"]),
    }


def _opportunities_table(opps: dict[str, np.ndarray], lead_ids: pa.Array
                         ) -> dict[str, pa.Array]:
    return {
        "opportunity_id": opps["opportunity_id"],
        "lead_id": _take(lead_ids, opps["lead"]),
        "rep_id": _cat(REPS, opps["rep"]),
        "created_at": _ts(opps["created_at"]),
        "proposal_submitted_at": _ts(opps["proposal_submitted_at"]),
        "amount": pa.array(opps["amount"], type=pa.float64()),
        "closed_at": _ts(opps["closed_at"]),
        "status": _cat(OPP_STATUSES, opps["status"]),
    }


def _stages_table(stages: dict[str, np.ndarray], opp_ids: pa.Array) -> dict[str, pa.Array]:
    return {
        "opportunity_id": _take(opp_ids, stages["opp"]),
        "stage": _cat(OPP_STAGES, stages["stage"]),
        "entered_at": _ts(stages["entered_at"]),
    }


def _team_members(team: str) -> list[str]:
    return [p[0] for p in PEOPLE if p[2] == team]


def _feedback_table(rng: np.random.Generator, tl: _Timeline, hq: _Calendar
                    ) -> dict[str, pa.Array]:
    """About 40 requests a month between the teams; most answered within 24 hours."""
    requested, level = [], []
    for m in range(WARMUP_MONTHS, tl.n_months):
        edges = tl.month_starts[m:m + 2]
        lo, hi = hq.position(edges)
        k = int(rng.integers(34, 47))
        # Requests are raised during office hours at HQ: a random business second.
        requested.append(hq.add(np.full(k, edges[0]), rng.integers(1, hi - lo, k)))
        level.append(np.full(k, tl.levels[m]))
    at = np.concatenate(requested)
    lv = np.concatenate(level)
    order = np.argsort(at, kind="stable")
    at, lv = at[order], lv[order]
    n = len(at)
    from_sales = rng.random(n) < 0.5
    teams = np.where(from_sales, "sales", "marketing")
    other = np.where(from_sales, "marketing", "sales")
    sales, mkt = _team_members("sales"), _team_members("marketing")
    by = np.where(from_sales, np.array(sales, dtype=object)[rng.integers(0, len(sales), n)],
                  np.array(mkt, dtype=object)[rng.integers(0, len(mkt), n)])
    # The receiving team's lead answers most requests.
    lead_answers = rng.random(n) < 0.7
    to_lead = np.where(from_sales, "mkt-lead", "sales-lead")
    to_member = np.where(from_sales,
                         np.array(mkt, dtype=object)[rng.integers(0, len(mkt), n)],
                         np.array(sales, dtype=object)[rng.integers(0, len(sales), n)])
    responder = np.where(lead_answers, to_lead, to_member).astype(object)
    u = rng.random(n)
    late_p = 0.14 - 0.09 * lv
    delay = np.where(u < late_p, rng.integers(25 * HOUR, 96 * HOUR, n),
                     _lognormal_s(rng, 4 * HOUR, 1.0, n, 5 * MINUTE, 23 * HOUR + 50 * MINUTE))
    responded = at + delay
    answered = (u < 0.97) & (responded < tl.as_of)
    responder[~answered] = None
    topic = np.array(FEEDBACK_TOPICS, dtype=object)[rng.integers(0, len(FEEDBACK_TOPICS), n)]
    topic[rng.random(n) < 0.05] = None
    return {
        "feedback_id": _ids("fb-", n, 5),
        "from_team": _str(teams),
        "to_team": _str(other),
        "requested_by": _str(by),
        "requested_at": _ts(at),
        "responded_by": _str(responder),
        "responded_at": _ts(np.where(answered, responded, NAT)),
        "topic": _str(topic),
    }


def _meetings_table(rng: np.random.Generator, tl: _Timeline) -> dict[str, pa.Array]:
    """Leadership meets every Monday for 30 minutes, both teams monthly for an hour."""
    zone_name, country, subdiv = REGIONS[HQ_REGION]
    zone = ZoneInfo(zone_name)
    holidays = _holidays(country, subdiv, tl.first_day.year, tl.last_day.year)
    first, end = tl.audited[0], _add_months(tl.audited[-1], 1)
    levels = dict(zip(tl.audited, tl.levels[WARMUP_MONTHS:], strict=True))
    ids: list[str] = []
    kinds: list[str] = []
    starts: list[int] = []
    minutes: list[int] = []
    people: list[int] = []

    def hold(day: date, kind: str, at: time, planned: int, attendees: int, tag: str) -> None:
        while day in holidays or day.weekday() >= 5:  # moved to the next working day
            day += timedelta(days=1)
        level = levels[day.replace(day=1)] if day < end else levels[tl.audited[-1]]
        if rng.random() < 0.07 - 0.05 * level:
            return  # skipped
        short = rng.random() < 0.10 - 0.06 * level
        ids.append(f"mtg-{tag}")
        kinds.append(kind)
        starts.append(int(datetime.combine(day, at, zone).timestamp()))
        minutes.append(int(rng.integers(planned // 2, planned - 5)) if short else planned)
        people.append(attendees - int(rng.integers(0, 2)))

    monday = first + timedelta(days=(7 - first.weekday()) % 7)
    while monday < end:
        hold(monday, "leadership_weekly", time(10), 30, 4, f"{monday.isoformat()}-leadership")
        monday += timedelta(days=7)
    for month in tl.audited:
        tuesday = month + timedelta(days=(1 - month.weekday()) % 7 + 7)  # second Tuesday
        hold(tuesday, "teams_monthly", time(11), 60, 11, f"{month.isoformat()[:7]}-teams")
    return {
        "meeting_id": _str(ids),
        "kind": _str(kinds),
        "started_at": _ts(np.array(starts, dtype=np.int64)),
        "duration_minutes": pa.array(minutes, type=pa.int64()),
        "attendees": pa.array(people, type=pa.int64()),
    }


def _traffic_table(rng: np.random.Generator, tl: _Timeline) -> dict[str, pa.Array]:
    """Daily website visitors: weekdays busier, growing with performance."""
    days = np.arange(tl.start // DAY, tl.as_of // DAY)
    wd = _weekday(days)
    level = tl.level_at(days * DAY)
    base = np.where(wd < 5, 4_400, np.where(wd == 5, 2_600, 2_300)) * (0.88 + 0.2 * level)
    visitors = np.clip(np.rint(base * rng.lognormal(0, 0.08, len(days))), 1_800, 6_500)
    return {
        "day": pa.array(days.astype(np.int32), type=pa.date32()),
        "visitors": pa.array(visitors.astype(np.int64), type=pa.int64()),
    }


_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "boolean": pa.bool_(),
}


def _conform(name: str, cols: dict[str, pa.Array]) -> pa.Table:
    """The contract's columns in the contract's order and types, sorted by key."""
    spec = TABLES[name]
    if set(cols) != set(spec.column_names):
        raise AssertionError(f"demo table {name}: columns {sorted(cols)} do not match the "
                             f"contract {sorted(spec.column_names)}")
    schema = pa.schema([pa.field(c.name, _ARROW_TYPES[c.type], nullable=c.nullable)
                        for c in spec.columns])
    table = pa.Table.from_arrays([cols[c] for c in schema.names], schema=schema)
    return table.sort_by([(k, "ascending") for k in spec.key])


def _csv_ready(table: pa.Table) -> pa.Table:
    """Timestamps as ISO-8601 text with offset; pyarrow's own CSV form ends in 'Z'."""
    import pyarrow.compute as pc

    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            # Instants are whole seconds, so the cast loses nothing (and raises if not).
            secs = table.column(i).cast(pa.timestamp("s", tz="UTC"))
            table = table.set_column(
                i, field.name, pc.strftime(secs, format="%Y-%m-%dT%H:%M:%S%Ez"))
    return table
