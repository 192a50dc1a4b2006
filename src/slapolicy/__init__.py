"""slapolicy: the marketing-sales SLA as code, checked every period and signed off.

The public API. Names resolve on first use (PEP 562), so ``import slapolicy`` or
``import slapolicy.policy`` loads no query engine::

    import slapolicy

    doc = slapolicy.load_policy("policies/company-a.yaml")
    result = slapolicy.audit_period(slapolicy.AuditRequest(doc_path, "2026-10", data))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slapolicy.audit.judging import Rejudged, rejudge
    from slapolicy.audit.results import AuditResult, Breach, ClauseResult
    from slapolicy.audit.run import AuditRequest, audit_document, audit_period
    from slapolicy.clauses.base import ClauseKind, Facts, Params
    from slapolicy.clauses.registry import register_clause, registry
    from slapolicy.clauses.spec import CheckSpec, Threshold
    from slapolicy.errors import SlapolicyError
    from slapolicy.policy.document import PolicyDocument
    from slapolicy.policy.loader import load_policy, parse_policy
    from slapolicy.policy.periods import Period

_EXPORTS = {
    "load_policy": "slapolicy.policy.loader",
    "parse_policy": "slapolicy.policy.loader",
    "PolicyDocument": "slapolicy.policy.document",
    "Period": "slapolicy.policy.periods",
    "AuditRequest": "slapolicy.audit.run",
    "audit_period": "slapolicy.audit.run",
    "audit_document": "slapolicy.audit.run",
    "AuditResult": "slapolicy.audit.results",
    "ClauseResult": "slapolicy.audit.results",
    "Breach": "slapolicy.audit.results",
    "rejudge": "slapolicy.audit.judging",
    "Rejudged": "slapolicy.audit.judging",
    "ClauseKind": "slapolicy.clauses.base",
    "Facts": "slapolicy.clauses.base",
    "Params": "slapolicy.clauses.base",
    "CheckSpec": "slapolicy.clauses.spec",
    "Threshold": "slapolicy.clauses.spec",
    "registry": "slapolicy.clauses.registry",
    "register_clause": "slapolicy.clauses.registry",
    "SlapolicyError": "slapolicy.errors",
}
__all__ = [
    "AuditRequest", "AuditResult", "Breach", "CheckSpec", "ClauseKind", "ClauseResult", "Facts",
    "Params", "Period", "PolicyDocument", "Rejudged", "SlapolicyError", "Threshold",
    "audit_document", "audit_period", "load_policy", "parse_policy", "register_clause",
    "registry", "rejudge",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'slapolicy' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
