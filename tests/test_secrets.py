"""Secrets: where a database password may come from, and a canary that it never leaks.

The PostgreSQL tests start a real PostgreSQL 15 server from Debian's binaries in a
temporary folder on a free loopback port (as the ``postgres`` user when run as root).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from slapolicy.engine.contract import TABLES
from slapolicy.engine.sources import DataSource
from slapolicy.errors import DataSourceError
from slapolicy.trail.credentials import (
    ENV_PASSWORD,
    ENV_SECRETS,
    PgLocation,
    SecretsError,
    open_data,
    redact,
    resolve_password,
    scrubbed_environ,
)
from slapolicy.trail.manifest import load_manifest, table_hashes
from tests.conftest import ROOT
from tests.servers import PG_BIN, postgres_server
from tests.test_manifest import NOTEBOOK, cli, demo_tables, make_workspace

CANARY = f"canary-{uuid.uuid4().hex}"
_PG_TYPES = {"string": "text", "timestamp": "timestamptz", "date": "date", "int64": "bigint",
             "float64": "double precision", "boolean": "boolean"}


# --- resolving a password (no server) -----------------------------------------------------


def test_a_postgres_url_names_everything_but_the_password() -> None:
    loc = PgLocation.parse("postgresql://analyst@db.internal:6543/sales?schema=crm")
    assert (loc.user, loc.host, loc.port, loc.database, loc.schema) == (
        "analyst", "db.internal", 6543, "sales", "crm")
    assert loc.url() == "postgresql://analyst@db.internal:6543/sales?schema=crm"
    assert PgLocation.parse("postgres://a@h/d").url() == "postgresql://a@h:5432/d?schema=public"
    with pytest.raises(SecretsError) as err:
        PgLocation.parse(f"postgresql://analyst:{CANARY}@db.internal/sales")
    assert CANARY not in str(err.value)
    assert str(err.value) == (
        "the PostgreSQL URL holds a password; it would be written into the notebook, the "
        "manifest and the ledger\n  fix: remove it from the URL; set SLAPOLICY_PG_PASSWORD or "
        "put it in the secrets file (SLAPOLICY_SECRETS, outside the workspace)")
    assert redact(f"postgresql://a:{CANARY}@h/d") == "postgresql://a:***@h/d"
    with pytest.raises(DataSourceError, match="unknown option"):
        PgLocation.parse("postgresql://a@h/d?password=x")


def _secrets(folder: Path, text: str, mode: int = 0o600) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "secrets.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_password_from_the_environment_then_the_secrets_file(tmp_path: Path) -> None:
    loc = PgLocation.parse("postgresql://analyst@db:5432/sales?schema=crm")
    path = _secrets(tmp_path / "home", '[postgres."analyst@db:5432/sales"]\npassword = "file-pw"\n'
                                       '[postgres."analyst@db:5432"]\npassword = "host-pw"\n')
    ws = tmp_path / "ws"
    env = {ENV_SECRETS: str(path)}
    assert resolve_password(loc, environ=env, workspace=ws) == "file-pw"
    other_db = PgLocation.parse("postgresql://analyst@db:5432/other")
    assert resolve_password(other_db, environ=env, workspace=ws) == "host-pw"
    assert resolve_password(PgLocation.parse("postgresql://x@db/other"), environ=env,
                            workspace=ws) is None
    assert resolve_password(loc, environ={**env, ENV_PASSWORD: "env-pw"}, workspace=ws) == "env-pw"


def test_a_secrets_file_inside_the_workspace_or_readable_by_others_is_refused(
        tmp_path: Path) -> None:
    loc = PgLocation.parse("postgresql://analyst@db/sales")
    inside = _secrets(tmp_path / "ws" / "config", '[postgres]\n')
    with pytest.raises(SecretsError, match="is inside the workspace"):
        resolve_password(loc, environ={ENV_SECRETS: str(inside)}, workspace=tmp_path / "ws")
    loose = _secrets(tmp_path / "home", '[postgres]\n', mode=0o644)
    with pytest.raises(SecretsError) as err:
        resolve_password(loc, environ={ENV_SECRETS: str(loose)}, workspace=tmp_path / "ws")
    assert str(err.value) == (f"the secrets file {loose} can be read by other users (mode 0644)"
                              f"\n  fix: run: chmod 600 {loose}")
    broken = _secrets(tmp_path / "home2", f'[postgres\npassword = "{CANARY}"\n')
    with pytest.raises(SecretsError, match="not valid TOML") as err:
        resolve_password(loc, environ={ENV_SECRETS: str(broken)}, workspace=tmp_path / "ws")
    assert CANARY not in str(err.value)


def test_scrubbed_environ_hides_credentials_while_the_kernel_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_PASSWORD, CANARY)
    monkeypatch.setenv("PGPASSWORD", CANARY)
    with scrubbed_environ():
        assert ENV_PASSWORD not in os.environ and "PGPASSWORD" not in os.environ
    assert os.environ[ENV_PASSWORD] == CANARY


# --- a real PostgreSQL 15 ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def postgres() -> Iterator[int]:
    """A PostgreSQL 15 server on loopback with superuser ``slap`` (password: the canary)."""
    if not (PG_BIN / "initdb").exists():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL 15 is not installed; .ci/run installs it (postgresql-15)")
        pytest.skip("PostgreSQL 15 not installed here (apt-get install postgresql-15)")
    with postgres_server(CANARY) as port:
        yield port


def _load(port: int, tables: dict) -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=port, user="slap", password=CANARY,
                         dbname="postgres", autocommit=True) as con:
        con.execute("CREATE SCHEMA crm")
        for spec in TABLES.values():
            cols = ", ".join(f'"{c.name}" {_PG_TYPES[c.type]}' for c in spec.columns)
            con.execute(f'CREATE TABLE crm."{spec.name}" ({cols})')
            names = [c.name for c in spec.columns]
            quoted = ", ".join(f'"{n}"' for n in names)
            with con.cursor() as cur, cur.copy(
                    f'COPY crm."{spec.name}" ({quoted}) FROM STDIN') as copy:
                for row in tables[spec.name].select(names).to_pylist():
                    copy.write_row([row[n] for n in names])


@pytest.fixture(scope="module")
def pg_data(postgres: int) -> tuple[int, dict]:
    tables = demo_tables()
    _load(postgres, tables)
    return postgres, tables


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (ENV_PASSWORD, ENV_SECRETS, "PGPASSWORD")}
    env["PGPASSFILE"] = "/nonexistent"  # only our own resolution may supply a password
    return {**env, **extra}


def test_postgres_rows_hash_like_the_same_rows_in_duckdb(pg_data, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Read in place, the database's rows hash exactly like the same rows in a DuckDB file;
    the password reaches the engine only through a private libpq file, removed after."""
    from slapolicy.demo import generate as demo
    from slapolicy.engine.context import Engine

    port, tables = pg_data
    monkeypatch.setenv(ENV_PASSWORD, CANARY)
    monkeypatch.delenv("PGPASSFILE", raising=False)
    url = f"postgresql://slap@127.0.0.1:{port}/postgres?schema=crm"
    with open_data(url) as (location, described):
        assert location == url
        assert described == {"kind": "postgresql", "location": url, "declared_zone": None}
        passfile = Path(os.environ["PGPASSFILE"])
        assert oct(passfile.stat().st_mode & 0o777) == "0o600"
        assert oct(passfile.parent.stat().st_mode & 0o777) == "0o700"
        with scrubbed_environ():  # as the kernel starts: no password variable at all
            from_pg = Engine.from_source(DataSource.from_arg(url)).content_hashes()
    assert not passfile.exists() and "PGPASSFILE" not in os.environ
    db = demo.write_duckdb(tables, tmp_path / "same.duckdb")
    assert from_pg == table_hashes(DataSource.from_arg(db))


@pytest.mark.slow
def test_a_canary_password_never_reaches_any_output(pg_data, tmp_path: Path) -> None:
    port, tables = pg_data
    ws = tmp_path / "ws"
    make_workspace(ws)
    home = tmp_path / "home"  # outside the workspace (the CLI runs in the repository)
    secrets = _secrets(home, f'[postgres."slap@127.0.0.1:{port}/postgres"]\n'
                             f'password = "{CANARY}"\n')
    url = f"postgresql://slap@127.0.0.1:{port}/postgres?schema=crm"
    audits = ws / "audits"
    res = cli("run-due", "--policy", str(ws / "policies" / "company-a.yaml"), "--data", url,
              "--audits", str(audits), "--until", "2020-01", "--notebook", str(NOTEBOOK),
              cwd=ROOT, env=_env(**{ENV_SECRETS: str(secrets)}))
    assert res.returncode == 1, res.stderr  # the demo's January fails speed to lead
    folder = audits / "company-a" / "2020-01"
    assert (folder / "results.json").exists() and (folder / "audit.ipynb").exists()
    manifest, _ = load_manifest(folder)
    assert manifest["inputs"]["source"] == {"kind": "postgresql", "location": url,
                                            "declared_zone": None}
    assert manifest["parameters"]["data"] == url
    # Every file written: the audit folder, the ledger, locks; and the command's output.
    written = [p for p in ws.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"audit.ipynb", "audit.html", "manifest.json",
                                         "ledger.jsonl", "signoff.html", "results.json"}
    leaks = [p for p in written if CANARY.encode() in p.read_bytes()]
    assert leaks == []
    assert CANARY not in res.stdout + res.stderr
    # The rows audited are the rows in PostgreSQL: the same rows of the same tables in a
    # DuckDB file, read from the same window, hash the same.
    from slapolicy.audit.run import audit_window
    from slapolicy.demo import generate as demo
    from slapolicy.engine.context import Engine
    from slapolicy.policy.loader import load_policy
    from slapolicy.policy.periods import Period

    db = demo.write_duckdb(tables, tmp_path / "same.duckdb")
    doc = load_policy(ws / "policies" / "company-a.yaml")
    window = audit_window(doc, [c for c in doc.policy.clauses if c.enabled],
                          Period.parse("2020-01", "month"))
    inputs = {k: v for k, v in manifest["inputs"].items() if k != "source"}
    assert inputs == Engine.from_source(DataSource.from_arg(db), window=window).content_hashes()
    assert inputs["tables"]["activities"]["rows"] < tables["activities"].num_rows  # a window


def test_a_wrong_password_is_a_data_error_that_does_not_echo_it(pg_data, tmp_path: Path) -> None:
    port, _ = pg_data
    wrong = f"wrong-{CANARY}"
    ws = tmp_path / "ws"
    make_workspace(ws)
    res = cli("run-due", "--policy", str(ws / "policies" / "company-a.yaml"), "--data",
              f"postgresql://slap@127.0.0.1:{port}/postgres?schema=crm", "--audits",
              str(ws / "audits"), "--until", "2020-01", "--notebook", str(NOTEBOOK),
              env=_env(**{ENV_PASSWORD: wrong}))
    assert res.returncode == 2, res.stderr
    assert (f"error: postgresql://slap@127.0.0.1:{port}/postgres?schema=crm: cannot connect: "
            in res.stderr)
    assert "password authentication failed" in res.stderr
    assert wrong not in res.stderr and CANARY not in res.stderr
    assert not (ws / "audits" / "company-a" / "2020-01").exists()
