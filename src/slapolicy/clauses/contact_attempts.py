"""Contact attempts: how sales works a lead before returning it to marketing.

The subjects are the leads sales returned to marketing in the period
(``leads.returned_at``). An *attempt* is a sales activity of one of ``kinds``
(call, email, video) on the lead between the rep's notification
(``leads.notified_at``, or ``created_at`` when the lead was never notified) and
the return, both inclusive. Four checks:

- ``attempts``: at least ``min_attempts`` attempts before the return.
- ``spacing-min``: the shortest gap between two consecutive attempts is at least
  ``min_spacing`` (hours); leads with fewer than two attempts have no gap and are
  not in scope of this check.
- ``spacing-max``: the longest gap is at most ``max_spacing`` (hours, like
  ``spacing-min``, so both read on one scale); same scope.
- ``reason``: the return carries a documented reason (``leads.return_reason``
  not blank and, when ``reasons`` is given, one of them).

Gaps come from a ``lag`` window over each lead's attempts in time order. A return
has happened, so every value is final: no subject is open.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from pydantic import Field

from slapolicy.clauses.base import CheckSpec, ClauseKind, Facts, Params, Threshold, reads_of
from slapolicy.engine.contract import ACTIVITY_KINDS
from slapolicy.policy.units import Duration, WholeCount

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from slapolicy.engine.context import AuditContext
    from slapolicy.policy.model import Clause, Policy
    from slapolicy.policy.periods import Period


class ContactAttemptsParams(Params):
    min_attempts: WholeCount = Field(3, description="attempts before a lead may be returned")
    min_spacing: Duration = Field(default=timedelta(hours=4),
                                  description="shortest allowed gap between attempts")
    max_spacing: Duration = Field(default=timedelta(days=3),
                                  description="longest allowed gap between attempts")
    kinds: list[str] = Field(default_factory=lambda: ["call", "email", "video"],
                             description="activity kinds that count as a contact attempt")
    reasons: list[str] | None = Field(
        None, description="accepted return reasons; null accepts any non-blank reason")


def _hours(d: timedelta) -> float:
    return d.total_seconds() / 3600


class ContactAttempts(ClauseKind):
    name = "contact_attempts"
    Params = ContactAttemptsParams
    description = ("Returned leads had enough, well-spaced contact attempts and a documented "
                   "reason for the return.")

    def checks(self, clause: Clause, params: ContactAttemptsParams) -> list[CheckSpec]:
        kinds = ", ".join(params.kinds)
        return [
            CheckSpec("attempts", "at_least", "attempts", "lead",
                      description=f"contact attempts ({kinds}) before the lead was returned"),
            CheckSpec("spacing-min", "at_least", "hours", "lead",
                      description="shortest gap between consecutive attempts"),
            CheckSpec("spacing-max", "at_most", "hours", "lead",
                      description="longest gap between consecutive attempts"),
            CheckSpec("reason", "at_least", "flag", "lead",
                      description="1 when the return has a documented reason, else 0"),
        ]

    def check_policy(self, policy: Policy, clause: Clause,
                     params: ContactAttemptsParams) -> list[str]:
        problems = []
        unknown = [k for k in params.kinds if k not in ACTIVITY_KINDS]
        if unknown:
            problems.append(f"kinds {unknown} are not activity kinds ({', '.join(ACTIVITY_KINDS)})")
        if not params.kinds:
            problems.append("kinds is empty: name the activity kinds that count as attempts")
        if params.min_spacing > params.max_spacing:
            problems.append(f"min_spacing ({_hours(params.min_spacing):g}h) is above "
                            f"max_spacing ({_hours(params.max_spacing):g}h)")
        if params.reasons is not None and not params.reasons:
            problems.append("reasons is an empty list: omit it to accept any documented reason")
        return problems

    def threshold(self, policy: Policy, clause: Clause, params: ContactAttemptsParams,
                  check: CheckSpec, period: Period) -> Threshold:
        if check.name == "attempts":
            return Threshold(float(params.min_attempts),
                             basis=f"at least {params.min_attempts} attempts (min_attempts)")
        if check.name == "spacing-min":
            h = _hours(params.min_spacing)
            return Threshold(h, basis=f"gaps of at least {h:g}h (min_spacing)")
        if check.name == "spacing-max":
            h = _hours(params.max_spacing)
            return Threshold(h, basis=f"gaps of at most {h:g}h (max_spacing)")
        accepted = ("one of " + ", ".join(params.reasons) if params.reasons is not None
                    else "any non-blank reason")
        return Threshold(1.0, basis=f"a documented return reason ({accepted})")

    def reads(self, clause: Clause, params: ContactAttemptsParams) -> dict[str, frozenset[str]]:
        return reads_of(
            leads="lead_id owner_id notified_at created_at returned_at return_reason",
            activities="lead_id kind occurred_at")

    def measure(self, ctx: AuditContext, clause: Clause,
                params: ContactAttemptsParams) -> dict[str, Facts]:
        import ibis

        from slapolicy.clauses.common import hours_between, in_period

        leads = ctx.table("leads")
        leads = leads.filter(in_period(ctx, leads.returned_at)).select(
            lead_id=leads.lead_id,
            rep_id=leads.owner_id,
            window_start=leads.notified_at.coalesce(leads.created_at),
            returned_at=leads.returned_at,
            return_reason=leads.return_reason,
        )

        acts = ctx.table("activities")
        acts = acts.filter(acts.kind.isin(params.kinds))
        attempts = (
            leads.select("lead_id", "window_start", "returned_at")
            .inner_join(acts.select("lead_id", "occurred_at"), "lead_id")
            .filter(lambda t: (t.occurred_at >= t.window_start)
                    & (t.occurred_at <= t.returned_at))
        )
        w = ibis.window(group_by="lead_id", order_by="occurred_at")
        attempts = attempts.mutate(gap_h=hours_between(attempts.occurred_at.lag().over(w),
                                                       attempts.occurred_at))
        per_lead = attempts.group_by("lead_id").agg(
            attempts=lambda t: t.count(),
            first_attempt_at=lambda t: t.occurred_at.min(),
            last_attempt_at=lambda t: t.occurred_at.max(),
            min_gap_h=lambda t: t.gap_h.min(),
            max_gap_h=lambda t: t.gap_h.max(),
        )
        t = leads.left_join(per_lead, "lead_id").drop("lead_id_right")
        t = t.mutate(attempts=t.attempts.coalesce(0))
        # Four checks read this per-lead table: compute the join with the activities once
        # (as four lazy queries, each check's facts would join and window them again).
        t = ctx.engine.materialize(f"_contact_attempts_{_ident(clause.id)}", t)

        notes = []
        if (int(ctx.table("activities").count().execute()) == 0
                and int(leads.count().execute()) > 0):
            notes.append("the activities table is empty: every returned lead counts as "
                         "never contacted")
        return {
            "attempts": Facts(self._attempts(t, params), notes=notes),
            "spacing-min": Facts(self._spacing(t, "min_gap_h")),
            "spacing-max": Facts(self._spacing(t, "max_gap_h")),
            "reason": Facts(self._reason(t, params)),
        }

    @staticmethod
    def _attempts(t: ir.Table, params: ContactAttemptsParams) -> ir.Table:
        from slapolicy.clauses.common import facts_select

        return facts_select(
            t, subject_id=t.lead_id, rep_id=t.rep_id, observed=t.attempts,
            attempts=t.attempts, window_start=t.window_start,
            first_attempt_at=t.first_attempt_at, last_attempt_at=t.last_attempt_at,
            returned_at=t.returned_at,
        )

    @staticmethod
    def _spacing(t: ir.Table, gap: str) -> ir.Table:
        from slapolicy.clauses.common import facts_select

        # With fewer than two attempts there is no gap: such leads are out of scope.
        t = t.filter(t.attempts >= 2)
        return facts_select(
            t, subject_id=t.lead_id, rep_id=t.rep_id, observed=t[gap],
            attempts=t.attempts, min_gap_h=t.min_gap_h, max_gap_h=t.max_gap_h,
            first_attempt_at=t.first_attempt_at, last_attempt_at=t.last_attempt_at,
            returned_at=t.returned_at,
        )

    @staticmethod
    def _reason(t: ir.Table, params: ContactAttemptsParams) -> ir.Table:
        from slapolicy.clauses.common import facts_select

        reason = t.return_reason.strip()
        ok = reason.notnull() & (reason != "")
        if params.reasons is not None:
            ok &= reason.isin(params.reasons)
        return facts_select(
            t, subject_id=t.lead_id, rep_id=t.rep_id,
            # A real cast: DuckDB types the literals 1.0/0.0 as DECIMAL, and Ibis
            # drops a float64 cast of an expression it already types float64.
            observed=ok.fill_null(False).ifelse(1, 0).cast("float64"),  # portable: no bool cast
            return_reason=t.return_reason, returned_at=t.returned_at, attempts=t.attempts,
        )


def _ident(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)
