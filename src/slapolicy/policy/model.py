"""The SLA as typed data: what a policy file may state.

These models are the specification only; nothing here touches data or an engine.
Clause parameters are validated by the clause kind that owns them (see
``slapolicy.clauses``), so a plug-in kind brings its own parameter model.
"""

from __future__ import annotations

import itertools
import re
from datetime import date, time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from slapolicy.policy.units import Currency, Duration, Figure, Ident, Money, clip

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Spec(BaseModel):
    """Base of every policy model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              allow_inf_nan=False)


# --- parties ------------------------------------------------------------------------------


class Team(Spec):
    name: str
    lead: str = Field(description="person id of the team lead")
    description: str = ""


class Person(Spec):
    id: str
    name: str
    role: str
    team: str
    email: str | None = None
    public_key: str | None = Field(
        default=None, description="Ed25519 public key (base64), for signing audits"
    )


class SignOff(Spec):
    policy_signed_by: list[str] = Field(
        default_factory=list, description="everyone in both teams signs the SLA itself"
    )
    audit_requires: list[str] = Field(
        default_factory=list, description="person ids whose signatures close a period's audit"
    )


class ConflictPanel(Spec):
    members: list[str] = Field(description="person ids: CMO, CSO and CEO")
    minutes_per_side: int = Field(15, gt=0, le=480)
    binding: bool = True
    sole_decider: str | None = Field(
        default=None, description="a CRO who owns both teams decides alone"
    )


# --- time ---------------------------------------------------------------------------------


class ReviewTriggers(Spec):
    lead_to_mql_rate_below: float | None = Field(None, ge=0, le=1)
    mql_to_sql_rate_below: float | None = Field(None, ge=0, le=1)


class DataRules(Spec):
    """How much bad input an audit tolerates before it stops."""

    max_quarantined_share: float = Field(
        0.02, ge=0, le=1,
        description="largest share of any table's rows that may be quarantined (set aside for "
                    "breaking the data contract) before the audit stops with every problem listed")


class Review(Spec):
    cadence: Literal["monthly", "quarterly", "semiannual", "annual"] = "quarterly"
    last_reviewed: date | None = None
    next_review: date | None = None
    triggers: ReviewTriggers = ReviewTriggers()


class Periods(Spec):
    unit: Literal["week", "month", "quarter"] = "month"
    fiscal_year_start_month: int = Field(1, ge=1, le=12)
    week_starts_on: Weekday = "mon"


class OpeningHours(Spec):
    opens: time
    closes: time

    @model_validator(mode="after")
    def _ordered(self) -> OpeningHours:
        if self.closes <= self.opens:
            raise ValueError(f"closes ({self.closes}) must be after opens ({self.opens})")
        return self

    @classmethod
    def parse(cls, value: Any) -> Any:
        # "09:00-17:00" is the short form analysts write.
        if isinstance(value, str):
            m = re.fullmatch(r"\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*", value)
            if m is None:
                raise ValueError(f"{clip(repr(value))} is not opening hours; write "
                                 "opens-closes in 24-hour time, e.g. 09:00-17:00")
            return {"opens": m.group(1).zfill(5), "closes": m.group(2).zfill(5)}
        return value


class HolidaySource(Spec):
    country: str = Field(description="ISO 3166 code known to the `holidays` package, e.g. US")
    subdivision: str | None = Field(None, description="state or province code, e.g. NY")


class Calendar(Spec):
    time_zone: str = Field(description="IANA zone, e.g. America/New_York")
    hours: dict[Weekday, list[OpeningHours]]
    holidays: HolidaySource | None = None
    closed_dates: list[date] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list, description="people.region values")

    @field_validator("hours")
    @classmethod
    def _opens_sometime(cls, value: dict[Any, list[Any]]) -> dict[Any, list[Any]]:
        # A calendar that never opens stops every business clock: no lead is ever late.
        if not any(value.values()):
            raise ValueError("the calendar opens on no day; give opening hours, e.g. "
                             'mon: "09:00-17:00"')
        return value

    @field_validator("hours", mode="before")
    @classmethod
    def _short_hours(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                day: [OpeningHours.parse(v) for v in (spans if isinstance(spans, list) else [spans])]
                for day, spans in value.items()
            }
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as e:
            raise ValueError(f"unknown IANA time zone {clip(repr(value))} "
                             "(e.g. America/New_York)") from e
        return value


# --- definitions --------------------------------------------------------------------------


class Stage(Spec):
    id: str
    description: str


class Icp(Spec):
    industries: list[str] = Field(default_factory=list)
    company_sizes: list[str] = Field(default_factory=list)
    departments: list[str] = Field(default_factory=list)
    job_titles: list[str] = Field(default_factory=list)
    technologies: list[str] = Field(default_factory=list)
    content_fit: list[str] = Field(default_factory=list)
    min_matches: int = Field(6, ge=0, le=6, description="how many attributes must match")


class Scoring(Spec):
    fit: dict[str, str] = Field(default_factory=dict, description="what earns fit points")
    interest: dict[str, str] = Field(
        default_factory=dict, description="knowledge, consideration, urgency"
    )
    fit_min: int = Field(ge=0)
    interest_min: int = Field(ge=0)
    handoff_score: int = Field(ge=0, description="fit + interest that triggers the handoff")


class MqlDefinition(Spec):
    description: str
    icp: Icp
    scoring: Scoring


class Handoff(Spec):
    score_threshold: int = Field(ge=0)
    conversions: list[str] = Field(description="bottom-of-funnel conversions that hand off")
    information: list[str] = Field(default_factory=list, description="what travels with it")
    notified_by: str = "marketing automation platform"


class NurtureTrack(Spec):
    id: str
    content: str


class Definitions(Spec):
    contact: str
    lead: str
    mql: MqlDefinition
    sql: str
    lifecycle_stages: list[Stage]
    opportunity_stages: list[str] = Field(min_length=1)
    handoff: Handoff
    nurture_tracks: list[NurtureTrack] = Field(default_factory=list)
    crm: str = "the CRM holds these definitions for both teams"


# --- goals --------------------------------------------------------------------------------


class RampPoint(Spec):
    on: date
    value: Figure


class Ramp(Spec):
    unit: str
    interpolation: Literal["step", "linear"] = "step"
    points: list[RampPoint] = Field(min_length=1)
    direction: Literal["at_least", "at_most"] = "at_least"

    @model_validator(mode="after")
    def _sorted(self) -> Ramp:
        dates = [p.on for p in self.points]
        if dates != sorted(dates) or len(set(dates)) != len(dates):
            raise ValueError("ramp points must be in date order with no date twice")
        return self

    def target_on(self, day: date) -> float:
        """The target in force on ``day``: steps hold from their date on; linear interpolates."""
        pts = self.points
        if day <= pts[0].on:
            return pts[0].value
        for left, right in itertools.pairwise(pts):
            if left.on <= day < right.on:
                if self.interpolation == "step":
                    return left.value
                span = (right.on - left.on).days
                return left.value + (right.value - left.value) * (day - left.on).days / span
        return pts[-1].value


class GoalMeasure(Spec):
    clause: str = Field(description="id of the clause whose result measures the goal")
    check: str | None = Field(None, description="one check of that clause; none: the whole clause")


class Goal(Spec):
    id: str
    title: str
    description: str = ""
    metric: str = Field(description="what is measured, e.g. revenue, close_rate")
    measure: GoalMeasure | None = None
    ramp: str | None = Field(None, description="id of a ramp in `ramps` the target follows")
    target: Figure | None = None
    window: tuple[date, date] | None = None
    assess: Literal["each_period", "every_period_in_window", "at_window_end"] = Field(
        "each_period",
        description="each period on its own; every period of the window (hold it); "
                    "or once, in the period that ends the window",
    )
    forecast_periods: int = Field(3, ge=2, description="periods the trend forecast uses")
    shared: bool = True

    @field_validator("window")
    @classmethod
    def _ordered_window(cls, value: tuple[date, date] | None) -> tuple[date, date] | None:
        if value is not None and value[1] < value[0]:
            raise ValueError(f"the window ends ({value[1]}) before it starts ({value[0]}); "
                             "write [first day, last day]")
        return value


class Goals(Spec):
    annual_revenue_from: Money
    annual_revenue_to: Money
    year: int = Field(ge=1900, le=2200)
    items: list[Goal] = Field(default_factory=list)


# --- clauses ------------------------------------------------------------------------------


class Tolerance(Spec):
    mostly: float = Field(1.0, ge=0, le=1, description="share of subjects that must comply")
    fail_below: float | None = Field(
        None, ge=0, le=1, description="compliance below this fails; between it and mostly warns"
    )

    @model_validator(mode="after")
    def _tiers(self) -> Tolerance:
        if self.fail_below is not None and self.fail_below > self.mostly:
            raise ValueError("fail_below must not be above mostly")
        return self


class Clause(Spec):
    id: Ident
    kind: str
    title: str
    owner: str = Field(description="team accountable: a key of `teams`")
    description: str = ""
    severity: Literal["warn", "fail"] = "fail"
    tolerance: Tolerance = Tolerance()
    enabled: bool = True
    params: dict[str, Any] = Field(default_factory=dict)


class Excusal(Spec):
    """A named lead or rep excused from a clause, approved by both team leads."""

    clause: str = Field("*", description="clause id, or * for every clause")
    subject_type: str = Field(description="lead, rep, marketer, ...; rep excuses the rep's breaches")
    subject_id: str
    reason: Literal["junk_lead", "duplicate", "rep_on_leave", "other"]
    note: str = ""
    approved_by: list[str] = Field(min_length=1)
    periods: list[str] = Field(default_factory=list, description="period labels; empty: all")

    def describe(self) -> str:
        note = f": {self.note}" if self.note else ""
        return f"{self.reason}{note} (approved by {', '.join(self.approved_by)})"


# --- rewards and consequences -------------------------------------------------------------


class MonthlyReward(Spec):
    amount: Money
    currency: Currency = Field("USD", description="the policy's currency")
    requires: list[str] = Field(description="clause or goal ids that must all be met")
    split: str = "at the team leads' discretion"


class AnnualReward(Spec):
    description: str
    requires: list[str]


class Rewards(Spec):
    monthly_pool: MonthlyReward
    annual: AnnualReward


class LadderStage(Spec):
    stage: int = Field(ge=1)
    after_days: int = Field(gt=0, le=3660)
    consecutive_periods: int = Field(gt=0, le=120)
    owner: str
    actions: list[str] = Field(min_length=1)


class Consequences(Spec):
    ladder: list[LadderStage] = Field(min_length=1)
    step_back: Literal["reset", "one_step_down"] = "reset"


class Meeting(Spec):
    id: str
    every: Literal["week", "month", "quarter"]
    duration: Duration
    attendees: str
    agenda: list[str] = Field(default_factory=list)


class Communication(Spec):
    feedback_within: Duration
    meetings: list[Meeting] = Field(default_factory=list)


# --- the policy ---------------------------------------------------------------------------


class Report(Spec):
    """How the rendered audit is presented (labels, numbers, dates and currency)."""

    locale: Literal["en", "tr", "zh", "fa", "pl", "ko"] = Field(
        "en", description="language and formats of audit.html: English, Turkish, Simplified "
                          "Chinese, Persian (right to left), Polish or Korean")


class Policy(Spec):
    """One SLA. References between its parts (people, teams, clauses, goals, calendars)
    are checked by ``slapolicy.policy.references`` when the loader reads the file, so
    each problem is reported at its own line."""

    id: Ident
    version: str
    title: str
    effective_from: date
    effective_until: date | None = None
    version_from: date | None = Field(
        None, description="first day this version applies (a saved amendment); periods "
                          "before it keep the version in force for them")
    currency: Currency = Field("USD", description="ISO 4217 code, e.g. USD")
    review: Review = Review()
    periods: Periods = Periods()
    data: DataRules = DataRules()
    teams: dict[str, Team]
    people: list[Person] = Field(default_factory=list)
    signoff: SignOff = SignOff()
    conflict_panel: ConflictPanel
    definitions: Definitions
    calendars: dict[str, Calendar] = Field(min_length=1)
    default_calendar: str
    goals: Goals
    ramps: dict[str, Ramp] = Field(default_factory=dict)
    lead_values: dict[str, Money] = Field(default_factory=dict)
    clauses: list[Clause] = Field(default_factory=list)
    plugins: list[str] = Field(
        default_factory=list, description="Python files (beside the policy) defining clause kinds"
    )
    shared_goals: list[str] = Field(
        default_factory=list,
        description="clause and goal ids both teams are accountable for; missing any of them "
                    "in a period counts toward the consequence ladder",
    )
    exceptions: list[Excusal] = Field(default_factory=list)
    rewards: Rewards
    consequences: Consequences
    communication: Communication
    # Presentation only: it changes no verdict, so it is left out of the content hash (the
    # rendered page itself is hashed in each audit's manifest).
    report: Report = Field(default_factory=Report, exclude=True)

    def clause(self, clause_id: str) -> Clause:
        for c in self.clauses:
            if c.id == clause_id:
                return c
        raise KeyError(clause_id)

    def person(self, person_id: str) -> Person | None:
        return next((p for p in self.people if p.id == person_id), None)
