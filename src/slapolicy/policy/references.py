"""What a policy's parts say about each other: every name refers to something defined.

Each problem is located at the key it is about (a path under ``policy:``), so the
loader reports it at that key's own line, with what to change. A policy with any
problem is refused whole: a dangling name would otherwise change verdicts silently
(a region reassigned, a goal never met, an audit that can never be signed).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass

from slapolicy.policy.model import Excusal, Policy

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One problem: where (a path under ``policy:``), what, and how to fix it."""

    loc: Loc
    message: str
    fix: str


def reference_problems(policy: Policy) -> list[Problem]:
    """Every reference problem of the policy, in the order of the file's sections."""
    return [
        *_dates(policy), *_parties(policy), *_calendars(policy), *_clauses(policy),
        *_goals(policy), *excusal_problems(policy, policy.exceptions, ("exceptions",)),
        *_named_ids(policy), *_rewards(policy), *_ladder(policy), *_meetings(policy),
    ]


def excusal_problems(policy: Policy, grants: list[Excusal], where: Loc) -> list[Problem]:
    """Approval and reference problems of excusals (in the policy or a period file)."""
    leads = sorted({t.lead for t in policy.teams.values()})
    clause_ids = {c.id for c in policy.clauses}
    out = []
    for i, g in enumerate(grants):
        missing = [lead for lead in leads if lead not in g.approved_by]
        if missing:
            out.append(Problem(
                (*where, i, "approved_by"),
                f"the excusal of {g.subject_id!r} lacks the approval of {', '.join(missing)}: "
                "both team leads must approve",
                f"add {', '.join(missing)} to approved_by once they approve"))
        if g.clause != "*" and g.clause not in clause_ids:
            out.append(Problem(
                (*where, i, "clause"), f"names clause {g.clause!r}, which the policy does not have",
                _choose("a clause id, or * for every clause", clause_ids, g.clause)))
    return out


def _choose(what: str, known: set[str] | list[str], given: str | None = None) -> str:
    import difflib

    names = sorted(known)
    close = difflib.get_close_matches(given, names, n=1) if given else []
    if close:
        return f"did you mean {close[0]!r}? ({what})"
    listed = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return f"use {what}: {listed or 'none are defined'}"


def _dates(policy: Policy) -> Iterator[Problem]:
    if policy.effective_until is not None and policy.effective_until < policy.effective_from:
        yield Problem(("effective_until",),
                      f"effective_until ({policy.effective_until}) is before effective_from "
                      f"({policy.effective_from}): the policy would never be in force",
                      "give the last day the policy applies, on or after effective_from")
    if policy.version_from is not None and not (
            policy.effective_from <= policy.version_from
            and (policy.effective_until is None or policy.version_from <= policy.effective_until)):
        yield Problem(("version_from",),
                      f"version_from {policy.version_from} is outside the dates the SLA is in "
                      f"force ({policy.effective_from} to {policy.effective_until})",
                      "give the first day of a period between effective_from and "
                      "effective_until")


def _parties(policy: Policy) -> Iterator[Problem]:
    people = {p.id for p in policy.people}
    seen: set[str] = set()
    for i, person in enumerate(policy.people):
        if person.id in seen:
            yield Problem(("people", i, "id"), f"person id {person.id!r} is used twice",
                          "give each person their own id")
        seen.add(person.id)
        if person.public_key is not None and not _is_public_key(person.public_key):
            yield Problem(("people", i, "public_key"),
                          f"the public key of {person.id!r} is not an Ed25519 public key "
                          "(44 characters of base64): no audit could ever be verified as "
                          "signed by them",
                          f"paste the line `slapolicy keys new --person {person.id}` printed")
    if not people:
        return  # a policy that lists no people names no one to check against
    known = "a person id from `people`"
    for key, team in policy.teams.items():
        if team.lead not in people:
            yield Problem(("teams", key, "lead"), f"team lead {team.lead!r} is not in people",
                          _choose(known, people, team.lead))
    named: list[tuple[Loc, str, str]] = [
        *((("signoff", "policy_signed_by", i), who, "signs the policy")
          for i, who in enumerate(policy.signoff.policy_signed_by)),
        *((("signoff", "audit_requires", i), who, "must sign each audit")
          for i, who in enumerate(policy.signoff.audit_requires)),
        *((("conflict_panel", "members", i), who, "sits on the conflict panel")
          for i, who in enumerate(policy.conflict_panel.members)),
    ]
    if policy.conflict_panel.sole_decider is not None:
        named.append((("conflict_panel", "sole_decider"), policy.conflict_panel.sole_decider,
                      "decides disputes alone"))
    for loc, who, role in named:
        if who not in people:
            yield Problem(loc, f"{who!r} {role} but is not in people",
                          _choose(known, people, who))


def _is_public_key(text: str) -> bool:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        raw = base64.b64decode(text, validate=True)
        Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        return False
    return True


def _calendars(policy: Policy) -> Iterator[Problem]:
    if policy.default_calendar not in policy.calendars:
        yield Problem(("default_calendar",),
                      f"default_calendar {policy.default_calendar!r} is not a calendar",
                      _choose("a key of `calendars`", set(policy.calendars),
                              policy.default_calendar))
    owner: dict[str, str] = {}
    for name, cal in policy.calendars.items():
        for i, region in enumerate(cal.regions):
            if region in owner and owner[region] != name:
                yield Problem(("calendars", name, "regions", i),
                              f"region {region!r} is listed under calendars {owner[region]!r} "
                              f"and {name!r}: a person in it would have two calendars",
                              "list each region under one calendar only")
            owner.setdefault(region, name)
        if cal.holidays is not None:
            yield from _holiday_problems(name, cal.holidays.country, cal.holidays.subdivision)


def _holiday_problems(name: str, country: str, subdivision: str | None) -> Iterator[Problem]:
    import holidays

    supported = holidays.list_supported_countries()
    if country not in supported:
        yield Problem(("calendars", name, "holidays", "country"),
                      f"the holidays package knows no country {country!r}",
                      _country_fix(country, supported))
        return
    if subdivision is None:
        return
    try:
        holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError:
        subdivisions = set(supported[country])
        yield Problem(("calendars", name, "holidays", "subdivision"),
                      f"{country} has no subdivision {subdivision!r} in the holidays package",
                      _choose(f"a subdivision of {country}, or remove the key", subdivisions,
                              subdivision.upper()))


def _country_fix(country: str, supported: dict[str, list[str]]) -> str:
    import difflib

    codes = sorted(c for c in supported if len(c) == 2)
    close = difflib.get_close_matches(country.upper(), codes, n=1)
    if close:
        return f"did you mean {close[0]!r}? (an ISO 3166 two-letter country code)"
    return "use the ISO 3166 two-letter code of a country the holidays package knows, e.g. US"


def _clauses(policy: Policy) -> Iterator[Problem]:
    seen: set[str] = set()
    teams = set(policy.teams)
    for i, c in enumerate(policy.clauses):
        if c.id in seen:
            yield Problem(("clauses", i, "id"), f"clause id {c.id!r} is used twice",
                          "give each clause its own id")
        seen.add(c.id)
        if c.owner not in teams and c.owner != "shared":
            yield Problem(("clauses", i, "owner"), f"owner {c.owner!r} is not a team",
                          _choose("a key of `teams`, or shared", teams | {"shared"}, c.owner))


def _goals(policy: Policy) -> Iterator[Problem]:
    clause_ids = {c.id for c in policy.clauses}
    seen: set[str] = set()
    for i, g in enumerate(policy.goals.items):
        if g.id in seen:
            yield Problem(("goals", "items", i, "id"), f"goal id {g.id!r} is used twice",
                          "give each goal its own id")
        seen.add(g.id)
        if g.ramp and g.ramp not in policy.ramps:
            yield Problem(("goals", "items", i, "ramp"), f"ramp {g.ramp!r} is not in ramps",
                          _choose("a key of `ramps`", set(policy.ramps), g.ramp))
        if g.measure and g.measure.clause not in clause_ids:
            yield Problem(("goals", "items", i, "measure", "clause"),
                          f"goal {g.id!r} is measured by clause {g.measure.clause!r}, which the "
                          "policy does not have", _choose("a clause id", clause_ids,
                                                          g.measure.clause))


def _named_ids(policy: Policy) -> Iterator[Problem]:
    clause_ids = {c.id for c in policy.clauses}
    goal_ids = {g.id for g in policy.goals.items}
    disabled = {c.id for c in policy.clauses if not c.enabled}
    for g in policy.goals.items:
        if g.measure and g.measure.clause in disabled:
            disabled.add(g.id)  # a goal measured by a disabled clause cannot be met
    named: list[tuple[Loc, str]] = [
        *((("shared_goals", i), x) for i, x in enumerate(policy.shared_goals)),
        *((("rewards", "monthly_pool", "requires", i), x)
          for i, x in enumerate(policy.rewards.monthly_pool.requires)),
        *((("rewards", "annual", "requires", i), x)
          for i, x in enumerate(policy.rewards.annual.requires)),
    ]
    for loc, item in named:
        if item not in clause_ids | goal_ids:
            yield Problem(loc, f"{item!r} is neither a clause nor a goal id",
                          _choose("a clause or goal id", clause_ids | goal_ids, item))
        elif item in disabled:
            # Never measured, so never met or missed: a shared goal or reward naming it
            # would hold the ladder or withhold the reward every period, silently.
            yield Problem(loc, f"{item!r} is disabled (enabled: false) or measured by a "
                               "disabled clause", "enable it or remove it from the list")


def _rewards(policy: Policy) -> Iterator[Problem]:
    pool = policy.rewards.monthly_pool
    if pool.currency != policy.currency:
        yield Problem(("rewards", "monthly_pool", "currency"),
                      f"the reward is in {pool.currency} but the policy's currency is "
                      f"{policy.currency}: amounts would be compared across currencies",
                      f"state the reward in {policy.currency}, or change `currency`")


def _ladder(policy: Policy) -> Iterator[Problem]:
    previous = 0
    for j, step in enumerate(policy.consequences.ladder):
        if step.stage != j + 1:
            yield Problem(("consequences", "ladder", j, "stage"),
                          f"stage {step.stage} is in position {j + 1}",
                          "number the stages 1, 2, 3... in order")
        elif step.consecutive_periods <= previous:
            yield Problem(("consequences", "ladder", j, "consecutive_periods"),
                          f"stage {step.stage} starts after {step.consecutive_periods} "
                          f"consecutive period(s), not more than the stage before ({previous})",
                          "each stage needs more consecutive missed periods than the one before")
        previous = max(previous, step.consecutive_periods)


def _meetings(policy: Policy) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, m in enumerate(policy.communication.meetings):
        if m.id in seen:
            yield Problem(("communication", "meetings", i, "id"),
                          f"meeting id {m.id!r} is used twice", "give each meeting its own id")
        seen.add(m.id)
