"""Sign-off with Ed25519 signatures, and verification of audits.

A signatory signs an audit's identity (policy id, period, revision) together
with its manifest hash, their person id and the signing time. Signatures live
in ``signatures.json`` beside the manifest, which does not list it, so signing
changes no hashed content. The page executives read, ``audit.html``, is the
signed page ``audit.body.html`` (hashed in the manifest) with its sign-off block
filled in from ``signatures.json``: it shows who signed, when, and who is still
missing when opened alone, while the signed content never changes. ``verify``
checks the body against the manifest and that ``audit.html`` is exactly the body
plus the current sign-off state. ``signoff.html`` shows the state on its own.

Keys are checked against the signatories the audited policy lists, as the
manifest recorded them (``signoff`` in ``manifest.json``): a key added to a
later policy version does not sign audits run under an earlier one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from slapolicy.errors import SigningError, TamperedAuditError
from slapolicy.trail.ledger import (
    append,
    canonical,
    ledger_path,
    locked,
    read_entries,
    utc_now,
    verify_chain,
)
from slapolicy.trail.manifest import (
    AUDIT_BODY,
    AUDIT_HTML,
    MANIFEST,
    SIGNATURES,
    SIGNOFF_HTML,
    ManifestError,
    audit_folders,
    load_manifest,
    relative_name,
    verify_files,
)

PAYLOAD_FORMAT = "slapolicy-signoff/1"
PUBLISH_LOCK = ".publish.lock"


# --- keys ---------------------------------------------------------------------------------


def new_key(out_dir: Path, person_id: str) -> tuple[Path, str]:
    """Write ``<out_dir>/<person_id>.key`` (Ed25519, PKCS#8 PEM, mode 0600).

    Returns the file and the public key (base64 of the raw 32 bytes) to paste into
    the policy as the person's ``public_key``. Never overwrites a key file.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not person_id or "/" in person_id or person_id.startswith("."):
        raise SigningError(f"{person_id!r} is not a person id", hint="pass --person mkt-lead")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{person_id}.key"
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as e:
        raise SigningError(f"{path} already exists; a key is never overwritten",
                           hint="keep using it, or remove it deliberately first") from e
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, pem)
    finally:
        os.close(fd)
    return path, public_key_b64(key)


def load_private_key(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError as e:
        raise SigningError(f"no key file {path}", hint="make one with: slapolicy keys new") from e
    except (ValueError, TypeError) as e:
        raise SigningError(f"{path} is not an unencrypted PEM private key",
                           hint="pass the file slapolicy keys new wrote") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path} is not an Ed25519 key", hint="make one with: slapolicy keys new")
    return key


def public_key_b64(private_key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = private_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def fingerprint(public_key: str | None) -> str:
    """A short, stable name for a public key: the first 16 hex digits of its SHA-256."""
    if not public_key:
        return "none"
    try:
        raw = base64.b64decode(public_key, validate=True)
    except (binascii.Error, ValueError):
        return "invalid"
    return hashlib.sha256(raw).hexdigest()[:16]


def _verify(public_key: str, signature: str, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
        key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, binascii.Error, ValueError, TypeError):
        return False
    return True


# --- what is signed -----------------------------------------------------------------------


def signed_payload(manifest: dict[str, Any], manifest_sha256: str, person_id: str,
                   signed_at: str) -> bytes:
    """The bytes a signatory signs: the audit's identity, its manifest hash, who and when."""
    audit = manifest.get("audit") or {}
    return canonical({
        "format": PAYLOAD_FORMAT, "policy_id": audit.get("policy_id"),
        "period": audit.get("period"), "revision": audit.get("revision"),
        "manifest_sha256": manifest_sha256, "person_id": person_id, "signed_at": signed_at,
    }).encode("utf-8")


@dataclass(frozen=True)
class SignatureCheck:
    person_id: str
    name: str
    role: str
    signed_at: str
    fingerprint: str
    valid: bool
    problem: str = ""
    signature: str = ""


@dataclass(frozen=True)
class SignoffState:
    """Who must sign, who validly signed, and the problems with every other signature."""

    policy_id: str
    period: str
    revision: int
    manifest_sha256: str
    requires: list[str]
    signatories: dict[str, Any]
    checks: list[SignatureCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def signed(self) -> dict[str, SignatureCheck]:
        return {c.person_id: c for c in self.checks if c.valid}

    @property
    def missing(self) -> list[str]:
        return [p for p in self.requires if p not in self.signed]

    @property
    def signed_off(self) -> bool:
        return bool(self.requires) and not self.missing

    def describe(self) -> str:
        if not self.requires:
            signers = ", ".join(sorted(self.signed)) or "nobody"
            return f"no sign-off required (signed by {signers})"
        if self.signed_off:
            return f"signed off by {', '.join(self.requires)}"
        return (f"awaiting sign-off: {len(self.requires) - len(self.missing)} of "
                f"{len(self.requires)} required signature(s); missing {', '.join(self.missing)}")


def read_signatures(folder: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The entries of ``signatures.json`` and problems reading it."""
    path = folder / SIGNATURES
    if not path.exists():
        return [], []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data["signatures"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise TypeError("signatures is not a list of objects")
    except (ValueError, KeyError, TypeError) as e:
        return [], [f"{SIGNATURES}: unreadable ({e}): edited by hand?"]
    return entries, []


def signoff_state(folder: Path, manifest: dict[str, Any], manifest_sha256: str) -> SignoffState:
    """Check every signature in ``folder`` against the audited policy's keys."""
    entries, problems = read_signatures(folder)
    return check_signatures(entries, manifest, manifest_sha256, problems)


def check_signatures(entries: list[dict[str, Any]], manifest: dict[str, Any],
                     manifest_sha256: str, problems: list[str] | None = None) -> SignoffState:
    """The sign-off state that signature ``entries`` give the audit of ``manifest``."""
    problems = list(problems or [])
    audit = manifest.get("audit") or {}
    snapshot = manifest.get("signoff") or {}
    signatories: dict[str, Any] = snapshot.get("signatories") or {}
    checks: list[SignatureCheck] = []
    for i, e in enumerate(entries):
        who = str(e.get("person_id", ""))
        when = str(e.get("signed_at", ""))
        key = e.get("public_key")
        listed = (signatories.get(who) or {}).get("public_key")
        info = signatories.get(who) or {}
        problem = ""
        if who not in signatories or not listed:
            problem = (f"signature {i + 1} is by {who!r}, who has no key in policy "
                       f"{audit.get('policy_id')} as audited: a key the policy does not list")
        elif key != listed:
            problem = (f"signature {i + 1} by {who} uses key {fingerprint(key)}, but the policy "
                       f"lists key {fingerprint(listed)} for {who}: a key the policy does not list")
        elif not _verify(listed, str(e.get("signature", "")),
                         signed_payload(manifest, manifest_sha256, who, when)):
            problem = (f"signature {i + 1} by {who} does not sign this audit "
                       f"({audit.get('policy_id')} {audit.get('period')} revision "
                       f"{audit.get('revision')}, manifest {manifest_sha256[:12]}): copied from "
                       "another audit, or the manifest changed after signing")
        elif who in {c.person_id for c in checks if c.valid}:
            problem = f"signature {i + 1}: {who} signed twice"
        checks.append(SignatureCheck(
            person_id=who, name=str(info.get("name", who)), role=str(info.get("role", "")),
            signed_at=when, fingerprint=fingerprint(key), valid=not problem, problem=problem,
            signature=str(e.get("signature", ""))))
        if problem:
            problems.append(f"{SIGNATURES}: {problem}")
    return SignoffState(
        policy_id=str(audit.get("policy_id")), period=str(audit.get("period")),
        revision=int(audit.get("revision") or 0), manifest_sha256=manifest_sha256,
        requires=list(snapshot.get("requires") or []), signatories=signatories,
        checks=checks, problems=problems)


# --- signing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignResult:
    person_id: str
    signed_at: str
    already: bool
    state: SignoffState


def sign_audit(folder: Path, key_path: Path, *, now: datetime | None = None) -> SignResult:
    """Sign the audit in ``folder`` with the private key at ``key_path``.

    Refuses an audit whose files differ from its manifest, and a key that no
    signatory of the audited policy holds. Signing twice is a no-op. Records the
    signature in the ledger, then in ``signatures.json``, and regenerates
    ``signoff.html``.
    """
    manifest, sha = load_manifest(folder)
    problems = verify_files(folder, manifest)
    if problems:
        raise TamperedAuditError(
            f"{folder}: refusing to sign: the audit's files do not match its manifest:\n  "
            + "\n  ".join(problems), problems=problems,
            hint="run slapolicy verify; audit the period again if the files were changed")
    key = load_private_key(key_path)
    public = public_key_b64(key)
    signatories: dict[str, Any] = (manifest.get("signoff") or {}).get("signatories") or {}
    who = next((pid for pid, s in sorted(signatories.items()) if s.get("public_key") == public),
               None)
    audit = manifest["audit"]
    if who is None:
        raise SigningError(
            f"the key in {key_path} (fingerprint {fingerprint(public)}) belongs to no signatory "
            f"of policy {audit['policy_id']} version {manifest['policy']['version']}, "
            "as this audit ran under it",
            hint="add `public_key: ...` to the person in the policy; audits run under an "
                 "earlier policy version cannot be signed with a key added later")
    root = folder.parent.parent
    with locked(root / PUBLISH_LOCK, what="publishing and signing audits"):
        state = signoff_state(folder, manifest, sha)
        if who in state.signed:
            return SignResult(who, state.signed[who].signed_at, True, state)
        signed_at = (now.strftime("%Y-%m-%dT%H:%M:%SZ") if now else utc_now())
        signature = base64.b64encode(
            key.sign(signed_payload(manifest, sha, who, signed_at))).decode("ascii")
        entries, _ = read_signatures(folder)
        entries.append({"person_id": who, "signed_at": signed_at, "public_key": public,
                        "signature": signature})
        new_state = check_signatures(entries, manifest, sha)
        append(ledger_path(root), "signoff", {
            "policy_id": audit["policy_id"], "period": audit["period"],
            "revision": audit["revision"], "folder": relative_name(root, folder),
            "manifest_sha256": sha, "person_id": who, "signed_at": signed_at,
            "signature": signature, "signed_off": new_state.signed_off,
        })
        _write_atomic(folder / SIGNATURES,
                      json.dumps({"signatures": entries}, indent=2, sort_keys=True) + "\n")
        state = signoff_state(folder, manifest, sha)
        _write_atomic(folder / SIGNOFF_HTML, render_signoff_html(state))
        published = render_published_page(folder, state)
        if published is not None:
            _write_atomic(folder / AUDIT_HTML, published)
    return SignResult(who, signed_at, False, state)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8", newline="\n")
    os.replace(tmp, path)


def write_initial_signoff(folder: Path, manifest: dict[str, Any], manifest_sha256: str) -> None:
    """``signoff.html`` for a freshly published audit (nobody has signed)."""
    state = signoff_state(folder, manifest, manifest_sha256)
    (folder / SIGNOFF_HTML).write_text(render_signoff_html(state), encoding="utf-8",
                                       newline="\n")
    published = render_published_page(folder, state)
    if published is not None:
        (folder / AUDIT_HTML).write_text(published, encoding="utf-8", newline="\n")


def render_published_page(folder: Path, state: SignoffState) -> str | None:
    """``audit.html``: the signed page with the sign-off ``state`` in its sign-off block,
    in the page's own language and zone. None for an audit made before signed pages."""
    from slapolicy.report.html import Signatory, page_settings, publish, signoff_block
    from slapolicy.report.i18n import Formatter

    path = folder / AUDIT_BODY
    if not path.is_file():
        return None
    body = path.read_text(encoding="utf-8")
    locale, zone = page_settings(body)
    f = Formatter.for_locale(locale, zone)
    signed = state.signed
    people = list(state.requires) + sorted(p for p in signed if p not in state.requires)
    rows = []
    for pid in people:
        info = state.signatories.get(pid) or {}
        check = signed.get(pid)
        rows.append(Signatory(pid, str(info.get("name", pid)), str(info.get("role", "")),
                              pid in state.requires, check.signed_at if check else None,
                              check.fingerprint if check else ""))
    missing = [str((state.signatories.get(p) or {}).get("name", p)) for p in state.missing]
    invalid = [(f"{c.name} ({c.person_id})", c.problem) for c in state.checks if not c.valid]
    block = signoff_block(f, signatories=rows, invalid=invalid, required=len(state.requires),
                          missing=missing)
    return publish(body, block)


# --- the sign-off page --------------------------------------------------------------------


_STYLE = """<style>
body { font-family: system-ui, sans-serif; font-size: 14px; margin: 8px; }
table { border-collapse: collapse; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; }
th { background: #f6f8fa; }
.state { font-weight: 600; }
.ok { color: #1a7f37; } .wait { color: #9a6700; } .bad { color: #cf222e; }
</style>"""


def render_signoff_html(state: SignoffState) -> str:
    """A self-contained page: the sign-off state, one row per signatory. Deterministic."""
    e = html.escape
    if state.signed_off:
        head = f'<p class="state ok">Signed off: all {len(state.requires)} required signatures</p>'
    elif not state.requires:
        head = '<p class="state">No sign-off required by the policy</p>'
    else:
        missing = ", ".join(e(str((state.signatories.get(p) or {}).get("name", p)))
                            for p in state.missing)
        head = (f'<p class="state wait">Awaiting sign-off: '
                f"{len(state.requires) - len(state.missing)} of {len(state.requires)} required "
                f"signatures (missing: {missing})</p>")
    rows = []
    signed = state.signed
    people = list(state.requires) + sorted(p for p in signed if p not in state.requires)
    for pid in people:
        info = state.signatories.get(pid) or {}
        check = signed.get(pid)
        rows.append(
            f"<tr><td>{e(str(info.get('name', pid)))} ({e(pid)})</td>"
            f"<td>{e(str(info.get('role', '')))}</td>"
            f"<td>{'yes' if pid in state.requires else 'no'}</td>"
            + (f'<td class="ok">signed {e(check.signed_at)}</td><td><code>{check.fingerprint}'
               f"</code></td>" if check else '<td class="wait">not signed</td><td></td>')
            + "</tr>")
    for c in state.checks:
        if not c.valid:
            rows.append(f'<tr><td>{e(c.name)} ({e(c.person_id)})</td><td>{e(c.role)}</td>'
                        f'<td></td><td class="bad">INVALID signature {e(c.signed_at)}: '
                        f"{e(c.problem)}</td><td><code>{c.fingerprint}</code></td></tr>")
    title = f"Sign-off: {state.policy_id} {state.period} (revision {state.revision})"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"{_STYLE}</head><body>\n<h2>{e(title)}</h2>\n{head}\n"
        "<table><tr><th>Signatory</th><th>Role</th><th>Required</th><th>Signed (UTC)</th>"
        "<th>Key</th></tr>\n" + "\n".join(rows) + "\n</table>\n"
        f"<p>Manifest sha256 <code>{e(state.manifest_sha256)}</code>. Check with "
        "<code>slapolicy verify</code>.</p>\n</body></html>\n")


# --- verification -------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditCheck:
    folder: Path
    problems: list[str]
    state: SignoffState | None


def verify_audit(folder: Path, *, entries: list[dict[str, Any]] | None = None) -> AuditCheck:
    """Every problem with one audit folder: files against the manifest, signatures against
    the audited policy's keys, ``signoff.html`` against the signatures, and the
    manifest and signatures against the ledger (``entries``; read if not given)."""
    root = folder.parent.parent
    try:
        manifest, sha = load_manifest(folder)
    except ManifestError as e:
        return AuditCheck(folder, [e.message], None)
    problems = verify_files(folder, manifest)
    state = signoff_state(folder, manifest, sha)
    problems.extend(state.problems)
    page = folder / SIGNOFF_HTML
    if not page.is_file():
        problems.append(f"{SIGNOFF_HTML}: missing")
    elif page.read_text(encoding="utf-8") != render_signoff_html(state):
        problems.append(f"{SIGNOFF_HTML}: does not show the state of {SIGNATURES} (edited)")
    body_intact = not any(p.startswith(f"{AUDIT_BODY}:") for p in problems)
    if (folder / AUDIT_BODY).is_file() and body_intact:  # a changed body is reported above
        published = folder / AUDIT_HTML
        if not published.is_file():
            problems.append(f"{AUDIT_HTML}: missing")
        elif published.read_text(encoding="utf-8") != render_published_page(folder, state):
            problems.append(f"{AUDIT_HTML}: is not the signed {AUDIT_BODY} with the state of "
                            f"{SIGNATURES} (edited)")
    if entries is None:
        entries = read_entries(ledger_path(root))
    name = relative_name(root, folder)
    runs = [e for e in entries if e.get("type") == "audit_run" and e.get("folder") == name]
    if not any(e.get("manifest_sha256") == sha for e in runs):
        problems.append(f"{MANIFEST}: its hash {sha[:12]} is not recorded in the ledger for "
                        f"{name} (the manifest was replaced, or the ledger lost the entry)")
    recorded = {e.get("signature") for e in entries
                if e.get("type") == "signoff" and e.get("folder") == name}
    for c in state.checks:
        if c.valid and c.signature not in recorded:
            problems.append(f"{SIGNATURES}: the signature by {c.person_id} is not recorded in "
                            "the ledger")
    for entry in entries:
        if (entry.get("type") == "signoff" and entry.get("folder") == name
                and entry.get("manifest_sha256") != sha):
            problems.append(f"{name} was signed by {entry.get('person_id')} as manifest "
                            f"{str(entry.get('manifest_sha256'))[:12]}, but now holds manifest "
                            f"{sha[:12]}: a signed audit was overwritten")
    return AuditCheck(folder, problems, state)


@dataclass(frozen=True)
class VerifyReport:
    audits: list[AuditCheck]
    ledger_problems: list[str]
    ledger_entries: int
    ledger_head: str | None
    other_problems: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        out = [f"ledger: {p}" for p in self.ledger_problems]
        for a in self.audits:
            out.extend(f"{a.folder}: {p}" for p in a.problems)
        return out + self.other_problems

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(folders: list[Path], audits_root: Path, *, everything: bool = False) -> VerifyReport:
    """Verify ``folders`` and the ledger of ``audits_root``. With ``everything``, also
    check that every signed audit the ledger records still exists unchanged."""
    ledger = ledger_path(audits_root)
    entries = read_entries(ledger)
    chain = verify_chain(ledger) if ledger.exists() else [f"no ledger at {ledger}"]
    checks = [verify_audit(f, entries=entries) for f in folders]
    other: list[str] = []
    if everything:
        seen: set[str] = set()
        for e in entries:
            name = str(e.get("folder"))
            if e.get("type") != "signoff" or name in seen:
                continue
            seen.add(name)
            if not (audits_root / name / MANIFEST).is_file():
                other.append(f"{audits_root / name}: signed by {e.get('person_id')} (ledger "
                             f"entry {e.get('seq')}) but missing: a signed audit was removed")
        removed = {n for n in seen if not (audits_root / n / MANIFEST).is_file()}
        other.extend(_runs_without_audit(audits_root, entries, reported=removed))
    return VerifyReport(checks, chain, len(entries), entries[-1].get("hash") if entries else None,
                        other)


def _runs_without_audit(root: Path, entries: list[dict[str, Any]],
                        reported: set[str]) -> list[str]:
    """Runs the ledger records whose audit is not in place as recorded: the latest run of
    each folder must be the manifest the folder holds (an entry never precedes its audit,
    see ``slapolicy.trail.pending``)."""
    from slapolicy.trail.pending import intents

    latest: dict[str, dict[str, Any]] = {}
    for e in entries:
        if e.get("type") == "audit_run":
            latest[str(e.get("folder"))] = e
    out = []
    for name, e in sorted(latest.items()):
        if name in reported:
            continue  # already reported as a signed audit removed
        try:
            _, sha = load_manifest(root / name)
        except ManifestError:
            sha = None
        if sha is None:
            out.append(f"{root / name}: the ledger records a run of it (entry {e.get('seq')}, "
                       f"manifest {str(e.get('manifest_sha256'))[:12]}) but no audit is there")
        elif sha != e.get("manifest_sha256"):
            out.append(f"{root / name}: holds manifest {sha[:12]}, but the ledger's latest run "
                       f"of it (entry {e.get('seq')}) is manifest "
                       f"{str(e.get('manifest_sha256'))[:12]}: that run's audit is not there")
    for path in intents(root):
        out.append(f"{path}: a run was stopped while publishing; the next audit run or "
                   "run-due completes or drops it")
    return out


def verify_all(audits_root: Path) -> VerifyReport:
    return verify(audit_folders(audits_root), audits_root, everything=True)
