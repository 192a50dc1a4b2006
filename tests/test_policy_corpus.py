"""The corpus of broken policies: each one refused at load, with exactly the error expected.

Each file under ``tests/corpus/policies/`` is a whole policy with one mistake a user
could make, and its header states the error: the line (``-`` for none), the YAML
path, the message and the fix. The line is where the mistake was written into the
file, counted when the case was made, not taken from the loader; a message of
several lines is written with ``\n``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from slapolicy.cli.main import main
from slapolicy.errors import EXIT_USER, PolicyError
from slapolicy.policy.loader import load_policy

CORPUS = Path(__file__).parent / "corpus" / "policies"
CASES = sorted(CORPUS.glob("*.yaml"))


def expected_error(path: Path) -> str:
    header = {}
    for raw in path.read_bytes().decode("utf-8").splitlines():
        if not raw.startswith("# expect"):
            if header:
                break
            continue
        key, _, value = raw[2:].partition(": ")
        header[key] = value.replace("\\n", "\n")  # a message of several lines
    where = str(path)
    if header["expect-line"] != "-":
        where += f":{header['expect-line']}"
    if header["expect-path"] != "-":
        where += f" at {header['expect-path']}"
    return f"{where}: {header['expect']}\n  fix: {header['expect-fix']}"


def test_the_corpus_is_large() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_broken_policy_is_refused_with_its_exact_error(path: Path) -> None:
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert str(err.value) == expected_error(path)


#: Through the CLI: the cases that gave tracebacks once, and a sample of the rest.
VIA_CLI = sorted({*CASES[::7], *(CORPUS / f"{name}.yaml" for name in (
    "lead-value-nan", "nul-byte", "nested-20000", "alias-bomb", "effective-from-impossible"))})


@pytest.mark.parametrize("path", VIA_CLI, ids=[p.stem for p in VIA_CLI])
def test_the_cli_refuses_it_with_exit_2_and_no_traceback(path: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["compile", "--policy", str(path),
                                       "--expectations", str(tmp_path)])
    assert result.exit_code == EXIT_USER
    assert result.output == f"error: {expected_error(path)}\n"
    assert "Traceback" not in result.output
    assert not list(tmp_path.iterdir())  # nothing compiled


def test_a_5mb_value_is_quoted_short(tmp_path: Path) -> None:
    base = (CORPUS / "yaml-duplicate-key.yaml").read_text()
    text = base.replace("  currency: EUR\n", "  currency: " + "x" * 5_000_000 + "\n")
    path = tmp_path / "huge.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    message = str(err.value)
    assert len(message) < 600
    assert message.startswith(f"{path}:14: not valid YAML: found duplicate key \"currency\" "
                              "with value \"xxxxxxxx")
    assert "(5,000,0" in message
