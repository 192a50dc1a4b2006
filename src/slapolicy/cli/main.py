"""The ``slapolicy`` command. Only this module (and ``cli.trail``) maps errors to exit codes.

Exit codes: 0 clean (every clause passes or warns); 1 the audit found failing
clauses; 2 a policy, data or usage error to fix; 3 the audit run itself failed.
Inside a workspace (``slapolicy.toml``, see ``slapolicy.workspace``) the options take
their defaults from the workspace file; options given on the command line win.
"""

from __future__ import annotations

import json
import shutil
import sys
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
from slapolicy.cli.trail import time_limit_options
from slapolicy.engine.deferred import defer_slow_imports
from slapolicy.errors import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    SlapolicyError,
    exit_code_for,
    outcome_exit_code,
)

# Before papermill's nbformat imports jsonschema (engine.deferred says why).
defer_slow_imports()


def _fail(err: SlapolicyError) -> NoReturn:
    click.echo(f"error: {err}", err=True)
    sys.exit(exit_code_for(err))


@click.group(cls=WholeHelpGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="slapolicy")
@click.option("--workspace", "workspace_dir", type=click.Path(path_type=Path, file_okay=False),
              envvar="SLAPOLICY_WORKSPACE", default=None,
              help="Folder of the workspace to use (its slapolicy.toml or pyproject.toml "
                   "[tool.slapolicy]) [default: found from the current folder upwards; env "
                   "SLAPOLICY_WORKSPACE].")
@click.pass_context
def main(ctx: click.Context, workspace_dir: Path | None) -> None:
    """The marketing-sales SLA as code: audit periods, render and sign them off.

    Inside a workspace (made by `slapolicy init`), commands take the policy, data,
    audits folder, locale and time limits from its slapolicy.toml: `slapolicy audit
    --period 2026-10` is enough. Options given on the command line win.

    \b
    Exit codes (every command lists its own):
      0  done, nothing to report
      1  findings: a clause failed, a test case failed, verify found problems
      2  a policy, data, workspace or usage error to fix
      3  the audit run itself failed (a notebook cell raised, or timed out)
      4  run-due: another run holds the lock
    """
    from slapolicy.workspace import command_defaults, find_workspace, load_workspace

    ctx.obj = {"workspace": None}
    if ctx.invoked_subcommand == "init":
        return
    try:
        found = find_workspace(workspace_dir)
        if found is None and workspace_dir is not None:
            from slapolicy.errors import WorkspaceError

            raise WorkspaceError("no slapolicy.toml (or pyproject.toml with [tool.slapolicy]) "
                                 "in this folder or above it", path=str(workspace_dir),
                                 hint="pass the folder `slapolicy init` made, or run "
                                      "`slapolicy init` there")
        ws = load_workspace(found) if found is not None else None
    except SlapolicyError as e:
        _fail(e)
    if ws is not None:
        ctx.obj["workspace"] = ws
        ctx.default_map = command_defaults(ws)


@main.command()
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False), default=".")
@click.option("--force", is_flag=True, help="Overwrite files the workspace would hold.")
def init(folder: Path, force: bool) -> None:
    """Make a workspace in FOLDER (default: here): slapolicy.toml, a commented starter
    policy and Company A's example, the audit notebook, compiled suites and audits/.

    \b
    Exit codes:
      0  the workspace was written
      2  FOLDER already holds workspace files (pass --force), or cannot be written
    """
    from slapolicy.workspace import create_workspace, shown

    try:
        written = create_workspace(folder, force=force)
    except SlapolicyError as e:
        _fail(e)
    except OSError as e:
        click.echo(f"error: {folder}: {e.strerror or e}", err=True)
        sys.exit(2)
    for path in written:
        click.echo(f"wrote {shown(path)}")
    click.echo(f"workspace: {folder.resolve()}; edit policies/sla.yaml and [data] in "
               "slapolicy.toml, then: slapolicy audit --period YYYY-MM")


@main.command()
@time_limit_options
@click.option("--policy", "policy_path", type=click.Path(path_type=Path), required=True,
              help="Policy YAML, e.g. policies/company-a.yaml [default: the workspace's].")
@click.option("--period", required=True, help="Period label: 2026-10, 2026-Q4 or 2026-W05.")
@click.option("--data", required=True,
              help="Folder of <table>.csv/.parquet files, a DuckDB file, a "
                   "postgresql://user@host:port/db?schema=name URL (read in place; password "
                   "from the environment), or spark:/folder of Parquet files.")
@click.option("--data-zone", default=None, help="IANA zone of naive timestamps in the data.")
@click.option("--mapping", default=None,
              help="CRM export mapping for a --data folder of export files: hubspot, "
                   "salesforce, or a mapping YAML file (see docs/crm-exports.md).")
@click.option("--as-of", default=None, help="ISO instant (UTC) the data is complete to.")
@click.option("--locale", type=click.Choice(["en", "tr", "zh", "fa", "pl", "ko"]), default=None,
              help="Language of audit.html [default: the policy's report.locale].")
@click.option("--audits", type=click.Path(path_type=Path), default=Path("audits"),
              show_default=True, help="Root folder of audits.")
@notebook_option
@click.option("--expectations", type=click.Path(path_type=Path), default=None,
              help="Folder of compiled suites [default: expectations/ beside policies/].")
@click.option("--exceptions", type=click.Path(path_type=Path), default=None,
              help="Period file of excusals [default: policies/exceptions/<id>/<period>.yaml].")
@click.option("--backfill", is_flag=True,
              help="Audit earlier periods that have no audit first, oldest first.")
@click.option("--reason", default=None,
              help="Why the period is audited again (required when its audit is signed; "
                   "recorded in the ledger).")
@scheduler_options
def audit(policy_path: Path, period: str, data: str, data_zone: str | None,
          mapping: str | None, as_of: str | None, locale: str | None, audits: Path,
          notebook: Path | None, expectations: Path | None, exceptions: Path | None,
          backfill: bool, reason: str | None, as_json: bool, fail_on: str, notify: bool,
          cell_timeout: float | None) -> None:
    """Audit one period: run the notebook, write <audits>/<policy>/<period>/.

    \b
    Exit codes:
      0  the audit completed; no outcome --fail-on names (default: no clause failed or
         errored; clauses that could not be measured are listed, not failed)
      1  the audit completed and found an outcome --fail-on names
      2  a policy, data, workspace or usage error to fix: nothing was audited
      3  the audit run itself failed (a notebook cell raised or passed --cell-timeout)
    """
    folders: list[Path] = []
    error: SlapolicyError | None = None
    try:
        code = _audit_one(policy_path, period, data, data_zone, as_of, audits,
                          resolve_notebook(notebook), expectations, exceptions, backfill,
                          reason, mapping, locale, fail_on=fail_on, cell_timeout=cell_timeout,
                          done=folders, quiet=as_json)
    except SlapolicyError as e:
        click.echo(f"error: {e}", err=True)
        code, error = exit_code_for(e), e
    finish(run_document("audit", folders, exit_code=code, fail_on=fail_on, error=error),
           as_json=as_json, notify=notify)


def _audit_one(policy_path: Path, period: str, data: str, data_zone: str | None,
               as_of: str | None, audits: Path, notebook: Path,
               expectations: Path | None = None, exceptions: Path | None = None,
               backfill: bool = False, reason: str | None = None,
               mapping: str | None = None, locale: str | None = None, *,
               fail_on: str = "fail", cell_timeout: float | None = None,
               done: list[Path] | None = None, quiet: bool = False) -> int:
    from slapolicy.cli.progress import PeriodProgress
    from slapolicy.errors import HistoryMissingError
    from slapolicy.trail.scheduler import run_audit

    when = _instant(as_of)
    kwargs = dict(audits=audits, notebook=notebook, data_zone=data_zone, as_of=when,
                  expectations=expectations, mapping=mapping, locale=locale,
                  cell_timeout=cell_timeout)
    done = [] if done is None else done
    try:
        out, summary = run_audit(policy_path, period, data, exceptions=exceptions,
                                 reason=reason, **kwargs)  # type: ignore[arg-type]
    except HistoryMissingError as e:
        if not backfill:
            raise
        with PeriodProgress(len(e.missing) + 1, "backfill") as bar:
            for missing in e.missing:  # oldest first: each one's history is then complete
                earlier, earlier_summary = run_audit(policy_path, missing, data,
                                                     **kwargs)  # type: ignore[arg-type]
                done.append(earlier.folder)
                _echo_run(earlier, earlier_summary, quiet)
                bar.done(missing)
        out, summary = run_audit(policy_path, period, data, exceptions=exceptions,
                                 reason=reason, **kwargs)  # type: ignore[arg-type]
    done.append(out.folder)
    _echo_run(out, summary, quiet)
    return outcome_exit_code(summary["status"], fail_on)


def _echo_run(out: Any, summary: dict[str, Any], quiet: bool = False) -> None:
    results = json.loads(out.results.read_text(encoding="utf-8"))
    unmeasured = [c["clause_id"] for c in results["clauses"] if c["status"] == "not_measured"]
    note = (f" - not measured: {', '.join(unmeasured)}" if unmeasured else "")
    echo(f"{results['policy']['id']} {results['period']['label']}: {summary['status']} - "
         f"{summary['breaches']} open breach(es){note} - {out.html}", quiet)


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO instant", param_hint="--as-of") from None
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo is not None else when


@main.command(name="compile")
@click.option("--policy", "policy_path", type=click.Path(path_type=Path), required=True,
              help="Policy YAML [default: the workspace's].")
@click.option("--expectations", type=click.Path(path_type=Path), default=None,
              help="Output folder [default: expectations/ beside policies/].")
def compile_(policy_path: Path, expectations: Path | None) -> None:
    """Compile the policy's clauses to a Great Expectations suite (JSON, for review).

    Audits refuse a suite that does not match the policy's content hash.

    \b
    Exit codes:
      0  the suite was written
      2  the policy is broken (the message names the file, line and a fix)
    """
    from slapolicy.audit.run import default_expectations_dir
    from slapolicy.engine.suites import write_suite
    from slapolicy.policy.loader import load_policy

    try:
        doc = load_policy(policy_path)
        path = write_suite(expectations or default_expectations_dir(policy_path), doc)
    except SlapolicyError as e:
        _fail(e)
    click.echo(f"{doc.id} {doc.version} ({doc.content_hash[:12]}): {path}")


@main.command(name="check-data")
@click.option("--policy", "policy_path", type=click.Path(path_type=Path), required=True,
              help="Policy YAML [default: the workspace's].")
@click.option("--data", required=True,
              help="Folder of <table>.csv/.parquet files, a DuckDB file, or an export folder "
                   "with --mapping.")
@click.option("--data-zone", default=None, help="IANA zone of naive timestamps in the data.")
@click.option("--mapping", default=None,
              help="CRM export mapping: hubspot, salesforce, or a mapping YAML file.")
def check_data_(policy_path: Path, data: str, data_zone: str | None,
                mapping: str | None) -> None:
    """Report what the data holds for the policy, before any audit (no kernel starts).

    Per table: rows read, used and set aside, and columns it lacks; why rows were set
    aside; which clauses the data cannot measure.

    \b
    Exit codes:
      0  every enabled clause can be measured and no table is over the quarantine bound
      1  a clause cannot be measured, or a table is over the policy's quarantine bound
      2  a policy, data or usage error to fix
    """
    from slapolicy.audit.datacheck import check_data
    from slapolicy.engine.sources import DataSource
    from slapolicy.policy.loader import load_policy

    try:
        doc = load_policy(policy_path)
        result = check_data(doc, DataSource.from_arg(data, data_zone, mapping))
    except SlapolicyError as e:
        _fail(e)
    for line in result.lines():
        click.echo(line)
    sys.exit(EXIT_CLEAN if result.ok else EXIT_FINDINGS)


@main.command(name="test")
@click.option("--policy", "policy_path", type=click.Path(path_type=Path), required=True,
              help="Policy YAML [default: the workspace's].")
@click.option("--cases", type=click.Path(path_type=Path), default=None,
              help="Case file or folder [default: tests/<policy id>/ beside the policy].")
def test_(policy_path: Path, cases: Path | None) -> None:
    """Run the policy's test cases (given data, expected verdicts); exit 1 if any fails.

    \b
    Exit codes:
      0  every case passes
      1  a case failed (each failure is listed)
      2  a policy, case file or usage error to fix
    """
    from slapolicy.audit.policytests import case_files, run_case
    from slapolicy.policy.loader import load_policy

    try:
        doc = load_policy(policy_path)
        results = [run_case(doc, path) for path in case_files(doc, cases)]
    except SlapolicyError as e:
        _fail(e)
    for r in results:
        click.echo(f"{'PASS' if r.passed else 'FAIL'} {r.path.name}: {r.name}")
        for failure in r.failures:
            click.echo(f"    - {failure}")
    failed = sum(not r.passed for r in results)
    click.echo(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(EXIT_FINDINGS if failed else EXIT_CLEAN)


@main.command()
@click.option("--policy", "policy_path", type=click.Path(path_type=Path),
              default=Path("policies/company-a.yaml"), show_default=True,
              help="Company A's policy; written from the packaged example if it is missing.")
@click.option("--data", type=click.Path(path_type=Path), default=Path("data/demo.duckdb"),
              show_default=True, help="Where to write the demo DuckDB file.")
@click.option("--start", default="2020-01", show_default=True,
              help="First demo month (the policy covers 2020).")
@click.option("--months", default=6, show_default=True, type=click.IntRange(1, 36),
              help="How many months to generate and audit.")
@click.option("--leads-per-month", default=3000, show_default=True, type=click.IntRange(10),
              help="Leads created a month (fewer is quicker).")
@click.option("--seed", default=20200101, show_default=True,
              help="Random seed: the same seed gives the same data, byte for byte.")
@click.option("--audits", type=click.Path(path_type=Path), default=Path("audits"),
              show_default=True, help="Root folder of audits.")
@notebook_option
def demo(policy_path: Path, data: Path, start: str, months: int, leads_per_month: int,
         seed: int, audits: Path, notebook: Path | None) -> None:
    """Generate Company A demo data into DuckDB and audit every demo month.

    Works in an empty folder: the Company A policy and the audit notebook come from the
    package when the folder has none.

    \b
    Exit codes:
      0  the data was written and every month audited (findings are the demo's story)
      2  a policy, data or usage error to fix
      3  an audit run failed
    """
    from slapolicy.audit.run import default_expectations_dir
    from slapolicy.cli.progress import PeriodProgress
    from slapolicy.demo import generate as demo_data
    from slapolicy.engine.suites import write_suite
    from slapolicy.policy.loader import load_policy
    from slapolicy.policy.periods import Period
    from slapolicy.workspace import packaged_example

    ctx = click.get_current_context()
    if (not policy_path.exists()
            and ctx.get_parameter_source("policy_path") != click.core.ParameterSource.COMMANDLINE):
        policy_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(packaged_example(), policy_path)
        click.echo(f"wrote {policy_path} (the Company A example that slapolicy ships)")
    notebook = resolve_notebook(notebook)
    try:
        suite = write_suite(default_expectations_dir(policy_path), load_policy(policy_path))
        click.echo(f"compiled: {suite}")
        first = Period.parse(start, "month")
        config = demo_data.DemoConfig(start=first.label, months=months,
                                      leads_per_month=leads_per_month, seed=seed)
        data.parent.mkdir(parents=True, exist_ok=True)
        demo_data.write_duckdb(demo_data.generate(config), data)
        click.echo(f"demo data: {data} ({months} months from {first.label}, seed {seed})")
        period = first
        with PeriodProgress(months, "demo") as bar:
            for _ in range(months):
                _audit_one(policy_path, period.label, str(data), None, None, audits, notebook)
                bar.done(period.label)
                period = period.next()
    except SlapolicyError as e:
        _fail(e)
    click.echo(f"audits: {audits.resolve()}")


@main.group()
def reward() -> None:
    """Record decisions about rewards (the team leads' split of an earned pool).

    \b
    Exit codes: see each command."""


@reward.command("split")
@click.option("--policy", "policy_path", type=click.Path(path_type=Path), required=True,
              help="Policy YAML [default: the workspace's].")
@click.option("--period", required=True, help="The month whose pool is split, e.g. 2020-06.")
@click.option("--share", "shares", multiple=True, required=True, metavar="TEAM=AMOUNT",
              help="A team's share of the pool, e.g. --share marketing=2500 (repeat).")
@click.option("--approved-by", "approved_by", multiple=True, required=True,
              help="Team lead person id (repeat; both leads must approve).")
@click.option("--audits", type=click.Path(path_type=Path), default=Path("audits"),
              show_default=True, help="Root folder of audits.")
def reward_split(policy_path: Path, period: str, shares: tuple[str, ...],
                 approved_by: tuple[str, ...], audits: Path) -> None:
    """Record how the team leads split an earned monthly pool (in the ledger).

    \b
    Exit codes:
      0  the split was recorded
      2  the policy does not allow it (pool not earned, wrong approvers, shares that do not
         add up) or a usage error
    """
    from slapolicy.audit.decisions import record_split
    from slapolicy.policy.loader import load_policy

    try:
        parsed = dict(_pair(s) for s in shares)
        entry = record_split(audits, load_policy(policy_path), period, parsed, list(approved_by))
    except SlapolicyError as e:
        _fail(e)
    click.echo(f"{period} pool split: " + ", ".join(f"{k} {v}" for k, v in entry["shares"].items()))


def _pair(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise click.BadParameter(f"{text!r} is not TEAM=AMOUNT", param_hint="--share")
    team, amount = text.split("=", 1)
    return team.strip(), amount.strip()


@main.group()
def dispute() -> None:
    """Dispute breaches before the conflict panel, and record its decisions.

    \b
    Exit codes: see each command."""


@dispute.command("raise")
@click.option("--policy", "policy_path", type=click.Path(path_type=Path), required=True,
              help="Policy YAML [default: the workspace's].")
@click.option("--period", required=True, help="Period of the audit holding the breach.")
@click.option("--clause", "clause_id", required=True, help="Clause id of the breach.")
@click.option("--subject", "subject_id", required=True,
              help="Subject id of the breach (a lead, rep or marketer id).")
@click.option("--by", "raised_by", required=True, help="Person id raising the dispute.")
@click.option("--reason", required=True, help="Why the breach is disputed.")
@click.option("--audits", type=click.Path(path_type=Path), default=Path("audits"),
              show_default=True, help="Root folder of audits.")
def dispute_raise(policy_path: Path, period: str, clause_id: str, subject_id: str,
                  raised_by: str, reason: str, audits: Path) -> None:
    """Dispute one breach; it goes to the policy's conflict panel.

    \b
    Exit codes:
      0  the dispute was recorded
      2  no such breach, or a policy or usage error
    """
    from slapolicy.audit.decisions import raise_dispute
    from slapolicy.policy.loader import load_policy

    try:
        entry = raise_dispute(audits, load_policy(policy_path), period, clause_id, subject_id,
                              raised_by, reason)
    except SlapolicyError as e:
        _fail(e)
    click.echo(f"{entry['id']} raised; panel: {', '.join(entry['panel'])}")


@dispute.command("decide")
@click.option("--policy", "policy_path", type=click.Path(path_type=Path), required=True,
              help="Policy YAML [default: the workspace's].")
@click.option("--id", "dispute_id", required=True, help="Dispute id (from dispute raise/list).")
@click.option("--decision", type=click.Choice(["upheld", "overturned"]), required=True,
              help="The panel's decision: the breach is upheld or overturned.")
@click.option("--by", "decided_by", multiple=True, required=True, help="Panel member (repeat).")
@click.option("--note", default="", help="The panel's note, kept with the decision.")
@click.option("--audits", type=click.Path(path_type=Path), default=Path("audits"),
              show_default=True, help="Root folder of audits.")
def dispute_decide(policy_path: Path, dispute_id: str, decision: str,
                   decided_by: tuple[str, ...], note: str, audits: Path) -> None:
    """Record the conflict panel's binding decision.

    \b
    Exit codes:
      0  the decision was recorded
      2  unknown dispute, deciders not on the panel, or a usage error
    """
    from slapolicy.audit.decisions import decide_dispute
    from slapolicy.policy.loader import load_policy

    try:
        entry = decide_dispute(audits, load_policy(policy_path), dispute_id, decision,
                               list(decided_by), note)
    except SlapolicyError as e:
        _fail(e)
    click.echo(f"{entry['id']}: {entry['decision']} by {', '.join(entry['decided_by'])}")


@dispute.command("list")
@click.option("--policy", "policy_path", type=click.Path(path_type=Path), required=True,
              help="Policy YAML [default: the workspace's].")
@click.option("--audits", type=click.Path(path_type=Path), default=Path("audits"),
              show_default=True, help="Root folder of audits.")
def dispute_list(policy_path: Path, audits: Path) -> None:
    """List disputes and their decisions.

    \b
    Exit codes:
      0  listed (none is fine)
      2  a policy or usage error
    """
    from slapolicy.audit.decisions import disputes
    from slapolicy.policy.loader import load_policy

    try:
        items = disputes(audits, load_policy(policy_path).id)
    except SlapolicyError as e:
        _fail(e)
    for d in items:
        click.echo(f"{d['id']} {d['period']} {d['clause_id']} {d['subject_id']}: {d['status']}"
                   f" (raised by {d['raised_by']}: {d['reason']})")


from slapolicy.cli.trail import COMMANDS  # noqa: E402

for _command in COMMANDS:
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
