"""The contract every clause kind fulfils, built-in or plug-in.

A kind turns one policy clause into one or more *checks*. Each check has a
facts table with one row per subject in scope (``FACT_COLUMNS`` plus evidence
columns); a subject complies when ``observed`` is at most (or at least)
``threshold``. Row-level kinds build facts per lead, activity or request;
aggregate kinds per rep, marketer, team or company. Either way pandera returns
every failing row and Great Expectations gives the verdict under ``mostly``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from slapolicy.engine.context import AuditContext
    from slapolicy.policy.model import Clause, Policy

Direction = Literal["at_most", "at_least"]
Level = Literal["row", "aggregate"]

#: Columns every facts table carries; any others are kept as the breach's evidence.
FACT_COLUMNS = ("subject_id", "rep_id", "observed", "threshold")


class Params(BaseModel):
    """Base for clause parameters: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class CheckSpec:
    """One comparison a clause makes, known from the policy alone (compiled to a suite)."""

    name: str
    direction: Direction
    unit: str
    subject_type: str
    level: Level = "row"
    description: str = ""


@dataclass
class Facts:
    """The facts of one check for the period: ``table`` is an Ibis expression.

    A check that cannot be evaluated while the clause's other checks can gives
    ``error`` (the reason) instead of a table; the evaluator reports that check as
    ``error`` and still judges the others.
    """

    table: ir.Table | None = None
    pending: int = 0
    notes: list[str] = field(default_factory=list)
    error: str | None = None


class ClauseKind(ABC):
    """A kind of obligation. Subclasses declare ``name``, ``Params``, ``checks`` and ``facts``."""

    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]]
    description: ClassVar[str] = ""

    def check_policy(self, policy: Policy, clause: Clause, params: Any) -> list[str]:
        """Cross-checks against the rest of the policy; return problems as sentences."""
        return []

    @abstractmethod
    def checks(self, clause: Clause, params: Any) -> list[CheckSpec]:
        """The checks this clause makes, in a stable order."""

    @abstractmethod
    def facts(self, ctx: AuditContext, clause: Clause, params: Any) -> dict[str, Facts]:
        """Facts per check name for ``ctx.period``."""

    def expectation(self, clause: Clause, params: Any, check: CheckSpec) -> dict[str, Any]:
        """The Great Expectations expectation for one check (override for a custom one)."""
        from slapolicy.engine.expectations import expectation_config

        return expectation_config(clause.id, check.name, check.direction,
                                  clause.tolerance.mostly)

    def row_check(self, clause: Clause, params: Any, check: CheckSpec) -> Any:
        """The pandera check that finds failing rows (override for a custom one)."""
        from slapolicy.engine.rowchecks import comparison_check

        return comparison_check(f"{clause.id}:{check.name}", check.direction)
