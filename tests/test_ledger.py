"""The ledger: append-only, hash-chained, locked; policy versions and threshold changes."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slapolicy.policy.loader import load_policy, parse_policy
from slapolicy.trail.ledger import (
    GENESIS,
    LockTimeout,
    append,
    canonical,
    entry_hash,
    head,
    locked,
    read_entries,
    record_policy_version,
    verify_chain,
)
from tests.conftest import POLICY


def _ledger(tmp_path: Path, n: int = 4) -> Path:
    ledger = tmp_path / "ledger.jsonl"
    for i in range(n):
        append(ledger, "audit_run", {"policy_id": "company-a", "period": f"2020-0{i + 1}",
                                     "manifest_sha256": f"{i:064x}"})
    return ledger


def _lines(ledger: Path) -> list[str]:
    return ledger.read_text().splitlines()


def test_entries_chain_each_to_the_one_before(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    entries = read_entries(ledger)
    assert [e["seq"] for e in entries] == [1, 2, 3, 4]
    assert entries[0]["prev"] == GENESIS
    assert [e["prev"] for e in entries[1:]] == [e["hash"] for e in entries[:-1]]
    assert all(e["hash"] == entry_hash(e) for e in entries)
    assert _lines(ledger) == [canonical(e) for e in entries]  # canonical JSON, one per line
    assert head(ledger) == entries[-1]["hash"]
    assert verify_chain(ledger) == []


def test_an_edited_line_is_detected(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    lines = _lines(ledger)
    lines[1] = lines[1].replace('"period":"2020-02"', '"period":"2020-09"')
    ledger.write_text("\n".join(lines) + "\n")
    assert verify_chain(ledger) == [
        "ledger.jsonl line 2: its hash does not match its content (the entry was edited)"]


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    lines = _lines(ledger)
    entry = json.loads(lines[1])
    entry["period"] = "2020-09"
    entry["hash"] = entry_hash(entry)
    lines[1] = canonical(entry)
    ledger.write_text("\n".join(lines) + "\n")
    assert verify_chain(ledger) == [
        "ledger.jsonl line 3: prev does not match the hash of the entry before it (an entry "
        "was removed, inserted or reordered, or the one before was edited)"]


def test_removed_reordered_and_reformatted_lines_are_each_reported(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, 5)
    lines = _lines(ledger)
    pretty = json.dumps(json.loads(lines[4]), indent=1).replace("\n", "")
    ledger.write_text("\n".join([lines[0], lines[2], lines[1], pretty]) + "\n")
    problems = verify_chain(ledger)
    assert problems == [
        "ledger.jsonl line 2: prev does not match the hash of the entry before it (an entry "
        "was removed, inserted or reordered, or the one before was edited)",
        "ledger.jsonl line 2: seq is 3, expected 2",
        "ledger.jsonl line 3: prev does not match the hash of the entry before it (an entry "
        "was removed, inserted or reordered, or the one before was edited)",
        "ledger.jsonl line 3: seq is 2, expected 3",
        "ledger.jsonl line 4: not in canonical form (the line was edited)",
        "ledger.jsonl line 4: prev does not match the hash of the entry before it (an entry "
        "was removed, inserted or reordered, or the one before was edited)",
        "ledger.jsonl line 4: seq is 5, expected 4",
    ]


def test_garbage_and_a_cut_off_last_line_are_reported(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, 2)
    with ledger.open("a") as f:
        f.write('{"seq": 3, "type": "audit_run"')
    problems = verify_chain(ledger)
    assert problems[0].startswith("ledger.jsonl: the last line is incomplete")
    assert "ledger.jsonl line 3: not a JSON object (the line was edited)" in problems


def _append_many(ledger: str, worker: int, n: int) -> None:
    for i in range(n):
        append(Path(ledger), "signoff", {"worker": worker, "i": i})


def test_concurrent_appends_from_processes_keep_one_chain(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(ledger), w, 25)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    entries = read_entries(ledger)
    assert [e["seq"] for e in entries] == list(range(1, 101))
    assert sorted((e["worker"], e["i"]) for e in entries) == [
        (w, i) for w in range(4) for i in range(25)]
    assert verify_chain(ledger) == []


def test_a_held_lock_times_out_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from slapolicy.trail.ledger import locked\n"
        f"with locked(Path({str(path)!r})) as h:\n"
        "    h.write('pid 42 since noon'); h.flush(); print('held', flush=True); time.sleep(30)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        start = time.monotonic()
        with pytest.raises(LockTimeout) as err, locked(path, timeout=0.3, what="the test lock"):
            pass
        assert time.monotonic() - start < 5
        assert err.value.message == ("the test lock is held by another process "
                                     "(pid 42 since noon); gave up after 0.3 s")
    finally:
        holder.kill()
        holder.wait()
    with locked(path, timeout=5):  # released when its holder dies
        pass


def _with_speed_to_lead(*, within: str, mostly: float) -> str:
    """Company A's policy text with speed-to-lead's ``within`` and ``mostly`` changed."""
    import io

    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    data = yaml.load(POLICY.read_text())
    (clause,) = [c for c in data["policy"]["clauses"] if c["id"] == "speed-to-lead"]
    assert clause["params"]["within"] == "1h" and clause["tolerance"]["mostly"] == 0.95
    clause["params"]["within"] = within
    clause["tolerance"]["mostly"] = mostly
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def test_policy_versions_and_threshold_changes(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    doc = load_policy(POLICY)
    (first,) = record_policy_version(ledger, doc, "adopted")
    assert first["type"] == "policy_version" and first["content_hash"] == doc.content_hash
    assert first["clauses"]["speed-to-lead"]["params"]["within"] == "1h"
    assert record_policy_version(ledger, doc, "seen again") == []

    changed = parse_policy(_with_speed_to_lead(within="2h", mostly=0.9),
                           source="what-if.yaml", base_dir=POLICY.parent)
    version, change = record_policy_version(ledger, changed, "what-if: relax speed to lead")
    assert version["type"] == "policy_version" and version["reason"] == "what-if: relax speed to lead"
    assert change["type"] == "threshold_change"
    assert change["from"]["content_hash"] == doc.content_hash
    assert change["to"]["content_hash"] == changed.content_hash
    assert change["changes"] == [
        {"clause_id": "speed-to-lead", "field": "params.within", "old": "1h", "new": "2h"},
        {"clause_id": "speed-to-lead", "field": "tolerance.mostly", "old": 0.95, "new": 0.9},
    ]
    assert record_policy_version(ledger, changed, "saved again") == []
    # Going back to the first version changes the thresholds back: recorded as well.
    back, undo = record_policy_version(ledger, doc, "reverted")
    assert back["content_hash"] == doc.content_hash
    assert [(c["field"], c["old"], c["new"]) for c in undo["changes"]] == [
        ("params.within", "2h", "1h"), ("tolerance.mostly", 0.9, 0.95)]
    assert verify_chain(ledger) == []
