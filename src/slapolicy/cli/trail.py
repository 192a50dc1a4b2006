"""The audit-trail commands: ``keys new``, ``sign``, ``verify`` and ``run-due``.

``slapolicy.cli.main`` adds them (``COMMANDS``) to the ``slapolicy`` group.
Like ``slapolicy.cli.main``, only this module maps errors to exit codes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from slapolicy.cli.support import (
    WholeHelpGroup,
    echo,
    finish,
    notebook_option,
    resolve_notebook,
    run_document,
    scheduler_options,
)
from slapolicy.errors import EXIT_USER, SlapolicyError, exit_code_for


def time_limit_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--step-limit`` and ``--run-limit``: they set the environment the audit kernel
    inherits (``slapolicy.audit.steps``), so every audit path reads the same limits."""
    from slapolicy.audit.steps import (
        DEFAULT_RUN_SECONDS,
        DEFAULT_STEP_SECONDS,
        RUN_SECONDS_ENV,
        STEP_SECONDS_ENV,
    )

    def setter(name: str) -> Callable[[click.Context, click.Parameter, float | None], None]:
        def set_env(ctx: click.Context, param: click.Parameter, value: float | None) -> None:
            if value is not None:
                os.environ[name] = repr(value)
        return set_env

    command = click.option(
        "--run-limit", type=click.FloatRange(0), default=None, expose_value=False,
        callback=setter(RUN_SECONDS_ENV),
        help=f"Seconds one audit may take in all; 0: no limit [default: "
             f"{DEFAULT_RUN_SECONDS:g}, or {RUN_SECONDS_ENV}].")(command)
    return click.option(
        "--step-limit", type=click.FloatRange(0), default=None, expose_value=False,
        callback=setter(STEP_SECONDS_ENV),
        help=f"Seconds one step (reading the data, measuring or judging a clause) may take; "
             f"0: no limit [default: {DEFAULT_STEP_SECONDS:g}, or {STEP_SECONDS_ENV}].")(command)


def _fail(err: SlapolicyError) -> NoReturn:
    click.echo(f"error: {err}", err=True)
    sys.exit(exit_code_for(err))


@click.group(cls=WholeHelpGroup)
def keys() -> None:
    """Ed25519 signing keys for the policy's signatories.

    \b
    Exit codes: see each command."""


@keys.command("new")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Folder for the private key file (keep it out of the repository).")
@click.option("--person", required=True, help="The signatory's person id in the policy.")
def keys_new(out: Path, person: str) -> None:
    """Make a key pair: write <out>/<person>.key (mode 0600), print the public key line.

    \b
    Exit codes:
      0  the key was written
      2  the key file exists already, or the folder cannot be written
    """
    from slapolicy.trail.signing import new_key

    try:
        path, public = new_key(out, person)
    except SlapolicyError as e:
        _fail(e)
    click.echo(f"wrote {path} (Ed25519 private key, mode 0600): keep it secret, never commit "
               "it", err=True)
    click.echo(f"add this line to person {person!r} under `people:` in the policy:", err=True)
    click.echo(f"public_key: {public}")


@click.command()
@click.argument("audit_dir", type=click.Path(path_type=Path))
@click.option("--key", "key_path", type=click.Path(path_type=Path), required=True,
              help="Your private key file (from slapolicy keys new).")
def sign(audit_dir: Path, key_path: Path) -> None:
    """Sign an audit: its manifest hash and identity (policy, period, revision).

    \b
    Exit codes:
      0  signed (or already signed by this key)
      1  the audit's files no longer match its manifest: it is not signed
      2  the key is not a signatory's, the folder is not an audit, or a usage error
    """
    from slapolicy.trail.signing import sign_audit

    try:
        result = sign_audit(audit_dir, key_path)
    except SlapolicyError as e:
        _fail(e)
    state = result.state
    verb = "had already signed" if result.already else "signed"
    click.echo(f"{result.person_id} {verb} {state.policy_id} {state.period} revision "
               f"{state.revision} at {result.signed_at}; {state.describe()}")


@click.command()
@click.argument("audit_dir", type=click.Path(path_type=Path), required=False)
@click.option("--all", "everything", is_flag=True, help="Verify every audit under --audits.")
@click.option("--audits", type=click.Path(path_type=Path), default=Path("audits"),
              show_default=True, help="Root folder of audits (with --all).")
def verify(audit_dir: Path | None, everything: bool, audits: Path) -> None:
    """Check files against manifests, signatures against the policy's keys, and the ledger.

    Reports every problem found.

    \b
    Exit codes:
      0  every audit and the ledger check out
      1  a problem was found (each is listed)
      2  no such audit folder, or a usage error
    """
    from slapolicy.trail.signing import verify as verify_folders
    from slapolicy.trail.signing import verify_all

    if everything == (audit_dir is not None):
        click.echo("error: pass an audit folder, or --all", err=True)
        sys.exit(EXIT_USER)
    if audit_dir is not None:
        if not audit_dir.is_dir():
            click.echo(f"error: {audit_dir}: no such audit folder", err=True)
            sys.exit(EXIT_USER)
        report = verify_folders([audit_dir], audit_dir.parent.parent)
    else:
        if not audits.is_dir():
            click.echo(f"error: {audits}: no such audits folder", err=True)
            sys.exit(EXIT_USER)
        report = verify_all(audits)
    for a in report.audits:
        state = a.state.describe() if a.state else "no manifest"
        click.echo(f"{a.folder}: {'ok' if not a.problems else 'PROBLEMS'}; {state}")
    head = report.ledger_head[:16] if report.ledger_head else "none"
    click.echo(f"ledger: {report.ledger_entries} entries, "
               f"{'chain intact' if not report.ledger_problems else 'chain BROKEN'}, head {head}")
    for p in report.problems:
        click.echo(f"problem: {p}")
    if report.problems:
        click.echo(f"{len(report.problems)} problem(s) found", err=True)
        sys.exit(1)


@click.command("run-due")
@time_limit_options
@click.option("--policy", "policy_path", type=click.Path(path_type=Path), required=True,
              help="Policy YAML [default: the workspace's].")
@click.option("--data", required=True,
              help="Folder of CSV/Parquet files, a DuckDB file, or "
                   "postgresql://user@host:port/db?schema=name (password from "
                   "SLAPOLICY_PG_PASSWORD or the SLAPOLICY_SECRETS file).")
@click.option("--audits", type=click.Path(path_type=Path), default=Path("audits"),
              show_default=True, help="Root folder of audits.")
@click.option("--until", default=None, help="Last period to consider, e.g. 2026-09.")
@click.option("--now", "now_text", default=None,
              help="ISO instant to treat as now (periods ending after it are not closed).")
@click.option("--wait", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Seconds to wait for another run-due to finish before giving up (exit 4).")
@click.option("--data-zone", default=None, help="IANA zone of naive timestamps in the data.")
@click.option("--mapping", default=None,
              help="CRM export mapping for a --data folder of export files: hubspot, "
                   "salesforce, or a mapping YAML file (see docs/crm-exports.md).")
@notebook_option
@click.option("--expectations", type=click.Path(path_type=Path), default=None,
              help="Folder of compiled suites [default: expectations/ beside policies/].")
@scheduler_options
def run_due(policy_path: Path, data: str, audits: Path, until: str | None,
            now_text: str | None, wait: float, data_zone: str | None, mapping: str | None,
            notebook: Path | None, expectations: Path | None, as_json: bool, fail_on: str,
            notify: bool, cell_timeout: float | None) -> None:
    """Audit every closed period that has no audit yet, oldest first (for cron/timers).

    \b
    Exit codes:
      0  nothing due, or every audit completed with no outcome --fail-on names
      1  an audit completed with an outcome --fail-on names (default: a failing or
         errored clause)
      2  a policy, data, workspace or usage error: the period named was not audited
      3  an audit run failed (a cell raised, the kernel died, --cell-timeout or a time
         limit passed): the run stops there, later periods wait for the next run
      4  another run-due holds the lock; nothing was audited
    A run stops at the first period it cannot audit; earlier ones stay published.
    """
    from slapolicy.cli.progress import PeriodProgress
    from slapolicy.trail.scheduler import PeriodRun
    from slapolicy.trail.scheduler import run_due as run

    now = None
    if now_text:
        try:
            parsed = datetime.fromisoformat(now_text.replace("Z", "+00:00"))
        except ValueError:
            click.echo(f"error: --now {now_text!r} is not an ISO instant", err=True)
            sys.exit(EXIT_USER)
        now = parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed

    bar = PeriodProgress(None, "run-due")

    def show(r: PeriodRun) -> None:
        bar.done(r.period)
        if r.error is not None:
            click.echo(f"error: {r.period}: {r.error}", err=True)
        else:
            echo(f"{r.period}: {r.status} - {r.breaches} open breach(es) - "
                 f"{r.folder}/audit.html", as_json)

    try:
        with bar:
            report = run(policy_path, data, audits=audits, notebook=resolve_notebook(notebook),
                         until=until, now=now, wait=wait, data_zone=data_zone,
                         expectations=expectations, mapping=mapping, on_period=show,
                         cell_timeout=cell_timeout)
    except SlapolicyError as e:
        click.echo(f"error: {e}", err=True)
        finish(run_document("run-due", [], exit_code=exit_code_for(e), fail_on=fail_on,
                            error=e), as_json=as_json, notify=notify)
        return
    if not report.due:
        echo("nothing due: every closed period has an audit", as_json)
    folders = [r.folder for r in report.runs if r.folder is not None]
    failed = next((r for r in report.runs if r.error is not None), None)
    error = None if failed is None else {"type": "PeriodFailed", "period": failed.period,
                                         "message": failed.error, "exit_code": failed.code}
    finish(run_document("run-due", folders, exit_code=report.exit_code_for(fail_on),
                        fail_on=fail_on, error=error, due=report.due),
           as_json=as_json, notify=notify)


COMMANDS = (keys, sign, verify, run_due)

