"""What the data holds for a policy, before any audit: ``slapolicy check-data``.

The same loader the audit uses (contract types, instants, quarantine) and the same
reading declarations, so what it reports is what an audit of the data would meet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slapolicy.audit.run import audit_needs, check_quarantine
from slapolicy.clauses import registry
from slapolicy.engine.context import Engine
from slapolicy.errors import DataSourceError

if TYPE_CHECKING:
    from slapolicy.engine.sources import DataSource, LoadReport
    from slapolicy.policy.document import PolicyDocument


@dataclass(frozen=True)
class DataCheck:
    """The load report, which clauses the data cannot measure (and why), and the bound."""

    load: LoadReport
    unmeasurable: dict[str, str] = field(default_factory=dict)
    over_bound: str | None = None

    @property
    def ok(self) -> bool:
        return not self.unmeasurable and self.over_bound is None

    def to_dict(self) -> dict[str, Any]:
        return {**self.load.to_dict(), "unmeasurable": dict(sorted(self.unmeasurable.items())),
                "over_bound": self.over_bound}

    def lines(self) -> list[str]:
        out = []
        for name, t in sorted(self.load.tables.items()):
            if t.where is None:
                state = "missing" if name in self.load.missing else "absent (not needed)"
                out.append(f"{name}: {state}")
                continue
            line = f"{name}: {t.read:,} read, {t.used:,} used, {t.quarantined:,} set aside"
            if name in self.load.missing:
                line += f"; lacks needed column(s) {', '.join(self.load.missing[name])}"
            if name in self.load.absent:
                line += f"; lacks unneeded column(s) {', '.join(self.load.absent[name])}"
            out.append(f"{line} ({t.where})")
        for reason, n in sorted(self.load.reasons.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(f"set aside: {reason} ({n:,} row(s))")
        for table, sources in sorted(self.load.left_out_by_mapping.items()):
            for src in sources:
                out.append(f"{table}: the mapping's rules leave out {src['left_out']:,} of "
                           f"{src['rows']:,} rows of {', '.join(src['files'])} "
                           f"({'; '.join(src['rules'])})")
        for table, why in sorted(self.load.unusable.items()):
            out.append(f"{table}: cannot be read: {why}")
        for clause, why in sorted(self.unmeasurable.items()):
            out.append(f"cannot measure {clause}: {why}")
        if self.over_bound:
            out.append(f"too many rows set aside: {self.over_bound}")
        return out


def check_data(doc: PolicyDocument, source: DataSource) -> DataCheck:
    """Load ``source`` for ``doc``'s enabled clauses and say what an audit would meet."""
    clauses = [c for c in doc.policy.clauses if c.enabled]
    engine = Engine.from_source(source, needs=audit_needs(doc, clauses))
    unmeasurable = {}
    for clause in clauses:
        kind = registry.get(clause.kind)
        reads = kind.reads(clause, doc.params_for(clause.id))
        lacks = engine.load.lacks(reads)
        if lacks:
            unmeasurable[clause.id] = "the data has no " + ", ".join(lacks)
        broken = engine.load.unusable_for(reads)
        if broken:
            unmeasurable[clause.id] = "; ".join(broken)
    over = None
    try:
        check_quarantine(engine.load, doc.policy.data.max_quarantined_share)
    except DataSourceError as e:
        over = e.message.split(". Every problem found", 1)[0]
    return DataCheck(engine.load, unmeasurable, over)
