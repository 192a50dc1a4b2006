"""One hierarchy for everything a user of slapolicy may have to fix.

A breached clause is never an exception: it is a result (see ``results``).
Exceptions are for a broken policy, a broken data source, or a failed run.
Every exception keeps its details as attributes and pickles (``__reduce__``),
so that it survives papermill's kernel boundary and multiprocessing.
"""

from __future__ import annotations

from typing import Any

#: Exit codes of every command; ``exit_code_for`` and ``outcome_exit_code`` are the only
#: places that map errors and audit outcomes to them.
EXIT_CLEAN, EXIT_FINDINGS, EXIT_USER, EXIT_RUN, EXIT_BUSY = 0, 1, 2, 3, 4


def exit_code_for(err: BaseException) -> int:
    """The exit code for an error: its class's (or the kernel-recorded) code; 3 otherwise."""
    return err.exit_code if isinstance(err, SlapolicyError) else EXIT_RUN


#: ``--fail-on``: which audit outcomes exit 1 (the audit itself completed either way).
FAIL_ON: dict[str, frozenset[str]] = {
    "fail": frozenset({"fail", "error"}),  # a clause failed, or could not be evaluated
    "error": frozenset({"error"}),         # only a clause that could not be evaluated
    "never": frozenset(),                  # findings never fail the command
}


def outcome_exit_code(status: str, fail_on: str = "fail") -> int:
    """The exit code for an audit's overall status: 1 when a clause failed or errored.

    ``fail_on`` (``--fail-on``) narrows which statuses exit 1; see ``FAIL_ON``. It never
    touches codes 2-4: those say the audit did not complete, whatever is asked.
    ``not_measured`` clauses do not fail the run (there was nothing to judge); they are
    listed in the summary and in ``results.json``.
    """
    return EXIT_FINDINGS if status in FAIL_ON[fail_on] else EXIT_CLEAN


class SlapolicyError(Exception):
    """Root of every error slapolicy raises on purpose."""

    #: Exit code for this family of errors (read through ``exit_code_for``).
    exit_code: int = EXIT_USER

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
    """The audit notebook failed while executing (a cell raised).

    When the failing cell caught a slapolicy error, the kernel recorded that error's
    exit code (``slapolicy.audit.run.record_failure``) and ``exit_code`` is that code:
    a policy or data mistake found inside the kernel is still the user's to fix (2).
    """

    exit_code = 3

    def __init__(self, message: str, *, cell: int | None = None,
                 ename: str | None = None, evalue: str | None = None,
                 hint: str | None = None, exit_code: int | None = None) -> None:
        self.cell = cell
        self.ename = ename
        self.evalue = evalue
        if exit_code is not None:
            self.exit_code = exit_code
        super().__init__(message, hint=hint)


class FactsError(SlapolicyError):
    """Kept facts are missing, from another format, or changed since they were kept."""


class HistoryMissingError(SlapolicyError):
    """Earlier periods the audit depends on have no audit yet."""

    def __init__(self, missing: list[str], policy_id: str) -> None:
        self.missing = missing
        self.policy_id = policy_id
        super().__init__(
            f"period(s) {', '.join(missing)} of {policy_id} have no audit, and the ladder, "
            "goals and rewards of later periods depend on them",
            hint="audit them first, or pass --backfill to audit them now, oldest first",
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.missing, self.policy_id))


class DecisionError(SlapolicyError):
    """A reward split or dispute that the policy does not allow."""


class LockTimeout(SlapolicyError):
    """Another process holds a lock for longer than we may wait."""

    exit_code = 4

    def __init__(self, message: str, *, path: str | None = None, holder: str | None = None,
                 hint: str | None = None) -> None:
        self.path = path
        self.holder = holder
        super().__init__(message, hint=hint)


class LedgerError(SlapolicyError):
    """The ledger cannot be read or appended to."""


class SecretsError(SlapolicyError):
    """A credential is missing, misplaced or exposed (in a URL, a workspace file)."""


class SigningError(SlapolicyError):
    """A key cannot be made, read or used to sign this audit."""


class TamperedAuditError(SlapolicyError):
    """The audit's files no longer match its manifest: it must not be signed."""

    exit_code = 1

    def __init__(self, message: str, *, problems: list[str] | None = None,
                 hint: str | None = None) -> None:
        self.problems = problems or []
        super().__init__(message, hint=hint)


class RevisionError(SlapolicyError):
    """Auditing a signed period again needs a reason for the ledger."""


class ManifestError(SlapolicyError):
    """An audit folder has no readable manifest."""


class WorkspaceError(SlapolicyError):
    """The workspace file (``slapolicy.toml`` or ``[tool.slapolicy]``) cannot be used."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 key: str | None = None, hint: str | None = None) -> None:
        self.path = path
        self.line = line
        self.key = key
        super().__init__(message, hint=hint)

    def __str__(self) -> str:
        where = self.path or "<workspace>"
        if self.line is not None:
            where += f":{self.line}"
        if self.key:
            where += f" at {self.key}"
        text = f"{where}: {self.message}"
        return f"{text}\n  fix: {self.hint}" if self.hint else text


class PluginExitError(SlapolicyError):
    """Custom clause code tried to end the process (``sys.exit``, ``os._exit``).

    Exit 3: the run did not complete, whatever code the module asked for; an exit code
    of 0 from a module that stopped the audit would tell a scheduler it succeeded.
    """

    exit_code = 3


class TimeLimitError(SlapolicyError):
    """A step of the audit, or the whole run, went past its time limit (exit 3)."""

    exit_code = 3

    def __init__(self, message: str, *, step: str | None = None, seconds: float | None = None,
                 hint: str | None = None) -> None:
        self.step = step
        self.seconds = seconds
        super().__init__(message, hint=hint)
