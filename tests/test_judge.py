"""The judge on hand-made facts: states, counts, verdict, malformed facts."""

from __future__ import annotations

import ibis
import pandas as pd

from slapolicy.clauses.spec import CheckSpec, Threshold
from slapolicy.engine.expectations import expectation_config
from slapolicy.engine.judge import judge_check
from slapolicy.engine.rowchecks import comparison_check

CHECK = CheckSpec("first-touch", "at_most", "hours", "lead")


def facts(rows: list[tuple[str, float | None, bool]]) -> ibis.Table:
    frame = pd.DataFrame(rows, columns=["subject_id", "observed", "open"])
    frame["rep_id"] = None
    con = ibis.duckdb.connect()
    return con.create_table("facts", frame.astype({"rep_id": "string"}))


def judge(table: ibis.Table, mostly: float = 1.0):
    verdict, _ = judge_check(table, "c", CHECK, Threshold(1.0), mostly=mostly, fail_below=None,
                             row_check=comparison_check("c:first-touch", "at_most"),
                             expectation=expectation_config("c", "first-touch", "at_most", mostly))
    return verdict


def test_states_and_counts_by_hand() -> None:
    # L1 done in 0.5h: compliant; L2 done in 2h: breach; L3 open at 0.5h: pending;
    # L4 open at 3h: already over, a breach; L5 exactly at the threshold: compliant.
    v = judge(facts([("L1", 0.5, False), ("L2", 2.0, False), ("L3", 0.5, True),
                     ("L4", 3.0, True), ("L5", 1.0, False)]))
    assert (v.in_scope, v.subjects, v.compliant, v.breaches, v.pending) == (5, 4, 2, 2, 1)
    assert v.compliance == 0.5 and v.status == "fail"
    assert v.great_expectations["unexpected_count"] == 2


def test_tolerance_gives_pass() -> None:
    assert judge(facts([("L1", 0.5, False), ("L2", 2.0, False)]), mostly=0.5).status == "pass"


def test_a_null_observed_is_an_error_not_a_pass() -> None:
    v = judge(facts([("L1", 0.5, False), ("L2", None, False)]))
    assert v.status == "error"
    assert v.message == ("facts are malformed: 1 subject(s) with a null subject_id, observed "
                         "or open")
