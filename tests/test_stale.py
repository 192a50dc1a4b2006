"""What a killed run leaves in the temporary folder is removed by the next run."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pytest

from slapolicy.engine.context import SPILL_PREFIX, bound_memory
from slapolicy.trail.notebook import cleanup_stale


def test_the_engines_spill_folder_is_named_after_its_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    con = duckdb.connect()
    bound_memory(con)
    ((folder,),) = con.execute("SELECT current_setting('temp_directory')").fetchall()
    assert Path(folder).parent == tmp_path
    assert Path(folder).name.startswith(f"{SPILL_PREFIX}{os.getpid()}.")


def test_a_killed_kernels_spill_folder_is_removed_by_the_next_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = tmp_path / f"{SPILL_PREFIX}{dead.pid}.k3x9"
    gone.mkdir()
    (gone / "duckdb_temp_storage-0.tmp").write_bytes(b"spilled")
    live = tmp_path / f"{SPILL_PREFIX}{os.getpid()}.a1b2"  # this process: still in use
    live.mkdir()
    unnamed = tmp_path / f"{SPILL_PREFIX}q8w7e6"  # no process in its name: not ours to judge
    unnamed.mkdir()
    cleanup_stale(tmp_path / "audits" / "company-a")
    assert not gone.exists()
    assert live.exists() and unnamed.exists()
