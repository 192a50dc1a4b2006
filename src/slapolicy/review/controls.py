"""The review form's controls: every threshold and tolerance a meeting may move.

A control is one value of the policy file (its YAML path) shown in the unit people
think in: durations in hours or days, shares as percentages, money in the policy's
currency, counts, and ramp points' values and dates. Only values that change how kept
facts are *judged* are offered: a parameter that changes what is *measured* (which
activity kinds count, a clock, a scope) cannot be replayed from kept facts, so it is
not a control (``THRESHOLD_PARAMS`` lists the parameters each kind only judges with;
``tests/test_review_controls.py`` measures each one again to hold that true).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from slapolicy.errors import PolicyError
from slapolicy.policy.units import format_duration, parse_duration

ControlKind = Literal["duration", "share", "count", "number", "money", "date"]
Path_ = tuple[str | int, ...]

#: Per clause kind, the parameters used only in ``threshold()`` (never in ``measure()``).
THRESHOLD_PARAMS: dict[str, dict[str, ControlKind]] = {
    "speed_to_lead": {"within": "duration"},
    "contact_attempts": {"min_attempts": "count", "min_spacing": "duration",
                         "max_spacing": "duration"},
    "recycling": {"within": "duration"},
    "mql_worked": {"within": "duration"},
    "feedback_response": {"within": "duration"},
    "rep_load": {"min": "count", "max": "count"},
    "marketer_quota": {"per_month": "count"},
    "rep_performance": {"conversion": "share", "opportunities": "count"},
    "lead_value": {"monthly_target": "money"},
    "funnel_conversion": {"visitor_to_lead": "share", "lead_to_mql": "share",
                          "mql_to_sql": "share"},
    "mql_quality": {"acceptance_rate": "share"},
    "close_rate": {"target": "share"},
    "sales_cycle": {"target": "number"},
    # Not ``target``: revenue's make-up check keeps each month's target as evidence.
    "revenue": {"annual_target": "money"},
}
#: Speed to lead's per-source windows (``by_source.<source>``) are thresholds too.
_BY_SOURCE = ("speed_to_lead", "by_source")


@dataclass(frozen=True)
class Control:
    """One value the form can move, in display units (see ``to_policy``)."""

    id: str
    label: str
    group: str  # marketing, sales or shared: who owns the value
    path: Path_  # YAML path under ``policy:``
    kind: ControlKind
    unit: str
    value: Any
    min: Any
    max: Any
    step: float
    clauses: tuple[str, ...] = field(default_factory=tuple)  # clauses it judges

    def to_policy(self, value: Any) -> Any:
        """The value as the policy file states it (``1h``, ``0.95``, ``550000``, a date)."""
        if self.kind == "date":
            day = value if isinstance(value, date) else date.fromisoformat(str(value))
            if not (self.min <= day <= self.max):
                raise PolicyError(f"{self.label}: {day} is outside {self.min} to {self.max}",
                                  yaml_path=_fmt(self.path),
                                  hint="ramp dates stay in order between their neighbours")
            return day
        number = _number(value, self.label)
        if not (self.min <= number <= self.max):
            raise PolicyError(f"{self.label}: {number:g} {self.unit} is outside "
                              f"{self.min:g} to {self.max:g}", yaml_path=_fmt(self.path),
                              hint=f"choose a value from {self.min:g} to {self.max:g}")
        if self.kind == "duration":
            seconds = number * (86400 if self.unit == "days" else 3600)
            return format_duration(timedelta(seconds=round(seconds)))
        if self.kind == "share":
            return round(number / 100, 6)
        if self.kind == "count":
            if number != int(number):
                raise PolicyError(f"{self.label}: {number:g} is not a whole number",
                                  yaml_path=_fmt(self.path), hint="give a whole number")
            return int(number)
        return int(number) if number == int(number) else number

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "group": self.group, "kind": self.kind,
                "unit": self.unit, "value": _jsonable(self.value), "min": _jsonable(self.min),
                "max": _jsonable(self.max), "step": self.step, "path": _fmt(self.path),
                "clauses": list(self.clauses)}


def controls_of(plain: dict[str, Any]) -> list[Control]:
    """Every control of a policy given as plain data (the ``policy:`` mapping), grouped
    by owner: marketing, sales, shared."""
    currency = str(plain.get("currency", "USD"))
    out: list[Control] = []
    clauses = [c for c in plain.get("clauses", []) if c.get("enabled", True)]
    ramp_users: dict[str, list[dict[str, Any]]] = {}
    for i, clause in enumerate(plain.get("clauses", [])):
        if not clause.get("enabled", True):
            continue
        cid, owner = str(clause["id"]), str(clause["owner"])
        params = clause.get("params") or {}
        if params.get("ramp"):
            ramp_users.setdefault(str(params["ramp"]), []).append(clause)
        for name, kind in THRESHOLD_PARAMS.get(str(clause["kind"]), {}).items():
            if params.get(name) is not None:
                out.append(_control(f"{cid}.params.{name}", f"{cid}: {name}", owner,
                                    ("clauses", i, "params", name), kind, params[name],
                                    currency, (cid,)))
        if (clause["kind"], "by_source") == _BY_SOURCE:
            for source, value in sorted((params.get("by_source") or {}).items()):
                out.append(_control(f"{cid}.params.by_source.{source}",
                                    f"{cid}: within for {source}", owner,
                                    ("clauses", i, "params", "by_source", source), "duration",
                                    value, currency, (cid,)))
        tolerance = clause.get("tolerance") or {}
        mostly = float(tolerance.get("mostly", 1.0))
        out.append(_control(f"{cid}.tolerance.mostly", f"{cid}: share that must comply", owner,
                            ("clauses", i, "tolerance", "mostly"), "share", mostly, currency,
                            (cid,)))
        if tolerance.get("fail_below") is not None:
            out.append(_control(f"{cid}.tolerance.fail_below", f"{cid}: fails below", owner,
                                ("clauses", i, "tolerance", "fail_below"), "share",
                                tolerance["fail_below"], currency, (cid,)))
    feedback = [c for c in clauses if c["kind"] == "feedback_response"
                and (c.get("params") or {}).get("within") is None]
    comm = plain.get("communication") or {}
    if feedback and comm.get("feedback_within") is not None:
        out.append(_control("communication.feedback_within", "feedback answered within",
                            "shared", ("communication", "feedback_within"), "duration",
                            comm["feedback_within"], currency,
                            tuple(str(c["id"]) for c in feedback)))
    triggers = ((plain.get("review") or {}).get("triggers") or {})
    for name in ("lead_to_mql_rate_below", "mql_to_sql_rate_below"):
        if triggers.get(name) is not None:
            judged = tuple(str(c["id"]) for c in clauses if c["kind"] == "mql_quality"
                           and (c.get("params") or {}).get("acceptance_rate") is None
                           and name == "mql_to_sql_rate_below")
            out.append(_control(f"review.triggers.{name}", f"review when {name}", "shared",
                                ("review", "triggers", name), "share", triggers[name],
                                currency, judged))
    for rid, ramp in sorted((plain.get("ramps") or {}).items()):
        users = ramp_users.get(str(rid), [])
        if any(c["kind"] == "revenue" and "make-up" in ((c.get("params") or {}).get("checks")
                                                         or ["make-up"]) for c in users):
            continue  # the make-up check keeps the ramp's monthly targets as evidence
        owners = {str(c["owner"]) for c in users}
        group = owners.pop() if len(owners) == 1 else "shared"
        unit = str(ramp.get("unit", ""))
        points = ramp.get("points") or []
        point_kind: ControlKind = ("money" if currency in unit else
                                   "share" if "share" in unit else "number")
        for j, point in enumerate(points):
            who = tuple(str(c["id"]) for c in users)
            out.append(_control(f"ramps.{rid}.points[{j}].value", f"ramp {rid}: value from "
                                f"{point['on']}", group, ("ramps", rid, "points", j, "value"),
                                point_kind, point["value"], currency, who,
                                unit=None if point_kind != "number" else unit))
            before = points[j - 1]["on"] + timedelta(days=1) if j else date(
                point["on"].year - 1, 1, 1)
            after = points[j + 1]["on"] - timedelta(days=1) if j + 1 < len(points) else date(
                point["on"].year + 2, 12, 31)
            out.append(Control(f"ramps.{rid}.points[{j}].on", f"ramp {rid}: date of point {j + 1}",
                               group, ("ramps", rid, "points", j, "on"), "date", "date",
                               point["on"], before, after, 1, who))
    order = {"marketing": 0, "sales": 1, "shared": 2}
    return sorted(out, key=lambda c: order.get(c.group, 3))


def _control(cid: str, label: str, group: str, path: Path_, kind: ControlKind, raw: Any,
             currency: str, clauses: tuple[str, ...], unit: str | None = None) -> Control:
    if kind == "duration":
        seconds = parse_duration(raw).total_seconds()
        days = seconds >= 2 * 86400 and seconds % 43200 == 0
        value = seconds / (86400 if days else 3600)
        return Control(cid, label, group, path, kind, "days" if days else "hours", value,
                       0.0, max(4 * value, 14.0 if days else 48.0), 0.5 if days else 0.25,
                       clauses)
    if kind == "share":
        return Control(cid, label, group, path, kind, "%", round(float(raw) * 100, 4),
                       0.0, 100.0, 0.5, clauses)
    number = float(Decimal(str(raw).replace("_", "")))
    if kind == "money":
        step = float(10 ** max(0, len(str(int(number))) - 3)) if number >= 1000 else 1.0
        return Control(cid, label, group, path, kind, currency, number, 0.0,
                       max(2 * number, 10 * step), step, clauses)
    if kind == "count":
        return Control(cid, label, group, path, kind, unit or "count", number, 0.0,
                       max(3 * number, 10.0), 1.0, clauses)
    return Control(cid, label, group, path, kind, unit or "", number, 0.0,
                   max(3 * number, 10.0), 0.5 if number < 100 else 1.0, clauses)


def _number(value: Any, label: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError) as e:
        raise PolicyError(f"{label}: {value!r} is not a number", hint="give a number") from e
    if out != out or out in (float("inf"), float("-inf")):
        raise PolicyError(f"{label}: {value!r} is not a finite number", hint="give a number")
    return out


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _fmt(path: Path_) -> str:
    out = "policy"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def set_path(plain: Any, path: tuple[str | int, ...], value: Any) -> None:
    """Set the value at ``path`` in plain policy data, creating missing mappings."""
    node = plain
    for part in path[:-1]:
        if isinstance(node, dict) and node.get(part) is None:
            node[part] = {}
        node = node[part]
    node[path[-1]] = value


def plain_of(path: Path) -> tuple[dict[str, Any], Any]:
    from ruamel.yaml import YAML

    from slapolicy.policy.loader import _plain

    body = YAML(typ="rt").load(path.read_text(encoding="utf-8"))["policy"]
    return _plain(body, str(path)), body
