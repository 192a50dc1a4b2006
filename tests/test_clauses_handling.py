"""Lead handling and process kinds on hand-made March 2020 data.

contact_attempts, recycling, mql_worked, process_adherence and feedback_response.
Instants are UTC; New York is UTC-5 until 8 March, UTC-4 after. ``AS_OF`` is
2020-03-31 20:00 UTC (16:00 EDT, a Tuesday).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from slapolicy.clauses.process_adherence import ordered_concat_supported
from slapolicy.errors import PolicyError
from tests.conftest import audit_with, policy_with

AS_OF = datetime(2020, 3, 31, 20, 0)


def z(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text + "+00:00")


def clause(kind: str, owner: str = "sales", params: str = "{}", cid: str | None = None) -> str:
    return (f"    - id: {cid or kind.replace('_', '-')}\n"
            f"      kind: {kind}\n"
            f"      title: {kind} under test\n"
            f"      owner: {owner}\n"
            f"      params: {params}\n")


def run(data: Path, clauses: str, period: str = "2020-03"):
    return audit_with(policy_with(clauses), data, period, as_of=AS_OF)


def found(result: Any, check: str) -> dict[str, float]:
    return {b.subject_id: round(b.observed, 4) for b in result.read_breaches() if b.check == check}


def acts(rows: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    return [{"activity_id": f"A{i:02d}", "lead_id": lid, "rep_id": "rep-ny", "kind": kind,
             "occurred_at": z(t), "outcome": "connected"} for i, (lid, kind, t) in enumerate(rows)]


# --- contact_attempts ------------------------------------------------------------------

RETURNED = [
    # id, created, notified, returned, reason, overrides
    ("C01", "2020-03-02T13:00:00", "2020-03-02T14:00:00", "2020-03-06T14:00:00", "no_budget", {}),
    ("C02", "2020-03-02T13:00:00", "2020-03-02T14:00:00", "2020-03-04T14:00:00", None, {}),
    ("C03", "2020-03-09T14:00:00", None, "2020-03-16T14:00:00", " ", {}),
    ("C04", "2020-02-10T14:00:00", "2020-02-10T14:00:00", "2020-02-20T14:00:00", "x", {}),
    ("C05", "2020-03-02T13:00:00", "2020-03-02T14:00:00", None, None, {}),
    ("C06", "2020-03-18T13:00:00", "2020-03-18T14:00:00", "2020-03-20T14:00:00", "unreachable",
     {"owner_id": "rep-la"}),
    ("C07", "2020-03-21T13:00:00", "2020-03-21T14:00:00", "2020-03-23T14:00:00", "no_budget", {}),
]
ATTEMPTS = [
    ("C01", "call", "2020-03-02T15:00:00"),
    ("C01", "email", "2020-03-02T19:00:00"),    # exactly 4h later
    ("C01", "video", "2020-03-05T19:00:00"),    # exactly 72h later
    ("C02", "call", "2020-03-02T15:00:00"),
    ("C02", "email", "2020-03-02T17:00:00"),    # 2h later
    ("C02", "meeting", "2020-03-03T15:00:00"),  # a meeting is no contact attempt
    ("C03", "call", "2020-03-09T13:00:00"),     # before the lead existed
    ("C03", "call", "2020-03-09T15:00:00"),
    ("C03", "call", "2020-03-10T15:00:00"),
    ("C03", "call", "2020-03-14T15:00:00"),     # 96h later
    ("C03", "call", "2020-03-20T15:00:00"),     # after the return
    ("C07", "call", "2020-03-22T14:00:00"),
]


@pytest.fixture
def returned(make_dataset) -> Path:
    leads = [{"lead_id": lid, "created_at": z(c), "notified_at": z(n), "returned_at": z(r),
              "return_reason": reason, **extra}
             for lid, c, n, r, reason, extra in RETURNED]
    return make_dataset(leads=leads, activities=acts(ATTEMPTS))


def test_contact_attempts_hand_computed(returned: Path) -> None:
    result = run(returned, clause("contact_attempts"))
    (c,) = result.clauses
    assert c.status == "fail"
    counts = {n: (d["subjects"], d["breaches"]) for n, d in c.checks.items()}
    assert counts == {"attempts": (5, 3), "spacing-min": (3, 1), "spacing-max": (3, 1),
                      "reason": (5, 2)}
    assert found(result, "attempts") == {"C02": 2.0, "C06": 0.0, "C07": 1.0}
    assert found(result, "spacing-min") == {"C02": 2.0}
    assert found(result, "spacing-max") == {"C03": 96.0}
    assert found(result, "reason") == {"C02": 0.0, "C03": 0.0}
    assert {n: (d["unit"], d["direction"]) for n, d in c.checks.items()} == {
        "attempts": ("attempts", "at_least"), "spacing-min": ("hours", "at_least"),
        "spacing-max": ("hours", "at_most"), "reason": ("flag", "at_least")}
    by = {(b.check, b.subject_id): b for b in result.read_breaches()}
    assert by[("attempts", "C06")].rep_id == "rep-la"
    assert by[("spacing-max", "C03")].evidence["first_attempt_at"] == "2020-03-09T15:00:00Z"
    assert by[("spacing-max", "C03")].evidence["attempts"] == 3
    assert by[("attempts", "C02")].threshold == 3.0
    # Returns have happened: nothing is pending; C01-C03, C06, C07 were returned in March.
    assert {n: (d["in_scope"], d["pending"]) for n, d in c.checks.items()} == {
        "attempts": (5, 0), "spacing-min": (3, 0), "spacing-max": (3, 0), "reason": (5, 0)}


def test_contact_attempts_params(returned: Path) -> None:
    params = "{min_attempts: 2, min_spacing: 1h, max_spacing: 4d, reasons: [no_budget]}"
    result = run(returned, clause("contact_attempts", params=params))
    assert found(result, "attempts") == {"C06": 0.0, "C07": 1.0}
    assert found(result, "spacing-min") == {}
    assert found(result, "spacing-max") == {}
    assert found(result, "reason") == {"C02": 0.0, "C03": 0.0, "C06": 0.0}


def test_contact_attempts_without_activities(make_dataset) -> None:
    data = make_dataset(leads=[{"lead_id": "C01", "created_at": z("2020-03-02T13:00:00"),
                                "returned_at": z("2020-03-06T14:00:00"),
                                "return_reason": "no_budget"}])
    (c,) = run(data, clause("contact_attempts")).clauses
    assert c.checks["attempts"]["breaches"] == 1
    assert c.checks["attempts"]["message"] == (
        "the activities table is empty: every returned lead counts as never contacted")


def test_contact_attempts_policy_problems() -> None:
    with pytest.raises(PolicyError, match=r"min_spacing \(80h\) is above max_spacing \(72h\)"):
        policy_with(clause("contact_attempts", params="{min_spacing: 80h}"))
    with pytest.raises(PolicyError, match=r"kinds \['fax'\] are not activity kinds"):
        policy_with(clause("contact_attempts", params="{kinds: [call, fax]}"))


# --- recycling -------------------------------------------------------------------------

RECYCLED = [
    # id, returned, enrolled, track, overrides
    ("R01", "2020-03-02T14:00:00", "2020-03-03T14:00:00", "consideration", {}),  # exactly 24h
    ("R02", "2020-03-02T14:00:00", "2020-03-04T14:00:00", "decision", {}),       # 48h
    ("R03", "2020-03-05T14:00:00", "2020-03-05T15:00:00", "bogus", {}),
    ("R04", "2020-03-10T14:00:00", None, None, {}),                              # never
    ("R05", "2020-03-31T10:00:00", None, None, {}),                              # not yet due
    ("R06", "2020-03-12T14:00:00", "2020-03-01T14:00:00", "awareness", {}),      # before return
    ("R07", "2020-03-15T14:00:00", "2020-03-15T20:00:00", None, {"marketer_id": None}),
    ("R08", "2020-02-15T14:00:00", None, None, {}),                              # February
]


@pytest.fixture
def recycled(make_dataset) -> Path:
    leads = [{"lead_id": lid, "created_at": z("2020-02-01T14:00:00"), "returned_at": z(r),
              "return_reason": "no_budget", "nurture_enrolled_at": z(e), "nurture_track": tr,
              **extra} for lid, r, e, tr, extra in RECYCLED]
    return make_dataset(leads=leads)


def test_recycling_hand_computed(recycled: Path) -> None:
    result = run(recycled, clause("recycling", owner="marketing"))
    (c,) = result.clauses
    enrolled, track = c.checks["enrolled"], c.checks["track"]
    assert (enrolled["subjects"], enrolled["breaches"], enrolled["pending"]) == (6, 3, 1)
    assert (track["subjects"], track["breaches"], track["pending"]) == (4, 2, 3)
    # R01-R07 returned in March: every one is a row; R05 (enrolled) and R04-R06 (track)
    # are still open.
    assert (enrolled["in_scope"], track["in_scope"]) == (7, 7)
    assert enrolled["threshold_rule"] == {"value": 24.0, "basis": "within 24 hours of the return"}
    assert found(result, "enrolled") == {"R02": 48.0, "R04": 510.0, "R06": 462.0}
    assert found(result, "track") == {"R03": 0.0, "R07": 0.0}
    by = {(b.check, b.subject_id): b for b in result.read_breaches()}
    assert by[("enrolled", "R06")].evidence["enrolled"] is False
    assert by[("enrolled", "R06")].evidence["nurture_enrolled_at"] == "2020-03-01T14:00:00Z"
    assert (by[("track", "R07")].rep_id, by[("track", "R07")].person_id) == (None, "mkt-lead")
    assert by[("track", "R03")].person_id == "mkt-1"
    assert by[("track", "R03")].evidence["accepted_tracks"] == "awareness, consideration, decision"
    assert enrolled["unit"] == "hours"


def test_recycling_accepted_tracks_and_window(recycled: Path) -> None:
    result = run(recycled, clause("recycling", owner="marketing",
                                  params="{within: 48h, tracks: [decision]}"))
    assert found(result, "enrolled") == {"R04": 510.0, "R06": 462.0}
    assert found(result, "track") == {"R01": 0.0, "R03": 0.0, "R07": 0.0}
    with pytest.raises(PolicyError, match=r"tracks \['nurture-x'\] are not in "
                                          r"definitions.nurture_tracks"):
        policy_with(clause("recycling", owner="marketing", params="{tracks: [nurture-x]}"))


# --- mql_worked ------------------------------------------------------------------------

MQLS = [
    # id, created, mql
    ("M01", "2020-03-02T14:00:00", "2020-03-03T14:00:00"),
    ("M02", "2020-03-02T14:00:00", "2020-03-02T14:00:00"),
    ("M03", "2020-02-20T14:00:00", "2020-03-05T14:00:00"),
    ("M04", "2020-03-10T14:00:00", "2020-03-10T14:00:00"),
    ("M05", "2020-03-28T14:00:00", "2020-03-28T14:00:00"),
    ("M06", "2020-03-12T14:00:00", "2020-03-12T14:00:00"),
    ("M07", "2020-02-01T14:00:00", "2020-02-02T14:00:00"),
    ("M08", "2020-03-02T14:00:00", None),
]
WORK = [
    ("M01", "call", "2020-03-09T14:00:00"),     # exactly 7 days
    ("M02", "meeting", "2020-03-03T14:00:00"),  # not email or phone
    ("M02", "email", "2020-03-10T14:00:00"),    # 8 days
    ("M03", "call", "2020-02-21T14:00:00"),     # worked before it became an MQL: 1 day
    ("M06", "call", "2020-03-12T13:00:00"),     # before it entered the funnel
    ("M06", "video", "2020-03-12T15:00:00"),
    ("M08", "call", "2020-03-20T14:00:00"),
]


@pytest.fixture
def mqls(make_dataset) -> Path:
    leads = [{"lead_id": lid, "created_at": z(c), "mql_at": z(m)} for lid, c, m in MQLS]
    return make_dataset(leads=leads, activities=acts(WORK))


def test_mql_worked_hand_computed(mqls: Path) -> None:
    result = run(mqls, clause("mql_worked"))
    (c,) = result.clauses
    assert (c.subjects, c.breaches, c.pending, c.unit) == (5, 3, 1, "days")
    assert (c.checks["worked"]["in_scope"], c.checks["worked"]["status"]) == (6, "fail")
    assert c.status == "fail"
    assert found(result, "worked") == {"M02": 8.0, "M04": 21.25, "M06": 19.25}
    by = {b.subject_id: b for b in result.read_breaches()}
    assert by["M04"].evidence["worked"] is False and by["M04"].rep_id == "rep-ny"
    assert by["M02"].evidence["first_worked_at"] == "2020-03-10T14:00:00Z"
    assert c.observed["median"] == 8.0


def test_mql_worked_kinds_and_window(mqls: Path) -> None:
    result = run(mqls, clause("mql_worked", params="{within: 8d, kinds: [call, email, video]}"))
    assert found(result, "worked") == {"M04": 21.25}
    # From qualification on, M03's call before it qualified no longer counts.
    result = run(mqls, clause("mql_worked", params="{starts_at: mql_at}"))
    assert found(result, "worked") == {"M02": 8.0, "M03": 26.25, "M04": 21.25, "M06": 19.25}


def test_mql_worked_without_activities_and_empty_period(make_dataset) -> None:
    data = make_dataset(leads=[{"lead_id": lid, "created_at": z(c), "mql_at": z(m)}
                               for lid, c, m in MQLS])
    (c,) = run(data, clause("mql_worked")).clauses
    assert (c.subjects, c.breaches, c.pending) == (5, 5, 1)
    assert c.message == "worked: the activities table is empty: every MQL counts as never worked"
    # Nothing in scope is neither met nor missed.
    (c,) = run(data, clause("mql_worked"), period="2020-05").clauses
    assert (c.status, c.subjects, c.message) == (
        "not_measured", 0, "worked: not measured: no leads in scope this period")
    assert c.checks["worked"]["in_scope"] == 0


# --- process_adherence -----------------------------------------------------------------

HISTORY = {
    "O01": [("discovery", "03-02"), ("proposal", "03-05"), ("negotiation", "03-10"),
            ("closed_won", "03-20")],
    "O02": [("discovery", "03-02"), ("negotiation", "03-05")],
    "O03": [("discovery", "02-10"), ("proposal", "02-15"), ("negotiation", "02-20"),
            ("proposal", "03-03"), ("closed_won", "03-10")],
    "O04": [("discovery", "02-10"), ("negotiation", "02-15"), ("proposal", "03-03")],
    "O05": [("discovery", "03-02"), ("closed_lost", "03-04")],
    "O06": [("discovery", "03-02"), ("proposal", "03-03"), ("closed_lost", "03-05"),
            ("negotiation", "03-07"), ("closed_won", "03-09")],
    "O07": [("discovery", "03-02"), ("qualification", "03-03"), ("proposal", "03-04")],
    "O08": [("proposal", "03-02")],
    "O09": [("discovery", "02-10")],
    "O10": [("discovery", "03-02"), ("proposal", "04-10")],
    "O11": [("discovery", "03-02"), ("closed_won", "03-09")],
    "O12": [],
}


@pytest.fixture
def pipeline(make_dataset) -> Path:
    leads = [{"lead_id": "L1", "created_at": z("2020-01-05T14:00:00")}]
    opps = [{"opportunity_id": oid, "lead_id": "L1", "rep_id": "rep-uk" if oid == "O02"
             else "rep-ny", "created_at": z(f"2020-{(rows or [('', '03-02')])[0][1]}T14:00:00"),
             "amount": 10_000.0, "status": "open"} for oid, rows in HISTORY.items()]
    stages = [{"opportunity_id": oid, "stage": s, "entered_at": z(f"2020-{d}T15:00:00")}
              for oid, rows in HISTORY.items() for s, d in rows]
    return make_dataset(leads=leads, opportunities=opps, opportunity_stages=stages)


@pytest.mark.parametrize("ordered_concat", [True, False],
                         ids=["string-aggregation", "running-lists (as on Spark)"])
def test_process_adherence_hand_computed(pipeline: Path, ordered_concat: bool,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import slapolicy.clauses.process_adherence as pa

    # Engines without an ordered string aggregation build the same path and detail from
    # running lists; both ways must give the hand-computed strings below.
    monkeypatch.setattr(pa, "ordered_concat_supported", lambda dialect: ordered_concat)
    result = run(pipeline, clause("process_adherence"))
    (c,) = result.clauses
    assert (c.subjects, c.breaches, c.unit, c.subject_type) == (10, 7, "violations", "opportunity")
    assert found(result, "stages") == {"O02": 1.0, "O03": 1.0, "O04": 1.0, "O06": 2.0,
                                       "O07": 1.0, "O08": 1.0, "O11": 1.0}
    ev = {b.subject_id: b.evidence for b in result.read_breaches()}
    assert ev["O02"]["detail"] == "skip:discovery>negotiation"
    assert ev["O03"]["path"] == "discovery>proposal>negotiation>proposal>closed_won"
    assert ev["O03"]["detail"] == "backward:negotiation>proposal"   # back, then on: one
    assert ev["O04"]["detail"] == "backward:negotiation>proposal"   # February's skip was judged then
    assert (ev["O04"]["skip"], ev["O04"]["backward"], ev["O04"]["stages_in_period"]) == (0, 1, 1)
    assert ev["O06"]["detail"] == "after_terminal:negotiation, after_terminal:closed_won"
    assert ev["O07"]["detail"] == "unknown:qualification"
    assert ev["O08"]["detail"] == "skip:(start)>proposal"
    assert ev["O11"]["detail"] == "skip:discovery>closed_won"
    assert {b.subject_id: b.rep_id for b in result.read_breaches()}["O02"] == "rep-uk"
    assert c.message == ("stages: 1 opportunity created this period has no stage history "
                         "and could not be judged")


def test_process_adherence_allow_skips(pipeline: Path) -> None:
    result = run(pipeline, clause("process_adherence", params="{allow_skips: true}"))
    assert found(result, "stages") == {"O03": 1.0, "O04": 1.0, "O06": 2.0, "O07": 1.0}


def test_process_adherence_missing_history_and_empty_period(make_dataset, pipeline) -> None:
    data = make_dataset(
        folder="nostages",
        leads=[{"lead_id": "L1", "created_at": z("2020-01-05T14:00:00")}],
        opportunities=[{"opportunity_id": "O1", "lead_id": "L1", "rep_id": "rep-ny",
                        "created_at": z("2020-03-02T14:00:00"), "amount": 1.0,
                        "status": "open"}])
    (c,) = run(data, clause("process_adherence")).clauses
    assert c.status == "error"
    assert c.message == (
        "stages: ValueError: the opportunity_stages table is empty but 1 opportunity was created in "
        "the period: load the stage history (opportunity_id, stage, entered_at) to judge "
        "the process")
    # Nothing in scope is neither met nor missed.
    (c,) = run(pipeline, clause("process_adherence"), period="2020-05").clauses
    assert (c.status, c.subjects) == ("not_measured", 0)
    assert c.message == "stages: not measured: no opportunities in scope this period"


def test_process_adherence_policy_and_ordered_concat_support() -> None:
    with pytest.raises(PolicyError, match=r"terminal \['won'\] are not in "
                                          r"definitions.opportunity_stages"):
        policy_with(clause("process_adherence", params="{terminal: [won]}"))
    assert ordered_concat_supported("duckdb") and ordered_concat_supported("postgres")
    assert not ordered_concat_supported("pyspark")


# --- feedback_response -----------------------------------------------------------------

FEEDBACK = [
    # id, from, to, requested, responded
    ("F01", "sales", "marketing", "2020-03-02T14:00:00", "2020-03-03T14:00:00"),  # exactly 24h
    ("F02", "sales", "marketing", "2020-03-06T21:00:00", "2020-03-09T14:00:00"),  # Fri to Mon
    ("F03", "marketing", "sales", "2020-03-10T14:00:00", None),                   # never
    ("F04", "marketing", "sales", "2020-03-31T10:00:00", None),                   # not yet due
    ("F05", "marketing", "sales", "2020-02-20T14:00:00", None),                   # February
    ("F06", "marketing", "sales", "2020-03-16T14:00:00", "2020-03-17T15:00:00"),  # 25h
]


def feedback_rows(rows: list[tuple[str, str, str, str, str | None]]) -> list[dict[str, Any]]:
    return [{"feedback_id": fid, "from_team": a, "to_team": b, "requested_by": "someone",
             "requested_at": z(req), "responded_by": "lead" if resp else None,
             "responded_at": z(resp), "topic": "content"} for fid, a, b, req, resp in rows]


@pytest.fixture
def feedback(make_dataset) -> Path:
    return make_dataset(feedback=feedback_rows(FEEDBACK))


def test_feedback_response_hand_computed(feedback: Path) -> None:
    result = run(feedback, clause("feedback_response", owner="shared"))
    (c,) = result.clauses
    assert (c.subjects, c.breaches, c.pending, c.threshold, c.unit) == (4, 3, 1, 24.0, "hours")
    assert c.checks["response"]["threshold_rule"] == {
        "value": 24.0, "basis": "within 24 hours (communication.feedback_within)"}
    assert found(result, "response") == {"F02": 65.0, "F03": 510.0, "F06": 25.0}
    by = {b.subject_id: b for b in result.read_breaches()}
    assert by["F03"].evidence["responsible"] == "sales-lead"
    assert by["F02"].evidence["responsible"] == "mkt-lead"
    assert by["F03"].evidence["responded"] is False
    assert (by["F03"].rep_id, by["F03"].person_id, by["F03"].subject_type) == (
        None, None, "feedback request")


def test_feedback_response_per_direction_and_override(feedback: Path) -> None:
    clauses = (clause("feedback_response", "marketing", "{from_team: sales, to_team: marketing}",
                      cid="feedback-to-marketing")
               + clause("feedback_response", "sales", "{to_team: sales, within: 72h}",
                        cid="feedback-to-sales"))
    result = run(feedback, clauses)
    got = {(b.clause_id, b.subject_id): (round(b.observed, 4), b.threshold, b.person_id)
           for b in result.read_breaches()}
    assert got == {("feedback-to-marketing", "F02"): (65.0, 24.0, "mkt-lead"),
                   ("feedback-to-sales", "F03"): (510.0, 72.0, "sales-lead")}
    subjects = {c.clause_id: (c.subjects, c.pending) for c in result.clauses}
    assert subjects == {"feedback-to-marketing": (2, 0), "feedback-to-sales": (2, 1)}


def test_feedback_response_business_clock(feedback: Path) -> None:
    result = run(feedback, clause("feedback_response", owner="shared",
                                  params="{clock: business}"))
    (c,) = result.clauses
    assert c.unit == "business hours"
    # F03: Tue 10 March 10:00 EDT to Tue 31 March 16:00 EDT: 7 + 3*8 + 10*8 + 8 + 7.
    assert found(result, "response") == {"F03": 126.0}
    assert c.observed["max"] == 126.0 and (c.subjects, c.pending) == (4, 1)
    (b,) = result.read_breaches()
    assert b.evidence["calendar_id"] == "us-east"


def test_feedback_response_bad_data_and_policy(make_dataset) -> None:
    data = make_dataset(feedback=feedback_rows(
        [("F09", "sales", "marketing", "2020-03-05T14:00:00", "2020-03-05T13:00:00")]))
    (c,) = run(data, clause("feedback_response", owner="shared")).clauses
    assert c.status == "error"
    assert c.message == ("response: ValueError: feedback.responded_at is before requested_at "
                         "for F09: correct the timestamps")
    with pytest.raises(PolicyError, match="from_team and to_team are both 'sales'"):
        policy_with(clause("feedback_response", params="{from_team: sales, to_team: sales}"))
    with pytest.raises(PolicyError, match=r"calendar is only used with `clock: business`"):
        policy_with(clause("feedback_response", params="{calendar: emea}"))
