"""Real servers the tests and benchmarks start themselves, on loopback, in temporary folders."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_server(password: str) -> Iterator[int]:
    """A PostgreSQL 15 server (Debian's binaries) with superuser ``slap``; yields its port
    and stops it for sure (``-m immediate``), removing its folder."""
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = Path(tempfile.mkdtemp(prefix="slapolicy-pg-test-", dir="/tmp"))
    pwfile = base / "pw"
    pwfile.write_text(password + "\n")
    if as_root:
        for p in (base, pwfile):
            shutil.chown(p, "postgres")
    port = free_port()
    data = base / "data"
    started = False
    try:
        subprocess.run([*prefix, str(PG_BIN / "initdb"), "-D", str(data), "-U", "slap",
                        f"--pwfile={pwfile}", "-A", "scram-sha-256", "-E", "UTF8", "--locale=C",
                        "--no-sync"], check=True, capture_output=True, timeout=120)
        pwfile.unlink()
        subprocess.run([*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l",
                        str(base / "log"), "-w", "-t", "60", "-o",
                        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off",
                        "start"], check=True, capture_output=True, timeout=120)
        started = True
        yield port
    finally:
        if started:
            subprocess.run([*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate",
                            "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)
