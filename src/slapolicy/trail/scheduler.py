"""Scheduled runs: audit every closed period that has no audit yet, oldest first.

``slapolicy run-due`` is meant for cron or a systemd timer. It holds one lock per
audits root (``<audits>/.run-due.lock``) for the whole run, so two runs at the same
time never audit one period twice: the second waits up to ``--wait`` seconds and
then exits with code 4 and a message naming the holder. Each audit is published
atomically (see ``slapolicy.trail.notebook``); a run killed part-way leaves only a
hidden staging folder, which the next run removes before it audits the period.

Exit codes: 0 every audited period is clean (or nothing was due); 1 an audit
found failing clauses; 2 a policy, data or usage error; 3 an audit run failed
(a notebook cell raised, the kernel died, custom code tried to exit, or a step or
the run passed its time limit); 4 another run holds the lock. A run stops at the
first period it cannot audit, so periods are always audited oldest first.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slapolicy.errors import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    EXIT_RUN,
    EXIT_USER,
    SlapolicyError,
    exit_code_for,
    outcome_exit_code,
)
from slapolicy.policy.periods import Period, PeriodUnit
from slapolicy.trail.ledger import locked, utc_now
from slapolicy.trail.manifest import find_audit

if TYPE_CHECKING:
    from slapolicy.policy.document import PolicyDocument
    from slapolicy.trail.notebook import AuditOutputs

RUN_LOCK = ".run-due.lock"


# --- one audit ----------------------------------------------------------------------------


def run_audit(policy_path: Path, period: str, data: str | os.PathLike[str], *, audits: Path,
              notebook: Path, data_zone: str | None = None, as_of: datetime | None = None,
              expectations: Path | None = None, exceptions: Path | None = None,
              reason: str | None = None, cwd: Path | None = None, mapping: str | None = None,
              locale: str | None = None,
              cell_timeout: float | None = None) -> tuple[AuditOutputs, dict[str, Any]]:
    """Audit one period: check the policy, period, suite and data first (before a kernel
    starts), then run the notebook and publish: the one code path for ``run-due`` and,
    through ``slapolicy.cli.main``, ``audit`` and ``demo``. ``data`` may be a folder, a DuckDB
    file or a ``postgresql://`` URL. Returns the outputs and the results' summary."""
    from slapolicy.audit.history import load_history
    from slapolicy.policy.versions import in_force_path
    from slapolicy.trail.credentials import open_data

    # A saved version beside the policy applies from its version_from on; earlier
    # periods keep the version that was in force for them.
    policy_path = in_force_path(policy_path, period)
    doc, label = _prepare(policy_path, period, expectations)
    assert label is not None
    # Earlier periods feed the ladder, goals and rewards: refuse before a kernel starts.
    load_history(audits, doc.policy, Period.parse(label, doc.policy.periods.unit))
    with open_data(data, data_zone, mapping) as (local, described):
        return _audit_prepared(doc, policy_path, label, local, described, audits=audits,
                               notebook=notebook, data_zone=data_zone, as_of=as_of,
                               expectations=expectations, exceptions=exceptions,
                               reason=reason, cwd=cwd, mapping=mapping, locale=locale,
                               cell_timeout=cell_timeout)


def _prepare(policy_path: Path, period: str | None,
             expectations: Path | None) -> tuple[PolicyDocument, str | None]:
    from slapolicy.audit.run import default_expectations_dir
    from slapolicy.engine.suites import load_suite
    from slapolicy.policy.loader import load_policy

    doc = load_policy(policy_path)
    label = Period.parse(period, doc.policy.periods.unit).label if period else None
    load_suite(expectations or default_expectations_dir(policy_path), doc)
    return doc, label


def _audit_prepared(doc: PolicyDocument, policy_path: Path, label: str | None,
                    local: str | Path,
                    described: dict[str, Any], *, audits: Path, notebook: Path,
                    data_zone: str | None, as_of: datetime | None, expectations: Path | None,
                    exceptions: Path | None, reason: str | None, cwd: Path | None,
                    mapping: str | None = None, locale: str | None = None,
                    cell_timeout: float | None = None) -> tuple[AuditOutputs, dict[str, Any]]:
    from slapolicy.audit.results import load_results
    from slapolicy.audit.run import AuditRequest, audit_folder
    from slapolicy.trail.notebook import execute_audit

    assert label is not None
    request = AuditRequest(policy=policy_path, period=label, data=local, data_zone=data_zone,
                           as_of=as_of, expectations=expectations, exceptions=exceptions,
                           audits=audits, mapping=mapping, locale=locale)
    out = execute_audit(request, audit_folder(audits, doc.id, label), notebook, cwd=cwd,
                        reason=reason, source=described, cell_timeout=cell_timeout)
    summary: dict[str, Any] = load_results(out.results)["summary"]
    return out, summary


# --- which periods are due ----------------------------------------------------------------


def period_of(day: date, unit: PeriodUnit) -> Period:
    """The period of ``unit`` that contains ``day``."""
    if unit == "month":
        return Period.parse(f"{day.year:04d}-{day.month:02d}", unit)
    if unit == "quarter":
        return Period.parse(f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}", unit)
    iso = day.isocalendar()
    return Period.parse(f"{iso.year:04d}-W{iso.week:02d}", unit)


def closed_periods(doc: PolicyDocument, *, now: datetime,
                   until: Period | None = None) -> list[Period]:
    """Every period from the one holding ``effective_from`` whose end (local midnight in
    the policy's default calendar) is at or before ``now`` (naive UTC), up to ``until``
    and the policy's ``effective_until``, oldest first."""
    policy = doc.policy
    zone = policy.calendars[policy.default_calendar].time_zone
    out: list[Period] = []
    p = period_of(policy.effective_from, policy.periods.unit)
    while True:
        if until is not None and p.start > until.start:
            break
        if policy.effective_until is not None and p.start > policy.effective_until:
            break
        if p.bounds_utc(zone)[1] > now:
            break
        out.append(p)
        p = p.next()
    return out


def due_periods(doc: PolicyDocument, audits_root: Path, *, now: datetime,
                until: Period | None = None) -> list[Period]:
    """Closed periods with no audit under ``audits_root`` yet, oldest first."""
    return [p for p in closed_periods(doc, now=now, until=until)
            if find_audit(audits_root, doc.id, p.label) is None]


# --- the run ------------------------------------------------------------------------------


@contextmanager
def run_lock(audits_root: Path, wait: float) -> Iterator[Path]:
    """Hold ``<audits_root>/.run-due.lock``, waiting up to ``wait`` seconds for it.

    Raises ``LockTimeout`` (exit 4) naming the holder's pid, host and start time.
    """
    path = audits_root / RUN_LOCK
    with locked(path, timeout=wait, poll=0.2, what=f"the run-due lock {path}") as handle:
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {utc_now()}\n")
        handle.flush()
        yield path


@dataclass(frozen=True)
class PeriodRun:
    period: str
    code: int
    status: str | None = None
    breaches: int | None = None
    folder: Path | None = None
    error: str | None = None


@dataclass
class RunDueReport:
    due: list[str] = field(default_factory=list)
    runs: list[PeriodRun] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        codes = {r.code for r in self.runs}
        for code in (EXIT_RUN, EXIT_USER, EXIT_FINDINGS):
            if code in codes:
                return code
        return EXIT_CLEAN

    def exit_code_for(self, fail_on: str = "fail") -> int:
        """As ``exit_code``, with ``--fail-on`` deciding which audit outcomes exit 1."""
        codes = {r.code if r.status is None else outcome_exit_code(r.status, fail_on)
                 for r in self.runs}
        for code in (EXIT_RUN, EXIT_USER, EXIT_FINDINGS):
            if code in codes:
                return code
        return EXIT_CLEAN


def run_due(policy_path: Path, data: str | os.PathLike[str], *, audits: Path, notebook: Path,
            until: str | None = None, now: datetime | None = None, wait: float = 0,
            data_zone: str | None = None, expectations: Path | None = None,
            cwd: Path | None = None, mapping: str | None = None,
            on_period: Callable[[PeriodRun], None] | None = None,
            cell_timeout: float | None = None) -> RunDueReport:
    """Audit every due period (see ``due_periods``) under the run lock, oldest first.

    Policy, suite and lock problems raise (the CLI maps them to exit codes); a
    period that fails is recorded in the report and ends the run. ``now`` is naive
    UTC (default: the current time).
    """
    from slapolicy.engine.sources import DataSource
    from slapolicy.policy.versions import in_force_path
    from slapolicy.trail.credentials import PgLocation, is_postgres_url, open_data
    from slapolicy.trail.ledger import locked as publish_locked
    from slapolicy.trail.notebook import cleanup_stale
    from slapolicy.trail.signing import PUBLISH_LOCK

    doc, _ = _prepare(policy_path, None, expectations)
    if is_postgres_url(data):  # fail fast on a bad URL even when nothing is due
        PgLocation.parse(os.fspath(data))
    else:
        DataSource.from_arg(os.fspath(data), data_zone, mapping)
    last = Period.parse(until, doc.policy.periods.unit) if until else None
    when = now or datetime.now(UTC).replace(tzinfo=None)
    report = RunDueReport()
    audits.mkdir(parents=True, exist_ok=True)
    with run_lock(audits, wait):
        with publish_locked(audits / PUBLISH_LOCK, what="publishing and signing audits"):
            cleanup_stale(audits / doc.id)
        due = due_periods(doc, audits, now=when, until=last)
        report.due = [p.label for p in due]
        if not due:
            return report
        # One connection check and one password file serve every due period.
        with open_data(data, data_zone, mapping) as (local, described):
            for p in due:
                try:
                    path = in_force_path(policy_path, p.label)
                    pdoc = doc if path == policy_path else _prepare(path, p.label,
                                                                    expectations)[0]
                    out, summary = _audit_prepared(
                        pdoc, path, p.label, local, described, audits=audits,
                        notebook=notebook, data_zone=data_zone, as_of=None,
                        expectations=expectations, exceptions=None, reason=None, cwd=cwd,
                        mapping=mapping, cell_timeout=cell_timeout)
                except SlapolicyError as e:
                    run = PeriodRun(p.label, exit_code_for(e), error=_error_text(e))
                    report.runs.append(run)
                    if on_period:
                        on_period(run)
                    break
                run = PeriodRun(p.label, outcome_exit_code(summary["status"]),
                                summary["status"], summary["breaches"], out.folder)
                report.runs.append(run)
                if on_period:
                    on_period(run)
    return report


def _error_text(err: SlapolicyError) -> str:
    return str(err)
