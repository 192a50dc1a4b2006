"""What the commands share: the workspace's defaults, whole help texts, the run document
(``--json``), ``--fail-on`` and notifications.

Exit codes are mapped in ``slapolicy.cli.main`` and ``slapolicy.cli.trail`` only; this module
helps them say the same thing the same way.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from slapolicy.errors import SlapolicyError, exit_code_for
from slapolicy.workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])

FAIL_ON_HELP = ("Which audit outcomes exit 1: 'fail' (a clause failed or could not be "
                "evaluated), 'error' (only a clause that could not be evaluated), 'never' "
                "(findings never fail the command; errors that stop an audit still exit 2-4).")


class WholeHelpGroup(click.Group):
    """A group whose command list shows each command's whole first paragraph, not the first
    45 characters of it."""

    group_class = type  # subgroups are of this class too

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            rows.append((name, cmd.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def workspace_of(ctx: click.Context) -> Workspace | None:
    obj = ctx.find_root().obj
    return obj.get("workspace") if isinstance(obj, dict) else None


def notebook_option(f: F) -> F:
    return click.option(
        "--notebook", type=click.Path(path_type=Path), default=None,
        help="Audit notebook to run [default: the workspace's notebooks/audit.ipynb, else "
             "notebooks/audit.ipynb here, else the one slapolicy ships].")(f)


def resolve_notebook(notebook: Path | None) -> Path:
    from slapolicy.workspace import default_notebook

    return notebook if notebook is not None else default_notebook(
        workspace_of(click.get_current_context()))


def scheduler_options(f: F) -> F:
    """``--json``, ``--fail-on``, ``--notify/--no-notify`` and ``--cell-timeout``."""
    for option in reversed((
        click.option("--json", "as_json", is_flag=True,
                     help="Print one JSON document on stdout (status, counts per clause and "
                          "team, ladder stage, reward, audit path) and nothing else; messages "
                          "go to stderr."),
        click.option("--fail-on", type=click.Choice(["fail", "error", "never"]),
                     default="fail", show_default=True, help=FAIL_ON_HELP),
        click.option("--notify/--no-notify", default=True, show_default=True,
                     help="Send the notifications the workspace file configures ([notify])."),
        click.option("--cell-timeout", type=click.FloatRange(min=0, min_open=True),
                     default=None,
                     help="Seconds a notebook cell may run before the run fails (exit 3) "
                          "[default: the workspace's limits.cell_seconds, else no limit]."),
    )):
        f = option(f)
    return f


def echo(text: str, as_json: bool) -> None:
    """A line for people: stdout normally, stderr when stdout carries the JSON document."""
    click.echo(text, err=as_json)


def run_document(command: str, folders: list[Path], *, exit_code: int, fail_on: str,
                 error: SlapolicyError | dict[str, Any] | None = None,
                 due: list[str] | None = None,
                 policy: str | None = None) -> dict[str, Any]:
    from slapolicy.audit.summary import FORMAT, run_summary

    runs = [run_summary(f) for f in folders]
    doc: dict[str, Any] = {
        "format": FORMAT, "command": command, "exit_code": exit_code, "fail_on": fail_on,
        "policy": policy or (runs[0]["policy"] if runs else None), "runs": runs,
        "error": error if not isinstance(error, SlapolicyError) else {
            "type": type(error).__name__, "message": error.message,
            "hint": error.hint, "exit_code": exit_code_for(error)},
    }
    if due is not None:
        doc["due"] = due
    return doc


def finish(doc: dict[str, Any], *, as_json: bool, notify: bool) -> None:
    """Print the document (``--json``), send notifications, exit with the document's code."""
    from slapolicy.trail.notify import notify as send

    if as_json:
        click.echo(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False))
    ws = workspace_of(click.get_current_context())
    if notify and ws is not None:
        for d in send(ws.notify, doc):
            # A failed notification is reported; the audit and the exit code stand.
            state = "sent" if d.ok else "FAILED"
            click.echo(f"notification {d.channel} {d.target}: {state} ({d.detail})", err=True)
    sys.exit(doc["exit_code"])
