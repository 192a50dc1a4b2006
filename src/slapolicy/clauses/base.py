"""The contract every clause kind fulfils, built-in or plug-in.

A kind *measures*: for each of its checks (``checks``), ``measure`` returns a
threshold-free facts expression with one row per subject in scope (the columns in
``FACT_COLUMNS`` plus evidence). The policy's threshold for the period comes from
``threshold``, and one judge in the engine (``slapolicy.engine.judge``) applies it
with the clause's tolerance, so the audit, ``slapolicy test`` and the review form
judge alike, and the same facts can be judged again under other thresholds.

Kind modules import no query engine at module level: loading a policy validates
parameters and checks without Ibis, DuckDB, pandera or Great Expectations.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from slapolicy.clauses.spec import (
    FACT_COLUMNS,
    CheckSpec,
    Direction,
    Level,
    Reads,
    Threshold,
    reads_of,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from slapolicy.engine.context import AuditContext
    from slapolicy.policy.model import Clause, Policy
    from slapolicy.policy.periods import Period

__all__ = ["FACT_COLUMNS", "CheckSpec", "ClauseKind", "Direction", "Facts", "Level", "Params",
           "Reads", "Threshold", "reads_of"]


class Params(BaseModel):
    """Base for clause parameters: unknown keys are errors, numbers are finite.

    Give numeric parameters the declared bounds of ``slapolicy.policy.units`` (``Rate``,
    ``Count``, ``WholeCount``, ``Amount``, ``Duration``, ``Money``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


@dataclass
class Facts:
    """The measured facts of one check for the period: ``table`` is an Ibis expression.

    Columns: ``subject_id`` (string), ``rep_id`` (string or null), ``observed``
    (float64: the value so far) and ``open`` (boolean: the subject is not complete
    at the audit's as-of instant, so ``observed`` can still change), plus evidence.
    A check that cannot be measured while the clause's other checks can gives
    ``error`` (the reason) instead of a table.
    """

    table: ir.Table | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None


class ClauseKind(ABC):
    """A kind of obligation: ``name``, ``Params``, ``checks``, ``threshold`` and ``measure``.

    ``reads`` declares the contract tables and columns ``measure`` reads for a clause
    with given params: what a data source must provide for the clause to be measured.
    Built-in kinds declare exactly, shared helpers included (``reads_of`` merges the
    declarations). The default, ``None``, means every table and column: a plug-in kind
    that does not declare is given all of them.
    """

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
    def threshold(self, policy: Policy, clause: Clause, params: Any, check: CheckSpec,
                  period: Period) -> Threshold:
        """The policy's threshold for ``check`` in ``period`` (from parameters, never data)."""

    @abstractmethod
    def measure(self, ctx: AuditContext, clause: Clause, params: Any) -> dict[str, Facts]:
        """Threshold-free facts per check name for ``ctx.period``."""

    def reads_since(self, policy: Policy, clause: Clause, params: Any,
                    period: Period) -> date:
        """The earliest day whose events (activities, stage entries, feedback, meetings,
        web traffic) ``measure`` looks at for ``period``: the audit does not read older ones.

        A subject's whole history is read whenever anything of it happens from this day
        on (a lead's activities, an opportunity's stages), so this bounds only *events*
        that belong to no subject in the window. The default is the period's first day; a
        kind that looks further back (a quarterly slot, a trailing window) must say so.
        """
        return period.start

    def reads(self, clause: Clause, params: Any) -> dict[str, frozenset[str]] | None:
        """The contract tables and columns ``measure`` reads for this clause and params.

        Table name -> column names (a table with no columns is read for its row count
        only); known from the policy alone, never from data. ``None`` (this default)
        means every table and column: a kind that does not declare is given all of them.
        """
        return None

    def expectation(self, clause: Clause, params: Any, check: CheckSpec) -> dict[str, Any]:
        """The Great Expectations expectation for one check (override for a custom one)."""
        from slapolicy.engine.expectations import expectation_config

        return expectation_config(clause.id, check.name, check.direction,
                                  clause.tolerance.mostly)

    def row_check(self, clause: Clause, params: Any, check: CheckSpec) -> Any:
        """The pandera check stating the row obligation (override for a custom one)."""
        from slapolicy.engine.rowchecks import comparison_check

        return comparison_check(f"{clause.id}:{check.name}", check.direction)
