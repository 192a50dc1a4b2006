"""Per-person targets, lead value, MQL quality and funnel conversion on hand-made data.

One dataset holds every month the tests audit (periods are local to us-east):

- March 2020: 12 MQLs spread over four reps and two marketers, with quality
  defects, acceptances, opportunities and daily web traffic;
- April 2020: two leads and web traffic with a missing day;
- May 2020: nothing at all;
- June 2020: Company A's example month of lead value ($550,000).

Audits are module-scoped (each costs seconds); every expected value is hand-computed
in the comments.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pytest

from slapolicy.clauses.funnel_conversion import FunnelConversionParams
from slapolicy.clauses.lead_value import LeadValueParams
from slapolicy.clauses.marketer_quota import MarketerQuotaParams
from slapolicy.clauses.mql_quality import MqlQualityParams
from slapolicy.clauses.rep_load import months_in
from slapolicy.clauses.rep_performance import RepPerformanceParams
from slapolicy.engine.contract import TABLES
from slapolicy.errors import PolicyError
from slapolicy.policy.model import Periods
from slapolicy.policy.periods import Period
from tests.conftest import LEAD_DEFAULTS, PEOPLE, audit_with, policy_with, table


def z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


PEOPLE_X = [
    *PEOPLE,  # rep-ny, rep-la, rep-uk (sales reps) and mkt-1 (marketer)
    {"person_id": "rep-sf", "name": "Rep SF", "team": "sales", "role": "rep",
     "region": "us-west", "time_zone": "America/Los_Angeles"},
    {"person_id": "sales-lead", "name": "Sales lead", "team": "sales", "role": "team_lead",
     "region": "us-east", "time_zone": "America/New_York"},
    {"person_id": "mkt-2", "name": "Marketer 2", "team": "marketing", "role": "marketer",
     "region": "us-east", "time_zone": "America/New_York"},
    {"person_id": "mkt-lead", "name": "Marketing lead", "team": "marketing", "role": "team_lead",
     "region": "us-east", "time_zone": "America/New_York"},
]

W = "2020-03-10T15:00:00Z"   # inside ISO week 2020-W11 (Mon 9 - Sun 15 March, EDT)
OUT = "2020-03-24T15:00:00Z"   # March, outside that week
LATE = "2020-04-01T03:30:00Z"  # 31 March 23:30 EDT: still March locally
EARLY = "2020-03-01T04:30:00Z"  # 29 February 23:30 EST: not March

# id, mql_at (= created_at), overrides. Every March MQL's source is "event", so the
# June lead-value audit is unaffected.
MARCH = [
    ("N1", W, {"sql_at": z("2020-03-12T15:00:00Z")}),
    ("N2", W, {"industry": "Retail", "job_title": None}),              # ICP 4 of 6
    ("N3", W, {"job_title": " CIO ", "sql_at": z("2020-04-05T15:00:00Z")}),  # accepted after as_of
    ("N4", W, {"fit_score": 50, "interest_score": 39}),               # fit at the minimum
    ("A1", W, {"owner_id": "rep-la", "fit_score": 49, "sql_at": z("2020-03-20T15:00:00Z")}),
    ("A2", W, {"owner_id": "rep-la"}),
    ("A3", W, {"owner_id": "rep-la", "marketer_id": "mkt-2"}),
    ("S1", LATE, {"owner_id": "rep-sf", "marketer_id": "mkt-2"}),
    ("S2", W, {"owner_id": "rep-sf", "sql_at": z("2020-03-25T15:00:00Z")}),
    ("X1", OUT, {"owner_id": None, "marketer_id": None, "department": "sales"}),  # ICP 5 of 6
    ("X2", OUT, {"owner_id": "sales-lead", "marketer_id": "mkt-lead"}),
    ("X3", OUT, {"owner_id": "sales-lead", "marketer_id": "mkt-lead"}),
]
# Not March MQLs: U0 is a February MQL (accepted in March); N5 never became an MQL.
OTHER = [
    {"lead_id": "U0", "created_at": z(EARLY), "mql_at": z(EARLY), "owner_id": "rep-uk",
     "sql_at": z("2020-03-05T15:00:00Z")},
    {"lead_id": "N5", "created_at": z(OUT), "mql_at": None},
    # April: two leads created, neither an MQL.
    {"lead_id": "P1", "created_at": z("2020-04-07T15:00:00Z"), "mql_at": None},
    {"lead_id": "P2", "created_at": z("2020-04-08T15:00:00Z"), "mql_at": None},
]


def june_leads() -> list[dict[str, Any]]:
    """Company A's example month: 10 referral + 200 content + 50 webinar + 50 web sales-ready."""
    rows = []
    at = z("2020-06-15T15:00:00Z")
    for source, n in (("referral", 10), ("content", 200), ("webinar", 50),
                      ("web_sales_ready", 50)):
        for i in range(n):
            extra: dict[str, Any] = {}
            if source == "referral":
                extra["technology"] = "on-prem"      # matches only an empty ICP list
            if source == "webinar" and i == 0:
                extra["technology"] = None           # never matches
            rows.append({"lead_id": f"J-{source}-{i}", "created_at": at, "mql_at": at,
                         "source": source, "owner_id": None, "marketer_id": None, **extra})
    rows += [
        {"lead_id": f"J-event-{i}", "created_at": at, "mql_at": at, "source": "event",
         "owner_id": None, "marketer_id": None} for i in range(2)]
    rows += [
        # created in June, an MQL only in July (00:30 EDT on 1 July)
        {"lead_id": "J-late", "created_at": z("2020-06-30T12:00:00Z"),
         "mql_at": z("2020-07-01T04:30:00Z"), "source": "referral", "owner_id": None},
        {"lead_id": "J-nomql", "created_at": at, "mql_at": None, "source": "content",
         "owner_id": None},
    ]
    return rows


def opportunity(oid: str, rep: str, at: str, lead: str = "N1") -> dict[str, Any]:
    return {"opportunity_id": oid, "lead_id": lead, "rep_id": rep, "created_at": z(at),
            "amount": 1000.0, "status": "open"}


OPPORTUNITIES = [
    opportunity("O1", "rep-ny", W), opportunity("O2", "rep-ny", OUT),
    opportunity("O3", "rep-ny", "2020-02-20T15:00:00Z"),                  # February
    opportunity("O4", "rep-la", OUT),
    opportunity("O5", "rep-uk", W, "U0"), opportunity("O6", "rep-uk", OUT, "U0"),
    opportunity("O7", "rep-uk", LATE, "U0"),
    opportunity("O8", "sales-lead", OUT),                                 # not a rep
]


def traffic() -> list[dict[str, Any]]:
    # March: 50 visitors on the 1st, 20 on each other day: 650 in all.
    march = [{"day": date(2020, 3, d), "visitors": 50 if d == 1 else 20} for d in range(1, 32)]
    # April: 1-14 April, except the 5th.
    april = [{"day": date(2020, 4, d), "visitors": 20} for d in range(1, 15) if d != 5]
    return march + april


def write(folder: Path, **tables: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tables.setdefault("people", PEOPLE_X)
    if "leads" in tables:
        tables["leads"] = [{**LEAD_DEFAULTS, **r} for r in tables["leads"]]
    for name in TABLES:
        pacsv.write_csv(table(name, tables.get(name, [])), folder / f"{name}.csv")
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    march = [{"lead_id": lid, "created_at": z(t), "mql_at": z(t), "source": "event", **extra}
             for lid, t, extra in MARCH]
    return write(tmp_path_factory.mktemp("targets"), leads=march + OTHER + june_leads(),
                 opportunities=OPPORTUNITIES, web_traffic=traffic())


def clause(cid: str, kind: str, owner: str, params: str = "{}") -> str:
    return (f"    - id: {cid}\n      kind: {kind}\n      title: {cid}\n      owner: {owner}\n"
            f"      params: {params}\n")


MAIN = "".join([
    clause("rep-load", "rep_load", "sales", "{min: 2, max: 3}"),
    clause("quota", "marketer_quota", "marketing", "{per_month: 7}"),
    clause("quota-default", "marketer_quota", "marketing"),
    clause("perf", "rep_performance", "sales", "{conversion: 0.5, opportunities: 2}"),
    clause("quality", "mql_quality", "marketing"),
    clause("funnel", "funnel_conversion", "marketing"),
    clause("funnel-strict", "funnel_conversion", "marketing",
           "{lead_to_mql: null, mql_to_sql: 0.34}"),
])
AS_OF = datetime(2020, 4, 2)


def by_clause(result: Any, clause_id: str) -> Any:
    return next(c for c in result.clauses if c.clause_id == clause_id)


def found(result: Any, clause_id: str, check: str) -> dict[str, tuple[Any, float, float]]:
    # float(): breaches.parquet may hold a fractional threshold as a DECIMAL (DuckDB reads
    # the literal 0.2 as DECIMAL(2,1)), and Decimal("0.2") != 0.2.
    return {b.subject_id: (b.rep_id, round(float(b.observed), 6), round(float(b.threshold), 6))
            for b in result.read_breaches() if b.clause_id == clause_id and b.check == check}


@pytest.fixture(scope="module")
def march(data: Path) -> Any:
    return audit_with(policy_with(MAIN), data, "2020-03", as_of=AS_OF)


# --- rep_load -------------------------------------------------------------------------------


def test_rep_load_min_and_max(march: Any) -> None:
    c = by_clause(march, "rep-load")
    assert (c.status, c.subject_type) == ("fail", "rep")
    assert c.checks["min"]["subjects"] == c.checks["max"]["subjects"] == 4
    # rep-ny 4 (N1-N4; N5 never an MQL), rep-la 3 (at max), rep-sf 2 (at min: S1 at
    # 23:30 EDT on 31 March counts), rep-uk 0 (U0 is 23:30 EST on 29 February).
    assert found(march, "rep-load", "min") == {"rep-uk": ("rep-uk", 0.0, 2.0)}
    assert found(march, "rep-load", "max") == {"rep-ny": ("rep-ny", 4.0, 3.0)}
    b = next(b for b in march.read_breaches()
             if b.clause_id == "rep-load" and b.check == "max")
    assert (b.person_id, b.team, b.unit) == ("rep-ny", "sales", "MQLs")
    assert b.evidence == {"name": "Rep NY", "role": "rep", "mqls": 4}
    assert c.checks["min"]["message"] == (
        "1 MQLs of the period have no owner_id and count for no rep; 2 MQLs of the period "
        "belong to people who are not a rep in scope (sales-lead) and count for no rep")


def test_rep_load_empty_period_every_rep_is_held_to_the_minimum(may: Any) -> None:
    assert found(may, "rep-load", "min") == {r: (r, 0.0, 2.0)
                                             for r in ("rep-ny", "rep-la", "rep-uk", "rep-sf")}
    assert found(may, "rep-load", "max") == {}


def test_rep_load_params() -> None:
    with pytest.raises(PolicyError, match=r"min \(400\) must not be above max \(350\)"):
        policy_with(clause("rep-load", "rep_load", "sales", "{min: 400, max: 350}"))
    with pytest.raises(PolicyError, match="max"):
        policy_with(clause("rep-load", "rep_load", "sales", "{min: 150}"))


# --- marketer_quota -------------------------------------------------------------------------


def test_marketer_quota(march: Any) -> None:
    c = by_clause(march, "quota")
    assert (c.status, c.subjects, c.subject_type) == ("fail", 2, "marketer")
    # mkt-1: N1-N4, A1, A2, S2 = 7 (at the target); mkt-2: A3, S1 = 2.
    assert found(march, "quota", "mqls") == {"mkt-2": ("mkt-2", 2.0, 7.0)}
    assert found(march, "quota-default", "mqls") == {"mkt-1": ("mkt-1", 7.0, 250.0),
                                                     "mkt-2": ("mkt-2", 2.0, 250.0)}
    assert c.message == (
        "mqls: 1 MQLs of the period have no marketer_id and count for no marketer; "
        "2 MQLs of the period belong to people who are not a marketer in scope (mkt-lead) "
        "and count for no marketer")
    assert MarketerQuotaParams().per_month == 250


def test_marketer_quota_week_scales_the_monthly_target(data: Path) -> None:
    doc = policy_with(clause("quota", "marketer_quota", "marketing", "{per_month: 30.4375}"))
    doc = dataclasses.replace(doc, policy=doc.policy.model_copy(
        update={"periods": Periods(unit="week")}))
    result = audit_with(doc, data, "2020-W11", as_of=AS_OF)
    (c,) = result.clauses
    # 30.4375 a month * 7 / 30.4375 = 7.0 a week; in W11 mkt-1 has 7, mkt-2 only A3.
    assert c.threshold == 7.0
    assert found(result, "quota", "mqls") == {"mkt-2": ("mkt-2", 1.0, 7.0)}
    assert "30.4375 MQLs per month scaled by 0.2300 for the week 2020-W11" in c.message
    assert c.checks["mqls"]["threshold_rule"] == {
        "value": 7.0, "basis": "30.4375 MQLs a month x 7/30.4375 (2020-W11)"}
    assert months_in(Period.parse("2020-Q2", "quarter")) == 3.0


# --- rep_performance ------------------------------------------------------------------------


def test_rep_performance(march: Any) -> None:
    c = by_clause(march, "perf")
    assert c.status == "fail"
    # conversion: rep-ny 2/4 = 0.5 (at the target), rep-la 1/3, rep-sf 0/2; rep-uk had
    # no MQLs, so no rate (but 3 opportunities).
    assert c.checks["conversion"]["subjects"] == 3
    assert found(march, "perf", "conversion") == {"rep-la": ("rep-la", round(1 / 3, 6), 0.5),
                                                  "rep-sf": ("rep-sf", 0.0, 0.5)}
    assert c.checks["conversion"]["message"].startswith(
        "1 rep(s) had no MQLs in the period, so no conversion rate (not judged on it): rep-uk")
    # opportunities: rep-ny 2 (O3 is February), rep-la 1, rep-sf 0, rep-uk 3.
    assert c.checks["opportunities"]["subjects"] == 4
    assert found(march, "perf", "opportunities") == {"rep-la": ("rep-la", 1.0, 2.0),
                                                     "rep-sf": ("rep-sf", 0.0, 2.0)}
    assert "1 opportunities of the period belong to people who are not a rep in scope " \
           "(sales-lead)" in c.checks["opportunities"]["message"]
    b = next(b for b in march.read_breaches()
             if b.clause_id == "perf" and b.subject_id == "rep-la" and b.check == "conversion")
    assert b.evidence == {"name": "Rep LA", "role": "rep", "mqls": 3, "opportunities": 1}
    defaults = RepPerformanceParams()
    assert (defaults.conversion, defaults.opportunities) == (0.07, 18)


# --- mql_quality ----------------------------------------------------------------------------


def test_mql_quality_row_checks(march: Any) -> None:
    c = by_clause(march, "quality")
    assert c.checks["icp"]["subjects"] == c.checks["fit"]["subjects"] == 12
    assert found(march, "quality", "icp") == {"N2": ("rep-ny", 4.0, 6.0),
                                              "X1": (None, 5.0, 6.0)}
    assert found(march, "quality", "fit") == {"A1": ("rep-la", 49.0, 50.0)}   # N4: 50 complies
    assert found(march, "quality", "interest") == {"N4": ("rep-ny", 39.0, 40.0)}
    n2 = next(b for b in march.read_breaches()
              if b.clause_id == "quality" and b.subject_id == "N2")
    assert n2.evidence["missed"] == "industry job_title"
    assert n2.evidence["industry"] == "Retail" and n2.evidence["job_title"] is None
    assert n2.evidence["marketer_id"] == "mkt-1"
    x1 = next(b for b in march.read_breaches()
              if b.clause_id == "quality" and b.subject_id == "X1")
    assert (x1.person_id, x1.team) == ("mkt-lead", "marketing")


def test_mql_quality_acceptance(march: Any) -> None:
    # 12 March MQLs; accepted by as_of (2 April): N1, A1, S2 (N3 only on 5 April) = 0.25.
    assert found(march, "quality", "acceptance") == {"marketing": (None, 0.25, 0.30)}
    b = next(b for b in march.read_breaches()
             if b.clause_id == "quality" and b.check == "acceptance")
    assert (b.subject_type, b.evidence) == ("team", {"mqls": 12, "accepted": 3})
    assert MqlQualityParams().acceptance_rate is None  # the review trigger, else 0.30


def test_mql_quality_empty_period(may: Any) -> None:
    c = by_clause(may, "quality")
    # Nothing in scope is neither met nor missed: not measured.
    assert (c.status, c.subjects, c.breaches) == ("not_measured", 0, 0)
    assert c.message == ("icp: not measured: no leads in scope this period; "
                         "fit: not measured: no leads in scope this period; "
                         "interest: not measured: no leads in scope this period; "
                         "acceptance: not measured: no teams in scope this period; "
                         "no MQLs in 2020-05: the acceptance rate is undefined")
    assert c.checks["acceptance"]["threshold_rule"] == {
        "value": 0.30, "basis": "review trigger mql_to_sql_rate_below 0.3"}


# --- funnel_conversion ----------------------------------------------------------------------


def test_funnel_conversion(march: Any) -> None:
    c = by_clause(march, "funnel")
    # 13 leads created in March (12 MQLs + N5) / 650 visitors = 0.02 exactly;
    # 12 MQLs / 13 leads; 4 SQLs (N1, A1, S2 and February's U0) / 12 MQLs.
    assert (c.status, c.subject_type, c.breaches) == ("pass", "company", 0)
    assert c.checks["visitor-to-lead"]["observed"]["max"] == 0.02
    assert c.checks["lead-to-mql"]["observed"]["max"] == pytest.approx(12 / 13)
    assert found(march, "funnel-strict", "mql-to-sql") == {
        "company": (None, round(4 / 12, 6), 0.34)}
    b = next(b for b in march.read_breaches() if b.clause_id == "funnel-strict")
    assert b.evidence == {"leads": 13, "mqls": 12, "sqls": 4, "visitors": 650,
                          "traffic_days": 31}
    assert b.person_id == "mkt-lead"


def test_funnel_conversion_errors(data: Path) -> None:
    doc = policy_with("".join([
        clause("funnel", "funnel_conversion", "marketing"),
        clause("funnel-no-visitors", "funnel_conversion", "marketing",
               "{visitor_to_lead: null, mql_to_sql: null}"),
        clause("funnel-sql", "funnel_conversion", "marketing",
               "{visitor_to_lead: null, lead_to_mql: null}"),
    ]))
    result = audit_with(doc, data, "2020-04", as_of=datetime(2020, 5, 2))
    funnel, no_visitors, sql = result.clauses
    # web_traffic has 1-14 April except the 5th: 17 days missing.
    # Only the check that needs traffic errors; the others are still judged.
    assert funnel.status == "error"
    assert funnel.checks["visitor-to-lead"]["message"] == (
        "web_traffic covers 13 of the 30 days of 2020-04 (missing 2020-04-05 "
        "and 16 more); load the missing days or disable the visitor-to-lead check")
    assert funnel.checks["lead-to-mql"]["status"] == "fail"
    # Disabled checks need no web traffic: 0 MQLs per 2 leads created in April is a breach...
    assert list(no_visitors.checks) == ["lead-to-mql"]
    assert found(result, "funnel-no-visitors", "lead-to-mql") == {"company": (None, 0.0, 0.2)}
    # ...but a rate over 0 MQLs is undefined.
    assert sql.status == "error"
    assert sql.message.startswith("mql-to-sql: mql-to-sql: no MQLs in 2020-04, so the rate "
                                  "is undefined")
    with pytest.raises(PolicyError, match="every check is disabled"):
        policy_with(clause("f", "funnel_conversion", "marketing",
                           "{visitor_to_lead: null, lead_to_mql: null, mql_to_sql: null}"))
    defaults = FunnelConversionParams()
    assert (defaults.visitor_to_lead, defaults.lead_to_mql, defaults.mql_to_sql) == (
        0.02, 0.20, 0.30)


def test_funnel_without_web_traffic_is_an_error(may: Any) -> None:
    c = by_clause(may, "funnel")
    assert c.status == "error"
    assert c.checks["visitor-to-lead"]["message"] == (
        "web_traffic has no visitors for 2020-05; load the web_traffic table or "
        "disable the visitor-to-lead check")


def test_funnel_open_period_is_pending_without_complete_traffic(data: Path) -> None:
    doc = policy_with(clause("funnel", "funnel_conversion", "marketing"))
    # As of 10 April, April is open: traffic days not loaded yet and no MQLs so far are
    # no error; every rate so far is pending.
    (c,) = audit_with(doc, data, "2020-04", as_of=datetime(2020, 4, 10)).clauses
    assert (c.status, c.subjects, c.pending) == ("not_measured", 0, 1)
    assert [c.checks[k]["status"] for k in ("visitor-to-lead", "lead-to-mql", "mql-to-sql")] \
        == ["not_measured"] * 3
    assert "visitors on the local dates 2020-04-01 to 2020-04-30 loaded so far" in \
        c.checks["visitor-to-lead"]["message"]
    assert c.checks["mql-to-sql"]["message"].endswith(
        "no MQLs in 2020-04 so far: the rate is undefined (0 until there are some)")


@pytest.fixture(scope="module")
def may(data: Path) -> Any:
    doc = policy_with(clause("rep-load", "rep_load", "sales", "{min: 2, max: 3}")
                      + clause("quality", "mql_quality", "marketing")
                      + clause("funnel", "funnel_conversion", "marketing"))
    return audit_with(doc, data, "2020-05", as_of=datetime(2020, 7, 2))


# --- lead_value -----------------------------------------------------------------------------


def test_lead_value_seed_example_month(data: Path) -> None:
    doc = policy_with("".join([
        clause("value", "lead_value", "marketing"),
        clause("value-leads", "lead_value", "marketing", "{counts: lead}"),
        clause("value-high", "lead_value", "marketing", "{monthly_target: 550_001}"),
        clause("icp-any-technology", "mql_quality", "marketing", "{acceptance_rate: 0}"),
    ]))
    # An empty ICP list accepts any value (but never a null).
    mql = doc.policy.definitions.mql
    icp = mql.icp.model_copy(update={"technologies": []})
    definitions = doc.policy.definitions.model_copy(
        update={"mql": mql.model_copy(update={"icp": icp})})
    doc = dataclasses.replace(doc, policy=doc.policy.model_copy(
        update={"definitions": definitions}))
    result = audit_with(doc, data, "2020-06", as_of=datetime(2020, 7, 2))
    value, leads, high, icp_any = result.clauses
    # 10 x 5,000 + 200 x 1,000 + 50 x 2,000 + 50 x 4,000 = 550,000: at the target.
    assert (value.status, value.subject_type, value.breaches) == ("pass", "company", 0)
    assert value.observed["max"] == 550_000
    assert value.message == ("value: 2 MQLs of the period come from source(s) with no value "
                             "in lead_values and count 0: 'event' (2)")
    # Leads created in June add J-late (referral, an MQL in July) and J-nomql (content).
    assert leads.observed["max"] == 556_000
    assert found(result, "value-high", "value") == {"company": (None, 550_000.0, 550_001.0)}
    b = next(b for b in result.read_breaches() if b.clause_id == "value-high")
    assert (b.unit, b.person_id) == ("USD", "mkt-lead")
    assert b.evidence == {
        "counts": "mql", "n_total": 312,
        "n_content": 200, "value_content": 200_000.0, "n_referral": 10, "value_referral": 50_000.0,
        "n_web_sales_ready": 50, "value_web_sales_ready": 200_000.0,
        "n_webinar": 50, "value_webinar": 100_000.0,
        "n_unvalued": 2, "unvalued_sources": "event",
    }
    assert high.status == "fail"
    # technology "on-prem" matches an empty list; the null one does not.
    assert found(result, "icp-any-technology", "icp") == {"J-webinar-0": (None, 5.0, 6.0)}
    assert icp_any.checks["icp"]["subjects"] == 312
    # 0 of 312 MQLs accepted complies with an acceptance rate of 0 (the boundary).
    assert icp_any.checks["acceptance"]["observed"]["max"] == 0.0
    assert icp_any.checks["acceptance"]["breaches"] == 0


def test_lead_value_params() -> None:
    assert (LeadValueParams().monthly_target, LeadValueParams().counts) == (550_000, "mql")
    with pytest.raises(PolicyError, match="currency 'EUR' is not the policy's currency 'USD'"):
        policy_with(clause("v", "lead_value", "marketing", "{currency: EUR}"))


# --- a period still open ---------------------------------------------------------------------


def test_open_period_results_that_can_still_change_are_pending(data: Path) -> None:
    doc = policy_with("".join([
        clause("rep-load", "rep_load", "sales", "{min: 2, max: 3}"),
        clause("perf", "rep_performance", "sales", "{conversion: 0.5, opportunities: 2}"),
        clause("value", "lead_value", "marketing"),
        clause("quality", "mql_quality", "marketing"),
        clause("funnel", "funnel_conversion", "marketing"),
    ]))
    result = audit_with(doc, data, "2020-03", as_of=datetime(2020, 3, 20, 12))
    load, perf, value, quality, funnel = result.clauses
    # Over the maximum is final; under the minimum or within the maximum is not yet due.
    assert [(load.checks[c]["subjects"], load.checks[c]["pending"]) for c in ("min", "max")] \
        == [(3, 1), (1, 3)]
    assert found(result, "rep-load", "max") == {"rep-ny": ("rep-ny", 4.0, 3.0)}
    assert found(result, "rep-load", "min") == {}
    assert load.checks["min"]["message"].startswith(
        "2020-03 is still open at 2020-03-20T12:00:00Z: a rep under the minimum is not yet "
        "due (pending)")
    # Every rate waits for the period to close: the conversion check is not measured.
    assert (perf.checks["conversion"]["subjects"], perf.checks["conversion"]["pending"]) == (0, 3)
    assert perf.checks["conversion"]["status"] == "not_measured"
    assert (perf.checks["opportunities"]["subjects"],
            perf.checks["opportunities"]["pending"]) == (2, 2)                 # rep-la, rep-sf
    assert perf.checks["opportunities"]["status"] == "pass"                    # rep-ny, rep-uk
    # $0 of lead value so far (only "event" MQLs) is under $550,000 but can still grow.
    assert (value.status, value.subjects, value.pending) == ("not_measured", 0, 1)
    # Row checks are final at once; the acceptance rate waits.
    assert found(result, "quality", "icp") == {"N2": ("rep-ny", 4.0, 6.0), "X1": (None, 5.0, 6.0)}
    assert quality.checks["acceptance"]["pending"] == 1
    assert (funnel.status, funnel.subjects, funnel.pending) == ("not_measured", 0, 1)
    assert funnel.checks["mql-to-sql"]["message"] == (
        "not measured: none of the 1 companies in scope could be judged (1 still pending "
        "(not yet due)); 2020-03 is still open at 2020-03-20T12:00:00Z: the rate is judged "
        "once the period closes (pending)")


# --- no subjects at all ---------------------------------------------------------------------


def test_no_reps_or_marketers_in_scope(tmp_path: Path) -> None:
    people = [{**PEOPLE_X[-1]}]  # only the marketing team lead
    data = write(tmp_path / "nobody", people=people,
                 leads=[{"lead_id": "L1", "created_at": z(W), "mql_at": z(W),
                         "owner_id": None, "marketer_id": "mkt-lead"}])
    doc = policy_with(clause("rep-load", "rep_load", "sales", "{min: 2, max: 3}")
                      + clause("quota", "marketer_quota", "marketing")
                      + clause("perf", "rep_performance", "sales"))
    load, quota, perf = audit_with(doc, data, "2020-03", as_of=AS_OF).clauses
    # Nobody in scope: the targets are neither met nor missed (not measured).
    assert (load.status, load.subjects) == ("not_measured", 0)
    assert load.checks["max"]["message"] == (
        "not measured: no reps in scope this period; "
        "1 MQLs of the period have no owner_id and count for no rep")
    assert (quota.status, quota.subjects) == ("not_measured", 0)
    assert quota.message.startswith(
        "mqls: not measured: no marketers in scope this period; 1 MQLs of the period belong "
        "to people who are not a marketer in scope (mkt-lead)")
    assert (perf.status, perf.subjects) == ("not_measured", 0)
    assert perf.checks["opportunities"]["message"] == (
        "not measured: no reps in scope this period")


# --- Company A ------------------------------------------------------------------------------

COMPANY_A = """\
    - id: rep-load
      kind: rep_load
      title: Each rep is assigned between 150 and 350 MQLs a month
      owner: sales
      description: >-
        Per rep, a minimum and a maximum number of MQLs assigned in the month (MQLs by
        mql_at, assigned by owner). Reps with none are held to the minimum.
      severity: fail
      params:
        min: 150
        max: 350
        roles: [rep]
    - id: rep-performance
      kind: rep_performance
      title: Each rep converts 7% of MQLs and creates 18 opportunities a month
      owner: sales
      description: >-
        Per rep: opportunities created in the month over MQLs assigned in it, at least
        7%; and at least 18 sales opportunities created in the month.
      severity: fail
      params:
        conversion: 0.07
        opportunities: 18
        roles: [rep]
    - id: marketer-quota
      kind: marketer_quota
      title: Each marketer produces 250 MQLs a month
      owner: marketing
      severity: fail
      params:
        per_month: 250
        roles: [marketer]
    - id: lead-value
      kind: lead_value
      title: Marketing delivers $550,000 of lead value a month
      owner: marketing
      description: >-
        MQLs of the month valued by source with the policy's lead_values (referral
        $5,000, content $1,000, webinar $2,000, web sales-ready $4,000).
      severity: fail
      params:
        monthly_target: 550_000
        counts: mql
        currency: USD
    - id: mql-quality
      kind: mql_quality
      title: MQLs match the ideal customer profile and the scoring thresholds
      owner: marketing
      description: >-
        Every MQL matches the ICP (definitions.mql.icp) and reaches the fit and interest
        minimums; sales accepts at least the review trigger's share of MQLs (30%).
      severity: warn
      tolerance: {mostly: 0.95, fail_below: 0.90}
    - id: funnel-conversion
      kind: funnel_conversion
      title: Marketing's funnel conversion KPIs
      owner: marketing
      description: >-
        Visitor to lead, lead to MQL and MQL to SQL. The agreement names these KPIs without
        figures; lead-to-MQL and MQL-to-SQL use the review triggers (20%, 30%).
      severity: warn
      params:
        visitor_to_lead: 0.02
        lead_to_mql: 0.20
        mql_to_sql: 0.30
"""


def test_thresholds_come_from_the_policy_alone() -> None:
    from slapolicy.clauses import registry

    doc = policy_with(COMPANY_A)
    policy = doc.policy

    def rule(cid: str, check: str, label: str, unit: Any = "month") -> tuple[float, str]:
        c = next(c for c in policy.clauses if c.id == cid)
        kind, params = registry.get(c.kind), doc.params_for(cid)
        spec = next(s for s in kind.checks(c, params) if s.name == check)
        t = kind.threshold(policy, c, params, spec, Period.parse(label, unit))
        return round(t.value, 6), t.basis

    assert rule("rep-load", "min", "2020-06") == (150.0, "min 150 MQLs a month x 1 (2020-06)")
    assert rule("rep-load", "max", "2020-Q2", "quarter") == (
        1050.0, "max 350 MQLs a month x 3 (2020-Q2)")
    # 250 x 7 / 30.4375 = 57.494867
    assert rule("marketer-quota", "mqls", "2020-W11", "week") == (
        57.494867, "250 MQLs a month x 7/30.4375 (2020-W11)")
    assert rule("rep-performance", "conversion", "2020-Q2", "quarter") == (
        0.07, "conversion 0.07")
    assert rule("rep-performance", "opportunities", "2020-Q2", "quarter") == (
        54.0, "18 opportunities a month x 3 (2020-Q2)")
    assert rule("lead-value", "value", "2020-06") == (
        550_000.0, "USD 550,000 a month x 1 (2020-06)")
    assert rule("mql-quality", "icp", "2020-06") == (6.0, "definitions.mql.icp.min_matches 6")
    assert rule("mql-quality", "fit", "2020-06") == (50.0, "definitions.mql.scoring.fit_min 50")
    assert rule("mql-quality", "acceptance", "2020-06") == (
        0.3, "review trigger mql_to_sql_rate_below 0.3")
    assert rule("funnel-conversion", "lead-to-mql", "2020-06") == (0.2, "lead_to_mql 0.2")


def test_kind_modules_import_no_query_engine() -> None:
    import subprocess
    import sys

    modules = ["counting", "rep_load", "marketer_quota", "rep_performance", "lead_value",
               "mql_quality", "funnel_conversion"]
    code = ("import sys\n"
            + "".join(f"import slapolicy.clauses.{m}\n" for m in modules)
            + "assert 'ibis' not in sys.modules, 'ibis imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_company_a_clauses_load() -> None:
    doc = policy_with(COMPANY_A)
    assert [c.kind for c in doc.policy.clauses] == [
        "rep_load", "rep_performance", "marketer_quota", "lead_value", "mql_quality",
        "funnel_conversion"]
    assert doc.params_for("rep-load").min == 150
    assert doc.params_for("lead-value").monthly_target == 550_000
