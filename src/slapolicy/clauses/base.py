"""The contract every clause kind fulfils, built-in or plug-in."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from slapolicy.engine import AuditContext
    from slapolicy.policy.model import Clause, Policy

Direction = Literal["at_most", "at_least"]

#: Columns every facts table carries; any others are kept as the breach's evidence.
FACT_COLUMNS = ("subject_id", "rep_id", "observed", "threshold")


class Params(BaseModel):
    """Base for clause parameters: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class Facts:
    """One row per subject the clause applies to in the period.

    ``table`` has ``FACT_COLUMNS`` (``rep_id`` may be null) and any evidence
    columns. A subject complies when ``observed`` is at most (or at least, per
    ``direction``) ``threshold``.
    """

    table: ir.Table
    direction: Direction
    unit: str
    pending: int = 0
    notes: list[str] = field(default_factory=list)


class ClauseKind(ABC):
    """A kind of obligation. Subclasses declare ``name``, ``Params`` and ``subject_type``."""

    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]]
    subject_type: ClassVar[str]
    description: ClassVar[str] = ""

    def check_policy(self, policy: Policy, clause: Clause, params: BaseModel) -> list[str]:
        """Cross-checks against the rest of the policy; return problems as sentences."""
        return []

    @abstractmethod
    def facts(self, ctx: AuditContext, clause: Clause, params: BaseModel) -> Facts:
        """Build the clause's facts for ``ctx.period`` as an Ibis expression."""
