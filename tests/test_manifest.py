"""Manifests: input, code and output hashes; byte-identical re-runs; audit revisions.

The helpers here (a workspace with a compiled policy, demo data, the CLI with the
audit-trail commands attached) are shared by the other audit-trail test files.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from slapolicy.demo import generate as demo
from slapolicy.engine.sources import DataSource
from slapolicy.engine.suites import write_suite
from slapolicy.policy.loader import load_policy
from slapolicy.trail.ledger import read_entries, verify_chain
from slapolicy.trail.manifest import (
    LIBRARIES,
    find_audit,
    load_manifest,
    revisions,
    source_revision,
    table_hashes,
)
from tests.conftest import POLICY, ROOT

NOTEBOOK = ROOT / "notebooks" / "audit.ipynb"
# The slapolicy command, run from this interpreter.
CLI = [sys.executable, "-c", "from slapolicy.cli.main import main; main()"]


# --- shared helpers -----------------------------------------------------------------------


def make_workspace(root: Path, public_keys: dict[str, str] | None = None) -> Path:
    """``root/policies/company-a.yaml`` (Company A, with these people's public keys) and its
    compiled suite in ``root/expectations``; returns the policy path."""
    from ruamel.yaml import YAML

    text = POLICY.read_text(encoding="utf-8")
    if public_keys:
        yaml = YAML(typ="rt")
        data = yaml.load(text)
        for person in data["policy"]["people"]:
            if person["id"] in public_keys:
                person["public_key"] = public_keys[person["id"]]
        (root / "policies").mkdir(parents=True, exist_ok=True)
        with open(root / "policies" / "company-a.yaml", "w", encoding="utf-8") as f:
            yaml.dump(data, f)
    else:
        (root / "policies").mkdir(parents=True, exist_ok=True)
        (root / "policies" / "company-a.yaml").write_text(text, encoding="utf-8")
    policy = root / "policies" / "company-a.yaml"
    write_suite(root / "expectations", load_policy(policy))
    return policy


def demo_tables() -> dict[str, pa.Table]:
    return demo.generate(demo.DemoConfig(start="2020-01", months=2, leads_per_month=300))


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by its relative path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def demo_duckdb(path: Path) -> Path:
    return demo.write_duckdb(demo_tables(), path)


def cli(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def tree_hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --- table hashes (no notebook) -----------------------------------------------------------


def _write_folder(tables: dict[str, pa.Table], folder: Path, fmt: str, shuffle: bool) -> Path:
    folder.mkdir(parents=True)
    for name, t in tables.items():
        if shuffle and t.num_rows:
            t = t.take(pa.array(list(reversed(range(t.num_rows)))))
            t = t.select(list(reversed(t.column_names)))  # column order does not matter either
        if fmt == "csv":
            pacsv.write_csv(t, folder / f"{name}.csv")
        else:
            pq.write_table(t, folder / f"{name}.parquet")
    return folder


def test_table_hashes_ignore_file_format_and_row_order(tmp_path: Path) -> None:
    tables = demo_tables()
    db = demo.write_duckdb(tables, tmp_path / "demo.duckdb")
    csv = _write_folder(tables, tmp_path / "csv", "csv", shuffle=False)
    parquet = _write_folder(tables, tmp_path / "parquet", "parquet", shuffle=True)
    from_db = table_hashes(DataSource.from_arg(db))
    assert table_hashes(DataSource.from_arg(csv)) == from_db
    assert table_hashes(DataSource.from_arg(parquet)) == from_db
    assert {n: t["rows"] for n, t in from_db["tables"].items()} == {
        n: t.num_rows for n, t in tables.items()}

    # One changed value changes that table's hash, and only that one.
    leads = tables["leads"]
    scores = leads.column("fit_score").to_pylist()
    scores[7] = scores[7] + 1
    changed = {**tables, "leads": leads.set_column(
        leads.schema.get_field_index("fit_score"), "fit_score", pa.array(scores, pa.int64()))}
    other = table_hashes(DataSource.from_arg(_write_folder(changed, tmp_path / "c", "csv", False)))
    differ = [n for n in from_db["tables"] if other["tables"][n] != from_db["tables"][n]]
    assert differ == ["leads"] and other["digest"] != from_db["digest"]

    # A duplicated row counts.
    dup = {**tables, "meetings": pa.concat_tables([tables["meetings"],
                                                   tables["meetings"].slice(0, 1)])}
    dupd = table_hashes(DataSource.from_arg(_write_folder(dup, tmp_path / "d", "parquet", False)))
    assert dupd["tables"]["meetings"]["sha256"] != from_db["tables"]["meetings"]["sha256"]


@pytest.mark.parametrize("batch", [1_000_000, 7])
def test_table_hash_matches_an_independent_computation(tmp_path: Path, batch: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's table hash, recomputed here in Python from the documented rule (also
    when the row hashes stream in many small batches)."""
    from slapolicy.engine import digest

    monkeypatch.setattr(digest, "_BATCH", batch)
    tables = demo_tables()
    people = tables["people"]
    got = table_hashes(DataSource.from_arg(demo.write_duckdb(tables, tmp_path / "d.duckdb")))
    names = ["person_id", "name", "team", "role", "region", "time_zone", "manager_id"]
    rows = [hashlib.sha256(json.dumps({n: r[n] for n in names}, separators=(",", ":"),
                                      ensure_ascii=False).encode()).hexdigest()
            for r in people.to_pylist()]
    body = "".join(f"{h}\n" for h in sorted(rows))
    header = "slapolicy-table/1\npeople\n" + ",".join(f"{n}:string" for n in names) + "\n"
    assert got["tables"]["people"] == {
        "rows": people.num_rows, "sha256": hashlib.sha256((header + body).encode()).hexdigest()}


def test_find_audit_returns_the_latest_revision(tmp_path: Path) -> None:
    assert find_audit(tmp_path, "company-a", "2020-01") is None
    base = tmp_path / "company-a" / "2020-01"
    for name in ("2020-01", "2020-01.r2", "2020-01.r10", "2020-01.old", "2020-011", ".2020-01.r3"):
        (tmp_path / "company-a" / name).mkdir(parents=True)
    assert [n for n, _ in revisions(base)] == [1, 2, 10]
    assert find_audit(tmp_path, "company-a", "2020-01") == tmp_path / "company-a" / "2020-01.r10"


# --- through the CLI and the notebook -----------------------------------------------------


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory):
    """The same period audited twice with ``slapolicy audit``: (workspace, first run's files)."""
    ws = tmp_path_factory.mktemp("ws")
    policy = make_workspace(ws)
    db = demo_duckdb(ws / "demo.duckdb")
    args = ("audit", "--policy", str(policy), "--period", "2020-01", "--data", str(db),
            "--audits", str(ws / "audits"), "--notebook", str(NOTEBOOK))
    first = cli(*args)
    assert first.returncode == 1, first.stderr  # the demo's January fails speed to lead
    folder = ws / "audits" / "company-a" / "2020-01"
    before = files_of(folder)
    second = cli(*args)
    assert second.returncode == first.returncode, second.stderr
    return ws, before


slow = pytest.mark.slow


@slow
def test_manifest_records_policy_suite_inputs_code_and_outputs(two_runs) -> None:
    ws, _ = two_runs
    folder = ws / "audits" / "company-a" / "2020-01"
    manifest, sha = load_manifest(folder)
    assert sha == hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    policy = ws / "policies" / "company-a.yaml"
    doc = load_policy(policy)
    assert manifest["policy"] == {
        "id": "company-a", "version": doc.version, "path": str(policy),
        "file_sha256": hashlib.sha256(policy.read_bytes()).hexdigest(),
        "content_hash": doc.content_hash}
    suite = ws / "expectations" / "company-a.json"
    assert manifest["suite"] == {"path": str(suite),
                                 "sha256": hashlib.sha256(suite.read_bytes()).hexdigest()}
    inputs = manifest["inputs"]
    # The rows the audit read: the event tables from the period's window.
    from slapolicy.audit.run import audit_window
    from slapolicy.engine.context import Engine
    from slapolicy.policy.periods import Period

    window = audit_window(doc, [c for c in doc.policy.clauses if c.enabled],
                          Period.parse("2020-01", "month"))
    assert {k: v for k, v in inputs.items() if k != "source"} == Engine.from_source(
        DataSource.from_arg(ws / "demo.duckdb"), window=window).content_hashes()
    assert inputs["source"] == {"kind": "duckdb", "location": str(ws / "demo.duckdb"),
                                "declared_zone": None, "mapping": None}
    assert manifest["audit"] == {"policy_id": "company-a", "period": "2020-01", "revision": 1,
                                 "folder": "2020-01", "supersedes": None, "reason": None}
    assert set(manifest["parameters"]) == {"policy", "period", "data", "data_zone", "mapping",
                                           "locale",
                                           "as_of",
                                           "expectations", "exceptions", "audits", "notebook"}
    software = manifest["software"]
    assert software["slapolicy"] == "0.1.0"
    assert software["revision"] == source_revision()[0] != ""
    assert set(software["libraries"]) == set(LIBRARIES)
    assert software["libraries"]["duckdb"] and software["libraries"]["papermill"]
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["audit.body.html", "audit.html", "audit.ipynb", "breaches.csv",
                     "breaches.parquet", "facts",
                     "manifest.json", "quarantine.csv", "quarantine.parquet", "results.json",
                     "signoff.html", "timings.json"]
    kept = sorted(f"facts/{p.name}" for p in (folder / "facts").iterdir())
    # The kept facts are hashed audit content: one Parquet file per check, and the index.
    assert "facts/index.json" in kept and len(kept) > 20
    assert sorted(manifest["outputs"]) == sorted(["audit.body.html", "audit.ipynb", "breaches.csv",
                                                  "breaches.parquet", "quarantine.csv",
                                                  "quarantine.parquet", "results.json", "timings.json",
                                                  *kept])
    for name, out in manifest["outputs"].items():
        data = (folder / name).read_bytes()
        assert out["sha256"] == hashlib.sha256(data).hexdigest() and out["bytes"] == len(data)
    # Run times live in the ledger, never in the manifest.
    text = (folder / "manifest.json").read_text()
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", text)
    assert not [k for k in re.findall(r'"([a-z_]+)":', text) if "time" in k or "duration" in k]


@slow
def test_a_second_run_gives_byte_identical_results(two_runs) -> None:
    ws, before = two_runs
    folder = ws / "audits" / "company-a" / "2020-01"
    after = files_of(folder)
    assert any(name.startswith("facts/") for name in after)
    for name in ("results.json", "breaches.csv", "breaches.parquet", "audit.body.html", "audit.html",
                 *[n for n in after if n.startswith("facts/")]):
        assert after[name] == before[name], name
    assert after["audit.ipynb"] != before["audit.ipynb"]  # papermill's run times differ
    m1, m2 = json.loads(before["manifest.json"]), json.loads(after["manifest.json"])
    assert m1["inputs"] == m2["inputs"]
    assert {k: v for k, v in m1["outputs"].items() if v["reproducible"]} == {
        k: v for k, v in m2["outputs"].items() if v["reproducible"]}
    assert {k for k, v in m1["outputs"].items() if not v["reproducible"]} == {
        "audit.ipynb", "timings.json"}


@slow
def test_an_unsigned_audit_is_replaced_and_the_ledger_keeps_both_runs(two_runs) -> None:
    ws, before = two_runs
    audits = ws / "audits"
    assert sorted(p.name for p in (audits / "company-a").iterdir()) == ["2020-01"]
    first_sha = hashlib.sha256(before["manifest.json"]).hexdigest()
    _, second_sha = load_manifest(audits / "company-a" / "2020-01")
    entries = read_entries(audits / "ledger.jsonl")
    assert [e["type"] for e in entries] == ["policy_version", "audit_run", "audit_run"]
    run1, run2 = entries[1], entries[2]
    assert run1["manifest_sha256"] == first_sha and run1["replaces"] is None
    assert run2["manifest_sha256"] == second_sha
    assert run2["replaces"] == {"revision": 1, "folder": "company-a/2020-01",
                                "manifest_sha256": first_sha}
    assert run1["inputs_digest"] == run2["inputs_digest"]
    assert {"started_at", "seconds"} <= set(run2)
    assert verify_chain(audits / "ledger.jsonl") == []
