"""Every clause kind declares the tables and columns it reads (``ClauseKind.reads``).

The declarations are proven, not trusted: each clause of Company A's policy (and the
plug-in example) is measured on an engine that holds *only* the declared tables and
columns (every other table and column is gone, not nulled), and must measure without
error the very facts and notes it measures on the full data.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from slapolicy.clauses import registry
from slapolicy.clauses.base import ClauseKind
from slapolicy.demo import generate as demo
from slapolicy.engine.context import AuditContext, Engine
from slapolicy.engine.contract import TABLES
from slapolicy.engine.sources import DataSource
from slapolicy.policy.document import PolicyDocument
from slapolicy.policy.loader import parse_policy
from slapolicy.policy.model import Clause
from slapolicy.policy.periods import Period
from tests.conftest import POLICY

PERIODS = ("2020-01", "2020-02")
PLUGIN_CLAUSE = """
    - id: big-deal-proposal
      kind: big_deal_proposal
      title: Deals of $20,000 or more get a proposal within 14 days
      owner: sales
      params: {min_amount: 20000, within_days: 14}
"""
BUILT_IN_KINDS = {
    "speed_to_lead", "contact_attempts", "recycling", "mql_worked", "process_adherence",
    "feedback_response", "rep_load", "marketer_quota", "rep_performance", "lead_value",
    "mql_quality", "funnel_conversion", "close_rate", "sales_cycle", "revenue",
    "meeting_cadence",
}

#: Params other than Company A's, for the kinds whose reads depend on them:
#: (clause id whose kind to use, params).
VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("speed-to-lead", {"calendar": "emea", "clock": "calendar",
                       "requires_followup_request": False, "exclude_sources": [],
                       "exclude_journey_stages": [], "touch_kinds": ["call", "email"]}),
    ("speed-to-lead", {"calendar": "rep", "clock": "calendar"}),
    ("speed-to-lead", {"calendar": "us-west", "clock": "business"}),
    ("contact-attempts", {"reasons": ["no_response", "bad_fit"], "kinds": ["call"]}),
    ("recycling", {"tracks": ["decision"]}),
    ("mql-worked", {"starts_at": "mql_at"}),
    ("lead-value", {"counts": "lead"}),
    ("funnel-conversion", {"visitor_to_lead": None}),
    ("funnel-conversion", {"visitor_to_lead": 0.02, "lead_to_mql": None, "mql_to_sql": None}),
    ("close-rate", {"target": 0.3, "per": "rep"}),
    ("sales-cycle", {"target": 40, "per": "rep", "statistic": "median"}),
    ("revenue-run-rate", {"checks": ["run-rate", "make-up", "annual"], "target": 1_000_000}),
    ("feedback-to-sales", {"clock": "business", "calendar": "emea"}),
    ("feedback-to-sales", {}),
    ("teams-monthly", {"meeting": "teams_monthly", "min_attendees": 3}),
    ("sales-process", {"allow_skips": True, "enter_from_any": []}),
    ("rep-load", {"min": 1, "max": 10, "roles": ["rep", "team_lead"]}),
    ("marketer-quota", {"roles": ["marketer", "team_lead"]}),
    ("rep-performance", {"roles": ["rep", "team_lead"]}),
    ("mql-quality", {"acceptance_rate": 0.5}),
]


@pytest.fixture(scope="module")
def doc() -> PolicyDocument:
    """Company A's policy plus the plug-in example's clause."""
    text = POLICY.read_text().replace(
        "  clauses:\n", "  plugins: [plugins/big_deals.py]\n  clauses:\n" + PLUGIN_CLAUSE, 1)
    return parse_policy(text, source="company-a-with-plugin.yaml", base_dir=POLICY.parent)


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    path = tmp_path_factory.mktemp("reads") / "demo.duckdb"
    tables = demo.generate(demo.DemoConfig(start="2020-01", months=2, leads_per_month=300))
    return Engine.from_source(DataSource.from_arg(demo.write_duckdb(tables, path)))


def restricted(full: Engine, reads: dict[str, frozenset[str]]) -> Engine:
    """A new engine holding only ``reads``: the declared columns of the declared tables."""
    import ibis

    backend = ibis.duckdb.connect()
    backend.con.execute("SET TimeZone='UTC'")
    for name, columns in reads.items():
        cols = [c for c in TABLES[name].column_names if c in columns]
        table = full.table(name)
        # A table read for its rows only keeps them, with a column outside the contract.
        kept = table.select(*cols) if cols else table.select(_rows_only=ibis.literal(1))
        backend.create_table(name, kept.to_pyarrow())
    engine = Engine(backend)
    bounds = full.timestamp_bounds()
    # The business clock's segments span the data's instants: the engine's range, not a
    # clause's read (the audit computes it from what it loads).
    engine.timestamp_bounds = lambda: bounds  # type: ignore[method-assign]
    return engine


Measured = dict[str, tuple[pd.DataFrame | None, list[str], str | None]]


def measured(kind: ClauseKind, ctx: AuditContext, clause: Clause, params: Any) -> Measured:
    """Each check's facts (executed, by subject), notes and error."""
    out = {}
    for check, facts in kind.measure(ctx, clause, params).items():
        frame = None
        if facts.table is not None:
            frame = (facts.table.execute().sort_values("subject_id", kind="stable")
                     .reset_index(drop=True))
        out[check] = (frame, list(facts.notes), facts.error)
    return out


def context(doc: PolicyDocument, full: Engine, engine: Engine, period: str) -> AuditContext:
    """A context on ``engine`` at the full data's as-of (built after columns are gone:
    ``person_calendars`` and ``segments`` read the engine)."""
    bounds = full.timestamp_bounds()
    assert bounds is not None
    return AuditContext.build(doc, Period.parse(period, doc.policy.periods.unit), engine,
                              as_of=bounds[1])


def differences(want: Measured, got: Measured) -> list[str]:
    """What differs between two measurements, in words (none: the same)."""
    if sorted(got) != sorted(want):
        return [f"checks {sorted(got)} != {sorted(want)}"]
    out = []
    for check, (frame, notes, error) in want.items():
        g_frame, g_notes, g_error = got[check]
        if (g_notes, g_error) != (notes, error):
            out.append(f"{check}: notes/error {(g_notes, g_error)} != {(notes, error)}")
        elif (frame is None) != (g_frame is None):
            out.append(f"{check}: facts table present on one side only")
        elif frame is not None:
            try:
                pd.testing.assert_frame_equal(g_frame, frame, obj=check)
            except AssertionError as e:
                out.append(str(e))
    return out


def assert_complete(doc: PolicyDocument, full: Engine, clause: Clause, params: Any,
                    period: str) -> int:
    """Measure ``clause`` on the full and on the restricted data; return facts rows."""
    kind = registry.get(clause.kind)
    reads = kind.reads(clause, params)
    assert reads is not None, f"{clause.kind} does not declare what it reads"
    want = measured(kind, context(doc, full, full, period), clause, params)
    ctx = context(doc, full, restricted(full, reads), period)
    try:
        got = measured(kind, ctx, clause, params)
    except Exception as e:
        pytest.fail(f"{clause.id} ({clause.kind}, {params!r}) reads beyond its declaration "
                    f"{ {t: sorted(c) for t, c in reads.items()} }: {type(e).__name__}: {e}")
    problems = differences(want, got)
    assert not problems, f"{clause.id} ({params!r}) in {period}: " + "\n".join(problems)
    return sum(len(frame) for frame, _, _ in want.values() if frame is not None)


def test_the_policy_has_every_kind(doc: PolicyDocument) -> None:
    kinds = {c.kind for c in doc.policy.clauses}
    assert kinds == BUILT_IN_KINDS | {"big_deal_proposal"}
    assert set(registry.names()) >= BUILT_IN_KINDS


@pytest.mark.parametrize("period", PERIODS)
def test_each_clause_measures_the_same_on_only_what_it_declares(
        doc: PolicyDocument, full: Engine, period: str) -> None:
    rows = {c.id: assert_complete(doc, full, c, doc.params_for(c.id), period)
            for c in doc.policy.clauses if c.enabled}
    # Not vacuous: nearly every clause measured subjects on the demo data.
    empty = sorted(c for c, n in rows.items() if n == 0)
    assert len(empty) <= 2, f"clauses with no facts rows in {period}: {empty}"


@pytest.mark.parametrize(("clause_id", "params"), VARIANTS,
                         ids=[f"{c}-{i}" for i, (c, _) in enumerate(VARIANTS)])
def test_declarations_follow_the_params(doc: PolicyDocument, full: Engine, clause_id: str,
                                        params: dict[str, Any]) -> None:
    clause = next(c for c in doc.policy.clauses if c.id == clause_id)
    kind = registry.get(clause.kind)
    assert_complete(doc, full, clause, kind.Params(**params), "2020-02")


#: Declared columns read only on a path the demo data does not take, by kind.
ONLY_ON_ANOTHER_PATH = {
    # require_closed_at names example opportunities when closed_at is missing (revenue and
    # sales_cycle read opportunity_id on their main path too).
    "close_rate": {("opportunities", "opportunity_id")},
}


@pytest.mark.slow
def test_every_declared_column_is_read(doc: PolicyDocument, full: Engine) -> None:
    """Exact, not just complete: without any one declared column (or table) a clause
    cannot be measured, or measures differently."""
    unneeded = []
    for clause in doc.policy.clauses:
        kind = registry.get(clause.kind)
        params = doc.params_for(clause.id)
        reads = kind.reads(clause, params)
        assert reads is not None
        want = measured(kind, context(doc, full, full, "2020-02"), clause, params)
        for table, columns in reads.items():
            for column in sorted(columns):
                if (table, column) in ONLY_ON_ANOTHER_PATH.get(clause.kind, set()):
                    continue
                less = {**reads, table: columns - {column}}
                ctx = context(doc, full, restricted(full, less), "2020-02")
                try:
                    got = measured(kind, ctx, clause, params)
                except Exception:
                    continue
                if not differences(want, got):
                    unneeded.append(f"{clause.id}: {table}.{column}")
    assert not unneeded, f"declared but not read: {unneeded}"


def test_declarations_name_only_contract_columns(doc: PolicyDocument) -> None:
    for clause in doc.policy.clauses:
        kind = registry.get(clause.kind)
        reads = kind.reads(clause, doc.params_for(clause.id))
        assert reads is not None
        for table, columns in reads.items():
            assert table in TABLES, f"{clause.id}: {table}"
            assert isinstance(columns, frozenset)
            assert columns <= set(TABLES[table].column_names), (
                f"{clause.id}: {sorted(columns - set(TABLES[table].column_names))}")


def test_speed_to_lead_declares_what_it_reads_and_no_more(doc: PolicyDocument) -> None:
    kind = registry.get("speed_to_lead")
    clause = next(c for c in doc.policy.clauses if c.kind == "speed_to_lead")
    reads = kind.reads(clause, doc.params_for(clause.id))
    assert reads is not None
    assert set(reads) == {"leads", "activities", "people"}
    assert "fit_score" not in reads["leads"] and "mql_at" not in reads["leads"]
    assert {"lead_id", "notified_at", "owner_id", "source", "followup_requested",
            "journey_stage"} == reads["leads"]
    # Every activity kind counts as a touch, so the kind is not read.
    assert reads["activities"] == {"lead_id", "occurred_at"}
    assert reads["people"] == {"person_id", "region"}
    fixed = kind.Params(calendar="us-east", touch_kinds=["call"],
                        requires_followup_request=False, exclude_journey_stages=[])
    reads = kind.reads(clause, fixed)
    assert reads is not None
    assert "people" not in reads
    assert reads["activities"] == {"lead_id", "occurred_at", "kind"}
    assert not {"followup_requested", "journey_stage"} & reads["leads"]


def test_reads_differ_with_the_params(doc: PolicyDocument) -> None:
    def reads(clause_id: str, **params: Any) -> dict[str, frozenset[str]]:
        clause = next(c for c in doc.policy.clauses if c.id == clause_id)
        kind = registry.get(clause.kind)
        out = kind.reads(clause, kind.Params(**params) if params
                         else doc.params_for(clause_id))
        assert out is not None
        return out

    assert "web_traffic" in reads("funnel-conversion")
    assert "web_traffic" not in reads("funnel-conversion", visitor_to_lead=None)
    assert "people" not in reads("close-rate") and "rep_id" not in reads("close-rate")[
        "opportunities"]
    assert "people" in reads("close-rate", ramp="close-rate", per="rep")
    assert "mql_at" in reads("lead-value")["leads"]
    assert reads("lead-value", counts="lead")["leads"] == {"source", "created_at"}


def test_a_kind_that_does_not_declare_reads_everything(doc: PolicyDocument) -> None:
    from slapolicy.clauses.base import Facts, Threshold
    from slapolicy.clauses.base import Params as NoParams

    class Undeclared(ClauseKind):
        name = "undeclared"
        Params = NoParams

        def checks(self, clause: Any, params: Any) -> list[Any]:
            return []

        def threshold(self, *args: Any) -> Threshold:
            return Threshold(0.0)

        def measure(self, ctx: Any, clause: Any, params: Any) -> dict[str, Facts]:
            return {}

    clause = doc.policy.clauses[0]
    assert Undeclared().reads(clause, None) is None


def test_reads_of_merges_declarations() -> None:
    from slapolicy.clauses.base import reads_of
    from slapolicy.clauses.spec import FIRST_ACTIVITY_READS

    got = reads_of(FIRST_ACTIVITY_READS, {}, leads="lead_id  mql_at", activities=["kind"])
    assert got == {"activities": frozenset({"lead_id", "occurred_at", "kind"}),
                   "leads": frozenset({"lead_id", "mql_at"})}
    assert list(got) == ["activities", "leads"]
