"""The corpus of broken data sets: each one loaded through ``Engine.from_source``.

Every case is the valid data set of ``tests/corpus/data/base/`` with one mistake a CRM
export could hold (a row edited, added or cut; a file emptied or garbled). It states
what must happen: exactly which rows are set aside (quarantined) with which reason, and
that every table balances (rows read = rows used + rows quarantined, and rows read is
the number of data lines in its file); or, for a table that cannot be read at all, the
exact error. Expected rows are written by hand from the contract (docs/data-contract.md):
a row that refers to a row set aside is set aside too, and says so.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from slapolicy.engine.context import Engine
from slapolicy.engine.sources import DataSource
from slapolicy.errors import DataSourceError

BASE = Path(__file__).parent / "corpus" / "data" / "base"
#: The audit's clock in these cases: instants after it are in the future.
NOW = datetime(2026, 11, 25, 12, 0)
FUTURE = "in the future (after 2026-11-25 12:00:00Z, when the audit ran)"
DUP = "duplicate key (every row with it is set aside)"
MISSING = "missing (the column is required)"
INSTANT = "not an instant (ISO 8601)"
NAIVE = ("holds timestamps without a time zone (date-times or dates), and the source declares "
         "none\n")

# Base rows that depend on others, as the loader reports them when their parent is set aside.
O1_STAGES = [("opportunity_stages", "line 2", "O1/discovery/2020-03-04 16:00:00", "opportunity_id",
              "O1", "its row in opportunities was set aside"),
             ("opportunity_stages", "line 3", "O1/proposal/2020-03-05 16:00:00", "opportunity_id",
              "O1", "its row in opportunities was set aside")]
O2_STAGE = [("opportunity_stages", "line 4", "O2/discovery/2020-03-10 15:00:00", "opportunity_id",
             "O2", "its row in opportunities was set aside")]

Row = tuple[str, str, str, str, str | None, str]


@dataclass(frozen=True)
class Case:
    """One broken data set: ``edits`` replace text once per table, ``append`` adds lines,
    ``files`` replace whole files (``None`` removes one)."""

    name: str
    edits: dict[str, tuple[str, str]] = field(default_factory=dict)
    append: dict[str, str] = field(default_factory=dict)
    files: dict[str, str | bytes | None] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    error: str | None = None
    xfail: str | None = None


def q(table: str, line: int, key: str, column: str, value: str | None, reason: str) -> Row:
    return (table, f"line {line}", key, column, value, reason)


P3 = "rep-3,Cy Rep,sales,rep,us-east,America/New_York"
L4 = ("L4,2020-03-10T09:00:00-04:00,referral,mkt-1,rep-1,true,decision,demo_request,software,"
      "201-1000,it,cio,cloud,high,70,60,,,,,,,")
A4 = "A4,L1,rep-1,call,2020-03-04T10:00:00-05:00,connected"
O3 = "O3,L1,rep-1,2020-03-12T11:00:00-04:00,,100,,open"
F2 = "F2,marketing,sales,mkt-1,2020-03-05T09:00:00-05:00,rep-1,2020-03-05T10:00:00-05:00,leads"
M3 = "M3,leadership_weekly,2020-03-13T15:00:00-04:00,30,4"

CASES: list[Case] = [
    # --- people --------------------------------------------------------------------------
    Case("person-twice", append={"people": f"{P3}\n{P3}"},
         rows=[q("people", 5, "rep-3", "person_id", "rep-3", DUP),
               q("people", 6, "rep-3", "person_id", "rep-3", DUP)]),
    Case("person-team-unknown", append={"people": P3.replace(",sales,", ",finance,")},
         rows=[q("people", 5, "rep-3", "team", "finance",
                 "not one of: marketing, sales, executive")]),
    Case("person-without-id", append={"people": P3.replace("rep-3,", ",", 1)},
         rows=[q("people", 5, "", "person_id", None, MISSING)]),
    Case("person-without-name", append={"people": P3.replace("Cy Rep", "")},
         rows=[q("people", 5, "rep-3", "name", None, MISSING)]),
    Case("person-without-region", append={"people": P3.replace(",us-east,", ",,")},
         rows=[q("people", 5, "rep-3", "region", None, MISSING)]),
    # --- leads -----------------------------------------------------------------------------
    Case("lead-created-not-a-date", edits={"leads": ("L3,2020-03-09T12:00:00Z,", "L3,soon,")},
         rows=[q("leads", 4, "L3", "created_at", "soon", INSTANT)]),
    Case("lead-created-impossible-day",
         edits={"leads": ("L3,2020-03-09T12:00:00Z,", "L3,2020-02-30T12:00:00Z,")},
         rows=[q("leads", 4, "L3", "created_at", "2020-02-30T12:00:00Z", INSTANT)]),
    Case("lead-created-in-the-future",
         edits={"leads": ("L3,2020-03-09T12:00:00Z,", "L3,2031-03-09T12:00:00Z,")},
         rows=[q("leads", 4, "L3", "created_at", "2031-03-09 12:00:00", FUTURE)]),
    Case("lead-created-without-zone",
         edits={"leads": ("L3,2020-03-09T12:00:00Z,", "L3,2020-03-09T12:00:00,")},
         error="{folder}/leads.csv: leads.created_at: "
               + NAIVE + "  fix: write offsets (2026-10-01T09:00:00+00:00) or declare the zone with "
               "--data-zone America/New_York"),
    Case("lead-fit-score-negative", append={"leads": L4.replace(",70,60,", ",-70,60,")},
         rows=[q("leads", 5, "L4", "fit_score", "-70", "below the minimum 0")]),
    Case("lead-fit-score-fraction", append={"leads": L4.replace(",70,60,", ",49.5,60,")},
         rows=[q("leads", 5, "L4", "fit_score", "49.5", "not an integer")]),
    Case("lead-interest-score-words", append={"leads": L4.replace(",70,60,", ",70,high,")},
         rows=[q("leads", 5, "L4", "interest_score", "high", "not an integer")]),
    Case("lead-followup-maybe", append={"leads": L4.replace(",true,decision,", ",maybe,decision,")},
         rows=[q("leads", 5, "L4", "followup_requested", "maybe", "not true or false")]),
    Case("lead-journey-stage-unknown",
         append={"leads": L4.replace(",decision,", ",purchase,")},
         rows=[q("leads", 5, "L4", "journey_stage", "purchase",
                 "not one of: awareness, consideration, decision")]),
    Case("lead-owner-unknown", append={"leads": L4.replace(",rep-1,", ",rep-9,")},
         rows=[q("leads", 5, "L4", "owner_id", "rep-9", "not in people")]),
    Case("lead-marketer-unknown", append={"leads": L4.replace(",mkt-1,", ",mkt-9,")},
         rows=[q("leads", 5, "L4", "marketer_id", "mkt-9", "not in people")]),
    Case("lead-twice", append={"leads": f"{L4}\n{L4}"},
         rows=[q("leads", 5, "L4", "lead_id", "L4", DUP), q("leads", 6, "L4", "lead_id", "L4", DUP)]),
    Case("lead-without-id", append={"leads": L4.replace("L4,", ",", 1)},
         rows=[q("leads", 5, "", "lead_id", None, MISSING)]),
    Case("lead-without-source", append={"leads": L4.replace(",referral,", ",,")},
         rows=[q("leads", 5, "L4", "source", None, MISSING)]),
    Case("lead-mql-at-not-a-date", append={"leads": L4.replace(",70,60,,", ",70,60,yesterday,")},
         rows=[q("leads", 5, "L4", "mql_at", "yesterday", INSTANT)]),
    Case("lead-score-overflows-int64",
         append={"leads": L4.replace(",70,60,", ",99999999999999999999999,60,")},
         rows=[q("leads", 5, "L4", "fit_score", "99999999999999999999999", "not an integer")]),
    Case("lead-two-faults-in-one-row",
         append={"leads": L4.replace(",70,60,", ",-1,x,")},
         rows=[q("leads", 5, "L4", "fit_score", "-1", "below the minimum 0"),
               q("leads", 5, "L4", "interest_score", "x", "not an integer")]),
    Case("leads-missing-column",
         files={"leads": "\n".join(",".join(line.split(",")[:6] + line.split(",")[7:])
                                   for line in (BASE / "leads.csv").read_text().splitlines())},
         error="{folder}/leads.csv: leads: missing column(s) journey_stage\n"
               "  fix: add them; docs/data-contract.md lists every column and its type"),
    Case("leads-byte-order-mark", files={"leads": "\ufeff" + (BASE / "leads.csv").read_text()}),
    Case("leads-windows-line-ends",
         files={"leads": (BASE / "leads.csv").read_text().replace("\n", "\r\n")}),
    # --- activities -----------------------------------------------------------------------
    Case("activity-kind-fax", append={"activities": A4.replace(",call,", ",fax,")},
         rows=[q("activities", 5, "A4", "kind", "fax", "not one of: call, email, video, meeting")]),
    Case("activity-kind-empty", append={"activities": A4.replace(",call,", ",,")},
         rows=[q("activities", 5, "A4", "kind", None, MISSING)]),
    Case("activity-occurred-not-a-date",
         append={"activities": A4.replace("2020-03-04T10:00:00-05:00", "n/a")},
         rows=[q("activities", 5, "A4", "occurred_at", "n/a", INSTANT)]),
    Case("activity-occurred-hour-25",
         append={"activities": A4.replace("T10:00:00", "T25:00:00")},
         rows=[q("activities", 5, "A4", "occurred_at", "2020-03-04T25:00:00-05:00", INSTANT)]),
    Case("activity-in-the-future",
         append={"activities": A4.replace("2020-03-04", "2030-03-04")},
         rows=[q("activities", 5, "A4", "occurred_at", "2030-03-04 15:00:00", FUTURE)]),
    Case("activity-lead-unknown", append={"activities": A4.replace(",L1,", ",L9,")},
         rows=[q("activities", 5, "A4", "lead_id", "L9", "not in leads")]),
    Case("activity-rep-unknown", append={"activities": A4.replace(",rep-1,", ",rep-9,")},
         rows=[q("activities", 5, "A4", "rep_id", "rep-9", "not in people")]),
    Case("activity-without-rep", append={"activities": A4.replace(",rep-1,", ",,")},
         rows=[q("activities", 5, "A4", "rep_id", None, MISSING)]),
    Case("activity-twice", append={"activities": f"{A4}\n{A4}"},
         rows=[q("activities", 5, "A4", "activity_id", "A4", DUP),
               q("activities", 6, "A4", "activity_id", "A4", DUP)]),
    Case("activity-id-reused", append={"activities": A4.replace("A4,", "A1,", 1)},
         rows=[q("activities", 2, "A1", "activity_id", "A1", DUP),
               q("activities", 5, "A1", "activity_id", "A1", DUP)]),
    Case("activity-nul-byte-in-free-text",
         append={"activities": A4.replace(",connected", ",conn\x00ected")}),
    Case("activity-formula-in-free-text",
         append={"activities": A4.replace(",connected", ',"=HYPERLINK(""http://x"")"')}),
    Case("activity-date-without-zone",
         append={"activities": A4.replace("2020-03-04T10:00:00-05:00", "2020-03-04")},
         error="{folder}/activities.csv: activities.occurred_at: "
               + NAIVE + "  fix: write offsets (2026-10-01T09:00:00+00:00) or declare the zone with "
               "--data-zone America/New_York"),
    Case("activity-row-cut-short", append={"activities": "A4,L1,rep-1"},
         rows=[q("activities", 5, "A4", "kind", None, MISSING),
               q("activities", 5, "A4", "occurred_at", None, MISSING)]),
    # --- opportunities --------------------------------------------------------------------
    Case("opportunity-amount-words", edits={"opportunities": ("12500.50", "lots")},
         rows=[q("opportunities", 2, "O1", "amount", "lots", "not a finite number"), *O1_STAGES]),
    Case("opportunity-amount-nan", edits={"opportunities": ("12500.50", "nan")},
         rows=[q("opportunities", 2, "O1", "amount", "nan", "not a finite number"), *O1_STAGES]),
    Case("opportunity-amount-overflows", edits={"opportunities": ("12500.50", "1e400")},
         rows=[q("opportunities", 2, "O1", "amount", "1e400", "not a finite number"),
               *O1_STAGES]),
    Case("opportunity-amount-negative", append={"opportunities": O3.replace(",100,", ",-100,")},
         rows=[q("opportunities", 4, "O3", "amount", "-100", "below the minimum 0")]),
    Case("opportunity-status-unknown", append={"opportunities": O3.replace(",open", ",pending")},
         rows=[q("opportunities", 4, "O3", "status", "pending", "not one of: open, won, lost")]),
    Case("opportunity-closed-not-a-date",
         append={"opportunities": O3.replace(",100,,", ",100,never,")},
         rows=[q("opportunities", 4, "O3", "closed_at", "never", INSTANT)]),
    Case("opportunity-lead-unknown", append={"opportunities": O3.replace(",L1,", ",L9,")},
         rows=[q("opportunities", 4, "O3", "lead_id", "L9", "not in leads")]),
    Case("opportunity-rep-unknown", append={"opportunities": O3.replace(",rep-1,", ",rep-9,")},
         rows=[q("opportunities", 4, "O3", "rep_id", "rep-9", "not in people")]),
    Case("opportunity-without-created",
         append={"opportunities": O3.replace("2020-03-12T11:00:00-04:00", "")},
         rows=[q("opportunities", 4, "O3", "created_at", None, MISSING)]),
    Case("opportunity-id-reused", append={"opportunities": O3.replace("O3,", "O2,", 1)},
         rows=[q("opportunities", 3, "O2", "opportunity_id", "O2", DUP),
               q("opportunities", 4, "O2", "opportunity_id", "O2", DUP), *O2_STAGE]),
    # --- opportunity stages ---------------------------------------------------------------
    Case("stage-before-its-opportunity",
         edits={"opportunity_stages": ("O1,discovery,2020-03-04T11:00:00-05:00",
                                       "O1,discovery,2020-03-04T10:00:00-05:00")},
         rows=[q("opportunity_stages", 2, "O1/discovery/2020-03-04 15:00:00", "entered_at",
                 "2020-03-04 15:00:00", "before its opportunity's created_at")]),
    Case("stage-of-unknown-opportunity",
         append={"opportunity_stages": "O9,discovery,2020-03-20T11:00:00-04:00"},
         rows=[q("opportunity_stages", 5, "O9/discovery/2020-03-20 15:00:00", "opportunity_id",
                 "O9", "not in opportunities")]),
    Case("stage-twice", append={"opportunity_stages": "O1,proposal,2020-03-05T16:00:00Z"},
         rows=[q("opportunity_stages", 3, "O1/proposal/2020-03-05 16:00:00",
                 "opportunity_id,stage,entered_at", "O1/proposal/2020-03-05 16:00:00", DUP),
               q("opportunity_stages", 5, "O1/proposal/2020-03-05 16:00:00",
                 "opportunity_id,stage,entered_at", "O1/proposal/2020-03-05 16:00:00", DUP)]),
    Case("stage-entered-not-a-date", append={"opportunity_stages": "O1,negotiation,next week"},
         rows=[q("opportunity_stages", 5, "O1/negotiation/", "entered_at", "next week",
                 INSTANT)]),
    Case("stage-without-name",
         append={"opportunity_stages": "O1,,2020-03-06T11:00:00-05:00"},
         rows=[q("opportunity_stages", 5, "O1//2020-03-06 16:00:00", "stage", None, MISSING)]),
    # --- feedback -------------------------------------------------------------------------
    Case("feedback-from-unknown-team", append={"feedback": F2.replace(",marketing,", ",finance,")},
         rows=[q("feedback", 3, "F2", "from_team", "finance", "not one of: marketing, sales")]),
    Case("feedback-to-unknown-team", append={"feedback": F2.replace(",sales,", ",legal,")},
         rows=[q("feedback", 3, "F2", "to_team", "legal", "not one of: marketing, sales")]),
    Case("feedback-requested-not-a-date",
         append={"feedback": F2.replace("2020-03-05T09:00:00-05:00", "tbd")},
         rows=[q("feedback", 3, "F2", "requested_at", "tbd", INSTANT)]),
    Case("feedback-responded-not-a-date",
         append={"feedback": F2.replace("2020-03-05T10:00:00-05:00", "tbd")},
         rows=[q("feedback", 3, "F2", "responded_at", "tbd", INSTANT)]),
    Case("feedback-id-reused", append={"feedback": F2.replace("F2,", "F1,", 1)},
         rows=[q("feedback", 2, "F1", "feedback_id", "F1", DUP),
               q("feedback", 3, "F1", "feedback_id", "F1", DUP)]),
    # --- meetings -------------------------------------------------------------------------
    Case("meeting-duration-words", append={"meetings": M3.replace(",30,", ",thirty,")},
         rows=[q("meetings", 4, "M3", "duration_minutes", "thirty", "not an integer")]),
    Case("meeting-attendees-negative", append={"meetings": M3.replace(",4", ",-4")},
         rows=[q("meetings", 4, "M3", "attendees", "-4", "below the minimum 0")]),
    Case("meeting-started-not-a-date",
         append={"meetings": M3.replace("2020-03-13T15:00:00-04:00", "friday")},
         rows=[q("meetings", 4, "M3", "started_at", "friday", INSTANT)]),
    Case("meeting-row-cut-short", append={"meetings": "M3,leadership_weekly"},
         rows=[q("meetings", 4, "M3", "attendees", None, MISSING),
               q("meetings", 4, "M3", "duration_minutes", None, MISSING),
               q("meetings", 4, "M3", "started_at", None, MISSING)]),
    Case("meeting-id-reused", append={"meetings": M3.replace("M3,", "M1,", 1)},
         rows=[q("meetings", 2, "M1", "meeting_id", "M1", DUP),
               q("meetings", 4, "M1", "meeting_id", "M1", DUP)]),
    Case("meetings-header-only",
         files={"meetings": "meeting_id,kind,started_at,duration_minutes,attendees\n"}),
    Case("meetings-file-empty", files={"meetings": ""},
         error="{folder}/meetings.csv: meetings: missing column(s) meeting_id, kind, "
               "started_at, duration_minutes, attendees\n"
               "  fix: add them; docs/data-contract.md lists every column and its type"),
    Case("meetings-file-missing", files={"meetings": None},
         error="{folder}: meetings: no meetings.csv or meetings.parquet (found: activities.csv, "
               "feedback.csv, leads.csv, opportunities.csv, opportunity_stages.csv, "
               "people.csv, web_traffic.csv)\n"
               "  fix: add meetings.csv or meetings.parquet; see docs/data-contract.md"),
    # --- web traffic (optional) -----------------------------------------------------------
    Case("web-traffic-visitors-negative", append={"web_traffic": "2020-03-04,-5"},
         rows=[q("web_traffic", 4, "2020-03-04", "visitors", "-5", "below the minimum 0")]),
    Case("web-traffic-day-twice", append={"web_traffic": "2020-03-03,700"},
         rows=[q("web_traffic", 3, "2020-03-03", "day", "2020-03-03", DUP),
               q("web_traffic", 4, "2020-03-03", "day", "2020-03-03", DUP)]),
]


def write(folder: Path, case: Case) -> Path:
    folder.mkdir(parents=True)
    for base in sorted(BASE.glob("*.csv")):
        name = base.stem
        if name in case.files:
            content = case.files[name]
            if content is None:
                continue
            if isinstance(content, bytes):
                (folder / base.name).write_bytes(content)
            else:
                (folder / base.name).write_text(content, encoding="utf-8", newline="")
            continue
        text = base.read_text(encoding="utf-8")
        if name in case.edits:
            old, new = case.edits[name]
            assert text.count(old) == 1, (case.name, old)
            text = text.replace(old, new)
        if name in case.append:
            text += case.append[name] + "\n"
        (folder / base.name).write_text(text, encoding="utf-8", newline="")
    return folder


def data_lines(path: Path) -> int:
    """Rows in a CSV file, counted with Python's csv module (not the loader's reader)."""
    text = path.read_text(encoding="utf-8-sig")
    return max(0, sum(1 for row in csv.reader(io.StringIO(text)) if row) - 1)


def test_the_corpus_is_large() -> None:
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=c.xfail))
             if c.xfail else c for c in CASES], ids=[c.name for c in CASES])
def test_broken_data_is_set_aside_or_refused_exactly(case: Case, tmp_path: Path) -> None:
    folder = write(tmp_path / "data", case)
    source = DataSource.from_arg(folder)
    if case.error is not None:
        with pytest.raises(DataSourceError) as err:
            Engine.from_source(source, not_after=NOW)
        assert str(err.value) == case.error.format(folder=folder)
        return
    engine = Engine.from_source(source, not_after=NOW)
    out = engine.write_quarantine(tmp_path)
    got = pd.read_parquet(out["quarantine.parquet"])
    rows = [(r.table, r.location, r.key, r.column, None if pd.isna(r.value) else r.value,
             r.reason) for r in got.itertuples(index=False)]
    assert rows == sorted(case.rows, key=lambda r: (r[0], int(r[1].split()[1]), r[3]))
    for name, counts in engine.load.tables.items():
        file = folder / f"{name}.csv"
        set_aside = len({r.row for r in got.itertuples(index=False) if r.table == name})
        assert counts.read == counts.used + counts.quarantined, name
        assert counts.quarantined == set_aside, name
        if file.exists():
            assert counts.read == data_lines(file), name
