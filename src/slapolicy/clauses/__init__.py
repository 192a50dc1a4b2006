"""Clause kinds: what each obligation measures, and how."""

from slapolicy.clauses.base import ClauseKind, Facts, Params
from slapolicy.clauses.registry import register_clause, registry

__all__ = ["ClauseKind", "Facts", "Params", "register_clause", "registry"]
