"""MQL quality: the period's MQLs fit the ideal customer profile and score high enough.

The thresholds come from the policy's ``definitions.mql`` (one definition for
both teams). The period's MQLs are the leads whose ``mql_at`` falls in it.

- ``icp`` (per lead): how many of the six profile attributes (industry, company
  size, department, job title, technology, content fit) match the ICP lists, at
  least ``icp.min_matches``. Matching ignores case and surrounding spaces; an
  empty list in the policy accepts any value; a null attribute never matches.
- ``fit`` / ``interest`` (per lead): ``fit_score`` / ``interest_score`` at least
  ``scoring.fit_min`` / ``scoring.interest_min``.
- ``acceptance`` (team marketing): the share of the period's MQLs that sales
  accepted (``sql_at`` set, at or before the audit's as-of instant), at least
  ``acceptance_rate``; unset, that is the policy's review trigger
  ``mql_to_sql_rate_below``, or 0.30 when the policy has none. With no MQLs the
  rate is undefined: the check has no subject and says so. While the period is
  open the rate is ``open`` and the judge keeps it pending (it can move either
  way); the row checks are final and judged at once.

Row checks carry ``rep_id`` = the lead's owner; the clause is marketing's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from slapolicy.clauses.base import CheckSpec, ClauseKind, Facts, Params, Threshold, reads_of
from slapolicy.clauses.counting import PERIOD_MQLS_READS

if TYPE_CHECKING:
    from slapolicy.engine.context import AuditContext
    from slapolicy.policy.model import Clause, Icp, Policy
    from slapolicy.policy.periods import Period

DEFAULT_ACCEPTANCE = 0.30

#: leads column -> ICP list attribute of ``definitions.mql.icp``.
ICP_ATTRIBUTES = {
    "industry": "industries",
    "company_size": "company_sizes",
    "department": "departments",
    "job_title": "job_titles",
    "technology": "technologies",
    "content_fit": "content_fit",
}


class MqlQualityParams(Params):
    acceptance_rate: float | None = Field(
        None, ge=0, le=1,
        description="share of MQLs sales accepts; unset: review.triggers.mql_to_sql_rate_below, "
                    "else 0.30")


def acceptance_threshold(policy: Policy, params: MqlQualityParams) -> float:
    return acceptance_rule(policy, params).value


def acceptance_rule(policy: Policy, params: MqlQualityParams) -> Threshold:
    """The acceptance rate due: the parameter, else the review trigger, else 0.30."""
    if params.acceptance_rate is not None:
        return Threshold(params.acceptance_rate,
                         basis=f"acceptance_rate {params.acceptance_rate:g}")
    trigger = policy.review.triggers.mql_to_sql_rate_below
    if trigger is not None:
        return Threshold(trigger, basis=f"review trigger mql_to_sql_rate_below {trigger:g}")
    return Threshold(DEFAULT_ACCEPTANCE, basis=f"default {DEFAULT_ACCEPTANCE:g}")


def icp_matches(t: Any, icp: Icp) -> dict[str, Any]:
    """Per attribute column, a boolean expression: the lead's value matches the ICP."""
    out = {}
    for column, attr in ICP_ATTRIBUTES.items():
        allowed = sorted({str(v).strip().lower() for v in getattr(icp, attr)})
        value = t[column]
        match = value.notnull()
        if allowed:
            # Trim only values that do not match as they are (DuckDB's trim of a character
            # set is slow): a value that matches unstripped has nothing to strip.
            exact = value.lower().isin(allowed)
            match = match & exact.ifelse(True, value.strip().lower().isin(allowed))
        out[column] = match.fill_null(False)
    return out


class MqlQuality(ClauseKind):
    name = "mql_quality"
    Params = MqlQualityParams
    description = "MQLs meet the ideal customer profile and the fit and interest thresholds."

    def checks(self, clause: Clause, params: MqlQualityParams) -> list[CheckSpec]:
        return [
            CheckSpec("icp", "at_least", "ICP attributes", "lead",
                      description="ICP attributes (of six) the MQL matches"),
            CheckSpec("fit", "at_least", "points", "lead", description="the MQL's fit score"),
            CheckSpec("interest", "at_least", "points", "lead",
                      description="the MQL's interest score"),
            CheckSpec("acceptance", "at_least", "share of MQLs", "team", level="aggregate",
                      description="share of the period's MQLs that sales accepted (SQL)",
                      moves="either"),
        ]

    def threshold(self, policy: Policy, clause: Clause, params: MqlQualityParams,
                  check: CheckSpec, period: Period) -> Threshold:
        mql = policy.definitions.mql
        if check.name == "icp":
            return Threshold(float(mql.icp.min_matches),
                             basis=f"definitions.mql.icp.min_matches {mql.icp.min_matches:g}")
        if check.name == "fit":
            return Threshold(float(mql.scoring.fit_min),
                             basis=f"definitions.mql.scoring.fit_min {mql.scoring.fit_min:g}")
        if check.name == "interest":
            return Threshold(
                float(mql.scoring.interest_min),
                basis=f"definitions.mql.scoring.interest_min {mql.scoring.interest_min:g}")
        return acceptance_rule(policy, params)

    def reads(self, clause: Clause, params: MqlQualityParams) -> dict[str, frozenset[str]]:
        return reads_of(PERIOD_MQLS_READS, leads=[
            "lead_id", "owner_id", "marketer_id", "source", "fit_score", "interest_score",
            "sql_at", *ICP_ATTRIBUTES])

    def measure(self, ctx: AuditContext, clause: Clause,
                params: MqlQualityParams) -> dict[str, Facts]:
        import ibis

        from slapolicy.clauses.common import facts_select
        from slapolicy.clauses.counting import open_notes, period_mqls, period_open

        mql = ctx.doc.policy.definitions.mql
        t = period_mqls(ctx)
        # The period's MQLs with one match flag per ICP attribute, computed once: the
        # count and the missed list both read the flags (inline, DuckDB would evaluate
        # each trim/lower/isin twice), and four checks read the same MQLs.
        flags = {f"_icp_{column}": match for column, match in icp_matches(t, mql.icp).items()}
        t = ctx.engine.materialize(
            "_mql_quality_" + "".join(c if c.isalnum() else "_" for c in clause.id),
            t.mutate(**flags))
        matches = {column[len("_icp_"):]: t[column] for column in flags}
        common = dict(rep_id=t.owner_id, marketer_id=t.marketer_id, source=t.source,
                      mql_at=t.mql_at)

        n_matches: Any = ibis.literal(0)
        missed: Any = ibis.literal("")
        for column, match in matches.items():
            n_matches = n_matches + match.ifelse(1, 0)
            missed = missed.concat(match.ifelse("", f"{column} "))
        # The row checks are final at once: open is False.
        icp = facts_select(t, subject_id=t.lead_id, observed=n_matches,
                           missed=missed.strip(), **common,
                           **{c: t[c] for c in ICP_ATTRIBUTES})

        scores = dict(fit_score=t.fit_score, interest_score=t.interest_score)
        fit = facts_select(t, subject_id=t.lead_id, observed=t.fit_score, **common, **scores)
        interest = facts_select(t, subject_id=t.lead_id, observed=t.interest_score,
                                **common, **scores)

        as_of = ibis.literal(ctx.as_of, type="timestamp")
        accepted = t.sql_at.notnull() & (t.sql_at <= as_of)
        totals = t.aggregate(mqls=t.count(), accepted=accepted.ifelse(1, 0).sum().coalesce(0))
        totals = totals.filter(totals.mqls > 0)
        acceptance = facts_select(
            totals, subject_id=ibis.literal("marketing"),
            observed=totals.accepted.cast("float64") / totals.mqls.cast("float64"),
            open=period_open(ctx), mqls=totals.mqls, accepted=totals.accepted,
        )
        if int(t.count().execute()) == 0:
            notes = [f"no MQLs in {ctx.period.label}: the acceptance rate is undefined"]
        else:
            notes = open_notes(ctx, "the acceptance rate is judged once the period closes "
                                    "(pending)")
        return {"icp": Facts(table=icp), "fit": Facts(table=fit),
                "interest": Facts(table=interest),
                "acceptance": Facts(table=acceptance, notes=notes)}
