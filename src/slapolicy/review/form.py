"""The review form's widgets (ipywidgets) over a ``ReviewSession``: layout only.

Every figure comes from the session; this module turns controls into inputs and a
``Comparison`` or ``Replay`` into HTML. ``comparison_html`` and ``replay_html`` are
plain functions, so what the form shows is tested without a browser.
"""

from __future__ import annotations

import html
import time
from datetime import date
from pathlib import Path
from typing import Any

from slapolicy.errors import SlapolicyError
from slapolicy.review.controls import Control
from slapolicy.review.session import Comparison, Replay, ReviewSession

GROUPS = ("marketing", "sales", "shared")
STYLE = """<style>
.whatif table{border-collapse:collapse;font-size:13px;margin:4px 0 10px}
.whatif th,.whatif td{border:1px solid #ccc;padding:2px 6px;text-align:left}
.whatif tr.changed td,.whatif span.changed{background:#fff3b0;font-weight:600}
.whatif .num{text-align:right}
</style>"""


def css_name(control_id: str) -> str:
    """A CSS class for a control's input (tests and screenshots find it by this)."""
    return "ctl-" + "".join(c if c.isalnum() else "-" for c in control_id)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return html.escape(str(value))


def _pair(name: str, label: str, cur: Any, new: Any, changed: bool) -> str:
    cls = " changed" if changed else ""
    return (f'<tr class="{cls.strip()}"><th>{label}</th>'
            f'<td class="whatif-{name}-current">{_fmt(cur)}</td>'
            f'<td><span class="whatif-{name}{cls}">{_fmt(new)}</span></td></tr>')


def comparison_html(cmp: Comparison) -> str:
    """Current and proposed side by side; what changed is highlighted."""
    cur, new, ch = cmp.current, cmp.proposed, cmp.changed
    head = (f'<div class="whatif"><h4>{html.escape(cmp.period)}: current and proposed</h4>'
            "<table><tr><th></th><th>current</th><th>proposed</th></tr>"
            + _pair("breaches", "open breaches", cur.breaches, new.breaches, "breaches" in ch)
            + _pair("status", "period status", cur.status, new.status, "status" in ch)
            + _pair("shared", "shared goals", cur.shared_goals, new.shared_goals,
                    "shared_goals" in ch)
            + _pair("stage", "consequence ladder stage", cur.ladder_stage, new.ladder_stage,
                    "ladder_stage" in ch)
            + _pair("pool", "monthly pool earned", cur.reward_eligible, new.reward_eligible,
                    "reward_eligible" in ch)
            + _pair("review", "review due", "; ".join(cur.review_reasons) or "no",
                    "; ".join(new.review_reasons) or "no",
                    "review_due" in ch or "review_reasons" in ch)
            + "</table>")
    clauses = ("<table><tr><th>clause</th><th>owner</th><th>threshold</th><th>proposed</th>"
               "<th>status</th><th>proposed</th><th>breaches</th><th>proposed</th></tr>")
    for row in cmp.clause_rows():
        cls = ' class="changed"' if row["changed"] else ""
        clauses += (f"<tr{cls}><td>{html.escape(row['clause'])}</td><td>{row['owner']}</td>"
                    f'<td class="num">{_fmt(row["threshold"])}</td>'
                    f'<td class="num">{_fmt(row["proposed_threshold"])}</td>'
                    f"<td>{row['status']}</td><td>{row['proposed_status']}</td>"
                    f'<td class="num">{row["breaches"]}</td>'
                    f'<td class="num">{row["proposed_breaches"]}</td></tr>')
    clauses += "</table>"
    return head + "<h4>Breaches per clause</h4>" + clauses + _counts(
        "team", cur.teams, new.teams, ch) + _counts("rep", cur.reps, new.reps, ch) + "</div>"


def _counts(what: str, cur: dict[str, int], new: dict[str, int], changed: set[str]) -> str:
    out = (f"<h4>Breaches per {what}</h4><table><tr><th>{what}</th><th>current</th>"
           "<th>proposed</th></tr>")
    for key in sorted(set(cur) | set(new)):
        cls = ' class="changed"' if f"{what}:{key}" in changed else ""
        out += (f"<tr{cls}><td>{html.escape(key)}</td><td class=\"num\">{cur.get(key, 0)}</td>"
                f'<td class="num">{new.get(key, 0)}</td></tr>')
    return out + "</table>"


def replay_html(replay: Replay) -> str:
    """Every audited period under the proposal: status, ladder path, pool months."""
    out = ('<div class="whatif"><h4>Replay of every audited period</h4><table><tr>'
           "<th>period</th><th>status</th><th>proposed</th><th>shared goals</th>"
           "<th>proposed</th><th>ladder stage</th><th>proposed</th><th>pool</th>"
           "<th>proposed</th><th>breaches</th><th>proposed</th></tr>")
    for r in replay.rows:
        changed = (r.status, r.shared_goals, r.ladder_stage, r.pool_earned) != (
            r.proposed_status, r.proposed_shared_goals, r.proposed_ladder_stage,
            r.proposed_pool_earned)
        cls = ' class="changed"' if changed else ""
        out += (f"<tr{cls}><td>{r.period}</td><td>{r.status}</td><td>{r.proposed_status}</td>"
                f"<td>{r.shared_goals}</td><td>{r.proposed_shared_goals}</td>"
                f"<td>{r.ladder_stage}</td><td>{r.proposed_ladder_stage}</td>"
                f"<td>{_fmt(r.pool_earned)}</td><td>{_fmt(r.proposed_pool_earned)}</td>"
                f'<td class="num">{r.breaches}</td><td class="num">{r.proposed_breaches}</td>'
                "</tr>")
    path = " → ".join(str(s) for s in replay.ladder_path)
    recorded = " → ".join(str(s) for s in replay.recorded_ladder_path)
    months = ", ".join(replay.pool_months) or "none"
    return (out + "</table>"
            f'<p>Ladder stage path: recorded {recorded}; proposed <span class="replay-path">'
            f"{path}</span>.<br>Months the pool is earned: recorded "
            f"{', '.join(replay.recorded_pool_months) or 'none'}; proposed "
            f'<span class="replay-pool">{months}</span>.</p></div>')


class ReviewForm:
    """The widgets of ``notebooks/review.ipynb`` over a ``ReviewSession``."""

    def __init__(self, policy: Path, audits: Path, period: str | None = None) -> None:
        import ipywidgets as w

        self.session = ReviewSession(policy, audits, period)
        s = self.session
        self.inputs: dict[str, Any] = {}
        self.result = w.HTML()
        self.message = w.HTML()
        self.replay_out = w.HTML()
        self.period = w.Dropdown(options=s.periods, value=s.period, description="Period")
        self.period.observe(self._on_period, names="value")
        auto = w.Layout(width="auto")
        reset = w.Button(description="Reset proposal", icon="undo", layout=auto)
        reset.on_click(lambda _: self._reset())
        replay = w.Button(description="Replay every period", icon="history", layout=auto)
        replay.add_class("whatif-replay")
        replay.on_click(lambda _: self._replay())
        groups = []
        for group in GROUPS:
            items = [c for c in s.controls.values() if c.group == group]
            groups.append(w.VBox([self._input(c) for c in items]))
        tabs = w.Tab(children=groups)
        counts = [sum(c.group == group for c in s.controls.values()) for group in GROUPS]
        for i, group in enumerate(GROUPS):
            tabs.set_title(i, f"{group} ({counts[i]})")
        tabs.selected_index = next((i for i, n in enumerate(counts) if n), 0)
        self.by = w.Text(description="Proposed by", placeholder="person id")
        self.why = w.Textarea(description="Reason", placeholder="why the change")
        self.when = w.Text(description="From", placeholder="first day, e.g. 2020-07-01")
        save = w.Button(description="Save proposal", icon="save", button_style="primary",
                        layout=w.Layout(width="auto"))
        save.add_class("whatif-save")
        save.on_click(lambda _: self._save())
        self.view = w.VBox([
            w.HTML(STYLE + f"<b>{html.escape(s.base.doc.policy.title)}</b>, version "
                   f"{html.escape(s.base.doc.version)}: move a value, see the period judged "
                   "again from its kept facts."),
            w.HBox([self.period, reset, replay]), tabs, self.message, self.result,
            self.replay_out, w.HTML("<h4>Save the proposal as a new policy version</h4>"),
            w.HBox([self.by, self.when]), self.why, save])
        self._show(s.compare(), 0.0)

    def _input(self, control: Control) -> Any:
        import ipywidgets as w

        label = f"{control.label} ({control.unit})"
        layout = w.Layout(width="560px")
        style = {"description_width": "340px"}
        widget: Any
        if control.kind == "date":
            widget = w.DatePicker(value=control.value, description=label, layout=layout,
                                  style=style)
        else:
            widget = w.BoundedFloatText(value=control.value, min=control.min, max=control.max,
                                        step=control.step, description=label, layout=layout,
                                        style=style)
        widget.add_class(css_name(control.id))
        widget.observe(lambda change, cid=control.id: self._on_change(cid, change),
                       names="value")
        self.inputs[control.id] = widget
        return widget

    def _on_change(self, control_id: str, change: dict[str, Any]) -> None:
        value = change["new"]
        if value is None or _same(value, self.session.value(control_id)):
            return
        started = time.perf_counter()
        try:
            cmp = self.session.set(control_id, value)
        except SlapolicyError as e:
            self.message.value = f'<span style="color:#b00">{html.escape(str(e))}</span>'
            self.inputs[control_id].value = self.session.value(control_id)
            return
        self._show(cmp, time.perf_counter() - started)

    def _on_period(self, change: dict[str, Any]) -> None:
        started = time.perf_counter()
        self._show(self.session.select(change["new"]), time.perf_counter() - started)

    def _reset(self) -> None:
        for cid, widget in self.inputs.items():
            widget.value = self.session.controls[cid].value
        self._show(self.session.reset(), 0.0)

    def _replay(self) -> None:
        started = time.perf_counter()
        self.replay_out.value = replay_html(self.session.replay())
        self.message.value = f"replayed in {1000 * (time.perf_counter() - started):.0f} ms"

    def _save(self) -> None:
        try:
            saved = self.session.save(proposed_by=self.by.value, reason=self.why.value,
                                      effective_from=self.when.value.strip())
        except SlapolicyError as e:
            self.message.value = (f'<span class="whatif-error" style="color:#b00">Not saved: '
                                  f"{html.escape(str(e))}</span>")
            return
        self.message.value = (f'<span class="whatif-saved">Saved {html.escape(saved.path.name)}'
                              f" (version {html.escape(saved.doc.version)}, from "
                              f"{html.escape(self.when.value.strip())}); recorded in the ledger."
                              "</span>")

    def _show(self, cmp: Comparison, seconds: float) -> None:
        changes = ", ".join(f"{c['control']}: {c['old']} → {c['new']}"
                            for c in self.session.changes()) or "none"
        self.message.value = (f"Proposal: {html.escape(changes)}. "
                              f'<span class="whatif-ms">judged in {1000 * seconds:.0f} ms</span>')
        self.result.value = comparison_html(cmp)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, date) or isinstance(b, date):
        return str(a) == str(b)
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return False
