"""What ``notebooks/author.ipynb`` calls: an analyst drafting and testing the policy.

Look at the facts behind a clause (judged under a policy: each subject's observed value,
threshold and state), chart them against the threshold, draft a changed or new clause,
judge it on a past period, and run the policy's test cases. Each function goes through
the audit's own code: kept facts are judged by ``audit.judging``; a new clause, which
has no kept facts, is measured by ``audit.run.audit_document``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slapolicy.errors import FactsError, PolicyError

if TYPE_CHECKING:
    import pandas as pd

    from slapolicy.audit.policytests import CaseResult
    from slapolicy.audit.results import ClauseResult
    from slapolicy.policy.document import PolicyDocument


@dataclass(frozen=True)
class ClauseFacts:
    """One check's kept facts, judged: a row per subject, worst first."""

    clause_id: str
    check: str
    direction: str
    unit: str
    threshold: float
    frame: pd.DataFrame


def clause_facts(audit: Path, doc: PolicyDocument, clause_id: str,
                 check: str | None = None) -> ClauseFacts:
    """The kept facts of one check of ``clause_id`` in the audit folder ``audit``, with
    each subject's threshold and state (compliant, breach, pending, excused) under ``doc``."""
    import ibis

    from slapolicy.clauses import registry
    from slapolicy.engine.facts import FACTS_DIR, FactsStore
    from slapolicy.engine.judge import judged_table
    from slapolicy.policy.periods import Period

    store = FactsStore.open(audit / FACTS_DIR)
    try:
        clause = doc.policy.clause(clause_id)
    except KeyError:
        raise PolicyError(f"the policy has no clause {clause_id!r}",
                          hint="use a clause id of the policy") from None
    kind = registry.get(clause.kind)
    params = doc.params_for(clause_id)
    specs = {s.name: s for s in kind.checks(clause, params)}
    spec = specs.get(check or next(iter(specs)))
    if spec is None:
        raise PolicyError(f"{clause_id} has no check {check!r}",
                          hint=f"one of {', '.join(specs)}")
    if f"{clause_id}:{spec.name}" not in store.checks or not store.checks[
            f"{clause_id}:{spec.name}"].get("file"):
        raise FactsError(f"{audit} kept no facts for {clause_id}:{spec.name}",
                         hint="a new or changed clause is measured with judge_draft")
    period = Period.parse(store.key["period"], doc.policy.periods.unit)
    threshold = kind.threshold(doc.policy, clause, params, spec, period)
    con = ibis.duckdb.connect()
    t = judged_table(store.table(con, clause_id, spec.name), clause_id, spec, threshold,
                     kind.row_check(clause, params, spec), None)
    t = t.drop(*[c for c in t.columns if c.startswith("_")])
    worst_first = t.observed.desc() if spec.direction == "at_most" else t.observed.asc()
    frame = t.order_by([worst_first, t.subject_id]).to_pandas()
    return ClauseFacts(clause_id, spec.name, spec.direction, spec.unit, threshold.value, frame)


def facts_chart(facts: ClauseFacts, buckets: int = 8) -> str:
    """An SVG histogram of the observed values with the threshold marked (inside the
    threshold in green, first)."""
    from slapolicy.report.charts import histogram

    values = [float(v) for v in facts.frame["observed"].dropna()]
    if not values:
        return ""
    low, high, t = min(values), max(values), facts.threshold
    edges = sorted({low + (high - low) * i / buckets for i in range(buckets + 1)} | {t})
    edges = [e for e in edges if low <= e <= high] or [low, high]
    if len(edges) == 1:
        edges = [edges[0], edges[0]]
    spans = list(itertools.pairwise(edges)) or [(low, high)]
    counts = []
    for i, (a, b) in enumerate(spans):
        last = i == len(spans) - 1
        counts.append(sum(a <= v < b or (last and v == b) for v in values))
    labels = [f"{a:.3g}–{b:.3g}" for a, b in spans]
    if facts.direction == "at_least":  # inside the threshold first
        spans, counts, labels = spans[::-1], counts[::-1], labels[::-1]
        inside = sum(a >= t for a, _ in spans)
    else:
        inside = sum(b <= t for _, b in spans)
    return histogram(f"{facts.clause_id} · {facts.check}: observed ({facts.unit})", labels,
                     counts, inside, f"threshold {t:g} {facts.unit}")


def draft_policy(policy: Path, *, replace: dict[str, str] | None = None,
                 add_clauses: str = "") -> PolicyDocument:
    """The policy at ``policy`` with text replaced (each ``old`` must occur exactly once)
    and clauses added (YAML list items indented as under ``clauses:``), validated.

    Nothing is written: save a change for good through the review form or by hand.
    """
    from slapolicy.policy.loader import parse_policy

    text = Path(policy).read_text(encoding="utf-8")
    for old, new in (replace or {}).items():
        n = text.count(old)
        if n != 1:
            raise PolicyError(f"{old!r} occurs {n} times in {policy}",
                              hint="quote more of the line so it occurs once")
        text = text.replace(old, new)
    if add_clauses.strip():
        start = text.find("\n  clauses:\n")
        if start == -1:
            raise PolicyError("the policy has no `clauses:` list", path=str(policy))
        nxt = re.compile(r"^  \S", re.M).search(text, start + len("\n  clauses:\n"))
        end = nxt.start() if nxt else len(text)
        body = text[:end].rstrip("\n") + "\n" + add_clauses.rstrip("\n") + "\n"
        text = body + text[end:]
    return parse_policy(text, source=f"{policy} (draft)", base_dir=Path(policy).parent)


def judge_draft(doc: PolicyDocument, clause_id: str, period: str, *, audit: Path | None,
                data: Path | None = None, audits: Path | None = None) -> ClauseResult:
    """Judge one clause of a draft on a past period: from the audit's kept facts when it
    has them for every check (a changed threshold), else measured on ``data``."""
    from slapolicy.audit.judging import rejudge
    from slapolicy.audit.run import AuditRequest, audit_document
    from slapolicy.clauses import registry

    clause = doc.policy.clause(clause_id)
    if audit is not None:
        from slapolicy.engine.facts import FACTS_DIR, FactsStore

        store = FactsStore.open(audit / FACTS_DIR)
        names = [s.name for s in registry.get(clause.kind).checks(clause,
                                                                   doc.params_for(clause_id))]
        kept = all(f"{clause_id}:{n}" in store.checks for n in names)
        same_kind = all(store.checks[f"{clause_id}:{n}"].get("kind") == clause.kind
                        for n in names) if kept else False
        if kept and same_kind and store.key["period"] == period:
            (kept_result,) = rejudge(audit / FACTS_DIR, doc, only={clause_id}).clauses
            return kept_result
    if data is None:
        raise FactsError(f"no kept facts of {clause_id} for {period}",
                         hint="give data= to measure the draft clause on the period")
    audited = audit_document(doc, AuditRequest(Path(doc.source.removesuffix(" (draft)")),
                                               period, data, audits=None), compiled=False,
                             only={clause_id})
    (clause_result,) = audited.clauses
    return clause_result


def run_policy_tests(doc: PolicyDocument) -> list[CaseResult]:
    """The policy's test cases (``policies/tests/<id>/``) under ``doc``: ``slapolicy test``."""
    from slapolicy.audit.policytests import case_files, run_case

    source = Path(doc.source.removesuffix(" (draft)"))
    folder = source.resolve().parent / "tests" / doc.id
    return [run_case(doc, p) for p in case_files(doc, folder)]


def sortable_table(frame: pd.DataFrame, rows: int = 200) -> Any:
    """An ipywidgets table of ``frame`` the analyst sorts by any column."""
    import ipywidgets as w

    by = w.Dropdown(options=list(frame.columns), value=frame.columns[0], description="Sort by")
    order = w.ToggleButtons(options=["descending", "ascending"], value="descending")
    out = w.HTML()

    def show(_: Any = None) -> None:
        shown = frame.sort_values(by.value, ascending=order.value == "ascending",
                                  kind="stable").head(rows)
        out.value = (f"<p>{len(frame)} rows{f', first {rows} shown' if len(frame) > rows else ''}"
                     f"</p>" + shown.to_html(index=False, escape=True))

    by.observe(show, names="value")
    order.observe(show, names="value")
    show()
    return w.VBox([w.HBox([by, order]), out])
