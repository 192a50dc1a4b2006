"""Run the audit notebook through papermill and render it to HTML with nbconvert."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from slapolicy.audit import AuditRequest
from slapolicy.errors import AuditRunError

KERNEL = "python3"


@dataclass(frozen=True)
class AuditOutputs:
    folder: Path
    notebook: Path
    html: Path
    results: Path
    breaches: Path


def execute_audit(request: AuditRequest, folder: Path, notebook: Path,
                  *, cwd: Path | None = None) -> AuditOutputs:
    """Execute ``notebook`` for the request and publish the audit folder whole.

    Everything is written to a staging folder beside ``folder`` and moved into
    place only when complete, so a failure never leaves a partial audit.
    """
    import papermill as pm

    if not notebook.exists():
        raise AuditRunError(f"audit notebook not found: {notebook}",
                            hint="run from the workspace root, or pass --notebook")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        executed = staging / "audit.ipynb"
        parameters = {
            "policy": str(request.policy.resolve()),
            "period": request.period,
            "data": str(request.data.resolve()),
            "output": str(staging.resolve()),
            "data_zone": request.data_zone or "",
            "as_of": request.as_of.isoformat() if request.as_of else "",
            "expectations": str(request.expectations_dir().resolve()),
            "exceptions": str(request.exceptions.resolve()) if request.exceptions else "",
        }
        try:
            pm.execute_notebook(
                str(notebook), str(executed), parameters=parameters, kernel_name=KERNEL,
                progress_bar=False, cwd=str(cwd or notebook.parent), log_output=False,
            )
        except pm.PapermillExecutionError as e:
            raise AuditRunError(
                f"the audit notebook failed in cell {e.exec_count}: {e.ename}: {e.evalue}",
                cell=e.exec_count, ename=e.ename, evalue=e.evalue,
                hint="read the error above; a policy or data problem names the file to fix",
            ) from None
        render_html(executed, staging / "audit.html")
        for name in ("results.json", "breaches.csv"):
            if not (staging / name).exists():
                raise AuditRunError(f"the notebook ran but wrote no {name}",
                                    hint="the notebook must call AuditResult.write(output)")
        _publish(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return AuditOutputs(folder, folder / "audit.ipynb", folder / "audit.html",
                        folder / "results.json", folder / "breaches.csv")


def render_html(executed: Path, target: Path) -> Path:
    """nbconvert to HTML without code cells."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(executed, as_version=4)
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    target.write_text(body, encoding="utf-8")
    return target


def _publish(staging: Path, folder: Path) -> None:
    if folder.exists():
        old = folder.with_name(f".{folder.name}.old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(folder, old)
        os.replace(staging, folder)
        shutil.rmtree(old)
    else:
        os.replace(staging, folder)
