"""Run the audit notebook through papermill, render it, and publish the audit whole.

An audit is written to a staging folder beside its final place, completed there
(notebook, HTML, manifest, sign-off page) and moved into place with one rename,
so a failed or killed run never leaves a partial audit. Publishing decides the
revision under a lock on the audits root: a period audited for the first time
is revision 1 (``<period>/``); an unsigned audit is replaced in place (the
ledger keeps the replaced run's manifest hash); a signed audit is never
overwritten: the new run becomes the next revision (``<period>.r<n>/``), whose
manifest names the revision it supersedes, and needs a reason for the ledger.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slapolicy.audit.run import AuditRequest
from slapolicy.engine.context import SPILL_PREFIX
from slapolicy.errors import AuditRunError, RevisionError, TimeLimitError

KERNEL = "python3"
#: Per-run folders of kernel sockets: ``<tmp>/slapolicy-kernel.<pid>.<random>/``.
IPC_PREFIX = "slapolicy-kernel."
_IPC = re.compile(r"^slapolicy-kernel\.(?P<pid>[0-9]+)\.[^/]+$")
_SPILL = re.compile(rf"^{re.escape(SPILL_PREFIX)}(?P<pid>[0-9]+)\.[^/]+$")
_ipc_dir: Path | None = None
#: The kernel's exit status when it died (negative: the signal that ended it).
_kernel_status: int | None = None
STAGING_TAG = ".staging."
_STAGING = re.compile(r"^\.(?P<name>.+)\.staging\.(?P<pid>[0-9]+)\.[^/]+$")
_OLD = re.compile(r"^\.(?P<name>.+)\.old$")
#: The signed page; ``audit.html`` is published from it with the sign-off state.
BODY_HTML = "audit.body.html"  # slapolicy.trail.manifest.AUDIT_BODY


@dataclass(frozen=True)
class AuditOutputs:
    folder: Path
    notebook: Path
    html: Path
    results: Path
    breaches: Path
    revision: int = 1
    manifest_sha256: str = ""
    supersedes: Path | None = None


@dataclass(frozen=True)
class _Plan:
    folder: Path
    revision: int
    supersedes: dict[str, Any] | None
    replaces: dict[str, Any] | None


def execute_audit(request: AuditRequest, folder: Path, notebook: Path,
                  *, cwd: Path | None = None, reason: str | None = None,
                  source: dict[str, Any] | None = None,
                  cell_timeout: float | None = None) -> AuditOutputs:
    """Execute ``notebook`` for the request and publish the audit with its manifest.

    Args:
        request: What to audit; ``request.data`` is the local path the kernel reads.
        folder: The period's audit folder, ``<audits>/<policy id>/<period>``; the
            ledger is ``<audits>/ledger.jsonl``.
        notebook: The parameterised audit notebook.
        cwd: The kernel's working folder (default: the notebook's).
        reason: Why the period is audited again; required when its latest
            audit is signed (the new revision's manifest and ledger entry keep it).
        source: How to describe the data in the manifest (for PostgreSQL, the URL
            without its password, see ``slapolicy.trail.credentials``); default:
            ``request.data`` itself.
        cell_timeout: Seconds a notebook cell may run before the run fails (None: no limit).

    Returns:
        Where the published files are, the revision and the manifest hash.
    """
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from slapolicy.audit.results import load_results
    from slapolicy.audit.steps import (
        DEFAULT_RUN_SECONDS,
        RUN_SECONDS_ENV,
        current_step,
        limit_from_env,
    )
    from slapolicy.audit.timings import StepClock
    from slapolicy.engine.sources import DataSource
    from slapolicy.engine.suites import suite_path
    from slapolicy.policy.loader import load_policy
    from slapolicy.policy.periods import Period
    from slapolicy.trail.credentials import scrubbed_environ
    from slapolicy.trail.ledger import append, ledger_path, locked, record_policy_version, utc_now
    from slapolicy.trail.manifest import (
        audited_inputs,
        build_manifest,
        notebook_record,
        output_hashes,
        relative_name,
        write_manifest,
    )
    from slapolicy.trail.pending import write_intent
    from slapolicy.trail.signing import PUBLISH_LOCK, write_initial_signoff
    from slapolicy.workspace import relative
    from slapolicy.workspace import root as workspace_root

    if not notebook.exists():
        raise AuditRunError(f"audit notebook not found: {notebook}",
                            hint="pass --notebook, or leave it out to run the workspace's "
                                 "notebooks/audit.ipynb or the one the package ships")
    doc = load_policy(request.policy)
    period = Period.parse(request.period, doc.policy.periods.unit).label
    root = folder.parent.parent
    _plan(folder, reason)  # refuse before the kernel starts if a reason is missing
    folder.parent.mkdir(parents=True, exist_ok=True)
    started, clock = utc_now(), time.monotonic()
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}{STAGING_TAG}{os.getpid()}.",
                                    dir=folder.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a published audit is readable
    run_limit = limit_from_env(RUN_SECONDS_ENV, DEFAULT_RUN_SECONDS)
    # This run's own kernel sockets, outside the audit folders: concurrent runs never
    # share them, and a killed run's are removed by the next run (``cleanup_stale``).
    ipc = Path(tempfile.mkdtemp(prefix=f"{IPC_PREFIX}{os.getpid()}.", dir=_ipc_root()))
    global _ipc_dir
    _ipc_dir = ipc
    try:
        executed = staging / "audit.ipynb"
        # Paths inside the workspace go in relative to it (the notebook resolves them with
        # slapolicy.workspace), so the executed notebook names no folder of this machine.
        base = workspace_root(cwd or notebook.parent)

        def rel(path: Path) -> str:
            return relative(path.resolve(), base)

        parameters = {
            "policy": rel(request.policy),
            "period": request.period,
            "data": request.data if isinstance(request.data, str) else rel(request.data),
            "output": rel(staging),
            "data_zone": request.data_zone or "",
            "mapping": request.mapping or "",
            "locale": request.locale or "",
            "as_of": request.as_of.isoformat() if request.as_of else "",
            "expectations": rel(request.expectations_dir()),
            "exceptions": rel(request.exceptions) if request.exceptions else "",
            "audits": rel(request.audits) if request.audits else "",
        }
        steps = StepClock()
        # A cell's limit (--cell-timeout) and the run's (--run-limit): the nearer stops it.
        limits = [t for t in (cell_timeout, run_limit) if t is not None and t != float("inf")]
        try:
            with scrubbed_environ(), _fault_log(ipc), steps.step("kernel and notebook"):
                # papermill's bar over the notebook's cells, for a person at a terminal.
                pm.execute_notebook(
                    str(notebook), str(executed), parameters=parameters, kernel_name=KERNEL,
                    progress_bar=sys.stderr.isatty(), cwd=str(cwd or notebook.parent),
                    log_output=False, execution_timeout=min(limits) if limits else None,
                    kernel_manager_class="slapolicy.trail.notebook.LocalKernelManager",
                )
        except pm.PapermillExecutionError as e:
            failure = _recorded_failure(staging)
            if failure is not None:  # a slapolicy error the kernel caught, with its code
                raise AuditRunError(
                    failure["message"], cell=e.exec_count, ename=failure["error"],
                    evalue=failure["message"], exit_code=int(failure["exit_code"]),
                ) from None
            raise AuditRunError(
                f"the audit notebook failed in cell {e.exec_count}: {e.ename}: {e.evalue}",
                cell=e.exec_count, ename=e.ename, evalue=e.evalue,
                hint="read the error above; a policy or data problem names the file to fix",
            ) from None
        except CellTimeoutError as e:
            step = current_step(staging) or "rendering the report"
            if cell_timeout is not None and cell_timeout <= run_limit:  # the nearer limit
                raise TimeLimitError(
                    f"a cell of the audit notebook ran past the cell time limit in the step "
                    f"{step!r} (CellTimeoutError: {e}); the kernel was stopped and nothing was "
                    "published", step=step, seconds=cell_timeout,
                    hint="a cell ran past the cell time limit (--cell-timeout, the workspace's "
                         "limits.cell_seconds): raise the limit or find the slow step") from None
            raise TimeLimitError(
                f"the audit passed its run time limit of {run_limit:g} s in the step {step!r}; "
                "the kernel was stopped and nothing was published", step=step,
                seconds=run_limit, hint="find why it is slow, or allow more with --run-limit "
                                        f"SECONDS ({RUN_SECONDS_ENV})") from None
        except DeadKernelError as e:
            step = current_step(staging) or "starting or finishing the notebook"
            raise AuditRunError(
                f"the audit kernel died in the step {step!r} ({e}; {_ended(_kernel_status)})"
                f"{_fault_trace(ipc)}; nothing was published",
                hint="the kernel process ended without an error of its own: it was killed "
                     "(out of memory, kill -9), crashed in native code (where it was is shown "
                     "above) or custom code ended it; see the system log (dmesg) and run "
                     "again") from None
        except (OSError, ValueError, RuntimeError) as e:  # no kernel, a broken notebook file
            raise AuditRunError(
                f"the audit notebook {notebook} could not run: {type(e).__name__}: {e}",
                hint=("a cell ran past the cell time limit (--cell-timeout, the workspace's "
                      "limits.cell_seconds): raise the limit or find the slow step"
                      if isinstance(e, TimeoutError) else
                      "check the notebook file and that the python3 kernel is installed"),
            ) from e
        _relative_papermill_paths(executed, notebook, base)
        with steps.step("render"):
            render_html(executed, staging / BODY_HTML)
        steps.write(staging)
        for name in ("results.json", "breaches.csv"):
            if not (staging / name).exists():
                raise AuditRunError(f"the notebook ran but wrote no {name}",
                                    hint="the notebook must call AuditResult.write(output)")
        # The rows audited, hashed by the kernel's engine while it held them.
        inputs = audited_inputs(staging)
        outputs = output_hashes(staging)
        summary = load_results(staging / "results.json")["summary"]
        described = source or {"kind": DataSource.from_arg(request.data).kind,
                               "location": str(request.data),
                               "declared_zone": request.data_zone,
                               "mapping": request.mapping}
        exceptions = request.exceptions_file(doc.id, period)
        with locked(root / PUBLISH_LOCK, what="publishing and signing audits"):
            cleanup_stale(folder.parent)
            plan = _plan(folder, reason)
            manifest = build_manifest(
                doc=doc, period=period, revision=plan.revision, folder_name=plan.folder.name,
                supersedes=plan.supersedes, reason=reason,
                suite=suite_path(request.expectations_dir(), doc),
                exceptions=exceptions if exceptions.exists() else None,
                inputs=inputs, source=described,
                parameters={
                    "policy": str(request.policy), "period": period,
                    "data": described["location"], "data_zone": request.data_zone,
                    "mapping": request.mapping, "locale": request.locale,
                    "as_of": request.as_of.isoformat() if request.as_of else None,
                    "expectations": str(request.expectations_dir()),
                    "exceptions": str(request.exceptions) if request.exceptions else None,
                    "audits": str(request.audits) if request.audits else None,
                    "notebook": str(notebook),
                },
                outputs=outputs, notebook=notebook_record(notebook),
            )
            sha = write_manifest(staging, manifest)
            write_initial_signoff(staging, manifest, sha)
            ledger = ledger_path(root)
            record_policy_version(ledger, doc, reason or f"audit of {period} under this version")
            entry = {
                "policy_id": doc.id, "period": period, "revision": plan.revision,
                "folder": relative_name(root, plan.folder), "manifest_sha256": sha,
                "policy_content_hash": doc.content_hash, "inputs_digest": inputs["digest"],
                "status": summary["status"], "open_breaches": summary["breaches"],
                "supersedes": plan.supersedes, "replaces": plan.replaces, "reason": reason,
                "started_at": started, "seconds": round(time.monotonic() - clock, 1),
            }
            # Publish, then record (``slapolicy.trail.pending``): the ledger never names an
            # audit that is not in place; a run killed in between is completed by the next.
            intent = write_intent(root, entry)
            _publish(staging, plan.folder)
            append(ledger, "audit_run", entry)
            intent.unlink()
    finally:
        _ipc_dir = None
        shutil.rmtree(ipc, ignore_errors=True)
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    out = plan.folder
    superseded = (root / plan.supersedes["folder"]) if plan.supersedes else None
    return AuditOutputs(out, out / "audit.ipynb", out / "audit.html", out / "results.json",
                        out / "breaches.csv", plan.revision, sha, superseded)


def _plan(base: Path, reason: str | None) -> _Plan:
    """Where the new run goes: a first revision, an unsigned one replaced, or the next."""
    from slapolicy.trail.manifest import is_signed, revision_folder, revisions

    root = base.parent.parent
    found = revisions(base)
    if not found:
        return _Plan(base, 1, None, None)
    n, latest = found[-1]
    if is_signed(latest):
        if not reason:
            raise RevisionError(
                f"{latest} is signed, so it is never overwritten; auditing "
                f"{base.parent.name} {base.name} again makes revision {n + 1}, and the ledger "
                "must record why", hint='say why with --reason "late CRM import corrected"')
        return _Plan(revision_folder(base, n + 1), n + 1, _describe(root, n, latest), None)
    previous = _describe(root, *found[-2]) if len(found) > 1 else None
    replaced = _describe(root, n, latest)
    return _Plan(latest, n, previous, replaced)


def _describe(root: Path, revision: int, folder: Path) -> dict[str, Any]:
    from slapolicy.errors import ManifestError
    from slapolicy.trail.manifest import load_manifest, relative_name

    try:
        _, sha = load_manifest(folder)
    except ManifestError:
        sha = None  # an audit from before manifests existed
    return {"revision": revision, "folder": relative_name(root, folder), "manifest_sha256": sha}


def _recorded_failure(staging: Path) -> dict[str, Any] | None:
    from slapolicy.audit.run import FAILURE_FILE

    path = staging / FAILURE_FILE
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def render_html(executed: Path, target: Path) -> Path:
    """Write the signed audit page from the executed notebook's report output.

    The notebook displays the report (``slapolicy.report.render_report``) with its page
    settings in the output's metadata; this puts it in the page template of
    ``slapolicy.report.page``: one file that fetches nothing (no nbconvert template, no
    CDN script, charts as inline SVG). The page holds no run metadata, so the same
    results render to the same bytes. It is the content the manifest hashes and the
    signatures cover (``audit.body.html``); ``audit.html`` is published from it with
    the sign-off state (``slapolicy.trail.signing.write_published_page``).
    """
    import nbformat

    from slapolicy.report import OUTPUT_KEY, page

    nb = nbformat.read(executed, as_version=4)
    fragments: list[str] = []
    settings: dict[str, Any] | None = None
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            meta = (output.get("metadata") or {}).get(OUTPUT_KEY)
            text = (output.get("data") or {}).get("text/html")
            if meta and text is not None:
                settings = dict(meta)
                fragments.append(text if isinstance(text, str) else "".join(text))
    if settings is None:
        raise AuditRunError(f"the audit notebook {executed.name} displayed no audit report",
                            hint="display slapolicy.report.render_report(...) with its metadata()")
    target.write_text(page(fragments, title=settings["title"], lang=settings["lang"],
                           direction=settings["dir"], locale=settings["locale"],
                           zone=settings["zone"]), encoding="utf-8", newline="\n")
    return target


def _publish(staging: Path, folder: Path) -> None:
    if folder.exists():
        # Only an unsigned audit gets here (publishing holds the lock signing takes).
        old = folder.with_name(f".{folder.name}.old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(folder, old)
        os.replace(staging, folder)
        shutil.rmtree(old)
    else:
        os.replace(staging, folder)


def cleanup_stale(policy_dir: Path) -> list[Path]:
    """Remove staging folders of runs that died (their process is gone) and finish an
    interrupted replacement. Returns what was removed or restored.

    Call it holding the publish lock (``signing.PUBLISH_LOCK``): a replacement in
    progress briefly has a ``.<period>.old`` folder.
    """
    from slapolicy.trail.pending import complete_intents

    done: list[Path] = []
    complete_intents(policy_dir.parent)
    for path in sorted(_ipc_root().glob(f"{IPC_PREFIX}*")):
        if (m := _IPC.match(path.name)) and not _alive(int(m.group("pid"))):
            shutil.rmtree(path, ignore_errors=True)  # sockets of a run that was killed
    for path in sorted(_ipc_root().glob(f"{SPILL_PREFIX}*")):
        if (m := _SPILL.match(path.name)) and not _alive(int(m.group("pid"))):
            shutil.rmtree(path, ignore_errors=True)  # DuckDB's spill of a killed kernel
    if not policy_dir.is_dir():
        return done
    for path in sorted(policy_dir.iterdir()):
        if m := _STAGING.match(path.name):
            if not _alive(int(m.group("pid"))):
                shutil.rmtree(path, ignore_errors=True)
                done.append(path)
        elif m := _OLD.match(path.name):
            live = path.with_name(m.group("name"))
            if live.exists():
                shutil.rmtree(path, ignore_errors=True)
            else:  # killed between the two renames: put the replaced audit back
                os.replace(path, live)
            done.append(path)
    return done


@contextmanager
def _fault_log(ipc: Path) -> Iterator[None]:
    """Have the kernel write a native crash's Python trace to this run's private folder."""
    from slapolicy.audit.steps import FAULT_LOG_ENV

    global _kernel_status
    _kernel_status = None
    saved = os.environ.get(FAULT_LOG_ENV)
    os.environ[FAULT_LOG_ENV] = str(ipc / "faults.txt")
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(FAULT_LOG_ENV, None)
        else:
            os.environ[FAULT_LOG_ENV] = saved


def _ended(status: int | None) -> str:
    """How the kernel process ended, in words."""
    import signal

    if status is None:
        return "its exit status is unknown"
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        why = {"SIGKILL": ": killed from outside, e.g. by the out-of-memory killer or kill -9",
               "SIGSEGV": ": a crash in native code", "SIGABRT": ": aborted by native code",
               "SIGBUS": ": a crash in native code"}.get(name, "")
        return f"ended by {name}{why}"
    return f"exit status {status}"


def _fault_trace(ipc: Path, frames: int = 8) -> str:
    """The crashing thread's innermost frames from the kernel's fault log, if it wrote one."""
    try:
        text = (ipc / "faults.txt").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    lines = text.splitlines()
    fatal = next((ln.strip() for ln in lines if ln.startswith("Fatal Python error")), "")
    start = next((i for i, ln in enumerate(lines) if ln.startswith("Current thread")), None)
    if start is None:
        return ""
    block = [ln for ln in lines[start + 1:start + 1 + frames] if ln.startswith("  File ")]
    return (f"\n{fatal or 'fatal signal'}; the kernel was at (innermost first):\n"
            + "\n".join(block))


def _ipc_root() -> Path:
    # Short: a socket path must fit in about 100 bytes.
    return Path(tempfile.gettempdir())


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _local_kernel_manager() -> type:
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class _Local(AsyncKernelManager):
        """Talks to the kernel over local IPC sockets, not loopback TCP: nothing else on the
        machine can connect to the audit's kernel (and ipykernel stops warning about it)."""

        @default("transport")
        def _default_transport(self) -> str:
            return "ipc"

        @default("ip")
        def _default_ip(self) -> str:
            # Socket files of this run only (not ``kernel-ipc-N`` in the working folder,
            # where concurrent runs would share them and killed runs leave them).
            folder = _ipc_dir or Path(tempfile.mkdtemp(prefix=f"{IPC_PREFIX}{os.getpid()}.",
                                                       dir=_ipc_root()))
            return str(folder / "k")

        async def is_alive(self) -> bool:  # type: ignore[override]
            alive: bool = await super().is_alive()
            process = getattr(self.provisioner, "process", None)
            if not alive and process is not None:
                global _kernel_status  # how it ended, for the message (nbclient drops it)
                _kernel_status = process.poll()
            return alive

    return _Local


def __getattr__(name: str) -> type:
    # nbclient imports the manager class by name; build it on first use, not at import.
    if name == "LocalKernelManager":
        return _local_kernel_manager()
    raise AttributeError(name)


def _relative_papermill_paths(executed: Path, notebook: Path, base: Path) -> None:
    """Papermill records where it read and wrote the notebook: keep those relative too."""
    import json

    from slapolicy.workspace import relative

    nb = json.loads(executed.read_text(encoding="utf-8"))
    meta = nb.get("metadata", {}).get("papermill")
    if not isinstance(meta, dict):
        return
    meta["input_path"] = relative(notebook.resolve(), base)
    meta["output_path"] = "audit.ipynb"
    executed.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
