"""Credentials for data sources, and the PostgreSQL source that needs them.

A password never travels in a URL, a notebook parameter, the HTML, the manifest
or the ledger. It comes from the environment (``SLAPOLICY_PG_PASSWORD``) or from
a TOML secrets file outside the workspace (path in ``SLAPOLICY_SECRETS``, else
``~/.config/slapolicy/secrets.toml``)::

    [postgres."analyst@db.internal:5432/sales"]
    password = "..."

Lookup order: the environment variable; the secrets file's entry for
``user@host:port/database``, then ``user@host:port``; otherwise none is passed and
libpq applies its own defaults (``PGPASSWORD``, ``~/.pgpass``).

``--data postgresql://user@host:port/database?schema=sales`` is read in the CLI
process, through Ibis' postgres backend, into a DuckDB snapshot in a private
temporary folder (mode 0700, removed after the run). The audit kernel reads that
snapshot the way it reads any DuckDB file, into its in-memory DuckDB, so every
clause runs unchanged and the kernel never holds the credentials; the manifest's
table hashes are taken from the same snapshot, so they describe exactly the rows
audited.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from slapolicy.engine.contract import TABLES
from slapolicy.errors import DataSourceError, SecretsError

ENV_PASSWORD = "SLAPOLICY_PG_PASSWORD"
ENV_SECRETS = "SLAPOLICY_SECRETS"
DEFAULT_SECRETS = Path("~/.config/slapolicy/secrets.toml")
#: Variables the audit kernel never needs: removed from its environment.
KERNEL_SCRUB = (ENV_PASSWORD, ENV_SECRETS, "PGPASSWORD")
_SCHEMES = ("postgresql://", "postgres://")
_QUERY_KEYS = {"schema", "sslmode"}


def is_postgres_url(text: str | os.PathLike[str]) -> bool:
    return str(text).startswith(_SCHEMES)


@dataclass(frozen=True)
class PgLocation:
    """A PostgreSQL database and schema, without any password."""

    user: str
    host: str
    port: int
    database: str
    schema: str = "public"
    sslmode: str | None = None

    @classmethod
    def parse(cls, url: str) -> PgLocation:
        """Parse ``postgresql://user@host:port/database?schema=name``; refuse a password."""
        parts = urlsplit(url)
        fix = "write postgresql://user@host:5432/database?schema=name"
        if parts.password is not None:
            raise SecretsError(
                "the PostgreSQL URL holds a password; it would be written into the notebook, "
                "the manifest and the ledger",
                hint=f"remove it from the URL; set {ENV_PASSWORD} or put it in the secrets "
                     f"file ({ENV_SECRETS}, outside the workspace)")
        try:
            port = parts.port or 5432
        except ValueError as e:
            raise DataSourceError(f"bad port in {redact(url)}", hint=fix) from e
        database = unquote(parts.path.lstrip("/"))
        if not parts.username or not parts.hostname or not database:
            raise DataSourceError(f"{redact(url)} must name a user, a host and a database",
                                  hint=fix)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        unknown = sorted(set(query) - _QUERY_KEYS)
        if unknown:
            raise DataSourceError(f"unknown option(s) {', '.join(unknown)} in {redact(url)}",
                                  hint=f"use only {', '.join(sorted(_QUERY_KEYS))}")
        return cls(unquote(parts.username), parts.hostname, port, database,
                   query.get("schema") or "public", query.get("sslmode") or None)

    def url(self) -> str:
        """The location as a URL, never with a password: safe to print and record."""
        extra = f"&sslmode={self.sslmode}" if self.sslmode else ""
        return (f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"
                f"?schema={self.schema}{extra}")

    def secret_keys(self) -> tuple[str, str]:
        """The secrets-file entries that may hold this location's password, most specific first."""
        base = f"{self.user}@{self.host}:{self.port}"
        return f"{base}/{self.database}", base

    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{self.host}-{self.port}-{self.database}-"
                                                f"{self.schema}").strip("-")


def redact(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def secrets_file(environ: Mapping[str, str] | None = None) -> Path | None:
    env = os.environ if environ is None else environ
    if env.get(ENV_SECRETS):
        return Path(env[ENV_SECRETS]).expanduser()
    default = DEFAULT_SECRETS.expanduser()
    return default if default.exists() else None


def load_secrets(path: Path, *, workspace: Path | None = None) -> dict[str, Any]:
    """Read the TOML secrets file; refuse one inside the workspace or readable by others."""
    import tomllib

    where = path.resolve()
    ws = (workspace or Path.cwd()).resolve()
    if where == ws or ws in where.parents:
        raise SecretsError(
            f"the secrets file {path} is inside the workspace {ws}, where it could be "
            "committed or published with the audits",
            hint="move it outside, e.g. ~/.config/slapolicy/secrets.toml, and point "
                 f"{ENV_SECRETS} at it")
    try:
        mode = where.stat().st_mode
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise SecretsError(f"the secrets file {path} does not exist",
                           hint=f"create it, or unset {ENV_SECRETS}") from e
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretsError(f"the secrets file {path} can be read by other users "
                           f"(mode {stat.S_IMODE(mode):04o})", hint=f"run: chmod 600 {path}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        # The message names a line and column, never the file's values.
        raise SecretsError(f"the secrets file {path} is not valid TOML: {e}") from None
    return data


def resolve_password(loc: PgLocation, *, environ: Mapping[str, str] | None = None,
                     workspace: Path | None = None) -> str | None:
    """The password for ``loc`` (see the module docstring for the order), or None."""
    env = os.environ if environ is None else environ
    if env.get(ENV_PASSWORD):
        return env[ENV_PASSWORD]
    path = secrets_file(env)
    if path is None:
        return None
    entries = load_secrets(path, workspace=workspace).get("postgres", {})
    for key in loc.secret_keys():
        entry = entries.get(key)
        if isinstance(entry, dict) and isinstance(entry.get("password"), str):
            return str(entry["password"])
    return None


@contextmanager
def scrubbed_environ(names: tuple[str, ...] = KERNEL_SCRUB) -> Iterator[None]:
    """Remove credential variables from this process's environment for the block, so a
    kernel started inside it does not inherit them."""
    saved = {n: os.environ.pop(n) for n in names if n in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


# --- data: a local path for the kernel ----------------------------------------------------


@contextmanager
def open_data(data: str | os.PathLike[str], data_zone: str | None = None,
              mapping: str | None = None) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The local data path an audit kernel reads, and a description safe to record.

    A folder or DuckDB file is used as it is. A PostgreSQL URL is read into a
    DuckDB snapshot in a private temporary folder that is removed afterwards.
    """
    from slapolicy.engine.sources import DataSource

    text = os.fspath(data)
    if not is_postgres_url(text):
        source = DataSource.from_arg(text, data_zone, mapping)
        yield source.location, {"kind": source.kind, "location": text,
                                "declared_zone": data_zone, "mapping": mapping}
        return
    loc = PgLocation.parse(text)
    _check_zone(loc, data_zone)
    password = resolve_password(loc)
    with tempfile.TemporaryDirectory(prefix="slapolicy-pg-") as tmp:  # created 0700
        snapshot = Path(tmp) / f"{loc.slug()}.duckdb"
        snapshot_postgres(loc, password, snapshot)
        yield snapshot, {"kind": "postgresql", "location": loc.url(), "declared_zone": data_zone}


def _check_zone(loc: PgLocation, zone: str | None) -> None:
    if zone is None:
        return
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise DataSourceError(f"unknown time zone {zone!r}", source=loc.url(),
                              hint="declare an IANA zone, e.g. America/New_York") from e


def snapshot_postgres(loc: PgLocation, password: str | None, target: Path) -> Path:
    """Copy the contract tables of ``loc`` into a new DuckDB file through Ibis' postgres
    backend (one consistent read per table; every column as PostgreSQL types it)."""
    import duckdb

    try:
        import ibis
    except ImportError as e:  # pragma: no cover - ibis is a core dependency
        raise DataSourceError("ibis is not installed") from e

    def clean(err: BaseException) -> str:
        text = f"{type(err).__name__}: {err}".strip()
        return text.replace(password, "***") if password else text

    kwargs: dict[str, Any] = {"host": loc.host, "port": loc.port, "user": loc.user,
                              "database": loc.database}
    if password is not None:
        kwargs["password"] = password
    if loc.sslmode:
        kwargs["sslmode"] = loc.sslmode
    try:
        con = ibis.postgres.connect(**kwargs)
    except ImportError as e:
        raise DataSourceError(
            "reading PostgreSQL needs the psycopg driver", source=loc.url(),
            hint='pip install "ibis-framework[postgres]" "psycopg[binary]"') from e
    except Exception as e:
        raise DataSourceError(
            f"cannot connect: {clean(e)}", source=loc.url(),
            hint=f"check the host, port, user and database; the password comes from "
                 f"{ENV_PASSWORD} or the secrets file ({ENV_SECRETS})") from None
    duck = duckdb.connect(str(target))
    try:
        present = set(con.list_tables(database=loc.schema))
        for spec in TABLES.values():
            if spec.name not in present:
                if spec.required:
                    raise DataSourceError(
                        f"table {spec.name!r} is missing from schema {loc.schema!r} "
                        f"(found: {', '.join(sorted(present)) or 'none'})",
                        source=loc.url(), table=spec.name,
                        hint=f"create {loc.schema}.{spec.name}; see docs/data-contract.md")
                continue
            try:
                reader = con.table(spec.name, database=loc.schema).to_pyarrow_batches()
                duck.register("_pg_src", reader)
                duck.execute(f'CREATE TABLE "{spec.name}" AS SELECT * FROM _pg_src')
                duck.unregister("_pg_src")
            except Exception as e:
                raise DataSourceError(f"cannot read the table: {clean(e)}", source=loc.url(),
                                      table=spec.name) from None
    finally:
        duck.close()
        con.disconnect()
    return target
