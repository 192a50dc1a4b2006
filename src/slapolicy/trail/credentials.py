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

``--data postgresql://user@host:port/database?schema=sales`` is read in place: the
audit kernel connects to the database itself and every clause runs inside it
(``engine.database``). The kernel's environment holds no password variable; for the
run's duration libpq finds the password in a private password file that this module
writes (``kernel_passfile``) and removes afterwards.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from slapolicy.engine.postgres import (  # noqa: F401 (re-exported: the CLI's names)
    ENV_PASSWORD,
    ENV_SECRETS,
    PgLocation,
    is_postgres_url,
    redact,
)
from slapolicy.errors import DataSourceError, SecretsError

DEFAULT_SECRETS = Path("~/.config/slapolicy/secrets.toml")
#: Variables the audit kernel never needs: removed from its environment.
KERNEL_SCRUB = (ENV_PASSWORD, ENV_SECRETS, "PGPASSWORD")
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
              mapping: str | None = None) -> Iterator[tuple[str | Path, dict[str, Any]]]:
    """What the audit kernel reads, and a description safe to record.

    A folder or DuckDB file is used as it is. A PostgreSQL URL is read in place by the
    kernel; for the run's duration it finds the password in a libpq password file
    (mode 0600, in a private folder removed afterwards) named by ``PGPASSFILE`` in this
    process's environment, which the kernel inherits. The password is never a notebook
    parameter, and never written to the audit, the manifest or the ledger.
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
    described = {"kind": "postgresql", "location": loc.url(), "declared_zone": data_zone}
    # Connect once here, so that a wrong password or host stops the run before a kernel
    # starts, with the error in this process (which redacts the password).
    from slapolicy.engine.postgres import connect

    connect(loc, password).disconnect()
    if password is None:  # libpq's own sources (PGPASSFILE, ~/.pgpass) as they are
        yield loc.url(), described
        return
    with kernel_passfile(loc, password):
        yield loc.url(), described


@contextmanager
def kernel_passfile(loc: PgLocation, password: str) -> Iterator[Path]:
    """A libpq password file for ``loc`` named by ``PGPASSFILE`` for the block."""
    def escaped(text: str) -> str:
        return text.replace("\\", "\\\\").replace(":", "\\:")

    saved = os.environ.get("PGPASSFILE")
    with tempfile.TemporaryDirectory(prefix="slapolicy-pg-") as tmp:  # created 0700
        path = Path(tmp) / "pgpass"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(":".join(escaped(v) for v in (loc.host, str(loc.port), loc.database,
                                                  loc.user, password)) + "\n")
        os.environ["PGPASSFILE"] = str(path)
        try:
            yield path
        finally:
            if saved is None:
                os.environ.pop("PGPASSFILE", None)
            else:
                os.environ["PGPASSFILE"] = saved


def _check_zone(loc: PgLocation, zone: str | None) -> None:
    if zone is None:
        return
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise DataSourceError(f"unknown time zone {zone!r}", source=loc.url(),
                              hint="declare an IANA zone, e.g. America/New_York") from e
