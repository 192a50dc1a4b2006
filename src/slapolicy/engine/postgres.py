"""Where a PostgreSQL source is, and how the engine connects to it.

A location never holds a password (``PgLocation.parse`` refuses one): the password
comes from ``trail.credentials`` in the CLI, or from libpq's own sources (a private
password file the CLI writes for the audit kernel, see ``credentials.kernel_passfile``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from slapolicy.errors import DataSourceError, SecretsError

ENV_PASSWORD = "SLAPOLICY_PG_PASSWORD"
ENV_SECRETS = "SLAPOLICY_SECRETS"
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


def connect(loc: PgLocation, password: str | None = None) -> Any:
    """An Ibis postgres backend on ``loc``, its session in UTC (instants compare as UTC).

    Without ``password`` libpq finds one itself (``PGPASSFILE``, ``~/.pgpass``).
    """
    import ibis

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
    con.raw_sql("SET TIME ZONE 'UTC'")
    # Room for the audit's hash joins and aggregates over millions of rows in memory.
    con.raw_sql("SET work_mem = '128MB'")
    return con
