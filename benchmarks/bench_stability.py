"""Repeated end-to-end audits at one size: does the audit kernel ever die? (figures, not tests)

Runs ``slapolicy audit`` on the same month of ``bench_audit.py``'s cached Parquet data
``--runs`` times in a row and prints, for each run, its exit code, wall time and the peak
resident memory of the whole process tree (and of the kernel). A run that fails is shown
with the last lines of its error: since the CLI names how a dead kernel ended (the signal)
and where a native crash happened, a death in the series says what to look for.

    .venv/bin/python benchmarks/bench_stability.py --size 1000000 --runs 10
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import bench_audit as ba  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=20200101)
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "slapolicy-bench")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    print(f"machine: {ba.machine()}", flush=True)
    expectations = ba.compile_policy(args.cache)
    folder, info = ba.ensure_dataset(args.cache, args.size, args.seed, 10.0)
    print(f"{args.size:,} leads in the month: {info['rows']['leads']:,} leads, "
          f"{info['rows']['activities']:,} activities; {args.runs} runs", flush=True)
    work = args.cache / "stability"
    runs: list[dict[str, Any]] = []
    for i in range(1, args.runs + 1):
        busy = ba.busy()
        try:
            fig = ba.cli_audit(folder, expectations, work)
            fig["exit"] = fig.get("exit", 0)
        except RuntimeError as e:  # cli_audit refuses exit codes other than 0 and 1
            fig = {"exit": str(e).split(":", 1)[0], "error": str(e)[-1500:]}
        fig["disturbed"] = bool(busy or ba.busy())
        runs.append(fig)
        if "error" in fig:
            print(f"run {i}: FAILED ({fig['exit']})\n{fig['error']}", flush=True)
        else:
            print(f"run {i}: ok, {fig['wall_s']:.1f} s wall, peak RSS of the tree "
                  f"{fig['peak_tree_bytes'] / ba.MIB:,.0f} MiB (kernel "
                  f"{fig['peak_kernel_bytes'] / ba.MIB:,.0f} MiB)"
                  f"{'; tests were running' if fig['disturbed'] else ''}", flush=True)
    failed = sum("error" in r for r in runs)
    print(f"\n{len(runs) - failed} of {len(runs)} runs completed, {failed} failed", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": ba.machine(), "size": args.size,
                                         "runs": runs}, indent=1) + "\n")


if __name__ == "__main__":
    main()
