"""A validated policy with its identity (no parsing, no clause kinds, no engine here)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from slapolicy.policy.model import Policy


@dataclass(frozen=True)
class PolicyDocument:
    """A validated policy with its identity: where it came from and its content hash."""

    policy: Policy
    content_hash: str
    source: str = "<text>"
    file_sha256: str | None = None
    params: dict[str, BaseModel] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.policy.id

    @property
    def version(self) -> str:
        return self.policy.version

    def params_for(self, clause_id: str) -> BaseModel:
        return self.params[clause_id]
