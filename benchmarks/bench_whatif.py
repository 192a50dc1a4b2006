"""Benchmark: the review form's what-if. Prints figures; asserts nothing.

Run: ``.venv/bin/python benchmarks/bench_whatif.py`` (``--leads 100000 --repeats 40``).

1. One month with ``--leads`` leads created in it (the generated data of
   ``bench_audit.py``: seed 20200101, 10 activities per lead, cached under
   ``--cache``) is audited in process with ``audit_document``; its folder (kept facts,
   results) is the period the form reads.
2. A ``ReviewSession`` opens it; each change is ``ReviewSession.set`` plus
   ``form.comparison_html``, exactly what the form's input calls: ``--repeats`` changes
   cycling over several controls (a duration, a count, a share, a tolerance, a review
   trigger, money), each to a value not judged before; median and 95th percentile per
   change; then each control back to its start (judged already: cached).
3. Replay of twelve periods: the audited month's folder is copied under the twelve
   labels 2020-01 to 2020-12 (each with 100k leads' facts, the kept facts' period
   relabelled), then ``ReviewSession.replay`` runs once after a first change (each
   period opened: its kept facts checked against their SHA-256, its results read) and
   ``--replays`` times after further changes. A replay judges again only the clauses
   whose thresholds or tolerance the proposal changes; the others are as recorded.

``docs/performance.md`` ("What-if in a review meeting") records a run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_audit  # noqa: E402  (the cached generated data and the warm-up)

POLICY = ROOT / "policies" / "company-a.yaml"
#: Controls moved in turn; the k-th move of a control sets ``start + k * step``, a value
#: not judged before (a return to an earlier value is a cache hit, timed apart).
CHANGES = [
    ("speed-to-lead.params.within", 1.0, 0.25),
    ("rep-load.params.max", 350, 1),
    ("speed-to-lead.tolerance.mostly", 95, -0.5),
    ("mql-worked.params.within", 7, 0.5),
    ("review.triggers.mql_to_sql_rate_below", 30, 0.5),
    ("lead-value.params.monthly_target", 550_000, 1_000),
]


def ms(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]
    return 1000 * statistics.median(xs), 1000 * p95


def relabel(src: Path, dst: Path, label: str) -> None:
    """A copy of an audited period's folder under another period label."""
    shutil.copytree(src, dst)
    index = dst / "facts" / "index.json"
    data = json.loads(index.read_text())
    data["key"]["period"] = label
    index.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    results = dst / "results.json"
    body = json.loads(results.read_text())
    body["period"]["label"] = label
    results.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--replays", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20200101)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/slapolicy-bench"))
    args = parser.parse_args()

    from slapolicy.audit.run import AuditRequest, audit_document
    from slapolicy.policy.loader import load_policy
    from slapolicy.review.form import comparison_html
    from slapolicy.review.session import ReviewSession

    data, info = bench_audit.ensure_dataset(args.cache, args.leads, args.seed, 10.0)
    expectations = bench_audit.compile_policy(args.cache)
    work = Path(tempfile.mkdtemp(prefix="slapolicy-whatif-"))
    try:
        audits = work / "audits"
        first = audits / "company-a" / "2020-01"
        started = time.perf_counter()
        result = audit_document(load_policy(POLICY), AuditRequest(
            POLICY, "2020-01", data, expectations=expectations, output=first))
        result.write(first)
        audit_s = time.perf_counter() - started
        rows = json.loads((first / "facts" / "index.json").read_text())["checks"]
        facts_rows = sum(int(e.get("rows") or 0) for e in rows.values())

        started = time.perf_counter()
        session = ReviewSession(POLICY, audits, "2020-01")
        comparison_html(session.compare())
        open_s = time.perf_counter() - started
        times: list[float] = []
        by_control: dict[str, list[float]] = {}
        for i in range(args.repeats):
            cid, start, step = CHANGES[i % len(CHANGES)]
            value = start + (i // len(CHANGES) + 1) * step
            t = time.perf_counter()
            comparison_html(session.set(cid, value))
            times.append(time.perf_counter() - t)
            by_control.setdefault(cid, []).append(times[-1])
        change = ms(times)
        back: list[float] = []
        for cid, start, _ in CHANGES:  # every control back to where it started: cached
            t = time.perf_counter()
            comparison_html(session.set(cid, start))
            back.append(time.perf_counter() - t)
        cached = ms(back)

        for month in range(2, 13):
            label = f"2020-{month:02d}"
            relabel(first, audits / "company-a" / label, label)
        replay_session = ReviewSession(POLICY, audits, "2020-01")
        replay_session.set("speed-to-lead.params.within", 2)
        t = time.perf_counter()
        replay = replay_session.replay()
        cold = time.perf_counter() - t
        warm: list[float] = []
        for i in range(args.replays):
            replay_session.set("speed-to-lead.params.within", 3 + i)
            t = time.perf_counter()
            replay_session.replay()
            warm.append(time.perf_counter() - t)
        warm_ms = ms(warm)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"machine: {bench_audit.machine()}")
    counts = info["rows"]
    print(f"leads in the period: {args.leads:,} (data: {counts['leads']:,} leads, "
          f"{counts['activities']:,} activities); "
          f"kept facts: {len(rows)} checks, {facts_rows:,} rows; audit_document {audit_s:.1f} s")
    print(f"open the session and show the first comparison: {open_s * 1000:.0f} ms")
    print(f"per change (ReviewSession.set + comparison_html), {args.repeats} changes to values "
          f"not judged before: median {change[0]:.1f} ms, p95 {change[1]:.1f} ms")
    for cid, xs in by_control.items():
        print(f"    {cid}: median {ms(xs)[0]:.1f} ms, p95 {ms(xs)[1]:.1f} ms ({len(xs)} changes)")
    print(f"per change back to an earlier value (cached), {len(back)} changes: "
          f"median {cached[0]:.1f} ms, p95 {cached[1]:.1f} ms")
    print(f"replay of {len(replay.rows)} periods, first (each period opened: kept facts "
          f"checked against SHA-256, results read): {cold:.2f} s")
    print(f"replay of {len(replay.rows)} periods after a change, {args.replays} runs: "
          f"median {warm_ms[0] / 1000:.2f} s, p95 {warm_ms[1] / 1000:.2f} s")
    if bench_audit.busy():
        print(f"note: other processes were busy during the run: {bench_audit.busy()}")


if __name__ == "__main__":
    main()
