"""The audit page: one self-contained HTML file, the same bytes for the same audit.

``render_report`` writes the report (a fragment the notebook displays);
``page`` wraps it into the document ``audit.body.html`` (the signed content);
``publish`` puts the sign-off state into it, giving ``audit.html``. Every text
from CRM data or the policy is escaped; the breach table's data is embedded as
JSON that cannot close its element, and the page's Content-Security-Policy
allows no request and no script but the page's own.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slapolicy.report import charts
from slapolicy.report.i18n import Formatter, is_money, is_rate
from slapolicy.report.model import TABLE_COLUMNS, Distribution, ReportData, gather

if TYPE_CHECKING:
    from slapolicy.audit.results import AuditResult, ClauseResult
    from slapolicy.policy.document import PolicyDocument

SIGNOFF_START = "<!--slapolicy:signoff-->"
SIGNOFF_END = "<!--/slapolicy:signoff-->"
#: Metadata key on the notebook output that holds the report.
OUTPUT_KEY = "slapolicy_report"
_WORST = 10
_STATUS_COLOUR = {"pass": "ok", "met": "ok", "warn": "warn", "not_measured": "grey",
                  "pending": "grey", "not_in_force": "grey", "fail": "bad", "missed": "bad",
                  "error": "bad"}


@dataclass(frozen=True)
class Rendered:
    """The report fragment and what the page around it needs."""

    html: str
    title: str
    lang: str
    direction: str
    locale: str
    zone: str

    def metadata(self) -> dict[str, Any]:
        return {OUTPUT_KEY: {"title": self.title, "lang": self.lang, "dir": self.direction,
                             "locale": self.locale, "zone": self.zone}}


def _script() -> str:
    return resources.files("slapolicy.report").joinpath("table.js").read_text(encoding="utf-8")


def _style() -> str:
    return resources.files("slapolicy.report").joinpath("style.css").read_text(encoding="utf-8")


def script_hash() -> str:
    digest = hashlib.sha256(_script().encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


# --- the report ---------------------------------------------------------------------------


def render_report(result: AuditResult, doc: PolicyDocument | None = None, *,
                  audits: Path | None = None, locale: str | None = None) -> Rendered:
    """The audit report for ``result`` as an HTML fragment, in ``locale`` (default: the
    policy's ``report.locale``)."""
    data = gather(result, doc, audits)
    loc = locale or (doc.policy.report.locale if doc is not None else "en")
    f = Formatter.for_locale(loc, data.zone, data.currency)
    title = f.t("title", policy=result.policy_id, period=result.period)
    parts = [
        f'<div class="slap" lang="{f.lang}" dir="{f.direction}">',
        f"<style>{_style()}</style>",
        _header(data, f, title),
        _summary(data, f),
        _charts(data, f),
        _standing(data, f),
        _clauses(result.clauses, f),
        _breaches(data, f),
        _data(data, f),
        _footer(data, f),
        "</div>",
    ]
    return Rendered("\n".join(p for p in parts if p), title, f.lang, f.direction, loc, data.zone)


def _badge(f: Formatter, status: str) -> str:
    cls = _STATUS_COLOUR.get(status, "grey")
    return f'<span class="badge {cls}">{escape(f.t("status." + status))}</span>'


def _header(data: ReportData, f: Formatter, title: str) -> str:
    r = data.result
    return (f"<header><h1>{escape(title)}</h1>"
            f'<p class="sub">{escape(data.policy_title)} · {escape(f.month(r.period))} · '
            f"{escape(f.t('policy_version', version=r.policy_version))}</p></header>")


def verdict(data: ReportData, f: Formatter) -> str:
    """The overall verdict, one sentence per finding it summarises, so it cannot
    contradict them: the shared goals, the reward, the clause counts."""
    s = data.standing
    r = data.result
    counts = r.summary()["clauses"]
    out = []
    if s:
        out.append(f.t("verdict.shared." + s["shared_goals"]["status"]))
        pool = s["rewards"]["monthly_pool"]
        out.append(f.t("verdict.pool." + _yes_no(pool.get("eligible"))))
    findings = counts["fail"] + counts["error"]
    out.append(f.t("verdict.clauses", failed=f.integer(findings), total=f.integer(len(r.clauses)),
                   warned=f.integer(counts["warn"]),
                   not_measured=f.integer(counts["not_measured"])))
    return " ".join(out)


def _pool_why(f: Any, pool: dict[str, Any]) -> str:
    """Why the pool is (not) earned, in the page's language: each requirement not met and
    its status (the results' English ``why`` when they list no requirements)."""
    requires = pool.get("requires")
    if not isinstance(requires, dict):
        return str(pool.get("why") or "")
    blocking = {i: s for i, s in requires.items() if s not in ("met", "not_in_force")}
    if not blocking:
        return str(f.t("pool.requires_all_met"))
    items = ", ".join(f"{i} ({f.t('status.' + s) if 'status.' + s in f.messages else s})"
                      for i, s in sorted(blocking.items()))
    return str(f.t("pool.requires_blocking", items=items))


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def _card(cls: str, head: str, body: str) -> str:
    return f'<div class="card {cls}"><h3>{head}</h3>{body}</div>'


def _summary(data: ReportData, f: Formatter) -> str:
    s, r = data.standing, data.result
    e = escape
    cards = []
    if s:
        shared = s["shared_goals"]
        missed = shared.get("missed") or []
        text = _badge(f, shared["status"])
        if missed:
            text += f"<p>{e(f.t('missed_list', items=', '.join(missed)))}</p>"
        if shared.get("not_measured"):
            text += f"<p>{e(f.t('not_measured_list', items=', '.join(shared['not_measured'])))}</p>"
        cards.append(_card(_STATUS_COLOUR.get(shared["status"], "grey"), e(f.t("shared_goals")),
                           text))
        ladder = s["ladder"]
        if ladder.get("stage"):
            actions = "".join(f"<li>{e(a)}</li>" for a in ladder.get("actions") or [])
            body = (f"<p><b>{e(f.t('stage', stage=f.integer(ladder['stage'])))}</b> · "
                    f"{e(f.t('owner', owner=ladder.get('owner') or '–'))}</p>"
                    f"<p>{e(f.t('next_steps'))}</p><ul>{actions}</ul>")
            cls = "bad"
        else:
            body = (f"<p><b>{e(f.t('stage', stage=f.integer(0)))}</b></p>"
                    f"<p>{e(f.t('no_escalation'))}</p>")
            cls = "ok"
        cards.append(_card(cls, e(f.t("ladder")), body))
        pool, annual = s["rewards"]["monthly_pool"], s["rewards"]["annual"]
        earned = pool.get("eligible")
        amount = f.money(pool["amount"], pool["currency"])
        body = (f"<p><b>{e(f.t('pool.' + _yes_no(earned), amount=amount))}</b></p>"
                f"<p class=\"why\">{e(_pool_why(f, pool))}</p>")
        a_earned = annual.get("eligible")
        if a_earned is None and annual.get("judged_in"):
            body += f"<p>{e(f.t('annual.later', when=f.month(annual['judged_in'])))}</p>"
        else:
            body += (f"<p><b>{e(f.t('annual.' + _yes_no(a_earned)))}</b>: "
                     f"{e(annual.get('description') or '')}</p>")
        cards.append(_card("ok" if earned else "bad", e(f.t("rewards")), body))
    total = sum(c.open for c in data.by_clause)
    excused = sum(c.excused for c in data.by_clause)
    teams = "".join(f"<li>{e(c.key)}: "
                    f"<b>{f.integer(c.open)}</b></li>" for c in data.by_team if c.open)
    worst = "".join(f"<li>{e(c.key)}: <b>{f.integer(c.open)}</b></li>"
                    for c in data.by_clause[:3] if c.open)
    body = (f"<p><b>{e(f.t('open_breaches', n=f.integer(total)))}</b>"
            + (f" · {e(f.t('excused', n=f.integer(excused)))}" if excused else "") + "</p>"
            + (f"<p>{e(f.t('by_team'))}</p><ul>{teams}</ul>" if teams else "")
            + (f"<p>{e(f.t('by_clause_top'))}</p><ul>{worst}</ul>" if worst else ""))
    cards.append(_card("bad" if total else "ok", e(f.t("breaches")), body))
    tables = r.data.get("tables") or {}
    read = sum(t.get("read", 0) for t in tables.values())
    quarantined = sum(t.get("quarantined", 0) for t in tables.values())
    reasons = r.data.get("quarantine_reasons") or {}
    body = f"<p>{e(f.t('rows_read', n=f.integer(read), tables=f.integer(len(tables))))}</p>"
    body += f"<p><b>{e(f.t('rows_quarantined', n=f.integer(quarantined)))}</b></p>"
    if reasons:
        body += "<ul>" + "".join(f"<li>{e(k)}: {f.integer(v)}</li>"
                                 for k, v in sorted(reasons.items())) + "</ul>"
    cards.append(_card("warn" if quarantined else "ok", e(f.t("data_quality")), body))
    signoff = (f'{SIGNOFF_START}<div class="card grey" id="signoff"><h3>{e(f.t("signoff"))}</h3>'
               f"<p>{e(f.t('signoff.in_body'))}</p></div>{SIGNOFF_END}")
    return (f'<section class="summary" id="summary"><p class="verdict">{e(verdict(data, f))}</p>'
            f'<div class="cards">{"".join(cards)}{signoff}</div></section>')


def _charts(data: ReportData, f: Formatter) -> str:
    e = escape
    figs = []
    hist = data.history
    xs = [f.month_short(p.period) for p in hist]
    for g in (data.standing.get("goals") or []):
        if not any(p.goals.get(g["id"], {}).get("actual") is not None for p in hist):
            continue
        unit = data.goal_units.get(g["id"], "")
        series = [(f.t("chart.target"), [p.goals.get(g["id"], {}).get("target") for p in hist],
                   "#8c959f"),
                  (f.t("chart.actual"), [p.goals.get(g["id"], {}).get("actual") for p in hist],
                   "#4a6fa5")]
        svg = charts.lines(f.t("chart.goal", goal=g["title"]), xs, series,
                           functools.partial(_axis, f, unit=unit))
        if svg:
            figs.append(_figure(svg, f.t("chart.goal", goal=g["title"])))
    if hist:
        svg = charts.steps(f.t("chart.ladder"), xs, [p.stage for p in hist], 3,
                           lambda k: f.t("stage", stage=f.integer(k)))
        figs.append(_figure(svg, f.t("chart.ladder")))
    if data.distribution is not None:
        figs.append(_distribution(data.distribution, f))
    if data.by_clause:
        items = [(c.key, float(c.open), f.integer(c.open)) for c in data.by_clause if c.open]
        figs.append(_figure(charts.bars(f.t("chart.by_clause"), items), f.t("chart.by_clause")))
    if data.by_team:
        items = [(c.key, float(c.open), f.integer(c.open)) for c in data.by_team if c.open]
        figs.append(_figure(charts.bars(f.t("chart.by_team"), items), f.t("chart.by_team")))
    if data.by_rep:
        items = [(f"{c.key} ({c.label})", float(c.open), f.integer(c.open))
                 for c in data.by_rep[:15] if c.open]
        figs.append(_figure(charts.bars(f.t("chart.by_rep"), items),
                            f.t("chart.by_rep", n=f.integer(min(15, len(data.by_rep))))))
    funnel = _funnel(data, f)
    if funnel:
        figs.append(funnel)
    figs = [x for x in figs if x]
    if not figs:
        return ""
    return (f'<section id="charts"><h2>{e(f.t("charts"))}</h2>'
            f'<div class="figures">{"".join(figs)}</div></section>')


def _figure(svg: str, caption: str) -> str:
    if not svg:
        return ""
    return f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>"


def _axis(f: Formatter, v: float, *, unit: str) -> str:
    if is_money(unit):
        return f.compact_money(v, unit)
    if is_rate(unit):
        return f.percent(v, 0)
    return f.decimal(v, 1)


def _distribution(d: Distribution, f: Formatter) -> str:
    labels = []
    prev = 0.0
    for edge in d.edges:
        labels.append(f"{f.decimal(prev, 2)}–{f.decimal(edge, 2)}")
        prev = edge
    labels.append(f"≥ {f.decimal(prev, 2)}")
    within = d.edges.index(d.threshold) + 1 if d.threshold in d.edges else 0
    caption = f.t("chart.distribution", clause=d.clause_id,
                  threshold=f.quantity(d.threshold, d.unit))
    svg = charts.histogram(caption, labels, d.counts, within,
                           f.t("chart.threshold", threshold=f.quantity(d.threshold, d.unit)))
    return _figure(svg, caption)


def _funnel(data: ReportData, f: Formatter) -> str:
    review = (data.standing.get("review") or {}).get("rates") or {}
    clause = next((c for c in data.result.clauses if c.kind == "funnel_conversion"), None)
    named = [(f.t("funnel.leads"), review.get("leads")), (f.t("funnel.mqls"), review.get("mqls")),
             (f.t("funnel.sqls"), review.get("accepted"))]
    counts = [(k, float(v)) for k, v in named if v is not None]
    if not counts:
        return ""
    top = max(v for _, v in counts) or 1.0
    stages = [(k, f.integer(v), v / top) for k, v in counts]
    checks = clause.checks if clause else {}
    rates: list[tuple[str, bool | None]] = []
    for key, review_key in (("lead-to-mql", "lead_to_mql"), ("mql-to-sql", "mql_to_sql")):
        c = checks.get(key) or {}
        value = (c.get("observed") or {}).get("median", review.get(review_key))
        if value is None:
            rates.append(("–", None))
            continue
        met = None if not c else c.get("status") in ("pass", "warn")
        text = f.percent(value)
        if c.get("threshold") is not None:
            text = f.t("funnel.rate", rate=text, target=f.percent(c["threshold"]))
        rates.append((text, met))
    caption = f.t("chart.funnel")
    visitor = checks.get("visitor-to-lead") or {}
    if visitor.get("observed"):
        caption += " · " + f.t("funnel.visitors", rate=f.percent(visitor["observed"]["median"], 2))
    return _figure(charts.funnel(caption, stages, rates), caption)


def _standing(data: ReportData, f: Formatter) -> str:
    s = data.standing
    if not s:
        return ""
    e = escape
    rows = []
    for g in s["goals"]:
        unit = data.goal_units.get(g["id"], "")
        fc = g.get("forecast") or {}
        forecast = ""
        if fc.get("next_date"):
            forecast = f.t("forecast." + _yes_no(fc.get("on_track")),
                           target=f.quantity(fc.get("next_target"), unit),
                           date=f.date(fc["next_date"]))
        rows.append(f"<tr><td><b>{e(g['id'])}</b><br>{e(g['title'])}</td>"
                    f"<td>{_badge(f, g['status'])}</td>"
                    f'<td class="num">{e(f.quantity(g.get("target"), unit))}</td>'
                    f'<td class="num">{e(f.quantity(g.get("actual"), unit))}</td>'
                    f"<td>{e(forecast)}</td></tr>")
    head = "".join(f"<th>{e(f.t(k))}</th>" for k in
                   ("col.goal", "col.status", "col.target", "col.actual", "col.forecast"))
    review = s.get("review") or {}
    review_html = (f"<p>{e(f.t('review.due'))}</p><ul>"
                   + "".join(f"<li>{e(x)}</li>" for x in review.get("reasons") or []) + "</ul>"
                   if review.get("due") else f"<p>{e(f.t('review.none'))}</p>")
    return (f'<section id="goals"><h2>{e(f.t("goals"))}</h2>'
            f'<div class="wrap"><table class="goals"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>"
            f"<h3>{e(f.t('review'))}</h3>{review_html}</section>")


def _clauses(clauses: list[ClauseResult], f: Formatter) -> str:
    e = escape
    rows = []
    for c in sorted(clauses, key=lambda c: c.clause_id):
        obs = " / ".join(f.quantity(c.observed.get(k), c.unit) for k in ("median", "p90", "max"))
        tol = f.t("tolerance", mostly=f.percent(c.mostly, 0))
        if c.fail_below:
            tol += "; " + f.t("fail_below", share=f.percent(c.fail_below, 0))
        rows.append(
            f"<tr><td><b>{e(c.clause_id)}</b><br>{e(c.title)}</td><td>{e(c.owner)}</td>"
            f"<td>{_badge(f, c.status)}</td>"
            f'<td class="num">{f.integer(c.subjects)}</td>'
            f'<td class="num">{f.integer(c.breaches)}</td>'
            f'<td class="num">{f.percent(c.compliance)}</td>'
            f"<td>{e(f.quantity(c.threshold, c.unit))}<br><small>{e(tol)}</small></td>"
            f"<td>{e(obs)}</td><td><small>{e(c.message)}</small></td></tr>")
    head = "".join(f"<th>{e(f.t(k))}</th>" for k in (
        "col.clause", "col.owner", "col.status", "col.subjects", "col.breaches",
        "col.compliance", "col.threshold", "col.observed", "col.note"))
    return (f'<section id="clauses"><h2>{e(f.t("clauses"))}</h2><div class="wrap">'
            f'<table class="clauses"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div></section>")


def _breaches(data: ReportData, f: Formatter) -> str:
    e = escape
    parts = [f'<section id="breaches"><h2>{e(f.t("breaches"))}</h2>']
    if not data.rows:
        parts.append(f"<p>{e(f.t('no_breaches'))}</p></section>")
        return "".join(parts)
    parts.append(f'<p>{e(f.t("breaches.all", n=f.integer(len(data.rows))))} '
                 f'<a href="breaches.csv">breaches.csv</a></p>')
    # By team and rep: who holds how many, per clause.
    by_rep: dict[tuple[str, str], dict[str, int]] = {}
    for r in data.rows:
        if r[8] != "open":
            continue
        key = (r[2] or "", r[3] or "")
        by_rep.setdefault(key, {}).setdefault(r[0], 0)
        by_rep[key][r[0]] += 1
    def per_clause(n: dict[str, int]) -> str:
        return ", ".join(f"{k} {f.integer(v)}" for k, v in sorted(n.items(),
                                                                  key=lambda kv: (-kv[1], kv[0])))

    ordered = sorted(by_rep.items(), key=lambda kv: (kv[0][0], -sum(kv[1].values()), kv[0][1]))
    rows = "".join(
        f"<tr><td>{e(team)}</td><td>{e(rep or '–')}</td>"
        f'<td class="num">{f.integer(sum(n.values()))}</td><td>{e(per_clause(n))}</td></tr>'
        for (team, rep), n in ordered)
    head = "".join(f"<th>{e(f.t(k))}</th>"
                   for k in ("col.team", "col.rep", "col.open", "col.by_clause"))
    parts.append(f"<h3>{e(f.t('breaches.by_team_rep'))}</h3><div class=\"wrap\">"
                 f'<table class="by-rep"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody>'
                 "</table></div>")
    # The worst of each clause, printable.
    parts.append(f"<h3>{e(f.t('breaches.worst', n=f.integer(_WORST)))}</h3>")
    head = "".join(f"<th>{e(f.t(k))}</th>" for k in (
        "col.team", "col.rep", "col.subject", "col.observed", "col.threshold", "col.beyond",
        "col.status"))
    by_clause: dict[str, list[tuple[Any, ...]]] = {}
    for r in sorted(data.rows, key=lambda r: (r[0], -(r[9] or 0), r[4])):
        by_clause.setdefault(r[0], []).append(r)
    for clause_id, rs in sorted(by_clause.items()):
        body = "".join(
            f"<tr><td>{e(r[2] or '')}</td><td>{e(r[3] or '–')}</td><td>{e(r[4] or '')}</td>"
            f'<td class="num">{e(f.quantity(r[5], r[7]))}</td>'
            f'<td class="num">{e(f.quantity(r[6], r[7]))}</td>'
            f'<td class="num">{e(f.percent(r[9]))}</td>'
            f"<td>{e(f.t('breach.' + r[8]))}</td></tr>" for r in rs[:_WORST])
        more = ""
        if len(rs) > _WORST:
            note = f.t("breaches.more", shown=f.integer(_WORST), n=f.integer(len(rs)))
            more = f'<p class="more">{e(note)}</p>'
        parts.append(f"<h4>{e(clause_id)} · {e(f.t('breaches.count', n=f.integer(len(rs))))}</h4>"
                     f'<div class="wrap"><table class="worst"><thead><tr>{head}</tr></thead>'
                     f"<tbody>{body}</tbody></table></div>{more}")
    parts.append(_table(data, f))
    parts.append("</section>")
    return "".join(parts)


def _table(data: ReportData, f: Formatter) -> str:
    """Every breach, sortable and filterable offline; the data is JSON, drawn a page at a time."""
    e = escape
    units: dict[str, dict[str, str]] = {}
    for r in data.rows:
        u = r[7] or ""
        if u not in units:
            kind = "money" if is_money(u) else "rate" if is_rate(u) else "plain"
            units[u] = {"kind": kind, "label": f.unit(u)}
    payload = {
        "columns": list(TABLE_COLUMNS), "rows": [list(r) for r in data.rows], "units": units,
        "lang": f.lang, "range": f.t("table.range"),
        "status": {"open": f.t("breach.open"), "excused": f.t("breach.excused")},
    }
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    # JSON inside <script>: no "<" can end the element or open a comment.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    clauses = sorted({r[0] for r in data.rows})
    teams = sorted({r[2] or "" for r in data.rows})
    opts = "".join(f'<option value="{e(c)}">{e(c)}</option>' for c in clauses)
    topts = "".join(f'<option value="{e(t)}">{e(t)}</option>' for t in teams)
    cols = [("clause_id", "col.clause", ""), ("team", "col.team", ""), ("rep_id", "col.rep", ""),
            ("subject_id", "col.subject", ""), ("observed", "col.observed", "num"),
            ("threshold", "col.threshold", "num"), ("excess", "col.beyond", "num"),
            ("status", "col.status", "")]
    head = "".join(f'<th data-col="{k}" class="{c}" tabindex="0">{e(f.t(label))}</th>'
                   for k, label, c in cols)
    return (
        f'<h3>{e(f.t("table.title"))}</h3>'
        f'<div id="breach-table" class="breach-table" hidden>'
        f'<div class="bt-controls"><input class="bt-q" type="search" '
        f'aria-label="{e(f.t("table.filter"))}" placeholder="{e(f.t("table.filter"))}">'
        f'<select class="bt-clause" aria-label="{e(f.t("col.clause"))}">'
        f'<option value="">{e(f.t("table.all_clauses"))}</option>{opts}</select>'
        f'<select class="bt-team" aria-label="{e(f.t("col.team"))}">'
        f'<option value="">{e(f.t("table.all_teams"))}</option>{topts}</select>'
        f'<button type="button" class="bt-prev">{e(f.t("table.prev"))}</button>'
        f'<button type="button" class="bt-next">{e(f.t("table.next"))}</button>'
        f'<span class="bt-info"></span></div>'
        f'<div class="wrap"><table><thead><tr>{head}</tr></thead><tbody></tbody></table></div>'
        f"</div>"
        f'<script type="application/json" id="breach-data">{text}</script>'
        f"<script>{_script()}</script>")


def _data(data: ReportData, f: Formatter) -> str:
    e = escape
    r = data.result
    tables = r.data.get("tables") or {}
    rows = "".join(
        f"<tr><td>{e(name)}</td><td class=\"num\">{f.integer(t['read'])}</td>"
        f"<td class=\"num\">{f.integer(t['used'])}</td>"
        f"<td class=\"num\">{f.integer(t['quarantined'])}</td>"
        f"<td class=\"num\">{f.integer(t['not_read']) if 'not_read' in t else ''}</td></tr>"
        for name, t in sorted(tables.items()) if t.get("source"))
    if not rows:
        return ""
    head = "".join(f"<th>{e(f.t(k))}</th>" for k in
                   ("col.table", "col.read", "col.used", "col.quarantined", "col.not_read"))
    starts = sorted({t["read_from"] for t in tables.values()
                     if t.get("source") and t.get("read_from")})
    window = (f"<p>{e(f.t('window.note', date=starts[0][:10]))}</p>" if starts else "")
    reasons = r.data.get("quarantine_reasons") or {}
    why = (f"<p>{e(f.t('quarantine.none'))}</p>" if not reasons else
           f"<p>{e(f.t('quarantine.some'))} <a href=\"quarantine.csv\">quarantine.csv</a></p><ul>"
           + "".join(f"<li>{e(k)}: {f.integer(n)}</li>" for k, n in sorted(reasons.items()))
           + "</ul>")
    left = r.data.get("left_out_by_mapping") or {}
    filtered = "" if not left else (
        f"<p>{e(f.t('mapping.left_out'))}</p><ul>" + "".join(
            f"<li>{e(table)}: {e(', '.join(s['files']))}: {f.integer(s['left_out'])} / "
            f"{f.integer(s['rows'])} ({e('; '.join(s['rules']))})</li>"
            for table, sources in sorted(left.items()) for s in sources) + "</ul>")
    return (f'<section id="data"><h2>{e(f.t("data_quality"))}</h2><div class="wrap">'
            f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
            f"</div>{window}{filtered}{why}</section>")


def _footer(data: ReportData, f: Formatter) -> str:
    e = escape
    r = data.result
    return (f'<footer id="about"><h2>{e(f.t("about"))}</h2><dl>'
            f"<dt>{e(f.t('period'))}</dt><dd>{e(f.instant(r.period_start))} – "
            f"{e(f.instant(r.period_end))}</dd>"
            f"<dt>{e(f.t('as_of'))}</dt><dd>{e(f.instant(r.as_of))}</dd>"
            f"<dt>{e(f.t('policy'))}</dt><dd>{e(r.policy_id)} {e(r.policy_version)} · "
            f"<code>{e(r.policy_hash)}</code></dd></dl>"
            f"<p>{e(f.t('about.text'))}</p></footer>")


# --- the page and the published wrapper ---------------------------------------------------


def page(fragments: Sequence[str], *, title: str, lang: str, direction: str, locale: str,
         zone: str) -> str:
    """The signed document: the report fragments in a page that needs nothing else."""
    csp = (f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
           f"script-src '{script_hash()}'; base-uri 'none'; form-action 'none'")
    return (
        f'<!DOCTYPE html>\n<html lang="{escape(lang)}" dir="{escape(direction)}" '
        f'data-locale="{escape(locale)}" data-zone="{escape(zone)}">\n<head>\n'
        '<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n</head>\n<body>\n"
        + "\n".join(fragments) + "\n</body>\n</html>\n")


def page_settings(body: str) -> tuple[str, str]:
    """The locale and zone a page was written in."""
    locale = re.search(r'<html[^>]* data-locale="([^"]+)"', body)
    zone = re.search(r'<html[^>]* data-zone="([^"]+)"', body)
    return (locale.group(1) if locale else "en"), (zone.group(1) if zone else "UTC")


def publish(body: str, signoff: str) -> str:
    """``audit.html``: the signed body with ``signoff`` in place of its sign-off block."""
    start, end = body.find(SIGNOFF_START), body.find(SIGNOFF_END)
    if start < 0 or end < start or body.count(SIGNOFF_START) != 1:
        raise ValueError("the audit body has no single sign-off block")
    return body[: start + len(SIGNOFF_START)] + signoff + body[end:]


@dataclass(frozen=True)
class Signatory:
    person_id: str
    name: str
    role: str
    required: bool
    signed_at: str | None
    fingerprint: str = ""


def signoff_block(f: Formatter, *, signatories: Sequence[Signatory],
                  invalid: Sequence[tuple[str, str]], required: int,
                  missing: Sequence[str]) -> str:
    """The sign-off card of the published page: who signed and when, what is missing.

    It holds nothing of the run (not even the manifest hash, which differs between runs
    of the same inputs), so an unsigned audit publishes the same bytes on every re-run."""
    e = escape
    if required and not missing:
        state, cls = f.t("signoff.done", n=f.integer(required)), "ok"
    elif not required:
        state, cls = f.t("signoff.not_required"), "grey"
    else:
        state = f.t("signoff.awaiting", signed=f.integer(required - len(missing)),
                    n=f.integer(required), missing=", ".join(missing))
        cls = "warn"
    rows = "".join(
        f"<li>{e(s.name)} ({e(s.person_id)}): "
        + (e(f.t("signoff.signed", when=f.instant(s.signed_at))) if s.signed_at
           else e(f.t("signoff.not_signed")))
        + "</li>" for s in signatories)
    bad = "".join(f'<li class="bad">{e(f.t("signoff.invalid", who=who))}: {e(problem)}</li>'
                  for who, problem in invalid)
    return (f'<div class="card {cls}" id="signoff"><h3>{e(f.t("signoff"))}</h3>'
            f"<p><b>{e(state)}</b></p><ul>{rows}{bad}</ul>"
            f'<p class="why">{e(f.t("signoff.verify"))}</p></div>')
