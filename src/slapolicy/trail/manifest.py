"""The audit manifest: what was checked, on which data, under which policy, by which code.

``manifest.json`` in each audit folder holds the hashes of the policy file and
content, the compiled suite, each input table (a content hash of its rows as
read, independent of file format and row order), the parameters, the software
versions and source revision, and every output file. It holds no run times, so
nothing in it changes unless an input, the code or an output does. The SHA-256
of its bytes is the **manifest hash**: what signatories sign and what the ledger
records.

Layout: revision 1 of a period lives in ``<audits>/<policy>/<period>/``; a
revision ``n >= 2`` (made when a signed audit is audited again) lives beside it
in ``<audits>/<policy>/<period>.r<n>/``. ``find_audit`` returns the latest.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slapolicy.errors import ManifestError

if TYPE_CHECKING:
    from slapolicy.engine.sources import DataSource
    from slapolicy.policy.document import PolicyDocument

FORMAT = "slapolicy-manifest/1"
MANIFEST = "manifest.json"
SIGNATURES = "signatures.json"
SIGNOFF_HTML = "signoff.html"
#: The audit page as signed (hashed) and as published with the sign-off state (not hashed:
#: it is the signed page plus the state of ``signatures.json``, and ``verify`` checks both).
AUDIT_BODY = "audit.body.html"
AUDIT_HTML = "audit.html"
#: Files an audit folder may hold beside the outputs the manifest lists.
UNHASHED = frozenset({MANIFEST, SIGNATURES, SIGNOFF_HTML, AUDIT_HTML})
#: Outputs a re-run on the same inputs reproduces byte for byte. The executed
#: notebook holds papermill's run metadata (start and end times, durations, the
#: staging path), so its hash identifies the run, not the result.
REPRODUCIBLE = frozenset({"results.json", "breaches.csv", "breaches.parquet", "quarantine.csv",
                          "quarantine.parquet", AUDIT_BODY})
LIBRARIES = ("pandas", "numpy", "pyarrow", "duckdb", "ibis-framework", "sqlglot", "pandera",
             "great_expectations", "pydantic", "papermill", "nbconvert", "nbclient",
             "ipykernel", "cryptography")
_REVISION = re.compile(r"^(?P<period>.+)\.r(?P<n>[0-9]+)$")


# --- hashes -------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def table_hashes(source: DataSource) -> dict[str, Any]:
    """Each contract table's row count and content hash, as the audit reads it.

    The tables are loaded exactly as the audit loads them (``sources.load_into``) and
    hashed by ``engine.digest``. An audit computes the same hashes while it runs and keeps
    them in ``facts/index.json``; this reads the data again, for checking a source apart
    from an audit.
    """
    import duckdb

    from slapolicy.engine.context import bound_memory
    from slapolicy.engine.digest import table_hashes as hashes_in
    from slapolicy.engine.sources import load_into

    con = duckdb.connect()
    bound_memory(con)
    try:
        load_into(con, source, needs={})
        return hashes_in(con)
    finally:
        con.close()


def audited_inputs(folder: Path) -> dict[str, Any]:
    """The input hashes an audit computed while it read its data (``facts/index.json``)."""
    from slapolicy.engine.digest import ALGORITHM

    index = folder / "facts" / "index.json"
    try:
        data = json.loads(index.read_text(encoding="utf-8"))["key"]["data"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ManifestError(f"the audit left no input hashes in {index}: {e}",
                            hint="the notebook must run slapolicy's audit_period") from e
    if not isinstance(data, dict) or data.get("algorithm") != ALGORITHM:
        raise ManifestError(f"{index} holds input hashes of another kind",
                            hint=f"expected algorithm {ALGORITHM}; re-run the audit")
    return {k: data[k] for k in ("algorithm", "digest", "tables")}


def output_hashes(folder: Path) -> dict[str, Any]:
    """sha256 and size of every file in ``folder`` (recursively) except the unhashed ones."""
    out: dict[str, Any] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel in UNHASHED:
            continue
        out[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size,
                    "reproducible": rel in REPRODUCIBLE or rel.startswith("facts/")}
    return out


def notebook_record(path: Path) -> dict[str, Any]:
    """Which audit notebook ran: ``packaged`` (the one slapolicy ships) or ``file`` (a
    workspace's own copy or one given with ``--notebook``), its path and SHA-256."""
    from slapolicy.workspace import packaged_notebook

    packaged = packaged_notebook()
    kind = ("packaged" if packaged.is_file() and path.resolve() == packaged.resolve()
            else "file")
    return {"kind": kind, "path": str(path), "sha256": sha256_file(path)}


# --- software -----------------------------------------------------------------------------


def software() -> dict[str, Any]:
    """slapolicy's version and source revision, Python's and the key libraries' versions."""
    from importlib import metadata

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    revision, dirty = source_revision()
    return {
        "slapolicy": version("slapolicy") or "unknown",
        "revision": revision,
        "dirty": dirty,
        "python": ".".join(str(p) for p in sys.version_info[:3]),
        "libraries": {name: version(name) for name in LIBRARIES},
    }


def source_revision() -> tuple[str, bool | None]:
    """``git rev-parse HEAD`` of the tree holding the slapolicy package, and whether the
    package's files differ from it; ``("unknown", None)`` outside a git checkout."""
    here = Path(__file__).resolve().parents[1]  # the slapolicy package folder
    try:
        head = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown", None
        status = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no", "--", "."],
            capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "unknown", None
    dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    return head.stdout.strip(), dirty


# --- the manifest -------------------------------------------------------------------------


def signoff_snapshot(doc: PolicyDocument) -> dict[str, Any]:
    """Who must sign and every signatory's key, as the audited policy states them."""
    requires = list(doc.policy.signoff.audit_requires)
    signatories = {
        p.id: {"name": p.name, "role": p.role, "team": p.team, "public_key": p.public_key}
        for p in doc.policy.people if p.public_key or p.id in requires
    }
    return {"requires": requires, "signatories": signatories}


def build_manifest(*, doc: PolicyDocument, period: str, revision: int, folder_name: str,
                   supersedes: dict[str, Any] | None, reason: str | None,
                   suite: Path, exceptions: Path | None, inputs: dict[str, Any],
                   source: dict[str, Any], parameters: dict[str, Any],
                   outputs: dict[str, Any],
                   notebook: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest as a dict (see the module docstring and docs/audit-trail.md)."""
    return {
        "notebook": notebook,
        "format": FORMAT,
        "audit": {"policy_id": doc.id, "period": period, "revision": revision,
                  "folder": folder_name, "supersedes": supersedes, "reason": reason},
        "policy": {"id": doc.id, "version": doc.version, "path": doc.source,
                   "file_sha256": doc.file_sha256, "content_hash": doc.content_hash},
        "suite": {"path": str(suite), "sha256": sha256_file(suite)},
        "exceptions": ({"path": str(exceptions), "sha256": sha256_file(exceptions)}
                       if exceptions is not None and exceptions.exists() else None),
        "signoff": signoff_snapshot(doc),
        "inputs": {"source": source, **inputs},
        "parameters": parameters,
        "software": software(),
        "outputs": outputs,
    }


def manifest_text(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_manifest(folder: Path, manifest: dict[str, Any]) -> str:
    """Write ``manifest.json``; return the manifest hash (sha256 of its bytes)."""
    data = manifest_text(manifest).encode("utf-8")
    (folder / MANIFEST).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def load_manifest(folder: Path) -> tuple[dict[str, Any], str]:
    """The manifest and its hash; ``ManifestError`` if the folder has none or it is unreadable."""
    path = folder / MANIFEST
    if not path.is_file():
        raise ManifestError(f"{folder}: no {MANIFEST}: not an audit folder, or an audit made "
                            "before manifests existed",
                            hint="pass an audit folder such as audits/company-a/2020-03")
    raw = path.read_bytes()
    try:
        manifest = json.loads(raw)
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ValueError(f"format is not {FORMAT}")
    except ValueError as e:
        raise ManifestError(f"{path}: not a slapolicy manifest ({e})",
                            hint="restore the audit folder from a copy, or audit again") from e
    return manifest, hashlib.sha256(raw).hexdigest()


def verify_files(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """Every difference between the folder and its manifest, as sentences."""
    problems: list[str] = []
    outputs: dict[str, Any] = manifest.get("outputs") or {}
    for rel, expected in sorted(outputs.items()):
        path = folder / rel
        if not path.is_file():
            problems.append(f"{rel}: missing (the manifest lists it)")
        elif sha256_file(path) != expected.get("sha256"):
            problems.append(f"{rel}: changed since the audit (its sha256 differs from the manifest)")
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel not in outputs and rel not in UNHASHED:
            problems.append(f"{rel}: not in the manifest (added after the audit)")
    audit = manifest.get("audit") or {}
    if audit.get("folder") != folder.name or audit.get("policy_id") != folder.parent.name:
        problems.append(
            f"{MANIFEST}: names {audit.get('policy_id')}/{audit.get('folder')}, but lives in "
            f"{folder.parent.name}/{folder.name} (moved or copied from another audit)")
    return problems


# --- layout: revisions --------------------------------------------------------------------


def revision_folder(base: Path, revision: int) -> Path:
    """Revision 1 is ``base`` itself (``<audits>/<policy>/<period>``); later ones ``.r<n>``."""
    return base if revision == 1 else base.with_name(f"{base.name}.r{revision}")


def revisions(base: Path) -> list[tuple[int, Path]]:
    """The period's revision folders that exist, oldest first."""
    found: list[tuple[int, Path]] = []
    if base.is_dir():
        found.append((1, base))
    if base.parent.is_dir():
        for path in base.parent.iterdir():
            m = _REVISION.match(path.name)
            if m and m.group("period") == base.name and path.is_dir() and int(m.group("n")) >= 2:
                found.append((int(m.group("n")), path))
    return sorted(found)


def find_audit(audits_root: Path, policy_id: str, period: str) -> Path | None:
    """The folder of the period's latest audit revision, or None if it was never audited."""
    found = revisions(audits_root / policy_id / period)
    return found[-1][1] if found else None


def audit_folders(audits_root: Path) -> list[Path]:
    """Every audit folder under the root (every revision), in path order."""
    out: list[Path] = []
    if not audits_root.is_dir():
        return out
    for policy_dir in sorted(audits_root.iterdir()):
        if not policy_dir.is_dir() or policy_dir.name.startswith("."):
            continue
        for folder in sorted(policy_dir.iterdir()):
            if folder.is_dir() and not folder.name.startswith("."):
                out.append(folder)
    return out


def is_signed(folder: Path) -> bool:
    """Whether anyone has signed the audit in ``folder`` (then it is never overwritten)."""
    path = folder / SIGNATURES
    if not path.is_file():
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return True  # an unreadable signatures file still means someone meant to sign
    return bool(isinstance(data, dict) and data.get("signatures"))


def relative_name(audits_root: Path, folder: Path) -> str:
    """``company-a/2020-02.r2``: a folder named relative to the audits root."""
    try:
        return folder.resolve().relative_to(audits_root.resolve()).as_posix()
    except ValueError:
        return f"{folder.parent.name}/{folder.name}"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
