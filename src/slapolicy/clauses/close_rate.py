"""Close rate on submitted proposals: won / (won + lost), at least the target.

In scope are opportunities with a submitted proposal (``proposal_submitted_at``
not null) that closed won or lost in the period (``closed_at``). The target is
a fixed number or a ramp's value on the period's last day (Company A: 25%,
35% from 30 June 2020, 50% from 31 December 2020).

Subjects are the sales team (``per: team``, subject ``sales``) or each rep with
at least one closed proposal (``per: rep``), or each manager or region of the reps
(``per: manager``/``region``, from ``people``); a rep with none has no rate and is
not in scope. A period with no closed proposals has no close rate: nothing in
scope, so the check is not measured, with a note saying so. Closed opportunities
without a proposal are not counted (noted), and won or lost opportunities without
``closed_at`` make the check an error, since their period is unknown.

While the period is still open at ``as_of`` every rate is open: more proposals can
close either way, so the rate can still move to either side of the target
(``moves="either"``) and the judge holds it pending until the period ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from slapolicy.clauses.base import CheckSpec, ClauseKind, Facts, Threshold, reads_of
from slapolicy.clauses.targets import (
    PER_HELP,
    REQUIRE_CLOSED_AT_READS,
    Per,
    TargetParams,
    count_if,
    group_subjects,
    per_reads,
    reps_without_subjects,
    require_closed_at,
    resolve_target,
    target_evidence,
    target_problems,
    target_threshold,
)

if TYPE_CHECKING:
    from slapolicy.engine.context import AuditContext
    from slapolicy.policy.model import Clause, Policy
    from slapolicy.policy.periods import Period


class CloseRateParams(TargetParams):
    per: Per = Field("team", description=PER_HELP)


class CloseRate(ClauseKind):
    name = "close_rate"
    Params = CloseRateParams
    description = "Share of submitted proposals closed in the period that were won."

    def checks(self, clause: Clause, params: CloseRateParams) -> list[CheckSpec]:
        return [CheckSpec("close-rate", "at_least", "share of proposals won", params.per,
                          level="aggregate", moves="either",
                          description="won / (won + lost) of proposals closed in the period")]

    def check_policy(self, policy: Policy, clause: Clause, params: CloseRateParams) -> list[str]:
        return target_problems(policy, params.ramp, "at_least", "the close rate")

    def threshold(self, policy: Policy, clause: Clause, params: CloseRateParams,
                  check: CheckSpec, period: Period) -> Threshold:
        return target_threshold(policy, params, period)

    def reads(self, clause: Clause, params: CloseRateParams) -> dict[str, frozenset[str]]:
        return reads_of(REQUIRE_CLOSED_AT_READS, per_reads(params.per, "opportunities"),
                        opportunities=["proposal_submitted_at"])

    def measure(self, ctx: AuditContext, clause: Clause,
                params: CloseRateParams) -> dict[str, Facts]:
        import ibis

        from slapolicy.clauses.common import in_period
        from slapolicy.clauses.counting import open_notes, period_open

        require_closed_at(ctx, ["won", "lost"])
        # The ramp is evidence (from the policy), not the threshold the judge applies.
        _, ramp, ramp_date = resolve_target(ctx.doc.policy, params, ctx.period)
        opps = ctx.table("opportunities")
        closed = opps.filter(opps.status.isin(["won", "lost"]) & in_period(ctx, opps.closed_at))
        notes: list[str] = []
        unproposed = int(closed.filter(closed.proposal_submitted_at.isnull()).count().execute())
        if unproposed:
            notes.append(f"{unproposed} opportunit{'y' if unproposed == 1 else 'ies'} closed in "
                         f"{ctx.period.label} without a submitted proposal "
                         f"{'is' if unproposed == 1 else 'are'} not counted")
        props = closed.filter(closed.proposal_submitted_at.notnull())
        props, grouping = group_subjects(ctx, props, params.per,
                                         "proposals closed in the period")
        counts = props.group_by("subject_id").agg(
            won=count_if(props.status == "won"),
            lost=count_if(props.status == "lost"),
        )
        t = counts.select(
            subject_id=counts.subject_id.cast("string"),
            rep_id=counts.subject_id.cast("string") if params.per == "rep" else ibis.null("string"),
            observed=counts.won.cast("float64") / (counts.won + counts.lost).cast("float64"),
            # Open period: proposals can still close won or lost, moving the rate either way.
            open=ibis.literal(period_open(ctx)),
            won=counts.won.cast("int64"),
            lost=counts.lost.cast("int64"),
            **target_evidence(ramp, ramp_date),
        )
        notes.extend(grouping)
        if int(t.count().execute()) == 0:
            notes.append(f"no proposals closed in {ctx.period.label}: the close rate is undefined")
        else:
            notes.extend(open_notes(ctx, "the close rate is judged once the period closes "
                                         "(pending)"))
            if params.per == "rep":
                notes.extend(reps_without_subjects(ctx, t, "closed no proposal"))
        return {"close-rate": Facts(table=t, notes=notes)}
