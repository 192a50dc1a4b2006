"""Process adherence: opportunities move through the sales stages the policy defines.

"Use the sales process documented in the CRM." The policy lists the stages
(``definitions.opportunity_stages``); the ``terminal`` ones are alternative
ends (closed won, closed lost), the others form a sequence. The subjects are the
opportunities that entered any stage in the period. Each stage entry in the
period is judged against the history before it (up to the period's end), and
at most one violation is counted per entry, the first that applies of:

1. ``after_terminal``: the opportunity had already reached a terminal stage;
2. ``unknown``: the stage is not one the policy lists;
3. ``backward``: the stage comes before the previous (known) stage;
4. ``skip``: the stage is more than one step beyond the furthest stage reached
   so far (so a stage of the sequence was never passed), including a first
   stage that is not the first of the sequence; unless ``allow_skips``, and
   except for ``enter_from_any`` stages such as closed lost, which may follow
   any stage.

Observed is the number of violations by entries in the period (entries in an
earlier period were judged there), threshold 0. Each entry is judged as it
happens, so the count is taken as final (no subject is open). Entries are ordered by
``entered_at`` then stage, with ``lag``, running ``max`` and ``row_number``
windows. The
evidence gives the path to the period's end (``discovery>negotiation``) and the
violations, where the engine can order a string aggregation (DuckDB,
PostgreSQL); elsewhere it gives the counts only.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import Field

from slapolicy.clauses.base import CheckSpec, ClauseKind, Facts, Params, Threshold, reads_of

if TYPE_CHECKING:
    from slapolicy.engine.context import AuditContext
    from slapolicy.policy.model import Clause, Policy
    from slapolicy.policy.periods import Period

VIOLATIONS = ("after_terminal", "unknown", "backward", "skip")


class ProcessAdherenceParams(Params):
    terminal: list[str] = Field(default_factory=lambda: ["closed_won", "closed_lost"],
                                description="alternative end stages; nothing may follow them")
    allow_skips: bool = Field(False, description="moving forward more than one stage is allowed")
    enter_from_any: list[str] = Field(
        default_factory=lambda: ["closed_lost"],
        description="stages that may follow any earlier stage without counting as a skip")


@cache
def ordered_concat_supported(dialect: str) -> bool:
    """Whether Ibis compiles an ordered string aggregation for ``dialect``."""
    import ibis

    t = ibis.table({"k": "string", "s": "string", "o": "int64"}, name="t")
    try:
        ibis.to_sql(t.group_by("k").agg(p=t.s.group_concat(">", order_by=t.o)),
                    dialect=dialect)
    except Exception:
        return False
    return True


def _paths(hist: Any) -> Any:
    """Per opportunity, ``path`` and ``detail`` as ``group_concat`` in ``seq`` order gives
    them, from lists collected over a running window (for engines without ordered string
    aggregation): the last entry's lists hold every entry, in order."""
    import ibis

    running = ibis.window(group_by="opportunity_id", order_by="seq", preceding=None,
                          following=0)
    flagged = ibis.cases((hist.violation.notnull(), hist.detail), else_=ibis.null("string"))
    h = hist.mutate(_stages=hist.stage.collect().over(running),
                    _details=flagged.collect().over(running),
                    _last=hist.seq.max().over(group_by="opportunity_id"))
    last = h.filter(h.seq == h._last)
    return last.select(
        "opportunity_id", path=last._stages.join(">"),
        detail=ibis.cases((last._details.length() == 0, ibis.null("string")),
                          else_=last._details.join(", ")))


class ProcessAdherence(ClauseKind):
    name = "process_adherence"
    Params = ProcessAdherenceParams
    description = "Opportunities follow the policy's stage sequence: no skips, no going back."

    def checks(self, clause: Clause, params: ProcessAdherenceParams) -> list[CheckSpec]:
        return [CheckSpec("stages", "at_most", "violations", "opportunity",
                          description="stage entries this period that break the sequence")]

    def check_policy(self, policy: Policy, clause: Clause,
                     params: ProcessAdherenceParams) -> list[str]:
        stages = policy.definitions.opportunity_stages
        problems = []
        for key in ("terminal", "enter_from_any"):
            unknown = [s for s in getattr(params, key) if s not in stages]
            if unknown:
                problems.append(f"{key} {unknown} are not in definitions.opportunity_stages "
                                f"({stages})")
        if not [s for s in stages if s not in params.terminal]:
            problems.append("every opportunity stage is terminal: leave at least one stage "
                            "out of `terminal`")
        return problems

    def threshold(self, policy: Policy, clause: Clause, params: ProcessAdherenceParams,
                  check: CheckSpec, period: Period) -> Threshold:
        return Threshold(0.0, basis="no stage entry breaks the sequence")

    def reads(self, clause: Clause, params: ProcessAdherenceParams) -> dict[str, frozenset[str]]:
        # created_at: opportunities opened in the period with no stage history are noted.
        return reads_of(opportunity_stages="opportunity_id stage entered_at",
                        opportunities="opportunity_id rep_id status created_at")

    def measure(self, ctx: AuditContext, clause: Clause,
                params: ProcessAdherenceParams) -> dict[str, Facts]:
        import ibis

        from slapolicy.clauses.common import facts_select, in_period

        _, end = ctx.bounds
        sequence = [s for s in ctx.doc.policy.definitions.opportunity_stages
                    if s not in params.terminal]
        stages = ctx.table("opportunity_stages")
        notes = self._unstaged(ctx)

        hist = stages.filter(stages.entered_at < end)
        scope = hist.filter(in_period(ctx, hist.entered_at)).select("opportunity_id").distinct()
        hist = hist.semi_join(scope, "opportunity_id")
        rank = ibis.cases(
            *[(hist.stage == s, i) for i, s in enumerate(sequence)],
            (hist.stage.isin(params.terminal), len(sequence)),
            else_=ibis.null("int64"),
        )
        w = ibis.window(group_by="opportunity_id", order_by=["entered_at", "stage"])
        hist = hist.mutate(seq=ibis.row_number().over(w), rank=rank,
                           is_terminal=hist.stage.isin(params.terminal))
        ends = (hist.filter(hist.is_terminal).group_by("opportunity_id")
                .agg(end_seq=lambda t: t.seq.min()))
        hist = hist.left_join(ends, "opportunity_id").drop("opportunity_id_right")
        hist = hist.mutate(after_terminal=(hist.seq > hist.end_seq).fill_null(False))

        # Order is judged among known stages up to the first terminal one.
        known = hist.filter(hist.rank.notnull() & ~hist.after_terminal)
        reached = ibis.cumulative_window(group_by="opportunity_id",
                                         order_by=["entered_at", "stage"])
        known = known.mutate(reached=known.rank.max().over(reached))
        known = known.mutate(prev_rank=known.rank.lag().over(w),
                             prev_reached=known.reached.lag().over(w),
                             prev_stage=known.stage.lag().over(w))
        known = known.select("opportunity_id", "seq", "prev_rank", "prev_reached", "prev_stage")
        hist = hist.left_join(known, ["opportunity_id", "seq"]).drop(
            "opportunity_id_right", "seq_right")
        backward = hist.prev_rank.notnull() & (hist.rank < hist.prev_rank)
        # A skip leaves out a stage never reached before: going back and then forward
        # again over stages already passed is one violation (the move back), not two.
        skip = ((hist.rank > hist.prev_reached.coalesce(-1) + 1)
                & ~hist.stage.isin(params.enter_from_any))
        if params.allow_skips:
            skip = ibis.literal(False)
        kind = ibis.cases(
            (hist.after_terminal, "after_terminal"),
            (hist.rank.isnull(), "unknown"),
            (backward, "backward"),
            (skip, "skip"),
            else_=ibis.null("string"),
        )
        hist = hist.mutate(violation=ibis.ifelse(in_period(ctx, hist.entered_at), kind,
                                                 ibis.null("string")))
        hist = hist.mutate(detail=ibis.cases(
            (hist.violation.isin(["backward", "skip"]),
             hist.violation + ":" + hist.prev_stage.coalesce("(start)") + ">" + hist.stage),
            else_=hist.violation + ":" + hist.stage,
        ))

        aggs: dict[str, Any] = {
            "violations": lambda t: t.violation.count(),
            "stages_in_period": lambda t: t.count(where=in_period(ctx, t.entered_at)),
            **{k: (lambda t, k=k: t.count(where=t.violation == k)) for k in VIOLATIONS},
        }
        ordered = ordered_concat_supported(ctx.engine.backend.name)
        if ordered:
            aggs["path"] = lambda t: t.stage.group_concat(">", order_by=[t.seq])
            aggs["detail"] = lambda t: t.detail.group_concat(
                ", ", where=t.violation.notnull(), order_by=[t.seq])
        per_opp = hist.group_by("opportunity_id").agg(**aggs)
        if not ordered:  # Spark: the same strings from running lists in entry order
            per_opp = per_opp.inner_join(_paths(hist), "opportunity_id")
        opps = ctx.table("opportunities").select("opportunity_id", "rep_id", "status")
        t = per_opp.inner_join(opps, "opportunity_id")
        evidence = {c: t[c] for c in ("path", "detail") if c in t.columns}
        table = facts_select(
            t, subject_id=t.opportunity_id, rep_id=t.rep_id, observed=t.violations,
            **evidence,
            stages_in_period=t.stages_in_period, status=t.status,
            **{k: t[k] for k in VIOLATIONS},
        )
        return {"stages": Facts(table, notes=notes)}

    @staticmethod
    def _unstaged(ctx: AuditContext) -> list[str]:
        """Opportunities opened in the period with no stage history cannot be judged."""
        from slapolicy.clauses.common import in_period

        opps = ctx.table("opportunities")
        opps = opps.filter(in_period(ctx, opps.created_at))
        stages = ctx.table("opportunity_stages")
        if int(stages.count().execute()) == 0:
            n = int(opps.count().execute())
            if n:
                raise ValueError(
                    f"the opportunity_stages table is empty but {n} opportunit"
                    f"{'y was' if n == 1 else 'ies were'} created in the period: load the "
                    "stage history (opportunity_id, stage, entered_at) to judge the process")
            return []
        n = int(opps.anti_join(stages, "opportunity_id").count().execute())
        if n:
            return [f"{n} opportunit{'y' if n == 1 else 'ies'} created this period "
                    "ha{} no stage history and could not be judged".format(
                        "s" if n == 1 else "ve")]
        return []
