"""The policy: the SLA as a typed, versioned, hashed document."""

from slapolicy.policy.loader import PolicyDocument, load_policy, parse_policy
from slapolicy.policy.model import Clause, Policy

__all__ = ["Clause", "Policy", "PolicyDocument", "load_policy", "parse_policy"]
