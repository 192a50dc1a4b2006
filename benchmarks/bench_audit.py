"""Benchmarks: how long an audit takes and how much memory it needs, on generated data.

Prints figures; asserts nothing. Run: `make bench` or
`python benchmarks/bench_audit.py --leads-per-month 20000 --months 3 --clock-rows 1000000`.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def timed(label: str, fn: Callable[[], Any], rows: list[tuple[str, float, str]],
          note: str = "") -> Any:
    start = time.perf_counter()
    out = fn()
    rows.append((label, time.perf_counter() - start, note))
    return out


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_audit(leads_per_month: int, months: int, rows: list[tuple[str, float, str]]) -> None:
    from slapolicy.audit.run import AuditRequest, audit_document
    from slapolicy.demo import generate as demo
    from slapolicy.policy.loader import load_policy

    config = demo.DemoConfig(start="2020-01", months=months, leads_per_month=leads_per_month)
    tables = timed("generate demo data", lambda: demo.generate(config), rows,
                   f"{months} months x {leads_per_month} leads")
    n_leads = tables["leads"].num_rows
    n_acts = tables["activities"].num_rows
    with tempfile.TemporaryDirectory() as tmp:
        db = timed("write DuckDB file", lambda: demo.write_duckdb(tables, Path(tmp) / "d.duckdb"),
                   rows, f"{n_leads} leads, {n_acts} activities")
        doc = load_policy(ROOT / "policies" / "company-a.yaml")
        period = f"2020-{months:02d}"
        request = AuditRequest(ROOT / "policies" / "company-a.yaml", period, db)
        audit_document(doc, request)  # warm imports (GE, pandera) out of the figure
        result = timed("audit one period (all clauses)", lambda: audit_document(doc, request),
                       rows, f"{len(result_clauses(doc))} clauses")
        breaches = len(result.breaches)
        rows.append(("  breaches found", float(breaches), "count, not seconds"))


def result_clauses(doc: Any) -> list[str]:
    return [c.id for c in doc.policy.clauses if c.enabled]


def bench_clock(n: int, rows: list[tuple[str, float, str]]) -> None:
    import ibis
    import numpy as np
    import pandas as pd

    from slapolicy.engine.clock import BusinessCalendar, business_seconds_between, segments_frame

    hours = {d: ((dtime(9), dtime(17)),) for d in range(5)}
    cals = [BusinessCalendar("ny", "America/New_York", hours, "US", "NY"),
            BusinessCalendar("la", "America/Los_Angeles", hours, "US", "CA"),
            BusinessCalendar("ldn", "Europe/London", hours, "GB", "ENG")]
    rng = np.random.default_rng(1)
    origin = datetime(2020, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    start = pd.to_datetime(origin) + pd.to_timedelta(rng.integers(0, 360 * 86400, n), unit="s")
    end = start + pd.to_timedelta(rng.integers(0, 5 * 86400, n), unit="s")
    frame = pd.DataFrame({"cal": rng.choice(["ny", "la", "ldn"], n), "a": start, "b": end})
    con = ibis.duckdb.connect()
    seg = timed("clock: build segments (3 calendars, 1 year)",
                lambda: segments_frame(cals, date(2019, 12, 30), date(2021, 1, 10)), rows)
    seg_t = con.create_table("seg", seg)
    t = con.create_table("t", frame)
    expr = business_seconds_between(t, "a", "b", "cal", seg_t, "secs")
    out = timed(f"clock: elapsed business time, {n} rows in DuckDB",
                lambda: expr.aggregate(total=expr.secs.sum(), n=expr.count()).execute(), rows)
    assert int(out["n"].iloc[0]) == n
    sample = frame.sample(200, random_state=1)
    by_id = {c.id: c for c in cals}
    timed("clock: Python reference, 200 rows", lambda: [
        by_id[r.cal].elapsed(r.a.to_pydatetime().replace(tzinfo=UTC),
                             r.b.to_pydatetime().replace(tzinfo=UTC))
        for r in sample.itertuples()], rows, "for scale: per-row Python")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads-per-month", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--clock-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    rows: list[tuple[str, float, str]] = []
    bench_clock(args.clock_rows, rows)
    bench_audit(args.leads_per_month, args.months, rows)
    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}}  {'seconds':>9}  note")
    for label, seconds, note in rows:
        print(f"{label:<{width}}  {seconds:9.3f}  {note}")
    print(f"peak resident memory: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
