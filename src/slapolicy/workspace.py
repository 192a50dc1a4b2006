"""The analyst's workspace: the folder holding ``policies/`` (and ``notebooks/``,
``audits/``, ``data/``, ``expectations/``).

Notebook parameters are paths relative to the workspace, so a notebook runs the same
with Run All in JupyterLab (whose kernel starts in ``notebooks/``) as under papermill,
and an executed notebook names no folder of the machine that ran it.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Set to the workspace folder when it cannot be found from the working folder.
ENV = "SLAPOLICY_WORKSPACE"
MARKER = "policies"


def root(start: Path | None = None) -> Path:
    """The workspace: ``$SLAPOLICY_WORKSPACE``, else the nearest of ``start`` (default:
    the working folder) and its parents that holds ``policies/``, else ``start``."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / MARKER).is_dir():
            return folder
    return here


def resolve(path: str | os.PathLike[str], base: Path | None = None) -> Path:
    """A path given relative to the workspace (an absolute path stays as it is)."""
    p = Path(path)
    return p if p.is_absolute() else (base or root()) / p


def relative(path: str | os.PathLike[str], base: Path) -> str:
    """``path`` relative to ``base`` when it lies inside it; else the path as given.

    Used for notebook parameters, so that executed notebooks carry no absolute path of
    this machine when everything lies inside the workspace.
    """
    p = Path(path).resolve()
    try:
        return p.relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)
