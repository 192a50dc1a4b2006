"""CRM export mappings (HubSpot, Salesforce) to the data contract, and their errors."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from slapolicy.engine.contract import TABLES
from slapolicy.engine.mappings import (
    SHIPPED_DIR,
    Mapping,
    load_mapping,
    mapped_relations,
    parse_mapping,
    shipped_mappings,
)
from slapolicy.errors import DataSourceError, PolicyError
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures"
HUBSPOT_YAML = SHIPPED_DIR / "hubspot.yaml"
SALESFORCE_YAML = SHIPPED_DIR / "salesforce.yaml"
CRM_TABLES = ["people", "leads", "activities", "opportunities", "opportunity_stages"]


def rows(folder: Path, mapping: Mapping) -> dict[str, list[dict[str, Any]]]:
    """Every mapped table's rows as dicts, read through a fresh DuckDB connection."""
    con = duckdb.connect()
    out: dict[str, list[dict[str, Any]]] = {}
    for table, (relation, _where) in mapped_relations(con, folder, mapping).items():
        result = con.execute(f"SELECT * FROM {relation}")
        names = [d[0] for d in result.description or []]
        out[table] = [dict(zip(names, r, strict=True)) for r in result.fetchall()]
    return out


def by(table: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {r[key]: r for r in table}


def line_of(path: Path, *steps: str) -> int:
    """1-based line of the first line starting with each of ``steps`` in turn (stripped)."""
    lines = path.read_text().splitlines()
    i = 0
    for step in steps:
        while not lines[i].strip().startswith(step):
            i += 1
    return i + 1


def copy_export(name: str, dest: Path, *, drop_file: str | None = None,
                drop_columns: dict[str, list[str]] | None = None) -> Path:
    shutil.copytree(FIXTURES / name, dest)
    if drop_file:
        (dest / drop_file).unlink()
    for file, columns in (drop_columns or {}).items():
        with (dest / file).open(newline="") as f:
            table = list(csv.reader(f))
        keep = [i for i, h in enumerate(table[0]) if h not in columns]
        with (dest / file).open("w", newline="") as f:
            csv.writer(f).writerows([[r[i] for i in keep] for r in table])
    return dest


# --- the shipped mappings -------------------------------------------------------------------


def test_the_shipped_mappings_are_package_data() -> None:
    assert shipped_mappings() == ["hubspot", "salesforce"]
    assert '"mappings/*.yaml"' in (ROOT / "pyproject.toml").read_text()


@pytest.mark.parametrize("name", ["hubspot", "salesforce"])
def test_each_shipped_mapping_gives_exactly_the_contract_columns(name: str) -> None:
    con = duckdb.connect()
    relations = mapped_relations(con, FIXTURES / name, load_mapping(name))
    assert list(relations) == CRM_TABLES
    for table, (relation, where) in relations.items():
        result = con.execute(f"SELECT * FROM {relation}")
        assert [d[0] for d in result.description or []] == TABLES[table].column_names, table
        assert {d[1] for d in result.description or []} == {"VARCHAR"}
        assert result.fetchall(), f"{table} is empty"
        assert where.endswith(f" (mapping {name})")
        assert str(FIXTURES / name) in where


def test_hubspot_values_come_out_as_computed_by_hand() -> None:
    got = rows(FIXTURES / "hubspot", load_mapping("hubspot"))

    people = by(got["people"], "person_id")
    assert people["101"] == {"person_id": "101", "name": "Ann Rep", "team": "sales",
                                  "role": "rep", "region": "UTC", "time_zone": "UTC",
                                  "manager_id": None}
    assert people["102"]["name"] == "Bob"                       # no last name
    assert (people["201"]["team"], people["201"]["role"]) == ("marketing", "marketer")
    assert people["301"]["name"] == "erin.exec@example.com"     # no name at all: the email
    assert (people["301"]["team"], people["301"]["role"]) == ("executive", "executive")

    leads = by(got["leads"], "lead_id")
    ada = leads["501"]
    assert ada["created_at"] == "2020-03-02T14:00:00.000Z"      # became a lead, not createdate
    assert ada["mql_at"] == "2020-03-02T14:30:00.000Z"
    assert ada["notified_at"] == "2020-03-02T14:35:00.000Z"     # owner assigned
    assert ada["sql_at"] == "2020-03-03T15:00:00.000Z"
    assert (ada["source"], ada["owner_id"], ada["journey_stage"]) == ("referrals", "101",
                                                                       "decision")
    assert (ada["fit_score"], ada["interest_score"], ada["followup_requested"]) == ("42", "0",
                                                                                    "true")
    assert (ada["conversion"], ada["company_size"], ada["job_title"]) == ("Demo request",
                                                                          "100-500", "CIO")
    assert ada["marketer_id"] is None and ada["returned_at"] is None
    sub = leads["502"]                                          # a bare subscriber: nulls
    assert sub["created_at"] == "2020-03-05T16:00:00.000Z"      # no lead date: createdate
    assert (sub["source"], sub["journey_stage"], sub["fit_score"]) == ("unknown", "awareness",
                                                                       "0")
    assert sub["mql_at"] is None and sub["owner_id"] is None and sub["notified_at"] is None
    assert leads["503"]["return_reason"] == "unqualified"
    assert leads["503"]["sql_at"] is None

    acts = by(got["activities"], "activity_id")
    # Unowned (9003), contact-less (9004) and incoming (9102) engagements are not touches.
    # A call with two contacts (9002) touched both: one activity each.
    assert sorted(acts) == ["9001/501", "9002/503", "9002/504", "9101/501", "9103/503",
                            "9201/501", "9202/504"]
    assert acts["9001/501"] == {"activity_id": "9001/501", "lead_id": "501", "rep_id": "101",
                                "kind": "call", "occurred_at": "2020-03-02T14:40:00.000Z",
                                "outcome": "connected"}
    assert (acts["9002/503"]["lead_id"], acts["9002/503"]["outcome"]) == ("503", "no_answer")
    assert (acts["9002/504"]["lead_id"], acts["9002/504"]["occurred_at"]) == (
        "504", "2020-03-10T09:30:00.000Z")
    assert (acts["9103/503"]["kind"], acts["9103/503"]["outcome"]) == ("email", "bounced")
    assert (acts["9201/501"]["kind"], acts["9201/501"]["outcome"]) == ("meeting", "completed")
    assert acts["9202/504"]["outcome"] is None

    opps = by(got["opportunities"], "opportunity_id")
    assert sorted(opps) == ["7001", "7002", "7003"]             # 7004 has no contact
    assert opps["7001"] == {
        "opportunity_id": "7001", "lead_id": "501", "rep_id": "101",
        "created_at": "2020-03-04T11:00:00.000Z",
        "proposal_submitted_at": "2020-03-12T10:00:00.000Z", "amount": "12500.50",
        "closed_at": "2020-03-20T17:00:00.000Z", "status": "won"}
    assert (opps["7002"]["status"], opps["7002"]["amount"],
            opps["7002"]["closed_at"]) == ("lost", "0", "2020-03-25T12:00:00.000Z")
    assert (opps["7003"]["status"], opps["7003"]["closed_at"]) == ("open", None)

    stages = sorted((r["opportunity_id"], r["entered_at"], r["stage"])
                    for r in got["opportunity_stages"])
    assert stages == [
        ("7001", "2020-03-04T11:00:00.000Z", "appointmentscheduled"),
        ("7001", "2020-03-06T10:00:00.000Z", "qualifiedtobuy"),
        ("7001", "2020-03-12T10:00:00.000Z", "contractsent"),
        ("7001", "2020-03-20T17:00:00.000Z", "closedwon"),
        ("7002", "2020-03-11T09:00:00.000Z", "appointmentscheduled"),
        ("7002", "2020-03-25T12:00:00.000Z", "closedlost"),
        ("7003", "2020-03-13T16:00:00.000Z", "appointmentscheduled"),
    ]


L1, L2, L3, L4, L5 = (f"00Q00000000000{i}AAA" for i in range(1, 6))
ANN = "005000000000001AAA"
O1, O2 = "006000000000001AAA", "006000000000002AAA"


def test_salesforce_values_come_out_as_computed_by_hand() -> None:
    got = rows(FIXTURES / "salesforce", load_mapping("salesforce"))

    people = by(got["people"], "person_id")
    assert people[ANN] == {"person_id": ANN, "name": "Ann Rep", "team": "sales", "role": "rep",
                           "region": "America/New_York", "time_zone": "America/New_York",
                           "manager_id": None}
    assert people["005000000000002AAA"]["team"] == "marketing"
    assert people["005000000000003AAA"]["role"] == "executive"
    assert people["005000000000004AAA"]["team"] == "sales"      # no department

    leads = by(got["leads"], "lead_id")
    assert leads[L1]["created_at"] == leads[L1]["mql_at"] == "2020-03-02T14:00:00.000Z"
    assert leads[L1]["notified_at"] == "2020-03-02T14:00:00.000Z"
    assert leads[L1]["sql_at"] == "2020-03-05T16:00:00.000Z"    # converted opportunity created
    assert leads[L5]["sql_at"] == "2020-03-09"                  # converted, no opportunity
    assert (leads[L1]["source"], leads[L1]["company_size"], leads[L1]["job_title"]) == (
        "Web", "250", "CIO")
    queued = leads[L2]                                          # owned by a queue
    assert (queued["owner_id"], queued["notified_at"], queued["source"]) == (None, None,
                                                                             "unknown")
    assert leads[L4]["return_reason"] == "Closed - Not Converted"
    assert leads[L4]["sql_at"] is None

    acts = by(got["activities"], "activity_id")
    # Not started (T3) and a contact that was never a lead (T4) are left out.
    assert sorted(acts) == ["00T000000000001AAA", "00T000000000002AAA", "00T000000000005AAA",
                            "00U000000000001AAA", "00U000000000002AAA"]
    assert acts["00T000000000001AAA"] == {
        "activity_id": "00T000000000001AAA", "lead_id": L1, "rep_id": ANN, "kind": "call",
        "occurred_at": "2020-03-02T14:25:00.000Z", "outcome": "Connected"}
    email = acts["00T000000000002AAA"]                          # logged on the converted contact
    assert (email["lead_id"], email["kind"], email["occurred_at"]) == (
        L1, "email", "2020-03-06T09:00:00.000Z")
    assert acts["00T000000000005AAA"]["kind"] == "call"         # a Task of Type Call
    demo = acts["00U000000000001AAA"]
    assert (demo["lead_id"], demo["kind"], demo["occurred_at"]) == (
        L3, "meeting", "2020-03-07T15:00:00.000Z")
    assert acts["00U000000000002AAA"]["occurred_at"] == "2020-03-08"   # all-day event

    opps = by(got["opportunities"], "opportunity_id")
    assert sorted(opps) == [O1, O2]                             # O3 was not converted from a lead
    assert opps[O1] == {
        "opportunity_id": O1, "lead_id": L1, "rep_id": ANN,
        "created_at": "2020-03-05T16:00:00.000Z",
        "proposal_submitted_at": "2020-03-10T11:00:00.000Z", "amount": "12500.5",
        "closed_at": "2020-03-20T17:30:00.000Z", "status": "won"}
    # Lost, no amount, no closing row in the history: the close date.
    assert (opps[O2]["lead_id"], opps[O2]["status"], opps[O2]["amount"],
            opps[O2]["closed_at"], opps[O2]["proposal_submitted_at"]) == (
        L3, "lost", "0", "2020-03-25", None)

    stages = sorted((r["opportunity_id"], r["entered_at"], r["stage"])
                    for r in got["opportunity_stages"])
    # The second Prospecting row of O1 is an amount change, not a stage entered.
    assert stages == [
        (O1, "2020-03-05T16:00:00.000Z", "Prospecting"),
        (O1, "2020-03-10T11:00:00.000Z", "Proposal/Price Quote"),
        (O1, "2020-03-20T17:30:00.000Z", "Closed Won"),
        (O2, "2020-03-06T10:00:00.000Z", "Qualification"),
    ]


def test_loading_a_mapping_imports_no_engine() -> None:
    probe = ("import sys\nfrom slapolicy.engine.mappings import load_mapping\n"
             "load_mapping('hubspot'); load_mapping('salesforce')\n"
             "print(','.join(m for m in ('duckdb', 'ibis', 'pandera') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == ""


# --- errors against the export --------------------------------------------------------------


def test_a_missing_export_file_names_the_file_and_where_the_mapping_expects_it(
        tmp_path: Path) -> None:
    folder = copy_export("hubspot", tmp_path / "export", drop_file="deals.csv")
    with pytest.raises(DataSourceError) as e:
        mapped_relations(duckdb.connect(), folder, load_mapping("hubspot"))
    line = line_of(HUBSPOT_YAML, "opportunities:", "file: deals*.csv")
    assert str(e.value) == (
        f"{folder}: opportunities: no export file matches 'deals*.csv' (found: calls.csv, "
        "contacts.csv, emails.csv, meetings.csv, owners.csv); mapping hubspot expects it at "
        f"tables.opportunities.file ({HUBSPOT_YAML}:{line})\n"
        "  fix: export it into this folder, or name the file you have at "
        "tables.opportunities.file in a mapping that `extends: hubspot` (docs/crm-exports.md)"
    )
    assert (e.value.source, e.value.table) == (str(folder), "opportunities")


def test_a_missing_export_column_names_the_file_column_and_yaml_path(tmp_path: Path) -> None:
    folder = copy_export("hubspot", tmp_path / "export", drop_columns={
        "contacts.csv": ["hs_lifecyclestage_marketingqualifiedlead_date"]})
    with pytest.raises(DataSourceError) as e:
        mapped_relations(duckdb.connect(), folder, load_mapping("hubspot"))
    line = line_of(HUBSPOT_YAML, "leads:", "mql_at:")
    assert str(e.value) == (
        f"{folder / 'contacts.csv'}: leads: no column "
        "hs_lifecyclestage_marketingqualifiedlead_date in the export; mapping hubspot expects "
        f"it at tables.leads.columns.mql_at ({HUBSPOT_YAML}:{line})\n"
        "  fix: export the column(s) too, or map what reads them differently in a mapping "
        "that `extends: hubspot` (docs/crm-exports.md)"
    )


def test_missing_columns_read_through_a_lookup_are_all_named(tmp_path: Path) -> None:
    folder = copy_export("salesforce", tmp_path / "export", drop_columns={
        "Lead.csv": ["ConvertedOpportunityId", "Title"]})
    with pytest.raises(DataSourceError) as e:
        mapped_relations(duckdb.connect(), folder, load_mapping("salesforce"))
    lookup = line_of(SALESFORCE_YAML, "leads:", "opportunity: {file: Opportunity.csv")
    title = line_of(SALESFORCE_YAML, "leads:", "job_title: Title")
    assert str(e.value) == (
        f"{folder / 'Lead.csv'}: leads: no columns ConvertedOpportunityId, Title in the export; "
        "mapping salesforce expects ConvertedOpportunityId at "
        f"tables.leads.lookups.opportunity.equals ({SALESFORCE_YAML}:{lookup}); "
        f"Title at tables.leads.columns.job_title ({SALESFORCE_YAML}:{title})\n"
        "  fix: export the column(s) too, or map what reads them differently in a mapping "
        "that `extends: salesforce` (docs/crm-exports.md)"
    )


# --- extending a shipped mapping --------------------------------------------------------------


def test_extends_overrides_one_column_with_a_custom_field(tmp_path: Path) -> None:
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "acme.yaml").write_text(
        "extends: hubspot\n"
        "tables:\n"
        "  leads:\n"
        "    columns:\n"
        "      # our custom contact property, else HubSpot's original source\n"
        "      source: COALESCE(sla_lead_source, lower(hs_analytics_source), 'unknown')\n")
    acme = load_mapping("acme", search_dirs=[tmp_path / "mappings"])
    assert acme.name == "acme"
    assert acme.files == [str(tmp_path / "mappings" / "acme.yaml"), str(HUBSPOT_YAML)]

    base = rows(FIXTURES / "hubspot", load_mapping("hubspot"))
    ext = rows(FIXTURES / "hubspot", acme)
    assert {r["lead_id"]: r["source"] for r in ext["leads"]} == {
        "501": "partner_referral", "502": "unknown", "503": "webinar", "504": "paid_search"}
    assert [{**r, "source": None} for r in ext["leads"]] == [
        {**r, "source": None} for r in base["leads"]]
    assert {t: v for t, v in ext.items() if t != "leads"} == {
        t: v for t, v in base.items() if t != "leads"}


def test_errors_point_at_the_file_that_gave_the_value(tmp_path: Path) -> None:
    ext = tmp_path / "acme.yaml"
    ext.write_text("extends: salesforce\ntables:\n  leads:\n    columns:\n"
                   "      mql_at: MQL_Date__c\n      fit_score: Fit_Score__c\n")
    with pytest.raises(DataSourceError) as e:
        mapped_relations(duckdb.connect(), FIXTURES / "salesforce", load_mapping(ext))
    assert "no column Fit_Score__c in the export; mapping acme expects it at " \
           f"tables.leads.columns.fit_score ({ext}:6)\n" in str(e.value)


def test_a_table_level_override_applies_to_every_part_of_a_union(tmp_path: Path) -> None:
    ext = tmp_path / "sf.yaml"
    ext.write_text("extends: salesforce\n"
                   "tables:\n"
                   "  leads:\n"
                   "    columns: {mql_at: MQL_Date__c}\n"
                   "  activities:\n"
                   "    columns: {outcome: \"'logged'\"}\n"
                   "    union:\n"
                   "      events: {columns: {kind: \"'video'\"}}\n"
                   "  opportunity_stages: null\n")
    got = rows(FIXTURES / "salesforce", load_mapping(ext))
    assert "opportunity_stages" not in got
    assert {r["outcome"] for r in got["activities"]} == {"logged"}
    assert sorted({r["kind"] for r in got["activities"]}) == ["call", "email", "video"]
    assert {r["lead_id"]: r["mql_at"] for r in got["leads"]} == {
        L1: "2020-03-02T15:00:00.000Z", L2: None, L3: "2020-03-04T09:30:00.000Z", L4: None,
        L5: None}


def test_a_lookup_takes_the_first_matching_row_by_its_order(tmp_path: Path) -> None:
    # The example of docs/crm-exports.md: the last return to marketing from LeadHistory.
    ext = tmp_path / "sf.yaml"
    ext.write_text(
        "extends: salesforce\n"
        "tables:\n"
        "  leads:\n"
        "    lookups:\n"
        "      returned:\n"
        "        file: LeadHistory.csv\n"
        "        key: LeadId\n"
        "        equals: Id\n"
        "        where: Field = 'Status' AND NewValue = 'Closed - Not Converted'\n"
        "        order: CreatedDate DESC\n"
        "    columns:\n"
        "      returned_at: returned.CreatedDate\n")
    got = rows(FIXTURES / "salesforce", load_mapping(ext))
    assert {r["lead_id"]: r["returned_at"] for r in got["leads"]} == {
        L1: None, L2: None, L3: None, L4: "2020-03-12T17:00:00.000Z", L5: None}


def test_a_workspace_mapping_may_extend_the_shipped_one_of_its_own_name(tmp_path: Path) -> None:
    (tmp_path / "hubspot.yaml").write_text(
        "extends: hubspot\ntables:\n  activities:\n    union:\n      emails: null\n")
    mapping = load_mapping("hubspot", search_dirs=[tmp_path])
    assert mapping.files == [str(tmp_path / "hubspot.yaml"), str(HUBSPOT_YAML)]
    got = rows(FIXTURES / "hubspot", mapping)
    assert {r["kind"] for r in got["activities"]} == {"call", "meeting"}


# --- errors in the mapping itself -----------------------------------------------------------


def test_an_unknown_key_is_an_error_with_its_yaml_path(tmp_path: Path) -> None:
    ext = tmp_path / "acme.yaml"
    ext.write_text("extends: hubspot\ntables:\n  leads:\n    colums:\n      source: x\n")
    with pytest.raises(PolicyError) as e:
        load_mapping(ext)
    assert str(e.value) == (f"{ext}:4 at tables.leads.colums: unknown key 'colums'\n"
                            "  fix: did you mean 'columns'?")
    assert (e.value.yaml_path, e.value.line) == ("tables.leads.colums", 4)


@pytest.mark.parametrize(("text", "expected"), [
    ("tables:\n  lead:\n    file: x.csv\n",
     "<m>:2 at tables.lead: 'lead' is not a table of the data contract\n"
     "  fix: did you mean 'leads'?"),
    ("tables:\n  people:\n    file: u.csv\n    columns: {person_id: Id, name: Name, team: t,"
     " role: r, region: z, time_zone: z, timezone: z}\n",
     "<m>:4 at tables.people.columns.timezone: 'timezone' is not a column of people\n"
     "  fix: did you mean 'time_zone'?"),
    ("tables:\n  people:\n    file: u.csv\n    columns: {person_id: Id, name: Name}\n",
     "<m>:4 at tables.people.columns: no value for people column(s) team, role, region, "
     "time_zone\n  fix: map each contract column to a column of the export or a SQL "
     "expression, or to null if the contract lets it be empty (docs/data-contract.md)"),
    ("tables:\n  people:\n    file: u.csv\n    columns: {person_id: Id, name: null, team: t,"
     " role: r, region: z, time_zone: z}\n",
     "<m>:4 at tables.people.columns.name: people.name may not be empty in the data contract"
     "\n  fix: map it to a column, an expression or a default value"),
    ("tables:\n  people:\n    columns: {}\n",
     "<m>:2 at tables.people: a table has either `file:` or `union:`\n  fix: give the export "
     "file, or a `union:` of named parts each with its `file:`"),
])
def test_a_mapping_that_does_not_fit_the_contract_is_refused(text: str, expected: str) -> None:
    with pytest.raises(PolicyError) as e:
        parse_mapping(text, source="<m>")
    assert str(e.value) == expected


def test_sql_that_does_not_run_is_blamed_on_its_yaml_path(tmp_path: Path) -> None:
    ext = tmp_path / "acme.yaml"
    ext.write_text("extends: hubspot\ntables:\n  leads:\n    columns:\n"
                   "      source: no_such_function(hs_analytics_source)\n")
    with pytest.raises(PolicyError) as e:
        mapped_relations(duckdb.connect(), FIXTURES / "hubspot", load_mapping(ext))
    assert (e.value.path, e.value.line, e.value.yaml_path) == (str(ext), 5,
                                                              "tables.leads.columns.source")
    assert "the SQL does not run on contacts.csv: Catalog Error" in e.value.message


def test_an_unknown_mapping_name_lists_the_shipped_ones(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as e:
        load_mapping("pipedrive", search_dirs=[tmp_path])
    assert str(e.value) == (
        f"<mapping>: no mapping named 'pipedrive' (looked in {tmp_path}, {SHIPPED_DIR})\n"
        "  fix: shipped mappings: hubspot, salesforce; or give the path of a mapping file")
