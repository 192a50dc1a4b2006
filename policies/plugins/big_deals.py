"""A custom clause kind, written by an analyst next to the policy.

Big deals must reach a submitted proposal within N days of the opportunity's
creation. The kind *measures* (days so far per deal, and whether the deal is still
open) and states the policy's *threshold*; the engine's judge applies it. The
obligation per deal is a pandera check; the verdict under the clause's tolerance is
a Great Expectations expectation with the threshold in it, so the compiled suite
shows the number a reviewer signs off.

The module imports no query engine at load time (loading a policy must not): Ibis
and the shared helpers are imported inside ``measure``.

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

from slapolicy.clauses import ClauseKind, Params, register_clause
from slapolicy.clauses.base import CheckSpec, Facts, Threshold, reads_of


class BigDealParams(Params):
    min_amount: float = 100_000
    within_days: float = 14


@register_clause
class BigDealProposal(ClauseKind):
    name = "big_deal_proposal"
    Params = BigDealParams
    description = "Big deals reach a submitted proposal within N days."

    def checks(self, clause: Any, params: BigDealParams) -> list[CheckSpec]:
        # moves="up" (the default): days without a proposal only grow.
        return [CheckSpec("proposal", "at_most", "days", "opportunity")]

    def threshold(self, policy: Any, clause: Any, params: BigDealParams, check: CheckSpec,
                  period: Any) -> Threshold:
        return Threshold(float(params.within_days),
                         basis=f"within {params.within_days:g} days of creation")

    def reads(self, clause: Any, params: BigDealParams) -> dict[str, frozenset[str]]:
        # Optional: without it the kind is given every table and column.
        return reads_of(opportunities="opportunity_id rep_id created_at amount "
                                      "proposal_submitted_at")

    def measure(self, ctx: Any, clause: Any, params: BigDealParams) -> dict[str, Facts]:
        import ibis

        from slapolicy.clauses.common import facts_select, hours_between, in_period

        o = ctx.table("opportunities")
        o = o.filter(in_period(ctx, o.created_at) & (o.amount >= params.min_amount))
        stop = o.proposal_submitted_at.coalesce(ibis.literal(ctx.as_of, type="timestamp"))
        # A deal with no proposal yet is open: its days so far run to as_of. The judge
        # makes it a breach once they are over the threshold, and pending before.
        t = facts_select(
            o, subject_id=o.opportunity_id, rep_id=o.rep_id,
            observed=hours_between(o.created_at, stop) / 24.0,
            open=o.proposal_submitted_at.isnull(),
            amount=o.amount, created_at=o.created_at,
            proposal_submitted_at=o.proposal_submitted_at,
        )
        return {"proposal": Facts(t)}

    def expectation(self, clause: Any, params: BigDealParams, check: CheckSpec) -> dict[str, Any]:
        return {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "observed", "max_value": params.within_days,
                       "mostly": clause.tolerance.mostly},
            "meta": {"clause_id": clause.id, "check": check.name},
        }
