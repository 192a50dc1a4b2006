"""End-to-end audit time and memory by where the data is read (figures, not tests).

For each size, one month audited by ``slapolicy audit`` (papermill, kernel, HTML, manifest
included) from a folder of Parquet files, from a DuckDB file and from PostgreSQL read in
place (a server this script starts on loopback), with the peak resident memory of the whole
process tree and the step durations the audit kept (``timings.json``); and a tiny audit, for
the fixed costs. The datasets are ``bench_audit.py``'s (cached).

    .venv/bin/python benchmarks/bench_sources.py --sizes 100000,1000000
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import bench_audit as ba  # noqa: E402

CANARY = "bench-password"


def to_duckdb(folder: Path) -> Path:
    import duckdb

    db = folder / "data.duckdb"
    if not db.exists():
        tmp = db.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        con = duckdb.connect(str(tmp))
        for p in sorted(folder.glob("*.parquet")):
            con.execute(f"CREATE TABLE \"{p.stem}\" AS SELECT * FROM read_parquet('{p}')")
        con.close()
        tmp.rename(db)
    return db


def to_postgres(port: int, folder: Path, schema: str) -> float:
    """Copy the Parquet tables into ``schema`` (timestamptz for instants); seconds taken."""
    import duckdb
    import psycopg

    from slapolicy.engine.contract import TABLES

    types = {"string": "text", "timestamp": "timestamptz", "date": "date", "int64": "bigint",
             "float64": "double precision", "boolean": "boolean"}
    t = time.perf_counter()
    duck = duckdb.connect()
    duck.execute("SET TimeZone='UTC'")
    with psycopg.connect(host="127.0.0.1", port=port, user="slap", password=CANARY,
                         dbname="postgres", autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {schema}")
        for spec in TABLES.values():
            path = folder / f"{spec.name}.parquet"
            if not path.exists():
                continue
            cols = ", ".join(f'"{c.name}" {types[c.type]}' for c in spec.columns)
            con.execute(f'CREATE TABLE {schema}."{spec.name}" ({cols})')
            names = ", ".join(f'"{c.name}"' for c in spec.columns)
            csv = Path(tempfile.mkdtemp()) / "t.csv"
            duck.execute(f"COPY (SELECT {names} FROM read_parquet('{path}')) TO '{csv}' "
                         "(FORMAT csv, HEADER false)")
            with con.cursor() as cur, cur.copy(
                    f'COPY {schema}."{spec.name}" ({names}) FROM STDIN WITH (FORMAT csv)'
            ) as copy, open(csv, "rb") as f:
                while block := f.read(1 << 20):
                    copy.write(block)
            csv.unlink()
        con.execute("ANALYZE")
    return time.perf_counter() - t


def run(data: str, expectations: Path, work: Path) -> dict[str, Any]:
    fig = ba.cli_audit(data, expectations, work)  # type: ignore[arg-type]
    found = sorted((work / "audits").rglob("timings.json"))
    fig["steps"] = json.loads(found[-1].read_text())["steps"] if found else {}
    return fig


def show(label: str, fig: dict[str, Any]) -> None:
    steps = fig["steps"]
    measure = sum(v for k, v in steps.items() if k.startswith("measure "))
    print(f"{label}: {fig['wall_s']:.1f} s wall, peak RSS of the tree "
          f"{fig['peak_tree_bytes'] / ba.MIB:,.0f} MiB; in the kernel: load "
          f"{steps.get('load', 0):.1f} s, quarantine + input hashes "
          f"{steps.get('quarantine and input hashes', 0):.1f} s, measure {measure:.1f} s, "
          f"judge {steps.get('judge', 0):.1f} s, breaches {steps.get('breaches', 0):.1f} s; "
          f"kernel and notebook {steps.get('kernel and notebook', 0):.1f} s, render "
          f"{steps.get('render', 0):.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--seed", type=int, default=20200101)
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "slapolicy-bench")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-files", action="store_true",
                        help="skip the Parquet folder and DuckDB file runs")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    # Stopped with kill (SIGTERM), unwind like an error, so that the PostgreSQL server this
    # script started is stopped too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(f"machine: {ba.machine()}", flush=True)
    if ba.busy():
        print(f"warning: tests are running, figures may be disturbed:\n{ba.busy()}", flush=True)
    expectations = ba.compile_policy(args.cache)
    work = args.cache / "sources"
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"machine": ba.machine(), "runs": {}}

    tiny, _ = ba.ensure_dataset(args.cache, 1_000, args.seed, 10.0)
    run(str(tiny), expectations, work / "warm")  # first run: caches, bytecode
    fig = run(str(tiny), expectations, work / "tiny")
    show("tiny audit (1,000 leads, Parquet folder)", fig)
    report["runs"]["tiny"] = fig

    from contextlib import ExitStack

    with ExitStack() as stack:
        port = None
        if not args.no_postgres:
            from tests.servers import postgres_server

            port = stack.enter_context(postgres_server(CANARY))
            os.environ["SLAPOLICY_PG_PASSWORD"] = CANARY
        for n in sizes:
            folder, info = ba.ensure_dataset(args.cache, n, args.seed, 10.0)
            print(f"\n== {n:,} leads in the month: {info['rows']['leads']:,} leads, "
                  f"{info['rows']['activities']:,} activities", flush=True)
            files = [] if args.no_files else [("Parquet folder", str(folder)),
                                               ("DuckDB file", str(to_duckdb(folder)))]
            for label, data in files:
                fig = run(data, expectations, work / f"{label.split()[0].lower()}-{n}")
                show(f"{label}", fig)
                report["runs"][f"{label}/{n}"] = fig
            if port is not None:
                schema = f"bench{n}"
                loaded = to_postgres(port, folder, schema)
                print(f"(loading PostgreSQL took {loaded:.0f} s; not part of the audit)")
                url = f"postgresql://slap@127.0.0.1:{port}/postgres?schema={schema}"
                fig = run(url, expectations, work / f"pg-{n}")
                show("PostgreSQL, read in place", fig)
                report["runs"][f"PostgreSQL/{n}"] = fig
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
