"""What reading only the period's window saves on a year of history (figures, not tests).

A year of demo data (``--months`` months of ``--leads`` leads each, about 10 activities per
lead) as Parquet files; the last month audited in process (``audit_document``, compiled
suite) twice: reading the event tables from the period's window (what every audit does) and
reading every row (``AuditRequest(read_all=True)``). Prints each run's step durations, the
rows read and left out, and checks that both gave the same results and breaches.

    .venv/bin/python benchmarks/bench_window.py --months 12 --leads 50000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

import bench_audit as ba  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--leads", type=int, default=50_000, help="leads per month")
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "slapolicy-bench")
    args = parser.parse_args()

    from slapolicy.audit.run import AuditRequest, audit_document
    from slapolicy.demo import generate as demo
    from slapolicy.policy.loader import load_policy

    print(f"machine: {ba.machine()}", flush=True)
    folder = args.cache / f"history-{args.months}m-{args.leads}"
    if not (folder / "leads.parquet").exists():
        t = time.perf_counter()
        tables = demo.generate(demo.DemoConfig(start="2020-01", months=args.months,
                                               leads_per_month=args.leads,
                                               activities_per_lead=10.0))
        demo.write_folder(tables, folder, "parquet")
        print(f"generated in {time.perf_counter() - t:.0f} s", flush=True)
    expectations = ba.compile_policy(args.cache)
    year, month = divmod(args.months - 1, 12)
    period = f"{2020 + year}-{month + 1:02d}"
    doc = load_policy(ROOT / "policies" / "company-a.yaml")
    out: dict[str, dict] = {}
    for label, read_all in (("window", False), ("every row", True), ("window", False)):
        work = args.cache / f"window-run-{label.replace(' ', '-')}"
        shutil.rmtree(work, ignore_errors=True)
        request = AuditRequest(ROOT / "policies" / "company-a.yaml", period, folder,
                               expectations=expectations, output=work, read_all=read_all)
        t = time.perf_counter()
        result = audit_document(doc, request)
        wall = time.perf_counter() - t
        result.write(work)
        steps = json.loads((work / "timings.json").read_text())["steps"]
        acts = result.data["tables"]["activities"]
        print(f"{period}, {label}: {wall:.1f} s in process (load {steps['load']:.1f} s, "
              f"quarantine + input hashes {steps['quarantine and input hashes']:.1f} s); "
              f"activities read {acts['read']:,}, left out {acts.get('not_read', 0):,}",
              flush=True)
        out[label] = json.loads((work / "results.json").read_text())
        out[label].pop("data")
        out[label]["_breaches"] = (work / "breaches.csv").read_bytes()
    print("same results and breaches both ways:", out["window"] == out["every row"])


if __name__ == "__main__":
    main()
