"""Sign-off: keys, signatures, the sign-off page, verification of every kind of tampering,
and revisions that leave a signed audit intact."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest

from slapolicy.errors import RevisionError
from slapolicy.trail.ledger import read_entries
from slapolicy.trail.manifest import find_audit, load_manifest
from slapolicy.trail.scheduler import exit_code_for, run_audit
from slapolicy.trail.signing import (
    load_private_key,
    new_key,
    public_key_b64,
    sign_audit,
    signed_payload,
    verify_all,
)
from tests.conftest import ROOT
from tests.test_manifest import NOTEBOOK, cli, demo_duckdb, make_workspace, tree_hashes

pytestmark = pytest.mark.slow
SIGNED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@dataclass
class Signed:
    ws: Path
    policy: Path
    data: Path
    folder: Path
    keys: Path
    keys_new: object
    sign_cli: object
    unsigned_files: dict[str, str]
    signed_files: dict[str, str]


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Signed:
    """Company A with keys for both team leads, 2020-01 audited and signed by both."""
    ws = tmp_path_factory.mktemp("sign")
    keys = ws / "keys"
    made = cli("keys", "new", "--out", str(keys), "--person", "mkt-lead")
    assert made.returncode == 0, made.stderr
    mkt_public = made.stdout.strip().removeprefix("public_key: ")
    _, sales_public = new_key(keys, "sales-lead")
    policy = make_workspace(ws, {"mkt-lead": mkt_public, "sales-lead": sales_public})
    data = demo_duckdb(ws / "demo.duckdb")
    out, _ = run_audit(policy, "2020-01", str(data), audits=ws / "audits", notebook=NOTEBOOK,
                       cwd=ROOT)
    unsigned = tree_hashes(out.folder)
    signing = cli("sign", str(out.folder), "--key", str(keys / "mkt-lead.key"))
    assert signing.returncode == 0, signing.stderr
    sign_audit(out.folder, keys / "sales-lead.key")
    return Signed(ws, policy, data, out.folder, keys, made, signing, unsigned,
                  tree_hashes(out.folder))


def test_keys_new_writes_a_private_key_0600_and_prints_the_public_key_line(signed) -> None:
    key_file = signed.keys / "mkt-lead.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    (line,) = signed.keys_new.stdout.splitlines()
    assert re.fullmatch(r"public_key: [A-Za-z0-9+/]{43}=", line)
    assert line == f"public_key: {public_key_b64(load_private_key(key_file))}"
    assert f"wrote {key_file}" in signed.keys_new.stderr
    again = cli("keys", "new", "--out", str(signed.keys), "--person", "mkt-lead")
    assert again.returncode == 2
    assert f"error: {key_file} already exists; a key is never overwritten" in again.stderr


def test_signing_changes_no_hashed_content(signed) -> None:
    manifest, _ = load_manifest(signed.folder)
    before, after = signed.unsigned_files, signed.signed_files
    for name in [*manifest["outputs"], "manifest.json"]:
        assert after[name] == before[name], name
    assert set(after) - set(before) == {"signatures.json"}
    assert after["signoff.html"] != before["signoff.html"]
    assert after["audit.html"] != before["audit.html"]  # published with the new state


def test_sign_reports_the_state_and_the_ledger_records_each_signature(signed) -> None:
    out = signed.sign_cli.stdout
    assert re.fullmatch(
        r"mkt-lead signed company-a 2020-01 revision 1 at \S+; awaiting sign-off: 1 of 2 "
        r"required signature\(s\); missing sales-lead\n", out)
    _, sha = load_manifest(signed.folder)
    signoffs = [e for e in read_entries(signed.ws / "audits" / "ledger.jsonl")
                if e["type"] == "signoff"]
    assert [(e["person_id"], e["signed_off"], e["manifest_sha256"]) for e in signoffs] == [
        ("mkt-lead", False, sha), ("sales-lead", True, sha)]
    assert all(SIGNED_AT.match(e["signed_at"]) for e in signoffs)
    again = sign_audit(signed.folder, signed.keys / "sales-lead.key")
    assert again.already and again.state.signed_off
    assert len(read_entries(signed.ws / "audits" / "ledger.jsonl")) == 4  # nothing appended


def test_verify_passes_a_signed_off_audit(signed) -> None:
    res = cli("verify", str(signed.folder))
    assert res.returncode == 0, res.stdout
    assert f"{signed.folder}: ok; signed off by mkt-lead, sales-lead" in res.stdout
    assert re.search(r"ledger: 4 entries, chain intact, head [0-9a-f]{16}", res.stdout)


def test_the_audit_page_shows_the_sign_off_in_headless_chromium(signed, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it")
        pytest.skip("chromium not installed here (apt-get install chromium); CI installs it")
    from playwright.sync_api import sync_playwright

    # audit.html mailed on its own: copied away from signoff.html and signatures.json.
    alone = tmp_path / "audit.html"
    shutil.copyfile(signed.folder / "audit.html", alone)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        page = browser.new_page()
        page.route("http*://**/*", lambda route: route.abort())
        page.goto(alone.as_uri())
        text = page.inner_text("#signoff")
        body = page.inner_text("body")
        assert page.locator("iframe").count() == 0
        page.screenshot(path=str(tmp_path / "signed.png"))
        browser.close()
    assert "SLA audit: company-a — 2020-01" in body
    assert "Signed off: all 2 required signatures" in text
    assert "Marketing team lead (mkt-lead): signed " in text
    assert "Sales team lead (sales-lead): signed " in text
    assert text.count("(America/New_York)") == 2  # signing times in the policy's zone


def test_signing_leaves_the_signed_page_and_publishes_its_state(signed) -> None:
    body = (signed.folder / "audit.body.html").read_text()
    published = (signed.folder / "audit.html").read_text()
    head, _, rest = body.partition("<!--slapolicy:signoff-->")
    _, _, tail = rest.partition("<!--/slapolicy:signoff-->")
    assert published.startswith(head) and published.endswith(tail)
    assert "Awaiting sign-off" not in published and "Signed off" in published
    assert signed.signed_files["audit.body.html"] == signed.unsigned_files["audit.body.html"]
    assert signed.signed_files["audit.html"] != signed.unsigned_files["audit.html"]


def test_an_edited_published_page_is_detected(signed, tmp_path: Path) -> None:
    root, folder = _copy(signed, tmp_path)
    page = folder / "audit.html"
    page.write_text(page.read_text().replace("Signed off", "Approved"))
    assert verify_all(root).problems == [
        f"{folder}: audit.html: is not the signed audit.body.html with the state of "
        "signatures.json (edited)"]


# --- tampering ----------------------------------------------------------------------------


def _copy(signed: Signed, tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "audits"
    shutil.copytree(signed.ws / "audits", root)
    return root, root / "company-a" / "2020-01"


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) // 2
    data[i] = ord("0") if data[i] != ord("0") else ord("1")
    path.write_bytes(bytes(data))


def _forge(folder: Path, key, person_id: str) -> dict[str, str]:
    manifest, sha = load_manifest(folder)
    when = "2026-01-01T00:00:00Z"
    sig = key.sign(signed_payload(manifest, sha, person_id, when))
    return {"person_id": person_id, "signed_at": when, "public_key": public_key_b64(key),
            "signature": base64.b64encode(sig).decode()}


def _replace_signature(folder: Path, index: int, entry: dict[str, str]) -> None:
    path = folder / "signatures.json"
    data = json.loads(path.read_text())
    data["signatures"][index] = entry
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("name", ["results.json", "breaches.csv", "audit.body.html",
                                  "audit.ipynb"])
def test_a_changed_byte_in_any_output_is_detected(signed, tmp_path: Path, name: str) -> None:
    root, folder = _copy(signed, tmp_path)
    _flip_byte(folder / name)
    assert verify_all(root).problems == [
        f"{folder}: {name}: changed since the audit (its sha256 differs from the manifest)"]


def test_an_edited_manifest_is_detected(signed, tmp_path: Path) -> None:
    root, folder = _copy(signed, tmp_path)
    _, old = load_manifest(folder)
    text = (folder / "manifest.json").read_text()
    (folder / "manifest.json").write_text(text.replace('"rows": 14', '"rows": 15', 1))
    _, new = load_manifest(folder)
    problems = verify_all(root).problems
    assert f"{folder}: manifest.json: its hash {new[:12]} is not recorded in the ledger for " \
           "company-a/2020-01 (the manifest was replaced, or the ledger lost the entry)" in problems
    for who in ("mkt-lead", "sales-lead"):
        assert (f"{folder}: company-a/2020-01 was signed by {who} as manifest {old[:12]}, but "
                f"now holds manifest {new[:12]}: a signed audit was overwritten") in problems
    assert any("signature 1 by mkt-lead does not sign this audit" in p for p in problems)


def test_a_signature_by_a_key_the_policy_does_not_list_is_detected(signed, tmp_path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    root, folder = _copy(signed, tmp_path)
    intruder = Ed25519PrivateKey.generate()
    _replace_signature(folder, 0, _forge(folder, intruder, "mkt-lead"))
    _replace_signature(folder, 1, _forge(folder, intruder, "cso"))
    problems = verify_all(root).problems
    listed = public_key_b64(load_private_key(signed.keys / "mkt-lead.key"))
    from slapolicy.trail.signing import fingerprint

    assert (f"{folder}: signatures.json: signature 1 by mkt-lead uses key "
            f"{fingerprint(public_key_b64(intruder))}, but the policy lists key "
            f"{fingerprint(listed)} for mkt-lead: a key the policy does not list") in problems
    assert (f"{folder}: signatures.json: signature 2 is by 'cso', who has no key in policy "
            "company-a as audited: a key the policy does not list") in problems
    assert f"{folder}: signoff.html: does not show the state of signatures.json (edited)" \
        in problems


def test_a_signature_copied_from_another_audit_is_detected(signed, tmp_path: Path) -> None:
    root, folder = _copy(signed, tmp_path)
    # Another audit: the same files presented as 2020-02, signed by mkt-lead.
    other_root = tmp_path / "other"
    other = other_root / "company-a" / "2020-02"
    shutil.copytree(folder, other)
    (other / "signatures.json").unlink()
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["audit"].update(period="2020-02", folder="2020-02")
    (other / "manifest.json").write_text(json.dumps(manifest, indent=2))
    sign_audit(other, signed.keys / "mkt-lead.key")
    (copied,) = json.loads((other / "signatures.json").read_text())["signatures"]
    _replace_signature(folder, 0, copied)
    _, sha = load_manifest(folder)
    problems = verify_all(root).problems
    assert (f"{folder}: signatures.json: signature 1 by mkt-lead does not sign this audit "
            f"(company-a 2020-01 revision 1, manifest {sha[:12]}): copied from another audit, "
            "or the manifest changed after signing") in problems


def test_an_edited_ledger_line_is_detected(signed, tmp_path: Path) -> None:
    root, _ = _copy(signed, tmp_path)
    ledger = root / "ledger.jsonl"
    lines = ledger.read_text().splitlines()
    n = next(i for i, line in enumerate(lines) if '"type":"audit_run"' in line)
    lines[n] = re.sub(r'"open_breaches":\d+', '"open_breaches":0', lines[n])
    ledger.write_text("\n".join(lines) + "\n")
    assert verify_all(root).problems == [
        f"ledger: ledger.jsonl line {n + 1}: its hash does not match its content "
        "(the entry was edited)"]


def test_verify_all_reports_every_problem_and_exits_1(signed, tmp_path: Path) -> None:
    root, folder = _copy(signed, tmp_path)
    _flip_byte(folder / "breaches.csv")
    (folder / "notes.txt").write_text("added later")
    page = folder / "signoff.html"
    page.write_text(page.read_text().replace("Signed off", "Approved"))
    ledger = root / "ledger.jsonl"
    lines = ledger.read_text().splitlines()
    ledger.write_text("\n".join(lines[:1] + lines[2:]) + "\n")  # a removed line
    res = cli("verify", "--all", "--audits", str(root))
    assert res.returncode == 1
    problems = [ln.removeprefix("problem: ") for ln in res.stdout.splitlines()
                if ln.startswith("problem: ")]
    assert problems == [
        "ledger: ledger.jsonl line 2: prev does not match the hash of the entry before it (an "
        "entry was removed, inserted or reordered, or the one before was edited)",
        "ledger: ledger.jsonl line 2: seq is 3, expected 2",
        "ledger: ledger.jsonl line 3: seq is 4, expected 3",
        f"{folder}: breaches.csv: changed since the audit (its sha256 differs from the manifest)",
        f"{folder}: notes.txt: not in the manifest (added after the audit)",
        f"{folder}: signoff.html: does not show the state of signatures.json (edited)",
        f"{folder}: manifest.json: its hash {load_manifest(folder)[1][:12]} is not recorded in "
        "the ledger for company-a/2020-01 (the manifest was replaced, or the ledger lost the "
        "entry)",
    ]
    assert res.stderr.strip() == "7 problem(s) found"


def test_a_removed_signed_audit_is_detected(signed, tmp_path: Path) -> None:
    root, folder = _copy(signed, tmp_path)
    shutil.rmtree(folder)
    problems = verify_all(root).problems
    assert problems == [f"{root / 'company-a/2020-01'}: signed by mkt-lead (ledger entry 3) but "
                        "missing: a signed audit was removed"]


# --- revisions ----------------------------------------------------------------------------


def test_a_signed_audit_is_left_intact_by_a_re_run(signed, tmp_path: Path) -> None:
    root, folder = _copy(signed, tmp_path)
    before = tree_hashes(folder)
    refused = cli("audit", "--policy", str(signed.policy), "--period", "2020-01", "--data",
                  str(signed.data), "--audits", str(root), "--notebook", str(NOTEBOOK))
    assert refused.returncode == 2, refused.stderr
    assert f"{folder} is signed, so it is never overwritten; auditing company-a 2020-01 again " \
           "makes revision 2, and the ledger must record why" in refused.stderr
    with pytest.raises(RevisionError) as err:
        run_audit(signed.policy, "2020-01", str(signed.data), audits=root, notebook=NOTEBOOK)
    assert exit_code_for(err.value) == 2

    out, _ = run_audit(signed.policy, "2020-01", str(signed.data), audits=root,
                       notebook=NOTEBOOK, cwd=ROOT, reason="late CRM import corrected")
    assert tree_hashes(folder) == before  # revision 1 untouched
    assert out.folder == root / "company-a" / "2020-01.r2" and out.revision == 2
    assert find_audit(root, "company-a", "2020-01") == out.folder
    _, old_sha = load_manifest(folder)
    manifest, new_sha = load_manifest(out.folder)
    assert manifest["audit"] == {
        "policy_id": "company-a", "period": "2020-01", "revision": 2, "folder": "2020-01.r2",
        "supersedes": {"revision": 1, "folder": "company-a/2020-01", "manifest_sha256": old_sha},
        "reason": "late CRM import corrected"}
    run = read_entries(root / "ledger.jsonl")[-1]
    assert run["type"] == "audit_run" and run["manifest_sha256"] == new_sha
    assert run["reason"] == "late CRM import corrected"
    assert run["supersedes"]["manifest_sha256"] == old_sha
    assert (out.folder / "results.json").read_bytes() == (folder / "results.json").read_bytes()
    report = verify_all(root)
    assert report.problems == []
    assert [a.state.describe() for a in report.audits if a.state] == [
        "signed off by mkt-lead, sales-lead",
        "awaiting sign-off: 0 of 2 required signature(s); missing mkt-lead, sales-lead"]
