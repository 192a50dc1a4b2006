"""The review form's library: controls, what-if, replay and saving a proposal.

One published audit of March 2020 on the hand-made speed-to-lead data
(tests/test_speed_to_lead.py), under Company A's policy cut down to its speed-to-lead
clause, which is then the only shared goal and the pool's only requirement. Expected
figures are worked out by hand from that data:

- first touch in business hours: L01 0.75, L02 1.5, L03 1.0, L07 0.5, L11 0.0 (at
  London's opening), L12 126 (its only touch was before notification), L13 2.0 (no
  rep); L08 untouched for 14 h (open), L09 untouched for 0.5 h (open).
- within 1h: L02, L08, L12 (rep-ny) and L13 (no rep) breach, L09 pending: 4 of 8,
  compliance 0.5, fail; shared goals missed; ladder stage 1; no pool.
- within 2h: L08 and L12 breach (rep-ny): 2 of 8, compliance 0.75 < 0.90, fail.
- within 24h: L12 breaches; L08 (14 h, open) may still comply and is pending: 1 of 7,
  compliance 6/7 = 0.857: fail under fail_below 0.90, pass under mostly 0.80.
- funnel: 12 leads and 12 MQLs created in March, none accepted: MQL-to-SQL 0 % is
  below the 30 % review trigger.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from slapolicy.engine.contract import TABLES
from slapolicy.errors import PolicyError
from slapolicy.policy.versions import in_force_path
from slapolicy.review.controls import controls_of, plain_of
from slapolicy.review.proposal import apply_edits, bump, save_proposal
from slapolicy.review.session import ReviewSession
from tests.conftest import LEAD_DEFAULTS, PEOPLE, POLICY, ROOT, table
from tests.test_speed_to_lead import AS_OF, LEADS, TOUCHES, z

pytestmark = pytest.mark.slow  # one notebook run in the fixture
WITHIN = "speed-to-lead.params.within"
MOSTLY = "speed-to-lead.tolerance.mostly"
FAIL_BELOW = "speed-to-lead.tolerance.fail_below"


def speed_only_policy() -> str:
    """Company A's policy, from March 2020, with only its speed-to-lead clause."""
    text = POLICY.read_text()
    head, rest = text.split("  clauses:\n", 1)
    clauses = rest[: rest.index("    - id: contact-attempts")]
    tail = rest[rest.index("\n  rewards:"):]
    text = head + "  clauses:\n" + clauses.rstrip() + tail
    start = text.index("    items:\n", text.index("  goals:\n"))
    text = text[:start] + "    items: []" + text[text.index("\n  ramps:"):]
    text = re.sub(r"^  shared_goals: \[.*\]$", "  shared_goals: [speed-to-lead]", text, flags=re.M)
    text = re.sub(r"^(\s+)requires: \[.*\]$", r"\1requires: [speed-to-lead]", text, flags=re.M)
    return text.replace("effective_from: 2020-01-01", "effective_from: 2020-03-01")


def write_data(path: Path) -> Path:
    """The speed-to-lead tables as a DuckDB file (where the notebooks' defaults look)."""
    from slapolicy.demo.generate import write_duckdb

    leads = [{**LEAD_DEFAULTS, "lead_id": lid, "created_at": z(t), "mql_at": z(t),
              "notified_at": z(t), **extra} for lid, t, extra in LEADS]
    acts = [{"activity_id": f"A{i:02d}", "lead_id": lid, "rep_id": rep, "kind": "call",
             "occurred_at": z(t), "outcome": "connected"} for i, (lid, rep, t) in enumerate(TOUCHES)]
    rows = {"people": PEOPLE, "leads": leads, "activities": acts}
    return write_duckdb({name: table(name, rows.get(name, [])) for name in TABLES}, path)


@dataclass
class Workspace:
    root: Path
    policy: Path
    audits: Path
    data: Path


def make_workspace(base: Path) -> Workspace:
    from slapolicy.audit.run import AuditRequest
    from slapolicy.engine.suites import write_suite
    from slapolicy.policy.loader import load_policy
    from slapolicy.trail.notebook import execute_audit

    policies = base / "policies"
    (policies / "tests" / "company-a").mkdir(parents=True)
    policy = policies / "company-a.yaml"
    policy.write_text(speed_only_policy())
    shutil.copy(POLICY.parent / "tests" / "company-a" / "speed-to-lead.yaml",
                policies / "tests" / "company-a")
    write_suite(base / "expectations", load_policy(policy))
    data = write_data(base / "data" / "demo.duckdb")
    audits = base / "audits"
    (base / "notebooks").mkdir()
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):  # not a kernel's leftovers
        shutil.copy(notebook, base / "notebooks")
    # As the CLI runs it: the kernel starts in notebooks/, paths are the workspace's.
    execute_audit(AuditRequest(policy, "2020-03", data, as_of=AS_OF, audits=audits),
                  audits / "company-a" / "2020-03", base / "notebooks" / "audit.ipynb")
    return Workspace(base, policy, audits, data)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return make_workspace(tmp_path_factory.mktemp("review"))


@pytest.fixture
def ws(built: Workspace, tmp_path: Path) -> Workspace:
    """A private copy, so a saved proposal does not leak into other tests."""
    root = tmp_path / "ws"
    shutil.copytree(built.root, root)
    return Workspace(root, root / "policies" / "company-a.yaml", root / "audits",
                     root / "data" / "demo.duckdb")


# --- controls -----------------------------------------------------------------------------


def test_company_a_controls_have_kind_unit_bounds_and_owner() -> None:
    controls = {c.id: c for c in controls_of(plain_of(POLICY)[0])}
    within = controls[WITHIN]
    assert (within.kind, within.unit, within.value, within.group) == ("duration", "hours", 1.0,
                                                                     "sales")
    worked = controls["mql-worked.params.within"]
    assert (worked.unit, worked.value) == ("days", 7.0)
    assert (controls["rep-performance.params.conversion"].unit,
            controls["rep-performance.params.conversion"].value) == ("%", 7.0)
    money = controls["lead-value.params.monthly_target"]
    assert (money.kind, money.unit, money.value, money.group) == ("money", "USD", 550000.0,
                                                                  "marketing")
    assert controls[FAIL_BELOW].value == 90.0 and controls[MOSTLY].value == 95.0
    # rep-load states no tolerance: mostly defaults to 100 %, and there is no fail_below.
    assert controls["rep-load.tolerance.mostly"].value == 100.0
    assert "rep-load.tolerance.fail_below" not in controls
    point = controls["ramps.close-rate.points[1].on"]
    assert (point.kind, str(point.value), str(point.min), str(point.max)) == (
        "date", "2020-06-30", "2020-01-02", "2020-12-30")
    assert controls["ramps.revenue-run-rate.points[1].value"].group == "shared"
    assert controls["communication.feedback_within"].clauses == (
        "feedback-to-marketing", "feedback-to-sales")
    # What changes the measurement (scope, clock, activity kinds) is not a control.
    assert not any(c.endswith((".clock", ".kinds", ".touch_kinds", ".calendar",
                               ".exclude_sources")) for c in controls)
    groups = [c.group for c in controls_of(plain_of(POLICY)[0])]
    assert groups == sorted(groups, key=["marketing", "sales", "shared"].index)


def test_values_convert_to_what_the_policy_file_states() -> None:
    controls = {c.id: c for c in controls_of(plain_of(POLICY)[0])}
    assert controls[WITHIN].to_policy(1.5) == "90m"
    assert controls["mql-worked.params.within"].to_policy(10) == "10d"
    assert controls[MOSTLY].to_policy(92.5) == 0.925
    assert controls["rep-load.params.max"].to_policy(400) == 400
    with pytest.raises(PolicyError, match="is not a whole number"):
        controls["rep-load.params.max"].to_policy(400.5)
    with pytest.raises(PolicyError, match=r"101 % is outside 0 to 100"):
        controls[MOSTLY].to_policy(101)


def test_the_executed_notebook_names_no_folder_of_this_machine(built: Workspace) -> None:
    text = (built.audits / "company-a" / "2020-03" / "audit.ipynb").read_text()
    assert str(built.root) not in text and str(ROOT) not in text
    params = json.loads(text)["metadata"]["papermill"]["parameters"]
    assert params["policy"] == "policies/company-a.yaml" and params["data"] == "data/demo.duckdb"
    assert params["audits"] == "audits"


# --- the what-if --------------------------------------------------------------------------


def test_current_side_is_the_audit_as_recorded(ws: Workspace) -> None:
    session = ReviewSession(ws.policy, ws.audits)
    assert session.periods == ["2020-03"]
    cmp = session.compare()
    cur = cmp.current
    assert cur.clauses["speed-to-lead"]["breaches"] == 4
    assert cur.reps == {"rep-ny": 3, "(no rep)": 1} and cur.teams == {"sales": 4}
    assert (cur.status, cur.shared_goals, cur.ladder_stage, cur.reward_eligible) == (
        "fail", "missed", 1, False)
    assert cur.review_due and cur.review_reasons == ["MQL-to-SQL acceptance 0.0% is below 30%"]
    recorded = json.loads((ws.audits / "company-a" / "2020-03" / "results.json").read_text())
    assert recorded["summary"]["breaches"] == 4
    assert recorded["standing"]["ladder"]["stage"] == 1
    assert cmp.changed == set() and cmp.proposed == cur


def test_a_longer_window_changes_breaches_per_clause_team_and_rep(ws: Workspace) -> None:
    session = ReviewSession(ws.policy, ws.audits)
    cmp = session.set(WITHIN, 2)
    new = cmp.proposed
    assert new.clauses["speed-to-lead"]["breaches"] == 2
    assert new.clauses["speed-to-lead"]["threshold"] == 2.0
    assert new.clauses["speed-to-lead"]["compliance"] == 0.75
    assert new.reps == {"rep-ny": 2} and new.teams == {"sales": 2}
    assert new.status == "fail" and new.ladder_stage == 1
    assert cmp.changed == {"clause:speed-to-lead", "team:sales", "rep:rep-ny", "rep:(no rep)",
                           "breaches"}
    row = cmp.clause_rows()[0]
    assert (row["breaches"], row["proposed_breaches"], row["changed"]) == (4, 2, True)


def test_meeting_the_shared_goal_lowers_the_ladder_and_earns_the_pool(ws: Workspace) -> None:
    session = ReviewSession(ws.policy, ws.audits)
    fails = session.set(WITHIN, 24).proposed
    assert (fails.clauses["speed-to-lead"]["breaches"], fails.status) == (1, "fail")
    session.set(FAIL_BELOW, 70)
    cmp = session.set(MOSTLY, 80)
    assert session.proposal == {WITHIN: 24, FAIL_BELOW: 70, MOSTLY: 80}
    new = cmp.proposed
    assert (new.status, new.shared_goals, new.ladder_stage, new.reward_eligible) == (
        "pass", "met", 0, True)
    assert {"ladder_stage", "shared_goals", "reward_eligible", "status"} <= cmp.changed
    replay = session.replay()
    assert replay.ladder_path == [0] and replay.recorded_ladder_path == [1]
    assert replay.pool_months == ["2020-03"] and replay.recorded_pool_months == []


def test_a_review_trigger_level_changes_the_review_trigger(ws: Workspace) -> None:
    session = ReviewSession(ws.policy, ws.audits)
    cmp = session.set("review.triggers.mql_to_sql_rate_below", 0)
    assert cmp.current.review_due and not cmp.proposed.review_due
    assert "review_due" in cmp.changed


def test_a_value_the_policy_refuses_leaves_the_proposal_as_it_was(ws: Workspace) -> None:
    session = ReviewSession(ws.policy, ws.audits)
    session.set(WITHIN, 2)
    with pytest.raises(PolicyError, match="fail_below must not be above mostly"):
        session.set(FAIL_BELOW, 99)
    assert session.proposal == {WITHIN: 2}
    assert session.compare().proposed.clauses["speed-to-lead"]["breaches"] == 2


def test_setting_the_current_value_back_drops_it_from_the_proposal(ws: Workspace) -> None:
    session = ReviewSession(ws.policy, ws.audits)
    session.set(WITHIN, 2)
    assert session.set(WITHIN, 1).changed == set() and session.proposal == {}


# --- saving a proposal --------------------------------------------------------------------


def diff(a: Path, b: Path) -> list[str]:
    out = subprocess.run(["diff", str(a), str(b)], capture_output=True, text=True).stdout
    return [ln for ln in out.splitlines() if ln[:1] in "<>"]


def test_a_proposal_failing_the_policy_tests_is_not_written(ws: Workspace) -> None:
    # tests/company-a/speed-to-lead.yaml expects breaches at one hour.
    with pytest.raises(PolicyError, match="fails 1 of the policy's test cases"):
        save_proposal(ws.policy, {WITHIN: 24}, audits=ws.audits, proposed_by="sales-lead",
                      reason="longer window", effective_from="2020-04-01")
    assert sorted(p.name for p in ws.policy.parent.glob("*.yaml")) == ["company-a.yaml"]
    assert "policy_proposal" not in (ws.audits / "ledger.jsonl").read_text()


def test_saved_version_applies_from_its_date_and_the_ledger_records_it(ws: Workspace) -> None:
    session = ReviewSession(ws.policy, ws.audits)
    session.set(MOSTLY, 97)
    before = ws.policy.read_bytes()
    signed = sorted((p.name, p.read_bytes()) for p in (ws.audits / "company-a").rglob("*")
                    if p.is_file())
    saved = session.save(proposed_by="mkt-lead", reason="a realistic share",
                         effective_from="2020-04-01")
    assert saved.path.name == "company-a.v2020.2.yaml" and saved.tests_passed == 1
    assert diff(ws.policy, saved.path) == [
        '<   version: "2020.1"', '>   version: "2020.2"',
        ">   version_from: 2020-04-01",
        "<       tolerance: {mostly: 0.95, fail_below: 0.90}",
        ">       tolerance: {mostly: 0.97, fail_below: 0.90}"]
    assert ws.policy.read_bytes() == before
    assert signed == sorted((p.name, p.read_bytes()) for p in (ws.audits / "company-a").rglob("*")
                            if p.is_file())
    assert (ws.root / "expectations" / "company-a.v2020.2.json").is_file()
    entry = json.loads((ws.audits / "ledger.jsonl").read_text().splitlines()[-1])
    assert (entry["type"], entry["proposed_by"], entry["reason"], entry["version"],
            entry["effective_from"]) == ("policy_proposal", "mkt-lead", "a realistic share",
                                         "2020.2", "2020-04-01")
    assert entry["changes"] == [{"control": MOSTLY, "path": "policy.clauses[0].tolerance.mostly",
                                 "unit": "%", "old": 95.0, "new": 97, "old_in_file": 0.95,
                                 "new_in_file": 0.97}]
    assert entry["based_on"]["version"] == "2020.1"
    assert in_force_path(ws.policy, "2020-03") == ws.policy
    assert in_force_path(ws.policy, "2020-04") == saved.path
    verify = subprocess.run([sys.executable, "-m", "slapolicy.cli.main", "verify", "--all",
                             "--audits", str(ws.audits)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # March keeps the version in force for it; the next proposal amends 2020.2.
    again = ReviewSession(ws.policy, ws.audits)
    assert again.base.doc.version == "2020.2" and again.controls[MOSTLY].value == 97.0
    cmp = again.compare("2020-03")
    assert cmp.current.clauses["speed-to-lead"]["breaches"] == 4
    assert cmp.current.status == "fail" and cmp.changed == set()


def test_a_period_after_the_new_version_is_audited_under_it(ws: Workspace) -> None:
    from slapolicy.trail.scheduler import run_audit

    saved = save_proposal(ws.policy, {MOSTLY: 97}, audits=ws.audits, proposed_by="mkt-lead",
                          reason="r", effective_from="2020-04-01")
    out, _ = run_audit(ws.policy, "2020-04", ws.data, audits=ws.audits,
                       notebook=ROOT / "notebooks" / "audit.ipynb", cwd=ROOT,
                       as_of=AS_OF.replace(month=4, day=30))
    results = json.loads(out.results.read_text())
    assert results["policy"]["version"] == "2020.2"
    assert results["policy"]["content_hash"] == saved.doc.content_hash
    manifest = json.loads((out.folder / "manifest.json").read_text())
    assert manifest["parameters"]["policy"].endswith("company-a.v2020.2.yaml")
    march = json.loads((ws.audits / "company-a" / "2020-03" / "results.json").read_text())
    assert march["policy"]["version"] == "2020.1"


def test_refusals_say_why(ws: Workspace) -> None:
    kwargs = dict(audits=ws.audits, proposed_by="mkt-lead", reason="r")
    with pytest.raises(PolicyError, match="is not the first day of a month"):
        save_proposal(ws.policy, {MOSTLY: 97}, effective_from="2020-04-15", **kwargs)
    with pytest.raises(PolicyError, match="is not after 2020-03-01"):
        save_proposal(ws.policy, {MOSTLY: 97}, effective_from="2020-03-01", **kwargs)
    with pytest.raises(PolicyError, match="the proposal changes nothing"):
        save_proposal(ws.policy, {}, effective_from="2020-04-01", **kwargs)
    with pytest.raises(PolicyError, match="no control nope"):
        save_proposal(ws.policy, {"nope": 1}, effective_from="2020-04-01", **kwargs)


# --- Company A's own file -----------------------------------------------------------------


def test_company_a_proposal_changes_only_the_intended_values(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICY.parent, policies)
    policy = policies / "company-a.yaml"
    values = {"rep-load.params.max": 400, "lead-value.params.monthly_target": 600_000,
              "marketer-quota.tolerance.mostly": 90, "mql-worked.params.within": 10,
              "ramps.revenue-run-rate.points[1].value": 1_200_000,
              "ramps.close-rate.points[1].on": "2020-07-31"}
    saved = save_proposal(policy, values, audits=tmp_path / "audits", proposed_by="ceo",
                          reason="annual review", effective_from="2020-07-01")
    assert diff(policy, saved.path) == [
        '<   version: "2020.1"', '>   version: "2020.2"',
        ">   version_from: 2020-07-01",
        "<         - {on: 2020-06-01, value: 1_250_000}",
        ">         - {on: 2020-06-01, value: 1_200_000}",
        "<         - {on: 2020-06-30, value: 0.35}", ">         - {on: 2020-07-31, value: 0.35}",
        "<         within: 7d", ">         within: 10d",
        "<         max: 350", ">         max: 400",
        ">       tolerance: {mostly: 0.9}",
        "<         monthly_target: 550_000", ">         monthly_target: 600_000"]
    p = saved.doc.policy
    assert p.clause("marketer-quota").tolerance.mostly == 0.9
    assert saved.doc.params_for("rep-load").max == 400  # type: ignore[attr-defined]
    assert p.ramps["close-rate"].points[1].on.isoformat() == "2020-07-31"
    verify = subprocess.run([sys.executable, "-m", "slapolicy.cli.main", "verify", "--all",
                             "--audits", str(tmp_path / "audits")], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_edits_keep_comments_and_add_missing_keys_in_the_mapping_style() -> None:
    text = ("policy:\n  a: 1  # one\n  m: {x: 1}\n  b:\n    c: 'q'\n"
            "  list:\n    - id: k\n      owner: me\n      n: 2\n")
    out = apply_edits(text, {("a",): 5, ("m", "y"): 2, ("b", "c"): "z",
                             ("list", 0, "tolerance", "mostly"): 0.5})
    assert out == ("policy:\n  a: 5  # one\n  m: {y: 2, x: 1}\n  b:\n    c: 'z'\n"
                   "  list:\n    - id: k\n      owner: me\n      tolerance: {mostly: 0.5}\n"
                   "      n: 2\n")
    assert bump("2020.1") == "2020.2" and bump("v9") == "v10"


# --- the analyst's notebook helpers -------------------------------------------------------


def test_author_helpers_show_facts_judge_drafts_and_run_the_tests(ws: Workspace) -> None:
    from slapolicy.review import author

    audit = ws.audits / "company-a" / "2020-03"
    doc = ReviewSession(ws.policy, ws.audits).base.doc
    facts = author.clause_facts(audit, doc, "speed-to-lead")
    states = facts.frame.set_index("subject_id")["state"].to_dict()
    assert states == {"L12": "breach", "L08": "breach", "L13": "breach", "L02": "breach",
                      "L03": "compliant", "L01": "compliant", "L09": "pending",
                      "L07": "compliant", "L11": "compliant"}
    assert list(facts.frame["subject_id"][:2]) == ["L12", "L08"]  # worst first
    assert "threshold 1 business hours" in author.facts_chart(facts)

    changed = author.draft_policy(ws.policy, replace={"        within: 1h\n": "        within: 2h\n"})
    result = author.judge_draft(changed, "speed-to-lead", "2020-03", audit=audit)
    assert (result.breaches, result.subjects, result.threshold) == (2, 8, 2.0)
    new = author.draft_policy(ws.policy, add_clauses=(
        "    - id: speed-2h\n      kind: speed_to_lead\n      title: two hours\n"
        "      owner: sales\n      params: {within: 2h}\n"))
    measured = author.judge_draft(new, "speed-2h", "2020-03", audit=audit, data=ws.data)
    assert (measured.breaches, measured.subjects) == (2, 8)
    looser = author.draft_policy(ws.policy, replace={"        within: 1h\n": "        within: 24h\n"})
    (case,) = author.run_policy_tests(looser)
    assert not case.passed and case.path.name == "speed-to-lead.yaml"
    with pytest.raises(PolicyError, match="occurs 0 times"):
        author.draft_policy(ws.policy, replace={"no such text": "x"})


def test_the_form_shows_changes_refusals_and_saves(ws: Workspace) -> None:
    from slapolicy.review.form import ReviewForm

    form = ReviewForm(ws.policy, ws.audits)
    form.inputs[WITHIN].value = 2
    assert '<span class="whatif-breaches changed">2</span>' in form.result.value
    assert '<td class="whatif-breaches-current">4</td>' in form.result.value
    form.inputs[FAIL_BELOW].value = 99  # above mostly (95 %): refused, put back
    assert "fail_below must not be above mostly" in form.message.value
    assert form.inputs[FAIL_BELOW].value == 90 and form.session.proposal == {WITHIN: 2}
    form.inputs[WITHIN].value = 1
    form.inputs[MOSTLY].value = 97
    form.when.value = "2020-04-01"
    form.view.children[-1].click()  # Save proposal, without who or why
    assert "Not saved: " in form.message.value
    assert "a proposal needs who proposes it and why" in form.message.value
    form.by.value, form.why.value = "mkt-lead", "stricter"
    form.view.children[-1].click()
    assert "Saved company-a.v2020.2.yaml (version 2020.2, from 2020-04-01)" in form.message.value


def test_the_author_notebook_runs_in_the_workspace(ws: Workspace) -> None:
    import papermill as pm

    out = ws.root / "author.out.ipynb"
    pm.execute_notebook(str(ws.root / "notebooks" / "author.ipynb"), str(out),
                        cwd=str(ws.root / "notebooks"), kernel_name="python3",
                        progress_bar=False)
    nb = json.loads(out.read_text())
    text = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    # Hand-computed: two breaches of eight judged at two hours (see the module's docstring).
    assert "changed speed-to-lead: fail, 2 breaches of 8 judged, threshold 2.0" in text
    assert "current PASS speed-to-lead.yaml" in text
    assert "draft FAIL speed-to-lead.yaml" in text
    assert str(ws.root) not in text
    assert any("image/svg+xml" in json.dumps(o) or "<svg" in json.dumps(o)
               for c in nb["cells"] for o in c.get("outputs", []))


def test_run_due_audits_each_period_under_its_version(ws: Workspace) -> None:
    from datetime import datetime

    from slapolicy.trail.scheduler import run_due

    saved = save_proposal(ws.policy, {MOSTLY: 97}, audits=ws.audits, proposed_by="mkt-lead",
                          reason="r", effective_from="2020-04-01")
    report = run_due(ws.policy, ws.data, audits=ws.audits,
                     notebook=ws.root / "notebooks" / "audit.ipynb",
                     until="2020-04", now=datetime(2020, 5, 2))
    (run,) = report.runs
    assert report.due == ["2020-04"] and run.error is None and run.code in (0, 1)
    april = json.loads((ws.audits / "company-a" / "2020-04" / "results.json").read_text())
    assert april["policy"]["version"] == "2020.2"
    assert april["policy"]["content_hash"] == saved.doc.content_hash
