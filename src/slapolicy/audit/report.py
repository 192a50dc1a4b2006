"""HTML pieces the audit notebook displays. Presentation only: no rule lives here."""

from __future__ import annotations

import html
from typing import Any

from slapolicy.audit.results import AuditResult, Breach, ClauseResult, _num

_COLOURS = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e", "error": "#6e7781"}
STYLE = """
<style>
.slap { font-family: system-ui, sans-serif; font-size: 14px; }
.slap table { border-collapse: collapse; margin: 6px 0 14px; }
.slap th, .slap td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; }
.slap th { background: #f6f8fa; }
.slap .badge { color: #fff; border-radius: 4px; padding: 1px 8px; font-weight: 600; }
.slap td.num { text-align: right; font-variant-numeric: tabular-nums; }
</style>
"""


def badge(status: str) -> str:
    colour = _COLOURS.get(status, "#6e7781")
    return f'<span class="badge" style="background:{colour}">{html.escape(status.upper())}</span>'


def header_html(result: AuditResult) -> str:
    s = result.summary()
    counts = ", ".join(f"{n} {k}" for k, n in s["clauses"].items() if n)
    return STYLE + (
        f'<div class="slap"><h1>SLA audit: {html.escape(result.policy_id)} '
        f"— {html.escape(result.period)}</h1>"
        f"<p>Overall {badge(result.status)} &nbsp; clauses: {html.escape(counts or 'none')}; "
        f"open breaches: <b>{s['breaches']}</b>; excused: {s['excused']}</p>"
        f"<table><tr><th>Policy version</th><td>{html.escape(result.policy_version)}</td></tr>"
        f"<tr><th>Policy content hash</th><td><code>{result.policy_hash}</code></td></tr>"
        f"<tr><th>Period (UTC)</th><td>{result.period_start} to {result.period_end}</td></tr>"
        f"<tr><th>Data as of</th><td>{result.as_of}</td></tr></table>"
        + data_quality_html(result) + "</div>"
    )


def data_quality_html(result: AuditResult) -> str:
    """Rows read, used and set aside per table, and why (``quarantine.csv`` lists each)."""
    tables = result.data.get("tables") or {}
    if not tables:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td class=\"num\">{t['read']:,}</td>"
        f"<td class=\"num\">{t['used']:,}</td><td class=\"num\">{t['quarantined']:,}</td></tr>"
        for name, t in sorted(tables.items()) if t.get("source"))
    reasons = result.data.get("quarantine_reasons") or {}
    why = ("<p>No row was set aside.</p>" if not reasons else
           "<p>Rows set aside (every one is in <code>quarantine.csv</code>):</p><ul>"
           + "".join(f"<li>{html.escape(r)}: {n:,}</li>" for r, n in sorted(reasons.items()))
           + "</ul>")
    return ("<h2>Data</h2><table><tr><th>Table</th><th>Rows read</th><th>Used</th>"
            f"<th>Set aside</th></tr>{rows}</table>{why}")


def clauses_html(clauses: list[ClauseResult]) -> str:
    head = ("<tr><th>Clause</th><th>Owner</th><th>Status</th><th>Subjects</th>"
            "<th>Breaches</th><th>Pending</th><th>Compliance</th><th>Tolerance</th>"
            "<th>Threshold</th><th>Observed (median / p90 / max)</th><th>Note</th></tr>")
    rows = []
    for c in sorted(clauses, key=lambda c: c.clause_id):
        obs = " / ".join(_show(c.observed.get(k)) for k in ("median", "p90", "max"))
        tol = f"≥ {c.mostly:.0%}" + (f", fail < {c.fail_below:.0%}" if c.fail_below else "")
        rows.append(
            f"<tr><td><b>{html.escape(c.clause_id)}</b><br>{html.escape(c.title)}</td>"
            f"<td>{html.escape(c.owner)}</td><td>{_clause_badge(c)}</td>"
            f'<td class="num">{c.subjects}</td><td class="num">{c.breaches}</td>'
            f'<td class="num">{c.pending}</td>'
            f'<td class="num">{"" if c.compliance is None else f"{c.compliance:.1%}"}</td>'
            f"<td>{tol}</td><td>{_show(c.threshold)} {html.escape(c.unit)}</td>"
            f"<td>{obs}</td><td>{html.escape(c.message)}</td></tr>"
        )
    return f'<div class="slap"><h2>Clauses</h2><table>{head}{"".join(rows)}</table></div>'


def _clause_badge(c: ClauseResult) -> str:
    return badge(c.status.replace("_", " "))


def breaches_html(result: AuditResult, limit: int = 50) -> str:
    parts = ['<div class="slap"><h2>Breaches</h2>']
    listed = {c.clause_id: c.breaches + c.excused for c in result.clauses
              if c.breaches + c.excused}
    if not listed:
        parts.append("<p>No breaches.</p>")
    for clause_id, count in sorted(listed.items()):
        # Read from breaches.parquet by the engine: the worst first, at most ``limit``.
        shown: list[Breach] = result.read_breaches(
            clause_id=clause_id, limit=limit, order="abs(observed - threshold) DESC, subject_id")
        parts.append(f"<h3>{html.escape(clause_id)}: {count} breach(es)</h3>")
        if count > limit:
            parts.append(f"<p>The {limit} furthest from their threshold are shown; all {count} "
                         "are in <code>breaches.csv</code>.</p>")
        keys = sorted({k for b in shown for k in b.evidence})
        head = ("<tr><th>Subject</th><th>Rep</th><th>Observed</th><th>Threshold</th>"
                "<th>Severity</th><th>Status</th>"
                + "".join(f"<th>{html.escape(k)}</th>" for k in keys) + "</tr>")
        rows = "".join(
            f"<tr><td>{html.escape(b.subject_id)}</td><td>{html.escape(b.rep_id or '')}</td>"
            f'<td class="num">{_show(b.observed)}</td><td class="num">{_show(b.threshold)}</td>'
            f"<td>{b.severity}</td><td>{b.status}</td>"
            + "".join(f"<td>{html.escape(_text(b.evidence.get(k)))}</td>" for k in keys)
            + "</tr>"
            for b in shown
        )
        parts.append(f"<table>{head}{rows}</table>")
    parts.append("</div>")
    return "".join(parts)


def _show(value: float | None) -> str:
    if value is None:
        return ""
    v = float(value)
    return f"{v:,.0f}" if abs(v) >= 10_000 else _num(round(v, 2))


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def standing_html(result: AuditResult) -> str:
    """Shared goals, the consequence ladder, rewards and review state."""
    s = result.standing
    if not s:
        return ""
    parts = ['<div class="slap">']
    shared = s["shared_goals"]
    parts.append("<h2>Shared goals</h2><p>Both teams are accountable for every shared goal. "
                 + (badge("pass") + " all met" if shared["met"]
                    else badge("fail") + " missed: " + html.escape(", ".join(shared["missed"])))
                 + "</p>")
    ladder = s["ladder"]
    if ladder["stage"]:
        actions = "".join(f"<li>{html.escape(a)}</li>" for a in ladder["actions"])
        parts.append(
            f"<h2>Consequence ladder: stage {ladder['stage']}</h2>"
            f"<p>Shared goals missed {ladder['consecutive_missed']} period(s) in a row "
            f"({ladder['days_in_breach']} days in breach). Owner: "
            f"<b>{html.escape(ladder['owner'] or '')}</b>. Actions due:</p><ul>{actions}</ul>")
    else:
        parts.append("<h2>Consequence ladder: stage 0</h2><p>No escalation is due.</p>")
    rows = []
    for g in s["goals"]:
        f = g.get("forecast") or {}
        forecast = ""
        if f.get("next_date"):
            verdict = {True: "on track", False: "at risk", None: "unknown"}[f.get("on_track")]
            forecast = (f"{verdict} for {_show(f.get('next_target'))} by {f['next_date']}: "
                        f"{html.escape(f.get('method', ''))}")
        rows.append(
            f"<tr><td><b>{html.escape(g['id'])}</b><br>{html.escape(g['title'])}</td>"
            f"<td>{badge(_goal_badge(g['status']))} {html.escape(g['status'])}</td>"
            f'<td class="num">{_show(g.get("target"))}</td>'
            f'<td class="num">{_show(g.get("actual"))}</td><td>{forecast}</td></tr>')
    parts.append("<h2>Goals</h2><table><tr><th>Goal</th><th>Status</th><th>Target in force</th>"
                 "<th>Actual</th><th>Forecast</th></tr>" + "".join(rows) + "</table>")
    pool, annual = s["rewards"]["monthly_pool"], s["rewards"]["annual"]
    earned = pool.get("eligible")
    parts.append(
        "<h2>Rewards</h2><table>"
        f"<tr><th>Monthly pool</th><td>{'EARNED' if earned else 'not earned'}: "
        f"{_show(pool['amount'])} {html.escape(pool['currency'])}, split "
        f"{html.escape(pool['split'])}</td><td>{html.escape(pool.get('why') or '')}</td></tr>"
        f"<tr><th>Annual reward</th><td>{html.escape(annual['description'])}: "
        f"{'EARNED' if annual.get('eligible') else 'not earned'}</td>"
        f"<td>{html.escape(annual.get('why') or '')}</td></tr></table>")
    review = s["review"]
    if review["due"]:
        parts.append("<h2>SLA review due</h2><ul>" + "".join(
            f"<li>{html.escape(r)}</li>" for r in review["reasons"]) + "</ul>")
    else:
        parts.append("<h2>SLA review</h2><p>No review trigger fired this period.</p>")
    parts.append(f"<p>History read: {html.escape(', '.join(s['history']['periods']) or 'none')} "
                 f"(source: {html.escape(s['history']['source'])}).</p></div>")
    return "".join(parts)


def _goal_badge(status: str) -> str:
    return {"met": "pass", "missed": "fail", "error": "error"}.get(status, "warn")
