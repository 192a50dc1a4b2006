"""The data contract: the canonical tables an audit reads, and their pandera schemas.

``TABLES`` is the single source of truth. ``sources`` reads files with these
types, ``schemas()`` builds the pandera (ibis backend) schemas that enforce the
contract inside the query engine, and ``docs/data-contract.md`` documents it
(a test checks the two agree).

Timestamps are instants. In the engine every timestamp column is a naive
``timestamp`` holding UTC; inputs must be zone-aware or carry a declared zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["string", "timestamp", "date", "int64", "float64", "boolean"]


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: ColumnType
    nullable: bool = False
    allowed: tuple[str, ...] | None = None
    min_value: float | None = None
    description: str = ""
    #: The data may leave the column out (read as NULL) even where every column is
    #: required: it came after the first contract, and only some clauses read it.
    optional: bool = False


@dataclass(frozen=True)
class TableSpec:
    name: str
    key: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]
    description: str = ""
    required: bool = True
    # (column, table, column) foreign keys, checked by ``sources`` in the engine.
    references: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _c(name: str, type_: ColumnType, nullable: bool = False, **kw: object) -> ColumnSpec:
    return ColumnSpec(name, type_, nullable, **kw)  # type: ignore[arg-type]


TEAMS = ("marketing", "sales")
ACTIVITY_KINDS = ("call", "email", "video", "meeting")
JOURNEY_STAGES = ("awareness", "consideration", "decision")
OPPORTUNITY_STATUSES = ("open", "won", "lost")

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        TableSpec(
            "people",
            key=("person_id",),
            description="Reps, marketers, team leads and executives.",
            references=(("manager_id", "people", "person_id"),),
            columns=(
                _c("person_id", "string", description="Stable id, as in the CRM."),
                _c("name", "string"),
                _c("team", "string", allowed=(*TEAMS, "executive")),
                _c("role", "string", description="rep, marketer, team_lead, executive, ..."),
                _c("region", "string", description="Selects the business calendar."),
                _c("time_zone", "string", description="IANA zone, e.g. America/New_York."),
                _c("manager_id", "string", True, optional=True,
                   description="The person's manager (a person_id); aggregate clauses can "
                               "judge per manager."),
            ),
        ),
        TableSpec(
            "leads",
            key=("lead_id",),
            description="Every lead with its lifecycle timestamps, source, owner and scores.",
            references=(("owner_id", "people", "person_id"),
                        ("marketer_id", "people", "person_id")),
            columns=(
                _c("lead_id", "string"),
                _c("created_at", "timestamp", description="Entered the funnel."),
                _c("source", "string", description="referral, content, webinar, web_sales_ready, ..."),
                _c("marketer_id", "string", True, description="Marketer credited with the lead."),
                _c("owner_id", "string", True, description="Sales rep the lead is assigned to."),
                _c("followup_requested", "boolean",
                   description="The lead asked for sales follow-up (demo, assessment, ...)."),
                _c("journey_stage", "string", allowed=JOURNEY_STAGES),
                _c("conversion", "string", True,
                   description="Bottom-of-funnel conversion that triggered the handoff."),
                _c("industry", "string", True),
                _c("company_size", "string", True),
                _c("department", "string", True),
                _c("job_title", "string", True),
                _c("technology", "string", True),
                _c("content_fit", "string", True),
                _c("fit_score", "int64", min_value=0),
                _c("interest_score", "int64", min_value=0),
                _c("mql_at", "timestamp", True, description="Became a marketing-qualified lead."),
                _c("notified_at", "timestamp", True,
                   description="Marketing automation notified the rep: the follow-up clock starts."),
                _c("sql_at", "timestamp", True, description="Sales accepted it as an SQL."),
                _c("returned_at", "timestamp", True, description="Sales returned it to marketing."),
                _c("return_reason", "string", True),
                _c("nurture_track", "string", True, description="awareness, consideration, decision."),
                _c("nurture_enrolled_at", "timestamp", True),
            ),
        ),
        TableSpec(
            "activities",
            key=("activity_id",),
            description="Sales touches on leads: calls, emails, video calls, meetings.",
            references=(("lead_id", "leads", "lead_id"), ("rep_id", "people", "person_id")),
            columns=(
                _c("activity_id", "string"),
                _c("lead_id", "string"),
                _c("rep_id", "string"),
                _c("kind", "string", allowed=ACTIVITY_KINDS),
                _c("occurred_at", "timestamp"),
                _c("outcome", "string", True, description="connected, no_answer, left_message, ..."),
            ),
        ),
        TableSpec(
            "opportunities",
            key=("opportunity_id",),
            description="Sales opportunities, their proposals and outcomes.",
            references=(("lead_id", "leads", "lead_id"), ("rep_id", "people", "person_id")),
            columns=(
                _c("opportunity_id", "string"),
                _c("lead_id", "string"),
                _c("rep_id", "string"),
                _c("created_at", "timestamp"),
                _c("proposal_submitted_at", "timestamp", True),
                _c("amount", "float64", min_value=0),
                _c("closed_at", "timestamp", True),
                _c("status", "string", allowed=OPPORTUNITY_STATUSES),
            ),
        ),
        TableSpec(
            "opportunity_stages",
            key=("opportunity_id", "stage", "entered_at"),
            description="Each stage an opportunity entered, in time order.",
            references=(("opportunity_id", "opportunities", "opportunity_id"),),
            columns=(
                _c("opportunity_id", "string"),
                _c("stage", "string"),
                _c("entered_at", "timestamp"),
            ),
        ),
        TableSpec(
            "feedback",
            key=("feedback_id",),
            description="Feedback requests between the teams and their responses.",
            columns=(
                _c("feedback_id", "string"),
                _c("from_team", "string", allowed=TEAMS),
                _c("to_team", "string", allowed=TEAMS),
                _c("requested_by", "string"),
                _c("requested_at", "timestamp"),
                _c("responded_by", "string", True),
                _c("responded_at", "timestamp", True),
                _c("topic", "string", True),
            ),
        ),
        TableSpec(
            "meetings",
            key=("meeting_id",),
            description="SLA meetings held: leadership weekly, both teams monthly.",
            columns=(
                _c("meeting_id", "string"),
                _c("kind", "string", description="Meeting kind named in the policy."),
                _c("started_at", "timestamp"),
                _c("duration_minutes", "int64", min_value=0),
                _c("attendees", "int64", min_value=0),
            ),
        ),
        TableSpec(
            "web_traffic",
            key=("day",),
            description="Website visitors per day, for the visitor-to-lead conversion.",
            required=False,
            columns=(
                _c("day", "date"),
                _c("visitors", "int64", min_value=0),
            ),
        ),
    )
}


def schemas(*, types_only: bool = False,
            absent: dict[str, tuple[str, ...]] | None = None) -> dict[str, object]:
    """pandera (ibis backend) schemas enforcing ``TABLES`` inside the engine.

    ``absent`` names columns the data does not have (loaded as NULL): only their type is
    checked."""
    import ibis.expr.datatypes as dt
    import pandera.ibis as pa

    types = {
        "string": dt.string, "timestamp": dt.Timestamp(scale=6), "date": dt.date,
        "int64": dt.int64, "float64": dt.float64, "boolean": dt.boolean,
    }
    out: dict[str, object] = {}
    for spec in TABLES.values():
        cols = {}
        for c in spec.columns:
            checks = []
            if c.allowed is not None:
                checks.append(pa.Check.isin(list(c.allowed)))
            if c.min_value is not None:
                checks.append(pa.Check.ge(c.min_value))
            if types_only or c.name in (absent or {}).get(spec.name, ()):
                cols[c.name] = pa.Column(types[c.type], nullable=True)
                continue
            cols[c.name] = pa.Column(types[c.type], checks=checks, nullable=c.nullable,
                                     unique=spec.key == (c.name,))
        out[spec.name] = pa.DataFrameSchema(cols, name=spec.name, strict=False)
    return out
