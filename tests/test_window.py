"""An audit reads the event tables from its period's window, with the same verdicts.

Activities, stage entries, feedback, meetings and web traffic older than what the
enabled clauses look at are not read; a lead's or an opportunity's whole history is,
as soon as anything of it falls in the window. ``AuditRequest(read_all=True)`` reads
everything; both must give the same results and breaches, byte for byte.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from slapolicy.audit.run import AuditRequest, audit_document, audit_window
from slapolicy.demo import generate as demo
from slapolicy.engine.sources import WINDOWED
from slapolicy.policy.loader import load_policy, parse_policy
from slapolicy.policy.periods import Period
from tests.conftest import POLICY, policy_with
from tests.test_speed_to_lead import z

AS_OF = datetime(2020, 7, 15)


@pytest.fixture(scope="module")
def six_months(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tables = demo.generate(demo.DemoConfig(start="2020-01", months=6, leads_per_month=150))
    return demo.write_duckdb(tables, tmp_path_factory.mktemp("window") / "demo.duckdb")


def _audit(data: Path, period: str, out: Path, *, read_all: bool, doc=None):
    doc = doc or load_policy(POLICY)
    result = audit_document(doc, AuditRequest(POLICY, period, data, as_of=AS_OF, output=out,
                                              read_all=read_all), compiled=False)
    result.write(out)
    return result


def _verdicts(folder: Path) -> dict:
    """results.json without what says how much was read."""
    results = json.loads((folder / "results.json").read_text())
    results.pop("data", None)
    return results


@pytest.mark.parametrize("period", ["2020-03", "2020-06"])
def test_a_windowed_audit_gives_the_same_results_and_breaches_as_reading_everything(
        six_months: Path, tmp_path: Path, period: str) -> None:
    whole = _audit(six_months, period, tmp_path / "whole", read_all=True)
    part = _audit(six_months, period, tmp_path / "window", read_all=False)
    assert _verdicts(tmp_path / "window") == _verdicts(tmp_path / "whole")
    for name in ("breaches.csv", "breaches.parquet"):
        assert (tmp_path / "window" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    assert sum(c.breaches for c in whole.clauses) > 0  # something to compare
    # The window left rows out, and every row of the source is accounted for.
    tables, everything = part.data["tables"], whole.data["tables"]
    left_out = 0
    for name in WINDOWED:
        t = tables[name]
        assert t["read"] == t["used"] + t["quarantined"]
        assert t["read"] + t["not_read"] == everything[name]["read"], name
        assert t["read_from"] < f"{period}-01", name
        left_out += t["not_read"]
        assert "not_read" not in everything[name]
    for name in ("people", "leads", "opportunities"):  # always read whole
        assert tables[name] == everything[name]
    if period == "2020-06":
        assert tables["activities"]["not_read"] > tables["activities"]["read"] // 4
    assert left_out > 0
    # The audit page says so: a column of the rows not read, and from when.
    from slapolicy.report import render_report

    html = render_report(part, load_policy(POLICY)).html
    assert "<th>Older, not read</th>" in html
    first = min(tables[n]["read_from"] for n in WINDOWED)[:10]
    assert f"<p>Events before {first} (activities," in html
    assert f'<td class="num">{tables["activities"]["not_read"]:,}</td></tr>' in html


def test_the_window_starts_two_days_before_the_earliest_day_a_clause_looks_at() -> None:
    doc = load_policy(POLICY)
    clauses = [c for c in doc.policy.clauses if c.enabled]
    window = audit_window(doc, clauses, Period.parse("2020-06", "month"))
    assert window["activities"] == datetime(2020, 5, 30)
    assert window["web_traffic"] == datetime(2020, 5, 30)
    # The weekly meeting's first slot ending in June starts on Monday June 1st.
    assert window["meetings"] == datetime(2020, 5, 30)
    # A quarterly meeting's slot ending in June began on April 1st.
    text = POLICY.read_text().replace("        every: month\n", "        every: quarter\n")
    quarterly = parse_policy(text, source=str(POLICY), base_dir=POLICY.parent)
    window = audit_window(quarterly, [c for c in quarterly.policy.clauses if c.enabled],
                          Period.parse("2020-06", "month"))
    assert window["meetings"] == datetime(2020, 3, 30)
    assert window["activities"] == datetime(2020, 5, 30)


SPEED = """\
    - id: speed-to-lead
      kind: speed_to_lead
      title: First touch within one business hour
      owner: sales
      params: {within: 1h}
"""


def _tolerant(doc):
    """``doc`` allowing most rows to be set aside (this data is mostly broken rows)."""
    data = doc.policy.data.model_copy(update={"max_quarantined_share": 0.9})
    return dataclasses.replace(doc, policy=doc.policy.model_copy(update={"data": data}))


def test_history_of_a_lead_active_in_the_window_is_read_and_old_rows_are_left_out(
        make_dataset, tmp_path: Path) -> None:
    lead = {"mql_at": None, "notified_at": None}
    leads = [
        # Created long ago, notified in the period: its old touches are its history.
        {"lead_id": "L-old-active", "created_at": z("2019-01-10 10:00"),
         "mql_at": z("2020-03-02 15:00"), "notified_at": z("2020-03-02 15:00")},
        # Nothing since 2019: its activities are not read at all.
        {"lead_id": "L-old-quiet", "created_at": z("2019-02-01 10:00"), **lead},
        # Nothing of its own since 2019, but a touch in the window.
        {"lead_id": "L-old-touched", "created_at": z("2019-02-01 10:00"), **lead},
    ]
    act = {"rep_id": "rep-ny", "kind": "call", "outcome": "connected"}
    acts = [
        {"activity_id": "A1", "lead_id": "L-old-active", "occurred_at": z("2019-01-11 10:00")},
        {"activity_id": "A2", "lead_id": "L-old-active", "occurred_at": z("2020-03-02 15:30")},
        {"activity_id": "A3", "lead_id": "L-old-quiet", "occurred_at": z("2019-02-02 10:00")},
        {"activity_id": "A4", "lead_id": "L-old-quiet", "occurred_at": z("2019-02-03 10:00")},
        {"activity_id": "A5", "lead_id": "L-old-touched", "occurred_at": z("2019-02-02 10:00")},
        {"activity_id": "A6", "lead_id": "L-old-touched", "occurred_at": z("2020-03-05 10:00")},
        # One id twice, an old copy and one in the period: the key is ambiguous, both
        # copies are set aside as a whole read sets them aside.
        {"activity_id": "A7", "lead_id": "L-old-quiet", "occurred_at": z("2019-03-01 10:00")},
        {"activity_id": "A7", "lead_id": "L-old-active", "occurred_at": z("2020-03-03 10:00")},
        # An unknown lead with a touch in the window: its history is read, and set aside.
        {"activity_id": "A8", "lead_id": "L-nobody", "occurred_at": z("2019-05-01 10:00")},
        {"activity_id": "A9", "lead_id": "L-nobody", "occurred_at": z("2020-03-04 10:00")},
        # An instant that cannot be read is read, to be set aside.
        {"activity_id": "A10", "lead_id": "L-old-quiet", "occurred_at": None},
    ]
    data = make_dataset(leads=leads, activities=[{**act, **a} for a in acts])
    text = (data / "activities.csv").read_text().replace(',,"connected"', ',"last tuesday",'
                                                          '"connected"')
    (data / "activities.csv").write_text(text)
    doc = _tolerant(policy_with(SPEED))
    part = _audit(data, "2020-03", tmp_path / "window", read_all=False, doc=doc)
    whole = _audit(data, "2020-03", tmp_path / "whole", read_all=True, doc=doc)
    acts_read = part.data["tables"]["activities"]
    # Not read: A3, A4 and A7's old copy (L-old-quiet's; A10's instant is no event).
    assert acts_read == {"source": str(data / "activities.csv"), "read": 8, "used": 4,
                         "quarantined": 4, "read_from": "2020-02-28T00:00:00Z", "not_read": 3}
    assert whole.data["tables"]["activities"]["read"] == 11
    q = pq.read_table(tmp_path / "window" / "quarantine.parquet").to_pylist()
    assert sorted((r["key"], r["reason"]) for r in q) == [
        ("A10", "not an instant (ISO 8601)"),
        ("A7", "duplicate key (every row with it is set aside)"),
        ("A8", "not in leads"),
        ("A9", "not in leads"),
    ]
    # The rows used are A1, A2 (L-old-active's history), A5 and A6 (L-old-touched's).
    assert _verdicts(tmp_path / "window") == _verdicts(tmp_path / "whole")


def test_the_default_as_of_counts_rows_the_window_left_out(make_dataset, tmp_path) -> None:
    # The latest instant of the data is an old activity (the leads are older still):
    # the default as-of is the same whether or not the window reads it.
    leads = [{"lead_id": "L1", "created_at": z("2019-01-10 10:00"), "mql_at": None,
              "notified_at": None}]
    acts = [{"activity_id": "A1", "lead_id": "L1", "rep_id": "rep-ny", "kind": "call",
             "occurred_at": z("2019-12-01 12:00"), "outcome": "connected"}]
    data = make_dataset(leads=leads, activities=acts)
    doc = policy_with(SPEED)
    runs = [audit_document(doc, AuditRequest(POLICY, "2020-01", data, output=tmp_path / n,
                                             read_all=n == "whole"), compiled=False)
            for n in ("window", "whole")]
    assert runs[0].data["tables"]["activities"]["not_read"] == 1
    assert runs[0].as_of == runs[1].as_of == "2019-12-01T12:00:00Z"


LOOKBACK = """\
from slapolicy.clauses import ClauseKind, Params, register_clause
from slapolicy.clauses.base import CheckSpec, Threshold, reads_of


@register_clause
class {name}(ClauseKind):
    name = "{kind}"
    Params = Params

    def checks(self, clause, params):
        return [CheckSpec("x", "at_most", "days", "lead")]

    def threshold(self, policy, clause, params, check, period):
        return Threshold(1.0, basis="one day")

    def reads(self, clause, params):
        return reads_of(activities="lead_id occurred_at")

    def measure(self, ctx, clause, params):
        return {{}}
{since}
"""


@pytest.mark.parametrize("declares", [False, True])
def test_a_plugin_kind_gets_every_event_unless_it_says_how_far_back_it_looks(
        tmp_path: Path, declares: bool) -> None:
    kind = f"lookback_{'declared' if declares else 'silent'}"
    since = ("\n    def reads_since(self, policy, clause, params, period):\n"
             "        return period.start\n") if declares else ""
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / f"{kind}.py").write_text(
        LOOKBACK.format(name=kind.title().replace("_", ""), kind=kind, since=since))
    text = POLICY.read_text().replace(
        "  clauses:\n", f"  plugins: [plugins/{kind}.py]\n  clauses:\n    - id: lookback\n"
                        f"      kind: {kind}\n      title: Looks back\n      owner: sales\n", 1)
    doc = parse_policy(text, source=str(tmp_path / "p.yaml"), base_dir=tmp_path)
    window = audit_window(doc, [c for c in doc.policy.clauses if c.enabled],
                          Period.parse("2020-06", "month"))
    assert ("activities" in window) is declares
    assert window["web_traffic"] == datetime(2020, 5, 30)  # the built-ins' windows stand
