"""Audit one period: the single code path the CLI, the notebook and the tests share."""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

from slapolicy.audit.history import load_history
from slapolicy.audit.judging import judge_clause
from slapolicy.audit.results import AuditResult, ClauseResult
from slapolicy.audit.review import review_status
from slapolicy.audit.standing import assess
from slapolicy.audit.steps import Steps
from slapolicy.audit.timings import StepClock
from slapolicy.clauses import registry
from slapolicy.clauses.base import ClauseKind
from slapolicy.engine.breaches import BreachSource, write_breaches
from slapolicy.engine.context import AuditContext, Engine
from slapolicy.engine.facts import FACTS_DIR, FactsStore
from slapolicy.engine.sources import DataSource, LoadReport, read_in_place
from slapolicy.engine.suites import load_suite
from slapolicy.errors import DataSourceError, PluginExitError, TimeLimitError
from slapolicy.policy.document import PolicyDocument
from slapolicy.policy.excusals import Excusals
from slapolicy.policy.loader import load_policy
from slapolicy.policy.model import Clause
from slapolicy.policy.periods import Period, check_in_force

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditRequest:
    """What to audit: the parameters of ``notebooks/audit.ipynb``.

    ``audits`` is the root of earlier audits, which the ladder, goals and rewards read
    (without it the audit states it has no history). ``expectations`` is the folder of
    compiled suites (default: ``expectations/``
    beside the policy's folder); ``exceptions`` a period file of excusals
    (default: ``<policy folder>/exceptions/<policy id>/<period>.yaml`` if present).
    """

    policy: Path
    period: str
    #: A folder, a DuckDB file, or a source read in place (``postgresql://``, ``spark:``).
    data: Path | str
    data_zone: str | None = None
    mapping: str | None = None
    #: Language of the rendered page (en, tr, zh, fa, pl, ko); None: the policy's.
    locale: str | None = None
    as_of: datetime | None = None
    expectations: Path | None = None
    exceptions: Path | None = None
    audits: Path | None = None
    output: Path | None = None
    #: Read every row of the event tables, not only the period's window (``audit_window``):
    #: the same verdicts, slower; for checking that they are the same.
    read_all: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.data, str) and not read_in_place(self.data):
            object.__setattr__(self, "data", Path(self.data))

    def data_param(self) -> str:
        """``data`` as the notebook's parameter: an absolute path, or the URL."""
        return self.data if isinstance(self.data, str) else str(self.data.resolve())

    def expectations_dir(self) -> Path:
        return self.expectations or default_expectations_dir(self.policy)

    def exceptions_file(self, policy_id: str, period: str) -> Path:
        return self.exceptions or (
            self.policy.resolve().parent / "exceptions" / policy_id / f"{period}.yaml")


def default_expectations_dir(policy: Path) -> Path:
    return policy.resolve().parent.parent / "expectations"


def audit_period(request: AuditRequest) -> AuditResult:
    """Measure and judge every enabled clause of the policy for the period."""
    doc = load_policy(request.policy)
    return audit_document(doc, request)


def audit_document(doc: PolicyDocument, request: AuditRequest, *,
                   compiled: bool = True, only: set[str] | None = None) -> AuditResult:
    """Audit with an already loaded policy.

    Each check's facts are measured once, kept as Parquet under ``<output>/facts/``,
    and judged from there; the engine writes ``breaches.parquet`` and
    ``breaches.csv`` into ``<output>`` (a fresh temporary folder when the request
    names none). ``compiled=False`` skips the suite file (policy tests and what-if
    runs judge a policy that was never compiled); ``only`` limits the audit to those
    clause ids.
    """
    import ibis

    period = Period.parse(request.period, doc.policy.periods.unit)
    check_in_force(period, doc.policy.effective_from, doc.policy.effective_until, doc.id)
    history = load_history(request.audits, doc.policy, period)  # stop early if incomplete
    suite = load_suite(request.expectations_dir(), doc) if compiled else None
    excusals = Excusals.for_period(doc.policy, period.label,
                                   request.exceptions_file(doc.id, period.label))
    source = DataSource.from_arg(request.data, request.data_zone, request.mapping)
    as_of = utc_naive(request.as_of) if request.as_of else None
    # Without a given as-of, the data's latest instant is the as-of: a row from the future
    # (after this run's clock) is quarantined so that it cannot move it. A given as-of is
    # the user's statement; rows after it stay (later periods' data) and clauses treat
    # what is not complete at as-of as open.
    clauses = [c for c in doc.policy.clauses
               if c.enabled and (only is None or c.id in only)]
    clock = StepClock()  # how long each step took (timings.json)
    steps = Steps(request.output)  # names each step for the runner; limits each one
    with steps.step("reading the data"), clock.step("load"):
        engine = Engine.from_source(
            source, not_after=None if as_of else utc_naive(datetime.now(UTC)),
            needs=audit_needs(doc, clauses),
            window=None if request.read_all else audit_window(doc, clauses, period))
        check_quarantine(engine.load, doc.policy.data.max_quarantined_share)
        ctx = AuditContext.build(doc, period, engine, as_of=as_of)
    folder = request.output or Path(tempfile.mkdtemp(prefix=f"slapolicy-{doc.id}-{period.label}-"))
    folder.mkdir(parents=True, exist_ok=True)
    with steps.step("hashing the rows read"), clock.step("quarantine and input hashes"):
        engine.write_quarantine(folder)
        inputs = engine.content_hashes()
    store = FactsStore.create(folder / FACTS_DIR, {
        "policy_id": doc.id, "policy_version": doc.version, "policy_hash": doc.content_hash,
        "period": period.label, "as_of": ctx.as_of.isoformat() + "Z",
        "data": inputs, "declared_zone": source.declared_zone})
    for clause in clauses:
        with steps.step(f"measuring clause {clause.id} ({clause.kind})"), \
                clock.step(f"measure {clause.id}"):
            measure_clause(ctx, store, clause)
    store.write_index()

    judge_con = ibis.duckdb.connect()
    results: list[ClauseResult] = []
    sources: list[BreachSource] = []
    with clock.step("judge"):
        for clause in clauses:
            with steps.step(f"judging clause {clause.id} ({clause.kind})"):
                result, found = judge_clause(judge_con, store, doc, clause, period, excusals,
                                             suite)
            results.append(result)
            sources.extend(found)
    with steps.step("writing breaches and standing"), clock.step("breaches"):
        write_breaches(judge_con, sources, folder)
        standing = assess(doc.policy, period, results, history, review_status(ctx))
    clock.write(folder)
    steps.finish()
    start, end = ctx.bounds
    return AuditResult(
        policy_id=doc.id,
        policy_version=doc.version,
        policy_hash=doc.content_hash,
        period=period.label,
        period_start=start.isoformat() + "Z",
        period_end=end.isoformat() + "Z",
        as_of=ctx.as_of.isoformat() + "Z",
        data={"kind": source.kind, "declared_zone": source.declared_zone,
              "mapping": source.mapping,
              "exceptions": [Path(s).name if s != "policy" else s for s in excusals.sources],
              **engine.load.to_dict()},
        clauses=results,
        folder=folder,
        standing=standing.body,
    )


#: What the audit reads besides its clauses: calendars by region, and the review triggers'
#: funnel rates.
AUDIT_READS: dict[str, frozenset[str]] = {
    "people": frozenset({"person_id", "region"}),
    "leads": frozenset({"lead_id", "created_at", "mql_at", "sql_at"}),
}


def audit_needs(doc: PolicyDocument, clauses: list[Clause]) -> dict[str, frozenset[str]] | None:
    """The tables and columns the audit reads: the clauses' declared reads and its own.

    None (every table and column required) when a clause kind does not declare its reads.
    """
    needs: dict[str, set[str]] = {t: set(c) for t, c in AUDIT_READS.items()}
    for clause in clauses:
        kind = registry.get(clause.kind)
        reads = kind.reads(clause, doc.params_for(clause.id))
        if reads is None:
            return None
        for table, cols in reads.items():
            needs.setdefault(table, set()).update(cols)
    return {t: frozenset(c) for t, c in needs.items()}


#: A day starts within 14 hours of UTC's midnight anywhere: two days before the first
#: day the clauses look at is before it in every zone.
WINDOW_MARGIN = timedelta(days=2)


def audit_window(doc: PolicyDocument, clauses: list[Clause],
                 period: Period) -> dict[str, datetime]:
    """Where each event table is read from for ``period`` (naive UTC): the earliest day
    any clause reading it looks at (``ClauseKind.reads_since``), less ``WINDOW_MARGIN``."""
    from slapolicy.engine.sources import WINDOWED

    since: dict[str, date] = {}
    whole: set[str] = set()
    for clause in clauses:
        kind = registry.get(clause.kind)
        params = doc.params_for(clause.id)
        reads = kind.reads(clause, params)
        # A plug-in's kind that does not say how far back it looks, or what it reads, is
        # given every row: a window it never asked for could change its figures unseen.
        custom = not type(kind).__module__.startswith("slapolicy.clauses.")
        silent = custom and type(kind).reads_since is ClauseKind.reads_since
        day = kind.reads_since(doc.policy, clause, params, period)
        for table in WINDOWED if reads is None else reads:
            if table in WINDOWED:
                since[table] = min(since.get(table, day), day)
                if silent or reads is None:
                    whole.add(table)
    return {t: datetime.combine(since.get(t, period.start), dtime()) - WINDOW_MARGIN
            for t in WINDOWED if t not in whole}


def measure_clause(ctx: AuditContext, store: FactsStore, clause: Clause) -> None:
    """Measure one clause and keep each check's facts; failures are kept as the reason."""
    kind = registry.get(clause.kind)
    params = ctx.doc.params_for(clause.id)
    specs = kind.checks(clause, params)
    reads = kind.reads(clause, params)
    broken = ctx.engine.load.unusable_for(reads)
    if broken:  # a table it reads could not be read: this clause errs, the audit goes on
        for spec in specs:
            store.note(clause.id, clause.kind, spec.name, error="; ".join(broken))
        return
    lacks = ctx.engine.load.lacks(reads)
    if lacks:  # nothing to measure: say what is missing, never count it as met
        for spec in specs:
            store.note(clause.id, clause.kind, spec.name,
                       not_measured=f"the data has no {', '.join(lacks)}")
        return
    try:
        measured = kind.measure(ctx, clause, params)
    except (PluginExitError, TimeLimitError):
        raise  # the run stops (exit 3): custom code tried to end it, or a step hung
    except Exception as e:  # a clause that cannot be measured must say why, not vanish
        log.exception("clause %s could not be measured", clause.id)
        for spec in specs:
            store.note(clause.id, clause.kind, spec.name, error=f"{type(e).__name__}: {e}")
        return
    for spec in specs:
        facts = measured.get(spec.name)
        if facts is None or facts.table is None:
            store.note(clause.id, clause.kind, spec.name,
                       error=(facts.error if facts else None)
                       or "the kind measured no facts for this check")
            continue
        try:
            store.keep(ctx.engine.backend, clause.id, clause.kind, spec.name, facts.table,
                       notes=facts.notes, local=ctx.engine.local)
        except Exception as e:
            log.exception("facts of %s:%s could not be kept", clause.id, spec.name)
            store.note(clause.id, clause.kind, spec.name, error=f"{type(e).__name__}: {e}")


FAILURE_FILE = "failure.json"


def utc_naive(when: datetime) -> datetime:
    """An instant as the engine holds it: naive UTC (a naive input is taken as UTC)."""
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when


def check_quarantine(load: LoadReport, max_share: float) -> None:
    """Stop, listing every problem found, when a table has more bad rows than allowed."""
    over = {n: t for n, t in load.tables.items()
            if t.read and t.quarantined / t.read > max_share}
    if not over:
        return
    tables = "; ".join(f"{n}: {t.quarantined} of {t.read} rows ({t.quarantined / t.read:.1%})"
                       for n, t in sorted(over.items()))
    reasons = "\n    ".join(f"{reason} ({count} row(s))" for reason, count in sorted(
        load.reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    raise DataSourceError(
        f"too many rows break the data contract ({tables}; the policy allows "
        f"{max_share:.1%}). Every problem found:\n    {reasons}",
        hint="correct the data at its source (docs/data-contract.md gives the rules), or "
             "raise data.max_quarantined_share in the policy",
    )


def record_failure(folder: Path, error: BaseException) -> Path:
    """Record, for the process that runs the notebook, why the audit failed and its exit
    code (so the CLI need not recognise error classes by name)."""
    from slapolicy.errors import exit_code_for

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FAILURE_FILE
    body = {"exit_code": exit_code_for(error), "error": type(error).__name__,
            "message": str(error)}
    path.write_text(json.dumps(body, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    return path


def audit_folder(root: Path, policy_id: str, period: str) -> Path:
    """Where a period's audit lives: ``<root>/<policy id>/<period>/``."""
    return root / policy_id / period
