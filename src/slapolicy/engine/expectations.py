"""Great Expectations: the only module that imports it.

A clause's obligation becomes one expectation over its facts (or aggregate)
table; GE decides pass or fail under the clause's tolerance (``mostly``).
Suites serialise to JSON without GE's random ids, so compiled files diff cleanly.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from slapolicy.clauses.spec import Direction


@lru_cache(maxsize=1)
def _context() -> Any:
    from slapolicy.engine.deferred import defer_slow_imports

    defer_slow_imports()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    # Progress bars would land in the audit notebook's output; TQDM_DISABLE is ignored.
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return ctx


@lru_cache(maxsize=1)
def _batch_definition() -> Any:
    """The in-memory data source, asset and batch definition, made once per process (GE
    writes its configuration again on every ``add_or_update``: about a third of a check's
    cost)."""
    ctx = _context()
    source = ctx.data_sources.add_or_update_pandas("slapolicy")
    try:
        asset = source.get_asset("facts")
    except LookupError:
        asset = source.add_dataframe_asset(name="facts")
    try:
        return asset.get_batch_definition("whole")
    except (KeyError, LookupError):
        return asset.add_batch_definition_whole_dataframe("whole")


def expectation_config(clause_id: str, check: str, direction: Direction, mostly: float,
                       meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The expectation, as a plain dict: ``threshold`` vs ``observed`` per subject."""
    a, b = ("threshold", "observed") if direction == "at_most" else ("observed", "threshold")
    return {
        "type": "expect_column_pair_values_a_to_be_greater_than_b",
        "kwargs": {"column_A": a, "column_B": b, "or_equal": True, "mostly": mostly},
        "meta": {"clause_id": clause_id, "check": check, **(meta or {})},
    }


def suite_json(name: str, expectations: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """A suite in GE's JSON shape, deterministic (no ids), for ``expectations/``."""
    body = {"name": name, "expectations": expectations, "meta": meta, "notes": None}
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


def validate(frame: pd.DataFrame, config: dict[str, Any]) -> dict[str, Any]:
    """Run one expectation on ``frame``; return success and GE's counts."""
    from slapolicy.engine.deferred import defer_slow_imports

    defer_slow_imports()
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
    expectation = ExpectationConfiguration(**config).to_domain_obj()
    result = batch.validate(expectation, result_format={"result_format": "SUMMARY"})
    counts = result.result or {}
    del gx
    return {
        "expectation": config["type"],
        "success": bool(result.success),
        "element_count": int(counts.get("element_count", len(frame))),
        "unexpected_count": int(counts.get("unexpected_count", 0) or 0),
        "missing_count": int(counts.get("missing_count", 0) or 0),
    }
