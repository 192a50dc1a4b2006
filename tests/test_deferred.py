"""Slow imports nobody in an audit uses are deferred, and still work when used."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
import slapolicy.cli.main
from slapolicy.engine.expectations import expectation_config
import great_expectations, nbformat, jsonschema
stand_in = sys.modules["rfc3987_syntax"]
print("deferred", getattr(stand_in, "__file__", None) is None)
checker = jsonschema.Draft7Validator.FORMAT_CHECKER
v = jsonschema.Draft7Validator({"format": "iri"}, format_checker=checker)
print("bad", [e.message for e in v.iter_errors("not an iri")])
print("good", [e.message for e in v.iter_errors("https://example.com/\u00e4")])
print("loaded", sys.modules["rfc3987_syntax"].__file__ is not None)
"""


def test_the_iri_grammar_loads_only_when_a_schema_checks_an_iri() -> None:
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        "deferred True",  # importing GE and nbformat did not build the grammar
        "bad [\"'not an iri' is not a 'iri'\"]",
        "good []",
        "loaded True",
    ]
