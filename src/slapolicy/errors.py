"""One hierarchy for everything a user of slapolicy may have to fix.

A breached clause is never an exception: it is a result (see ``results``).
Exceptions are for a broken policy, a broken data source, or a failed run.
Every exception keeps its details as attributes and pickles (``__reduce__``),
so that it survives papermill's kernel boundary and multiprocessing.
"""

from __future__ import annotations

from typing import Any


class SlapolicyError(Exception):
    """Root of every error slapolicy raises on purpose."""

    #: CLI exit code for this family of errors (only the CLI reads it).
    exit_code: int = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.hint}" if self.hint else self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[SlapolicyError], state: dict[str, Any]) -> SlapolicyError:
    obj = cls.__new__(cls)
    obj.__dict__.update(state)
    Exception.__init__(obj, str(obj))
    return obj


class PolicyError(SlapolicyError):
    """The policy file cannot be read or does not describe a valid SLA."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        yaml_path: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = path
        self.yaml_path = yaml_path
        self.line = line
        super().__init__(message, hint=hint)

    def __str__(self) -> str:
        where = self.path or "<policy>"
        if self.line is not None:
            where += f":{self.line}"
        if self.yaml_path:
            where += f" at {self.yaml_path}"
        text = f"{where}: {self.message}"
        return f"{text}\n  fix: {self.hint}" if self.hint else text


class UnknownClauseKindError(PolicyError):
    """A clause names a kind that no built-in or plug-in provides."""


class DataSourceError(SlapolicyError):
    """Input data is missing, unreadable, or breaks the data contract."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        table: str | None = None,
        column: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.source = source
        self.table = table
        self.column = column
        super().__init__(message, hint=hint)

    def __str__(self) -> str:
        where = ".".join(p for p in (self.table, self.column) if p)
        prefix = f"{self.source}: " if self.source else ""
        prefix += f"{where}: " if where else ""
        text = prefix + self.message
        return f"{text}\n  fix: {self.hint}" if self.hint else text


class ContractViolation(DataSourceError):
    """Rows or columns break the data contract (pandera found failure cases)."""

    def __init__(self, message: str, *, failures: list[dict[str, Any]] | None = None,
                 **kwargs: Any) -> None:
        self.failures = failures or []
        super().__init__(message, **kwargs)


class CalendarError(PolicyError):
    """A business calendar cannot be built (bad zone, hours or holiday country)."""


class PeriodError(SlapolicyError):
    """A period label cannot be parsed or is outside what the policy covers."""


class StaleSuiteError(SlapolicyError):
    """Compiled expectation suites do not match the policy's content hash."""


class AuditRunError(SlapolicyError):
    """The audit notebook failed while executing (a cell raised)."""

    exit_code = 3

    def __init__(self, message: str, *, cell: int | None = None,
                 ename: str | None = None, evalue: str | None = None,
                 hint: str | None = None) -> None:
        self.cell = cell
        self.ename = ename
        self.evalue = evalue
        super().__init__(message, hint=hint)


class FactsError(SlapolicyError):
    """Kept facts are missing, from another format, or changed since they were kept."""
