"""Benchmarks: what one audited month costs, on generated data. Prints figures; asserts nothing.

Run: ``make bench`` (10k, 100k and 1M leads), or for instance
``.venv/bin/python benchmarks/bench_audit.py --sizes 10000,100000 --repeats 30``.

For each size (leads created in the month, one month audited, about 10 activities
per lead) the script

1. generates the data once per (size, seed, activities per lead) as Parquet files
   under ``--cache`` (default ``/tmp/slapolicy-bench``), in a child process, and
   reuses them on later runs;
2. audits it in process with ``audit_document``, timing each clause's
   ``measure_clause`` (the engine computes and keeps its facts) and ``judge_clause``
   (thresholds, pandera, Great Expectations), the breach files, and the setup
   (load, contract validation, context); Great Expectations and pandera are warmed
   up first by a whole audit of the 10k dataset, so no figure pays for their imports;
3. compares the speed-to-lead clause as a whole (measure, judge, breaches written)
   with hand-written DuckDB SQL computing the same facts from the same tables and
   writing the same breaches to Parquet, in the same engine, and checks both find
   the same breaches;
4. at ``--rejudge-size`` (100k), judges speed to lead again from the kept facts under
   a new threshold (``rejudge`` and ``judge_clause(verify=False)``), ``--repeats`` times;
5. runs ``slapolicy audit`` end to end (papermill, kernel, publishing) as a
   subprocess, polling the resident memory of its whole process tree every 50 ms.

A test run on the machine (``pgrep -f pytest``) disturbs the figures: the script watches
for one and names the sizes to measure again. ``docs/performance.md`` explains every
figure and records a run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "policies" / "company-a.yaml"
NOTEBOOK = ROOT / "notebooks" / "audit.ipynb"
START = "2020-01"  # the policy's first period: an audit of it needs no history
CLAUSE = "speed-to-lead"
WARMUP_LEADS = 10_000  # the warm-up audit's size
# The command as the tests run it (python -m): the same code as the `slapolicy` script.
CLI = [sys.executable, "-m", "slapolicy.cli.main"]
GIB = 1024 ** 3
MIB = 1024 ** 2


# --- data -----------------------------------------------------------------------------------


def dataset_dir(cache: Path, leads: int, seed: int, per_lead: float) -> Path:
    """Keyed by size, seed, activities per lead and the generator's source (a changed
    generator makes new data, never reuses stale files)."""
    import hashlib

    from slapolicy.demo import generate as demo

    code = hashlib.sha256(Path(demo.__file__).read_bytes()).hexdigest()[:8]
    return cache / f"leads{leads}-seed{seed}-apl{per_lead:g}-gen{code}"


def ensure_dataset(cache: Path, leads: int, seed: int, per_lead: float) -> tuple[Path, dict]:
    """The cached Parquet folder for one size; generated in a child process if missing."""
    folder = dataset_dir(cache, leads, seed, per_lead)
    info = folder / "generated.json"
    if not info.is_file():
        cmd = [sys.executable, __file__, "--generate-one", str(leads), "--seed", str(seed),
               "--activities-per-lead", str(per_lead), "--cache", str(cache)]
        subprocess.run(cmd, check=True)
    return folder, json.loads(info.read_text())


def generate_one(cache: Path, leads: int, seed: int, per_lead: float) -> None:
    import resource

    from slapolicy.demo import generate as demo

    folder = dataset_dir(cache, leads, seed, per_lead)
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    config = demo.DemoConfig(start=START, months=1, leads_per_month=leads, seed=seed,
                             activities_per_lead=per_lead)
    t0 = time.perf_counter()
    tables = demo.generate(config)
    t1 = time.perf_counter()
    demo.write_folder(tables, tmp, "parquet")
    t2 = time.perf_counter()
    rows = {name: t.num_rows for name, t in tables.items()}
    (tmp / "generated.json").write_text(json.dumps({
        "config": {"start": START, "months": 1, "leads_per_month": leads, "seed": seed,
                   "activities_per_lead": per_lead},
        "rows": rows, "generate_s": t1 - t0, "write_parquet_s": t2 - t1,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    print(f"generated {folder}: {rows['leads']} leads, {rows['activities']} activities in "
          f"{t1 - t0:.1f} s (+{t2 - t1:.1f} s Parquet)", flush=True)


def compile_policy(cache: Path) -> Path:
    """``slapolicy compile`` into the cache (the repository's expectations/ is left alone)."""
    out = cache / "expectations"
    subprocess.run([*CLI, "compile", "--policy", str(POLICY), "--expectations", str(out)],
                   check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    return out


# --- in-process audit, timed piece by piece ----------------------------------------------


@dataclass
class AuditFigures:
    setup: dict[str, float] = field(default_factory=dict)
    measure: dict[str, float] = field(default_factory=dict)
    judge: dict[str, float] = field(default_factory=dict)
    breaches_write: float = 0.0
    total: float = 0.0
    breaches: int = 0
    statuses: dict[str, str] = field(default_factory=dict)
    ctx: Any = None
    folder: Path | None = None

    @property
    def compute(self) -> float:
        return sum(self.measure.values()) + sum(self.judge.values()) + self.breaches_write


@contextlib.contextmanager
def instrumented(fig: AuditFigures) -> Iterator[None]:
    """Wrap the pieces ``audit_document`` calls, so the figures come from the real path."""
    import slapolicy.audit.run as run
    from slapolicy.engine.context import AuditContext, Engine

    saved = (run.measure_clause, run.judge_clause, run.write_breaches,
             Engine.validate_contract, Engine.from_source, AuditContext.build,
             Engine.fingerprint)
    raw = (vars(Engine)["from_source"], vars(AuditContext)["build"])  # the classmethods

    def measure(ctx: Any, store: Any, clause: Any) -> None:
        t = time.perf_counter()
        saved[0](ctx, store, clause)
        fig.measure[clause.id] = time.perf_counter() - t

    def judge(*args: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        out = saved[1](*args, **kw)
        fig.judge[args[3].id] = time.perf_counter() - t
        return out

    def breaches(*args: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        out = saved[2](*args, **kw)
        fig.breaches_write = time.perf_counter() - t
        return out

    def validate(self: Any, *args: Any, **kw: Any) -> None:
        t = time.perf_counter()
        saved[3](self, *args, **kw)
        fig.setup["contract validation (pandera, keys, references)"] = time.perf_counter() - t

    def from_source(source: Any, *args: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        engine = saved[4](source, *args, **kw)
        total = time.perf_counter() - t
        fig.setup["load Parquet into DuckDB"] = total - fig.setup.get(
            "contract validation (pandera, keys, references)", 0.0)
        return engine

    def build(*args: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        ctx = saved[5](*args, **kw)
        fig.setup["context (data bounds, as-of)"] = time.perf_counter() - t
        # Built lazily by the first clause that needs them: charged here instead, so each
        # clause's figure is its own work.
        t = time.perf_counter()
        _ = ctx.segments, ctx.person_calendars
        fig.setup["business-clock segments, person calendars"] = time.perf_counter() - t
        fig.ctx = ctx
        return ctx

    def fingerprint(self: Any, *args: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        out = saved[6](self, *args, **kw)
        fig.setup["data fingerprint (facts key)"] = time.perf_counter() - t
        return out

    run.measure_clause, run.judge_clause, run.write_breaches = measure, judge, breaches
    Engine.fingerprint = fingerprint  # type: ignore[method-assign]
    Engine.validate_contract = validate  # type: ignore[method-assign]
    Engine.from_source = staticmethod(from_source)  # type: ignore[method-assign, assignment]
    AuditContext.build = staticmethod(build)  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        (run.measure_clause, run.judge_clause, run.write_breaches) = saved[:3]
        Engine.validate_contract = saved[3]  # type: ignore[method-assign]
        Engine.fingerprint = saved[6]  # type: ignore[method-assign]
        Engine.from_source, AuditContext.build = raw  # type: ignore[method-assign]


def audit_in_process(data: Path, expectations: Path, out: Path) -> AuditFigures:
    from slapolicy.audit.run import AuditRequest, audit_document
    from slapolicy.policy.loader import load_policy

    doc = load_policy(POLICY)
    fig = AuditFigures(folder=out)
    request = AuditRequest(POLICY, START, data, expectations=expectations, output=out)
    with instrumented(fig):
        t = time.perf_counter()
        result = audit_document(doc, request)
        fig.total = time.perf_counter() - t
    fig.setup["other (policy history, suite, excusals, facts index, standing)"] = (
        fig.total - sum(fig.setup.values()) - fig.compute)
    fig.breaches = sum(c.breaches for c in result.clauses)
    fig.statuses = {c.clause_id: c.status for c in result.clauses}
    return fig


# --- speed to lead: the clause against hand-written SQL ----------------------------------


def clause_path(ctx: Any, expectations: Path, out: Path,
                parts: dict[str, list[float]] | None = None) -> tuple[float, int]:
    """Speed to lead as the audit runs it: measure (facts kept), judge, breaches written."""
    import ibis

    from slapolicy.audit.judging import judge_clause
    from slapolicy.audit.run import measure_clause
    from slapolicy.engine.breaches import write_breaches
    from slapolicy.engine.facts import FactsStore
    from slapolicy.engine.suites import load_suite
    from slapolicy.policy.excusals import Excusals

    doc, period = ctx.doc, ctx.period
    clause = next(c for c in doc.policy.clauses if c.id == CLAUSE)
    suite = load_suite(expectations, doc)
    excusals = Excusals.for_period(doc.policy, period.label, out / "no-exceptions.yaml")
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    store = FactsStore.create(out / "facts", {"period": period.label})
    measure_clause(ctx, store, clause)
    t1 = time.perf_counter()
    con = ibis.duckdb.connect()
    _result, sources = judge_clause(con, store, doc, clause, period, excusals, suite)
    t2 = time.perf_counter()
    files = write_breaches(con, sources, out)
    t3 = time.perf_counter()
    elapsed = t3 - t
    if parts is not None:
        for k, v in (("measure", t1 - t), ("judge", t2 - t1), ("breaches", t3 - t2)):
            parts.setdefault(k, []).append(v)
    n = con.con.execute(f"SELECT count(*) FROM read_parquet('{files['breaches.parquet']}')"
                        ).fetchall()[0][0]
    return elapsed, int(n)


def hand_sql(ctx: Any) -> str:
    """Speed to lead's breaches in plain DuckDB SQL, from the engine's contract tables and
    the same business-clock segments table (``_business_segments``: one row per calendar,
    UTC day and opening or closing, so an instant's segment is an equi-join on calendar
    and day plus a range; faster here than an ASOF join)."""
    from slapolicy.engine.contract import ACTIVITY_KINDS

    params = ctx.doc.params_for(CLAUSE)
    policy = ctx.doc.policy
    start, end = ctx.bounds

    def strings(values: Any) -> str:
        return ", ".join("'" + v.replace("'", "''") + "'" for v in values)

    regions = " ".join(f"WHEN '{r}' THEN '{cal_id}'" for cal_id, cal in policy.calendars.items()
                       for r in cal.regions)
    threshold = params.within.total_seconds() / 3600
    scope = ["l.notified_at IS NOT NULL", f"l.notified_at >= TIMESTAMP '{start}'",
             f"l.notified_at < TIMESTAMP '{end}'"]
    if params.requires_followup_request:
        scope.append("l.followup_requested")
    if params.exclude_sources:
        scope.append(f"l.source NOT IN ({strings(params.exclude_sources)})")
    if params.exclude_journey_stages:
        scope.append(f"l.journey_stage NOT IN ({strings(params.exclude_journey_stages)})")
    # The contract allows four kinds: with all four counting, no filter is needed.
    kinds = "" if set(ACTIVITY_KINDS) <= set(params.touch_kinds) else \
        f"WHERE a.kind IN ({strings(params.touch_kinds)})"
    return f"""
WITH scope AS (
  SELECT l.lead_id, l.owner_id, l.source, l.notified_at,
         coalesce(CASE p.region {regions} END, '{policy.default_calendar}') AS calendar_id
  FROM leads l LEFT JOIN people p ON p.person_id = l.owner_id
  WHERE {' AND '.join(scope)}
), touches AS (
  SELECT s.lead_id, min(a.occurred_at) AS first_touch_at
  FROM scope s JOIN activities a ON a.lead_id = s.lead_id AND a.occurred_at >= s.notified_at
  {kinds}
  GROUP BY s.lead_id
), timed AS (
  SELECT s.*, t.first_touch_at,
         coalesce(t.first_touch_at, TIMESTAMP '{ctx.as_of}') AS stop_at
  FROM scope s LEFT JOIN touches t USING (lead_id)
), clocked AS (
  SELECT x.*,
    (b.cum_start + CASE WHEN b.is_open THEN epoch(x.stop_at) - epoch(b.seg_start) ELSE 0 END)
    - (a.cum_start + CASE WHEN a.is_open THEN epoch(x.notified_at) - epoch(a.seg_start) ELSE 0 END)
      AS elapsed_s
  FROM timed x
  LEFT JOIN _business_segments a
    ON a.calendar_id = x.calendar_id AND a.utc_day = CAST(x.notified_at AS DATE)
   AND x.notified_at >= a.seg_start AND x.notified_at < a.seg_end
  LEFT JOIN _business_segments b
    ON b.calendar_id = x.calendar_id AND b.utc_day = CAST(x.stop_at AS DATE)
   AND x.stop_at >= b.seg_start AND x.stop_at < b.seg_end
)
SELECT '{CLAUSE}' AS clause_id, 'first-touch' AS "check", 'lead' AS subject_type,
       lead_id AS subject_id, owner_id AS rep_id, 'sales' AS team,
       coalesce(owner_id, 'sales-lead') AS person_id,
       round(elapsed_s / 3600.0, 6) AS observed, {threshold!r}::DOUBLE AS threshold,
       'business hours' AS unit, 'fail' AS severity, 'open' AS status, '' AS reason,
       CAST(to_json({{'calendar_id': calendar_id,
         'first_touch_at': replace(CAST(first_touch_at AS VARCHAR), ' ', 'T') || 'Z',
         'notified_at': replace(CAST(notified_at AS VARCHAR), ' ', 'T') || 'Z',
         'source': source, 'touched': first_touch_at IS NOT NULL}}) AS VARCHAR) AS evidence
FROM clocked
WHERE elapsed_s / 3600.0 > {threshold!r}
ORDER BY subject_id, rep_id"""


def sql_path(ctx: Any, out: Path) -> tuple[float, int]:
    raw = ctx.engine.backend.con
    out.mkdir(parents=True, exist_ok=True)
    target = out / "breaches-sql.parquet"
    t = time.perf_counter()
    raw.execute(f"COPY ({hand_sql(ctx)}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)"
                ).fetchall()
    elapsed = time.perf_counter() - t
    n = raw.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchall()[0][0]
    return elapsed, int(n)


def same_breaches(ctx: Any, clause_out: Path, sql_out: Path) -> int:
    """Rows in one file and not the other (subject, rep, observed): 0 when they agree."""
    raw = ctx.engine.backend.con
    cols = "subject_id, rep_id, round(observed, 6)"
    a = f"SELECT {cols} FROM read_parquet('{clause_out / 'breaches.parquet'}')"
    b = f"SELECT {cols} FROM read_parquet('{sql_out / 'breaches-sql.parquet'}')"
    q = f"SELECT count(*) FROM (({a} EXCEPT ALL {b}) UNION ALL ({b} EXCEPT ALL {a}))"
    return int(raw.execute(q).fetchall()[0][0])


def explain_analyze(ctx: Any, top: int = 8) -> str:
    """The slowest operators of speed to lead's facts query (as the clause compiles it) and
    of the hand-written query, from DuckDB's ``EXPLAIN (ANALYZE, FORMAT json)``."""
    import json as _json

    from slapolicy.clauses import registry

    raw = ctx.engine.backend.con
    clause = next(c for c in ctx.doc.policy.clauses if c.id == CLAUSE)
    facts = registry.get(clause.kind).measure(ctx, clause, ctx.doc.params_for(CLAUSE))
    queries = {"clause facts query": ctx.engine.backend.compile(facts["first-touch"].table),
               "hand-written query": hand_sql(ctx)}
    lines = []
    for label, sql in queries.items():
        plan = _json.loads(raw.execute(f"EXPLAIN (ANALYZE, FORMAT json) {sql}").fetchall()[0][1])
        ops = _operators(plan.get("operator", []))
        total = plan.get("query", {}).get("total_time", sum(o[0] for o in ops))
        lines.append(f"{label}: {total:.3f} s in the engine; slowest operators:")
        for t, kind, rows, what in sorted(ops, reverse=True)[:top]:
            lines.append(f"  {t:7.3f} s  {kind:<16} {rows:>12,} rows  {what}")
    return "\n".join(lines)


def _operators(nodes: list[dict[str, Any]]) -> list[tuple[float, str, int, str]]:
    """(seconds, operator, rows, what) of every node of a DuckDB JSON profile."""
    out = []
    for node in nodes:
        info = node.get("extra_info", {})
        what = info.get("Conditions") or info.get("Table") or info.get("Aggregates") or ""
        out.append((float(node.get("timing", 0.0)), str(node.get("type")),
                    int(node.get("intermediate_rows", 0)), str(what)[:90]))
        out.extend(_operators(node.get("children", [])))
    return out


# --- judging again -----------------------------------------------------------------------


def rejudge_times(facts: Path, repeats: int) -> dict[str, list[float]]:
    import ibis

    from slapolicy.audit.judging import judge_clause, rejudge
    from slapolicy.engine.facts import FactsStore
    from slapolicy.policy.loader import parse_policy
    from slapolicy.policy.periods import Period

    text = POLICY.read_text(encoding="utf-8")
    assert "        within: 1h\n" in text
    doc = parse_policy(text.replace("        within: 1h\n", "        within: 2h\n"),
                       source="what-if.yaml", base_dir=POLICY.parent)
    out: dict[str, list[float]] = {"rejudge": [], "judge_clause": []}
    for _ in range(repeats):
        t = time.perf_counter()
        (again,) = rejudge(facts, doc, only={CLAUSE}).clauses
        out["rejudge"].append(time.perf_counter() - t)
        assert again.threshold == 2.0, again
    store = FactsStore.open(facts)
    period = Period.parse(store.key["period"], doc.policy.periods.unit)
    clause = next(c for c in doc.policy.clauses if c.id == CLAUSE)
    con = ibis.duckdb.connect()
    judge_clause(con, store, doc, clause, period, None, verify=False)  # first read of the file
    for _ in range(repeats):
        t = time.perf_counter()
        judge_clause(con, store, doc, clause, period, None, verify=False)
        out["judge_clause"].append(time.perf_counter() - t)
    return out


def median_p95_ms(xs: list[float]) -> tuple[float, float]:
    s = sorted(xs)
    p95 = s[min(len(s) - 1, max(0, round(0.95 * len(s)) - 1))]
    return statistics.median(s) * 1000, p95 * 1000


# --- the CLI end to end, with the memory of its process tree ------------------------------


def cli_audit(data: Path, expectations: Path, work: Path) -> dict[str, Any]:
    import psutil

    audits = work / "audits"
    shutil.rmtree(audits, ignore_errors=True)
    cmd = [*CLI, "audit", "--policy", str(POLICY), "--period", START, "--data", str(data),
           "--audits", str(audits), "--expectations", str(expectations),
           "--notebook", str(NOTEBOOK)]
    peak = {"tree": 0, "kernel": 0, "procs": 0}
    stop = threading.Event()
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)

    def poll() -> None:
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            total, kernel = 0, 0
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    total += rss
                    if "ipykernel" in " ".join(p.cmdline()):
                        kernel = max(kernel, rss)
                except psutil.Error:
                    pass
            peak["tree"] = max(peak["tree"], total)
            peak["kernel"] = max(peak["kernel"], kernel)
            peak["procs"] = max(peak["procs"], len(procs))
            stop.wait(0.05)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t
    stop.set()
    watcher.join()
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"slapolicy audit exited {proc.returncode}:\n{stderr[-3000:]}")
    return {"wall_s": wall, "peak_tree_bytes": peak["tree"], "peak_kernel_bytes": peak["kernel"],
            "processes": peak["procs"], "exit": proc.returncode, "stdout": stdout.strip()}


# --- the run -----------------------------------------------------------------------------


def machine() -> str:
    import duckdb
    import ibis
    import psutil

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (f"{cpu}, {os.cpu_count()} cores, {psutil.virtual_memory().total / GIB:.0f} GiB; "
            f"Python {platform.python_version()}, DuckDB {duckdb.__version__}, "
            f"Ibis {ibis.__version__}")


def busy() -> str:
    """Other heavy work on the machine (a test run), which would disturb the figures."""
    out = subprocess.run(["pgrep", "-af", "pytest"], capture_output=True, text=True).stdout
    return out.strip()


class Disturbance:
    """Samples ``pgrep -f pytest`` every 2 s in the background: was a test run seen?"""

    def __init__(self) -> None:
        self.seen = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if busy():
                self.seen = True
            self._stop.wait(2.0)

    def take(self) -> bool:
        """Whether a test run was seen since the last call."""
        seen, self.seen = self.seen or bool(busy()), False
        return seen

    def stop(self) -> None:
        self._stop.set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="leads created in the audited month, comma-separated")
    parser.add_argument("--activities-per-lead", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=20200101)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "slapolicy-bench")
    parser.add_argument("--repeats", type=int, default=30, help="judging again: repetitions")
    parser.add_argument("--rejudge-size", type=int, default=100_000)
    parser.add_argument("--compare-rounds", type=int, default=3,
                        help="speed to lead against SQL: alternating rounds (median)")
    parser.add_argument("--no-cli", action="store_true", help="skip `slapolicy audit`")
    parser.add_argument("--explain", action="store_true",
                        help="print EXPLAIN ANALYZE of the hand-written SQL at the largest size")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--generate-one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    if args.generate_one is not None:
        generate_one(args.cache, args.generate_one, args.seed, args.activities_per_lead)
        return

    sizes = [int(s) for s in args.sizes.split(",") if s]
    if busy():
        print(f"warning: tests are running, figures may be disturbed:\n{busy()}", flush=True)
    print(f"machine: {machine()}", flush=True)
    datasets = {n: ensure_dataset(args.cache, n, args.seed, args.activities_per_lead)
                for n in sizes}
    expectations = compile_policy(args.cache)
    work = args.cache / "runs"
    work.mkdir(exist_ok=True)

    # Warm-up: imports of Great Expectations, pandera, Ibis backends; first-query costs.
    warm = ensure_dataset(args.cache, WARMUP_LEADS, args.seed, args.activities_per_lead)[0]
    audit_in_process(warm, expectations, work / "warmup")

    report: dict[str, Any] = {"machine": machine(), "sizes": {}}
    watch = Disturbance()
    figs: dict[int, AuditFigures] = {}
    for n in sizes:
        data, info = datasets[n]
        watch.take()
        print(f"\n== {n:,} leads in {START}: {info['rows']['leads']:,} leads, "
              f"{info['rows']['activities']:,} activities in the data "
              f"(generated in {info['generate_s']:.1f} s)", flush=True)
        fig = audit_in_process(data, expectations, work / f"audit-{n}")
        figs[n] = fig
        entry: dict[str, Any] = {
            "rows": info["rows"], "generate_s": info["generate_s"], "setup": fig.setup,
            "measure": fig.measure, "judge": fig.judge, "breaches_write": fig.breaches_write,
            "compute": fig.compute, "total": fig.total, "breaches": fig.breaches,
            "statuses": fig.statuses}
        print_audit(fig)

        rounds: dict[str, list[float]] = {"clause": [], "sql": []}
        parts: dict[str, list[float]] = {}
        counts: dict[str, int] = {}
        for _ in range(args.compare_rounds):
            s, counts["clause"] = clause_path(fig.ctx, expectations, work / f"stl-{n}", parts)
            rounds["clause"].append(s)
            s, counts["sql"] = sql_path(fig.ctx, work / f"stl-{n}")
            rounds["sql"].append(s)
        diff = same_breaches(fig.ctx, work / f"stl-{n}", work / f"stl-{n}")
        c, q = statistics.median(rounds["clause"]), statistics.median(rounds["sql"])
        split = {k: statistics.median(v) for k, v in parts.items()}
        entry["speed_to_lead"] = {"clause_s": c, "sql_s": q, "ratio": c / q, "clause_parts": split,
                                  "breaches_clause": counts["clause"],
                                  "breaches_sql": counts["sql"], "rows_differing": diff}
        print(f"speed to lead, whole clause (measure+judge+breaches): {c:.3f} s; hand-written "
              f"SQL: {q:.3f} s; ratio {c / q:.2f}x; breaches {counts['clause']:,} (clause) vs "
              f"{counts['sql']:,} (SQL), {diff} rows differ; the clause's parts: "
              + ", ".join(f"{k} {v:.3f} s" for k, v in split.items()), flush=True)
        if args.explain and n == max(sizes):
            print(explain_analyze(fig.ctx))

        if n == args.rejudge_size:
            times = rejudge_times(work / f"audit-{n}" / "facts", args.repeats)
            entry["judge_again_ms"] = {k: median_p95_ms(v) for k, v in times.items()}
            for k, v in entry["judge_again_ms"].items():
                print(f"judge again ({k}), {args.repeats} runs: median {v[0]:.1f} ms, "
                      f"p95 {v[1]:.1f} ms", flush=True)

        if not args.no_cli:
            fig.ctx = None  # let the in-process engine go before the CLI runs
            import gc

            gc.collect()
            cli = cli_audit(data, expectations, work / f"cli-{n}")
            entry["cli"] = cli
            print(f"slapolicy audit (CLI, papermill, kernel): {cli['wall_s']:.1f} s wall, peak "
                  f"RSS of the process tree {cli['peak_tree_bytes'] / MIB:,.0f} MiB (kernel "
                  f"{cli['peak_kernel_bytes'] / MIB:,.0f} MiB, {cli['processes']} processes); "
                  f"{cli['stdout']}", flush=True)
        entry["disturbed"] = watch.take()
        if entry["disturbed"]:
            print(f"warning: a test run was seen while measuring {n:,} leads: re-run this size",
                  flush=True)
        report["sizes"][n] = entry

    watch.stop()
    print_summary(report, sizes)
    disturbed = [f"{n:,}" for n in sizes if report["sizes"][n]["disturbed"]]
    if disturbed:
        print(f"\nwarning: tests ran while measuring {', '.join(disturbed)} leads; re-run "
              "those sizes (--sizes) for clean figures")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")


def print_audit(fig: AuditFigures) -> None:
    width = max(len(k) for k in [*fig.setup, *fig.measure]) + 2
    print(f"  {'setup':<{width}} {'s':>8}")
    for k, v in fig.setup.items():
        print(f"  {k:<{width}} {v:8.3f}")
    print(f"  {'clause':<{width}} {'measure':>8} {'judge':>8}  status")
    for k in fig.measure:
        print(f"  {k:<{width}} {fig.measure[k]:8.3f} {fig.judge.get(k, 0.0):8.3f}  "
              f"{fig.statuses.get(k, '')}")
    print(f"  {'all clauses':<{width}} {sum(fig.measure.values()):8.3f} "
          f"{sum(fig.judge.values()):8.3f}")
    print(f"  {'write breaches (all clauses)':<{width}} {fig.breaches_write:8.3f}")
    print(f"  compute (measure + judge + breaches): {fig.compute:.3f} s; audit_document total "
          f"{fig.total:.3f} s; {fig.breaches:,} breaches", flush=True)


def print_summary(report: dict[str, Any], sizes: list[int]) -> None:
    print("\n== summary")
    head = f"{'figure':<52}" + "".join(f"{n:>14,}" for n in sizes)
    print(head)

    def row(label: str, fn: Callable[[dict[str, Any]], str]) -> None:
        cells = []
        for n in sizes:
            try:
                cells.append(fn(report["sizes"][n]))
            except (KeyError, TypeError):
                cells.append("-")
        print(f"{label:<52}" + "".join(f"{c:>14}" for c in cells))

    row("leads in the data", lambda e: f"{e['rows']['leads']:,}")
    row("activities in the data", lambda e: f"{e['rows']['activities']:,}")
    row("generate data (s, cached after)", lambda e: f"{e['generate_s']:.1f}")
    row("load + validate (s)", lambda e: f"{sum(e['setup'].values()):.2f}")
    row("measure, all clauses (s)", lambda e: f"{sum(e['measure'].values()):.2f}")
    row("judge, all clauses (s)", lambda e: f"{sum(e['judge'].values()):.2f}")
    row("write breaches (s)", lambda e: f"{e['breaches_write']:.2f}")
    row("compute = measure + judge + breaches (s)", lambda e: f"{e['compute']:.2f}")
    row("compute per 1k leads (ms)", lambda e: f"{1e6 * e['compute'] / e['rows']['leads']:.1f}")
    row("audit_document total (s)", lambda e: f"{e['total']:.2f}")
    row("speed to lead clause (s)", lambda e: f"{e['speed_to_lead']['clause_s']:.3f}")
    row("speed to lead hand-written SQL (s)", lambda e: f"{e['speed_to_lead']['sql_s']:.3f}")
    row("speed to lead ratio clause/SQL", lambda e: f"{e['speed_to_lead']['ratio']:.2f}x")
    row("speed to lead breaches clause / SQL",
        lambda e: f"{e['speed_to_lead']['breaches_clause']}/{e['speed_to_lead']['breaches_sql']}")
    row("judge again, rejudge() median/p95 (ms)",
        lambda e: "{:.0f}/{:.0f}".format(*e["judge_again_ms"]["rejudge"]))
    row("judge again, judge_clause median/p95 (ms)",
        lambda e: "{:.0f}/{:.0f}".format(*e["judge_again_ms"]["judge_clause"]))
    row("slapolicy audit wall (s)", lambda e: f"{e['cli']['wall_s']:.1f}")
    row("slapolicy audit peak RSS, tree (MiB)", lambda e: f"{e['cli']['peak_tree_bytes'] / MIB:,.0f}")


if __name__ == "__main__":
    main()
