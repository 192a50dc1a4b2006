"""A custom clause kind, written by an analyst next to the policy.

Big deals must reach a submitted proposal within N days of the opportunity's
creation. The obligation per deal is a pandera check; the verdict under the
clause's tolerance is a Great Expectations expectation with the threshold in it,
so the compiled suite shows the number a reviewer signs off.

Enable it in a policy with::

    plugins: [plugins/big_deals.py]
    clauses:
      - id: big-deal-proposal
        kind: big_deal_proposal
        title: Deals of $100,000 or more get a proposal within 14 days
        owner: sales
        params: {min_amount: 100000, within_days: 14}
"""

from __future__ import annotations

from typing import Any

import ibis

from slapolicy.clauses import ClauseKind, Params, register_clause
from slapolicy.clauses.base import CheckSpec, Facts
from slapolicy.clauses.common import hours_between, in_period, split_due


class BigDealParams(Params):
    min_amount: float = 100_000
    within_days: float = 14


@register_clause
class BigDealProposal(ClauseKind):
    name = "big_deal_proposal"
    Params = BigDealParams
    description = "Big deals reach a submitted proposal within N days."

    def checks(self, clause: Any, params: BigDealParams) -> list[CheckSpec]:
        return [CheckSpec("proposal", "at_most", "days", "opportunity")]

    def facts(self, ctx: Any, clause: Any, params: BigDealParams) -> dict[str, Facts]:
        o = ctx.table("opportunities")
        o = o.filter(in_period(ctx, o.created_at) & (o.amount >= params.min_amount))
        stop = o.proposal_submitted_at.coalesce(ibis.literal(ctx.as_of, type="timestamp"))
        t = o.select(
            subject_id=o.opportunity_id,
            rep_id=o.rep_id,
            observed=hours_between(o.created_at, stop) / 24.0,
            threshold=ibis.literal(float(params.within_days)),
            amount=o.amount,
            created_at=o.created_at,
            proposal_submitted_at=o.proposal_submitted_at,
        )
        # A deal with no proposal yet is pending until its window has passed.
        due, pending = split_due(t, t.proposal_submitted_at.notnull() | (t.observed > t.threshold))
        return {"proposal": Facts(due, pending=pending)}

    def expectation(self, clause: Any, params: BigDealParams, check: CheckSpec) -> dict[str, Any]:
        return {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "observed", "max_value": params.within_days,
                       "mostly": clause.tolerance.mostly},
            "meta": {"clause_id": clause.id, "check": check.name},
        }
