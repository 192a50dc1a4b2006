"""A review meeting's what-if: move thresholds, see what the audited periods would say.

``ReviewSession`` holds a policy, the audits root and a proposal (control id -> value).
Every change judges the chosen period's kept facts again through the audit's own judge
(``slapolicy.audit.judging.judge_clause``; nothing is measured) and places it in time
with the audit's own ``standing.assess``, so the form shows what an audit would show.
Only the clauses whose thresholds or tolerance a change touches are judged again.

Current is the version in force for the period (``slapolicy.policy.versions``), judged
again the same way; proposed is the latest version with the proposal's values. The
proposed ladder stage of one period takes earlier periods as their audits recorded
them; ``replay`` judges every audited period under the proposal in order, so its
ladder path and rewards follow from the proposal throughout.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slapolicy.errors import FactsError, PolicyError, SlapolicyError
from slapolicy.review.controls import Control, controls_of, plain_of, set_path

if TYPE_CHECKING:
    import ibis

    from slapolicy.audit.history import History
    from slapolicy.audit.results import ClauseResult
    from slapolicy.clauses.spec import CheckSpec
    from slapolicy.engine.facts import FactsStore
    from slapolicy.engine.judge import CheckVerdict
    from slapolicy.policy.document import PolicyDocument
    from slapolicy.policy.excusals import Excusals
    from slapolicy.policy.periods import Period


#: Judged clauses kept per period (a few values of each clause of a large policy).
CACHE_SIZE = 256


@dataclass(frozen=True)
class Side:
    """One side (current or proposed) of a period judged from its kept facts."""

    status: str
    clauses: dict[str, dict[str, Any]]  # id -> status, breaches, threshold, owner, title
    teams: dict[str, int]
    reps: dict[str, int]
    shared_goals: str
    ladder_stage: int
    ladder_owner: str | None
    reward_eligible: bool | None
    reward_why: str
    review_due: bool
    review_reasons: list[str]

    @property
    def breaches(self) -> int:
        return sum(int(c["breaches"]) for c in self.clauses.values())


@dataclass(frozen=True)
class Comparison:
    """Current and proposed side by side for one period; ``changed`` names what differs."""

    period: str
    current: Side
    proposed: Side
    changed: set[str] = field(default_factory=set)

    def clause_rows(self) -> list[dict[str, Any]]:
        rows = []
        for cid, cur in self.current.clauses.items():
            new = self.proposed.clauses.get(cid, cur)
            rows.append({"clause": cid, "owner": cur["owner"],
                         "threshold": cur["threshold"], "proposed_threshold": new["threshold"],
                         "status": cur["status"], "proposed_status": new["status"],
                         "breaches": cur["breaches"], "proposed_breaches": new["breaches"],
                         "changed": f"clause:{cid}" in self.changed})
        return rows


@dataclass(frozen=True)
class ReplayRow:
    period: str
    status: str
    proposed_status: str
    shared_goals: str
    proposed_shared_goals: str
    ladder_stage: int
    proposed_ladder_stage: int
    pool_earned: bool | None
    proposed_pool_earned: bool | None
    breaches: int
    proposed_breaches: int


@dataclass(frozen=True)
class Replay:
    """Every audited period under the proposal, oldest first (current as recorded)."""

    rows: list[ReplayRow]

    @property
    def ladder_path(self) -> list[int]:
        return [r.proposed_ladder_stage for r in self.rows]

    @property
    def recorded_ladder_path(self) -> list[int]:
        return [r.ladder_stage for r in self.rows]

    @property
    def pool_months(self) -> list[str]:
        return [r.period for r in self.rows if r.proposed_pool_earned]

    @property
    def recorded_pool_months(self) -> list[str]:
        return [r.period for r in self.rows if r.pool_earned]


@dataclass
class _Period:
    """What a period's audit recorded and its kept facts, read once."""

    period: Period
    folder: Path
    store: FactsStore
    results: dict[str, Any]
    excusals: Excusals
    current: PolicyDocument
    # (clause id, check, its terms) -> its verdict and breaches per rep: current and
    # proposed sides both stay judged while the meeting moves other values.
    cache: dict[tuple[str, str, str], tuple[CheckVerdict, dict[str, int] | None]] = field(
        default_factory=dict)

    @property
    def recorded(self) -> dict[str, ClauseResult]:
        """The clause results as the audit recorded them in ``results.json``."""
        from slapolicy.audit.results import ClauseResult

        return {c["clause_id"]: ClauseResult(**c) for c in self.results.get("clauses", [])}


class ReviewSession:
    """The what-if of a review meeting over the audits of one policy.

    Args:
        policy: The policy file (its saved versions beside it are found too).
        audits: The audits root (``audits/``), holding ``<policy id>/<period>/``.
        period: The period to look at first; default: the latest audited.
    """

    def __init__(self, policy: Path, audits: Path, period: str | None = None) -> None:
        import ibis

        from slapolicy.policy.versions import versions

        self.policy_path = Path(policy)
        self.audits = Path(audits)
        self.versions = versions(self.policy_path)
        self.base = self.versions[-1]  # a proposal amends the latest version
        self._base_plain, self._base_body = plain_of(self.base.path)
        self.controls: dict[str, Control] = {c.id: c for c in controls_of(self._base_plain)}
        self.proposal: dict[str, Any] = {}
        self._con: ibis.BaseBackend = ibis.duckdb.connect()
        self._periods: dict[str, _Period] = {}
        self.periods = self._audited_periods()
        if not self.periods:
            raise FactsError(f"no audited period of {self.base.doc.id} under {self.audits}",
                             hint="audit a period first (slapolicy audit); the form replays "
                                  "the facts every audit keeps")
        self.period = period or self.periods[-1]
        self._get(self.period)
        self._proposed_doc = self.base.doc

    # --- the proposal ---------------------------------------------------------------------

    def control(self, control_id: str) -> Control:
        try:
            return self.controls[control_id]
        except KeyError:
            raise PolicyError(f"no control {control_id!r}", hint="use an id from "
                              "ReviewSession.controls") from None

    def value(self, control_id: str) -> Any:
        """The proposed value of a control (its current value when not changed)."""
        return self.proposal.get(control_id, self.control(control_id).value)

    def set(self, control_id: str, value: Any) -> Comparison:
        """Propose ``value`` (display units) for a control; the period judged both ways.

        A value the policy refuses (out of bounds, ``fail_below`` above ``mostly``)
        raises ``PolicyError`` and leaves the proposal as it was.
        """
        control = self.control(control_id)
        control.to_policy(value)  # bounds and type, before anything changes
        proposal = dict(self.proposal)
        if _same(value, control.value):
            proposal.pop(control_id, None)
        else:
            proposal[control_id] = value
        doc = self._document(proposal)
        self.proposal, self._proposed_doc = proposal, doc
        return self.compare()

    def reset(self) -> Comparison:
        self.proposal, self._proposed_doc = {}, self.base.doc
        return self.compare()

    def select(self, period: str) -> Comparison:
        if period not in self.periods:
            raise FactsError(f"{period} has no audit under {self.audits}",
                             hint=f"choose one of {', '.join(self.periods)}")
        self.period = period
        return self.compare()

    @property
    def proposed_document(self) -> PolicyDocument:
        return self._proposed_doc

    def edits(self) -> dict[tuple[str | int, ...], Any]:
        """The proposal as YAML paths under ``policy:`` and the values the file states."""
        return {self.controls[cid].path: self.controls[cid].to_policy(v)
                for cid, v in self.proposal.items()}

    def save(self, *, proposed_by: str, reason: str, effective_from: Any,
             version: str | None = None) -> Any:
        """Save the proposal as a new policy version (``slapolicy.review.proposal``)."""
        from slapolicy.review.proposal import save_proposal

        return save_proposal(self.policy_path, dict(self.proposal), audits=self.audits,
                             proposed_by=proposed_by, reason=reason,
                             effective_from=effective_from, version=version)

    def changes(self) -> list[dict[str, Any]]:
        """Each proposed change: control, YAML path, old and new value (display units)."""
        return [{"control": cid, "path": self.controls[cid].to_dict()["path"],
                 "unit": self.controls[cid].unit, "old": _plainv(self.controls[cid].value),
                 "new": _plainv(v)} for cid, v in sorted(self.proposal.items())]

    def _document(self, proposal: dict[str, Any]) -> PolicyDocument:
        from slapolicy.policy.loader import validate_policy

        plain = copy.deepcopy(self._base_plain)
        for cid, value in proposal.items():
            control = self.controls[cid]
            set_path(plain, control.path, control.to_policy(value))
        return validate_policy(plain, self._base_body, source=f"{self.base.path} (proposal)",
                               base_dir=self.base.path.parent)

    # --- judging --------------------------------------------------------------------------

    def compare(self, period: str | None = None) -> Comparison:
        """The period judged under the version in force and under the proposal."""
        p = self._get(period or self.period)
        history = self._history(p)
        current = self._side(p, p.current, history)
        proposed = self._side(p, self._proposed_doc, history)
        return Comparison(p.period.label, current, proposed, _changed(current, proposed))

    def replay(self) -> Replay:
        """Every audited period judged under the proposal, in order; the proposed ladder
        and rewards follow from the proposed outcomes of the periods before."""
        from slapolicy.audit.history import History, PeriodRecord

        rows: list[ReplayRow] = []
        records: list[PeriodRecord] = []
        for label in self.periods:
            p = self._get(label)
            recorded = self._recorded_history(p)
            earlier = [r for r in recorded.records if r.period.label not in
                       {x.period.label for x in records}]
            history = History([*earlier, *records], source="replay")
            side, outcome = self._side_outcome(p, self._proposed_doc, history, recorded=True)
            records.append(PeriodRecord(p.period, outcome))
            standing = p.results.get("standing", {})
            pool = standing.get("rewards", {}).get("monthly_pool", {})
            rows.append(ReplayRow(
                period=label, status=p.results["summary"]["status"], proposed_status=side.status,
                shared_goals=standing.get("shared_goals", {}).get("status", "?"),
                proposed_shared_goals=side.shared_goals,
                ladder_stage=int(standing.get("ladder", {}).get("stage", 0)),
                proposed_ladder_stage=side.ladder_stage,
                pool_earned=pool.get("eligible"), proposed_pool_earned=side.reward_eligible,
                breaches=int(p.results["summary"]["breaches"]),
                proposed_breaches=side.breaches))
        return Replay(rows)

    def _side(self, p: _Period, doc: PolicyDocument, history: History) -> Side:
        return self._side_outcome(p, doc, history)[0]

    def _side_outcome(self, p: _Period, doc: PolicyDocument, history: History, *,
                      recorded: bool = False) -> tuple[Side, dict[str, Any]]:
        """One side of a period. ``recorded``: a clause whose thresholds and tolerance
        are those of the version in force takes its result as the audit recorded it
        (replay needs no per-rep counts), so only what the proposal changes is judged."""
        from slapolicy.audit.review import review_from_rates
        from slapolicy.audit.standing import assess
        from slapolicy.engine.judge import worst

        results: list[ClauseResult] = []
        kept_results = p.recorded if recorded else {}
        teams: dict[str, int] = {}
        reps: dict[str, int] = {}
        for clause in doc.policy.clauses:
            if not clause.enabled:
                continue
            kept = kept_results.get(clause.id)
            by_rep: dict[str, int] = {}
            if kept is not None and _terms_key(doc, clause.id, p.period) == _terms_key(
                    p.current, clause.id, p.period):
                result = kept
            else:
                result, by_rep = self._judge(p, doc, clause.id, per_rep=not recorded)
            results.append(result)
            teams[clause.owner] = teams.get(clause.owner, 0) + result.breaches
            for rep, n in by_rep.items():
                reps[rep] = reps.get(rep, 0) + n
        rates = p.results.get("standing", {}).get("review", {}).get("rates")
        review: dict[str, Any] = (
            review_from_rates(doc.policy, p.period.end - timedelta(days=1), rates)
            if rates else {"due": False, "reasons": ["no funnel rates recorded"]})
        standing = assess(doc.policy, p.period, results, history, review).body
        pool = standing["rewards"]["monthly_pool"]
        side = Side(
            status=worst([r.status for r in results]) if results else "not_measured",
            clauses={r.clause_id: {"status": r.status, "breaches": r.breaches,
                                   "threshold": r.threshold, "owner": r.owner,
                                   "title": r.title, "compliance": r.compliance}
                     for r in results},
            teams=dict(sorted(teams.items())), reps=dict(sorted(reps.items())),
            shared_goals=standing["shared_goals"]["status"],
            ladder_stage=int(standing["ladder"]["stage"]),
            ladder_owner=standing["ladder"]["owner"],
            reward_eligible=pool.get("eligible"), reward_why=str(pool.get("why", "")),
            review_due=bool(review["due"]), review_reasons=[str(r) for r in review["reasons"]])
        return side, standing["outcome"]

    def _judge(self, p: _Period, doc: PolicyDocument, clause_id: str, *,
               per_rep: bool = True) -> tuple[ClauseResult, dict[str, int]]:
        """One clause from its checks' verdicts; a check is judged again from the kept
        facts only when its threshold or the clause's tolerance differ from a verdict
        already made. ``per_rep`` also counts breaches per rep (replay needs none)."""
        from slapolicy.audit.judging import combine, judge_checks
        from slapolicy.clauses import registry

        clause = doc.policy.clause(clause_id)
        specs = registry.get(clause.kind).checks(clause, doc.params_for(clause_id))
        keys = {s.name: (clause_id, s.name, _check_key(doc, clause_id, s, p.period))
                for s in specs}
        missing = {name for name, key in keys.items()
                   if key not in p.cache or (per_rep and p.cache[key][1] is None)}
        if missing:
            verdicts, sources = judge_checks(self._con, p.store, doc, clause, p.period,
                                             p.excusals, verify=False, checks=missing)
            # Counted at once: the judged tables read views the next period's facts reuse.
            counts = _breaches_by_check_and_rep(sources) if per_rep else {}
            for name in missing:
                if len(p.cache) >= CACHE_SIZE:  # forget the oldest verdict
                    p.cache.pop(next(iter(p.cache)))
                p.cache[keys[name]] = (verdicts[name],
                                       counts.get(name, {}) if per_rep else None)
        result = combine(clause, {name: p.cache[key][0] for name, key in keys.items()})
        by_rep: dict[str, int] = {}
        for key in keys.values():
            for rep, n in (p.cache[key][1] or {}).items():
                by_rep[rep] = by_rep.get(rep, 0) + n
        return result, by_rep

    # --- periods --------------------------------------------------------------------------

    def _audited_periods(self) -> list[str]:
        from slapolicy.policy.periods import Period
        from slapolicy.trail.manifest import find_audit

        unit = self.base.doc.policy.periods.unit
        root = self.audits / self.base.doc.id
        labels: set[str] = set()
        if root.is_dir():
            for folder in root.iterdir():
                if folder.is_dir() and not folder.name.startswith("."):
                    labels.add(folder.name.split(".")[0])
        out = []
        for label in labels:
            try:
                period = Period.parse(label, unit)
            except (SlapolicyError, ValueError):
                continue
            found = find_audit(self.audits, self.base.doc.id, period.label)
            if found is not None and (found / "facts" / "index.json").is_file():
                out.append(period)
        return [p.label for p in sorted(out, key=lambda p: p.start)]

    def _get(self, label: str) -> _Period:
        from slapolicy.engine.facts import FACTS_DIR, FactsStore
        from slapolicy.policy.excusals import Excusals
        from slapolicy.policy.periods import Period
        from slapolicy.policy.versions import pick
        from slapolicy.trail.manifest import find_audit

        if label in self._periods:
            return self._periods[label]
        if label not in self.periods:
            raise FactsError(f"{label} has no audit with kept facts under {self.audits}",
                             hint=f"choose one of {', '.join(self.periods)}")
        doc = pick(self.versions, label).doc
        period = Period.parse(label, doc.policy.periods.unit)
        folder = find_audit(self.audits, doc.id, label)
        assert folder is not None
        store = FactsStore.open(folder / FACTS_DIR)
        results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        recorded = results.get("policy", {}).get("content_hash")
        if recorded is not None and recorded != doc.content_hash:
            raise PolicyError(
                f"{folder} was audited under policy content {str(recorded)[:12]} but the "
                f"version in force for {label} is now {doc.content_hash[:12]} ({doc.source})",
                hint="a version that audits recorded is never edited; save changes as a "
                     "new version (the review form's Save proposal)")
        period_file = (doc.source and Path(doc.source).resolve().parent / "exceptions"
                       / doc.id / f"{label}.yaml")
        excusals = Excusals.for_period(doc.policy, label, Path(period_file))
        p = _Period(period, folder, store, results, excusals, doc)
        self._periods[label] = p
        return p

    def _recorded_history(self, p: _Period) -> History:
        from slapolicy.audit.history import load_history

        return load_history(self.audits, p.current.policy, p.period)

    def _history(self, p: _Period) -> History:
        return self._recorded_history(p)


def _terms_key(doc: PolicyDocument, clause_id: str, period: Period) -> str:
    """What judging a clause depends on besides its facts: tolerance and thresholds."""
    from slapolicy.clauses import registry

    clause = doc.policy.clause(clause_id)
    kind = registry.get(clause.kind)
    params = doc.params_for(clause_id)
    parts: list[Any] = [clause.tolerance.model_dump(mode="json"), clause.severity, clause.owner]
    for spec in kind.checks(clause, params):
        try:
            t = kind.threshold(doc.policy, clause, params, spec, period)
            parts.append([spec.name, t.value, t.by, list(t.overrides)])
        except Exception as e:  # judged as this check's error; the key keeps the reason
            parts.append([spec.name, f"{type(e).__name__}: {e}"])
    return json.dumps(parts, sort_keys=True, default=str)


def _check_key(doc: PolicyDocument, clause_id: str, spec: CheckSpec, period: Period) -> str:
    """What judging one check depends on besides its facts: threshold and tolerance."""
    from slapolicy.clauses import registry

    clause = doc.policy.clause(clause_id)
    kind = registry.get(clause.kind)
    parts: list[Any] = [clause.tolerance.model_dump(mode="json"), clause.severity, clause.owner]
    try:
        t = kind.threshold(doc.policy, clause, doc.params_for(clause_id), spec, period)
        parts.append([t.value, t.by, list(t.overrides)])
    except Exception as e:  # judged as this check's error; the key keeps the reason
        parts.append(f"{type(e).__name__}: {e}")
    return json.dumps(parts, sort_keys=True, default=str)


def _breaches_by_check_and_rep(sources: list[Any]) -> dict[str, dict[str, int]]:
    """Open breaches per check and rep of one clause's judged checks, in the engine."""
    import ibis

    parts = [s.table.filter(s.table.state == "breach").select(
        check=ibis.literal(s.check),
        rep_id=s.table.rep_id.cast("string").coalesce(ibis.literal("(no rep)")))
        for s in sources]
    if not parts:
        return {}
    union = parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)
    rows = union.group_by(["check", "rep_id"]).agg(n=union.count()).to_pyarrow().to_pylist()
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(str(r["check"]), {})[str(r["rep_id"])] = int(r["n"])
    return out


def _changed(current: Side, proposed: Side) -> set[str]:
    out = set()
    for cid, cur in current.clauses.items():
        new = proposed.clauses.get(cid)
        if new is None or any(_differs(cur[k], new[k]) for k in ("status", "breaches",
                                                                  "threshold")):
            out.add(f"clause:{cid}")
    for team in set(current.teams) | set(proposed.teams):
        if current.teams.get(team, 0) != proposed.teams.get(team, 0):
            out.add(f"team:{team}")
    for rep in set(current.reps) | set(proposed.reps):
        if current.reps.get(rep, 0) != proposed.reps.get(rep, 0):
            out.add(f"rep:{rep}")
    for name in ("status", "shared_goals", "ladder_stage", "reward_eligible", "review_due",
                 "review_reasons", "breaches"):
        if getattr(current, name) != getattr(proposed, name):
            out.add(name)
    return out


def _differs(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return False
    return bool(a != b)


def _same(value: Any, current: Any) -> bool:
    try:
        return float(value) == float(current)
    except (TypeError, ValueError):
        return str(value) == str(current)


def _plainv(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
