"""Step durations beside each audit, and the progress bar over periods."""

from __future__ import annotations

import io
import json

from slapolicy.cli.progress import PeriodProgress
from tests.conftest import audit_with, policy_with
from tests.test_clauses_outcomes import LEAD, SALES_OPPS, _dataset, clause


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_counts_periods_and_names_each_one_on_a_terminal_only() -> None:
    tty = _Terminal()
    with PeriodProgress(3, "demo", stream=tty) as bar:
        bar.done("2020-01")
        bar.done("2020-02")
    shown = tty.getvalue()
    assert "demo" in shown and "2/3" in shown and "2020-02 in " in shown

    log = io.StringIO()  # a scheduler's log: not a terminal
    with PeriodProgress(3, "demo", stream=log) as bar:
        bar.done("2020-01")
    assert log.getvalue() == ""


def test_an_audit_keeps_each_steps_duration_beside_its_results(tmp_path) -> None:
    from datetime import datetime

    (tmp_path / "data").mkdir()
    data = _dataset(tmp_path / "data", leads=LEAD, opportunities=SALES_OPPS)
    doc = policy_with(clause("cr", "close_rate", "{target: 0.5}")
                      + clause("cycle", "sales_cycle", "{target: 40}"))
    result = audit_with(doc, data, "2020-06", as_of=datetime(2020, 7, 15))
    timings = json.loads((result.folder / "timings.json").read_text())
    assert timings["unit"] == "seconds"
    assert set(timings["steps"]) == {"load", "quarantine and input hashes", "measure cr",
                                     "measure cycle", "judge", "breaches"}
    assert all(isinstance(v, float) and v >= 0 for v in timings["steps"].values())
