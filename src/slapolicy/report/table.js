(function () {
  "use strict";
  var root = document.getElementById("breach-table");
  var source = document.getElementById("breach-data");
  if (!root || !source) { return; }
  var data = JSON.parse(source.textContent);
  var rows = data.rows, units = data.units, lang = data.lang, cols = data.columns;
  var num = new Intl.NumberFormat(lang + "-u-nu-latn", {maximumFractionDigits: 2});
  var pct = new Intl.NumberFormat(lang + "-u-nu-latn", {style: "percent", maximumFractionDigits: 1});
  var page = 0, size = 100, sortCol = -1, sortDir = 1, shown = rows;
  var body = root.querySelector("tbody");
  var info = root.querySelector(".bt-info");
  var q = root.querySelector(".bt-q"), clause = root.querySelector(".bt-clause"),
      team = root.querySelector(".bt-team");
  function fmt(v, unit) {
    if (v === null || v === undefined) { return "–"; }
    var u = units[unit] || {kind: "plain", label: unit};
    if (u.kind === "rate") { return pct.format(v); }
    if (u.kind === "money") {
      return new Intl.NumberFormat(lang + "-u-nu-latn", {style: "currency", currency: unit,
        maximumFractionDigits: 0}).format(v);
    }
    return num.format(v) + "\u00a0" + u.label;
  }
  function cell(tr, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) { td.className = cls; }
    tr.appendChild(td);
  }
  function draw() {
    var start = page * size, end = Math.min(start + size, shown.length);
    var frag = document.createDocumentFragment();
    for (var i = start; i < end; i++) {
      var r = shown[i], tr = document.createElement("tr");
      cell(tr, r[0] + " · " + r[1]); cell(tr, r[2]); cell(tr, r[3]); cell(tr, r[4]);
      cell(tr, fmt(r[5], r[7]), "num"); cell(tr, fmt(r[6], r[7]), "num");
      cell(tr, r[9] === null ? "–" : pct.format(r[9]), "num"); cell(tr, data.status[r[8]] || r[8]);
      frag.appendChild(tr);
    }
    body.replaceChildren(frag);
    info.textContent = data.range.replace("{first}", num.format(shown.length ? start + 1 : 0))
      .replace("{last}", num.format(end)).replace("{total}", num.format(shown.length));
  }
  function apply() {
    var text = q.value.trim().toLowerCase(), c = clause.value, t = team.value;
    shown = rows.filter(function (r) {
      if (c && r[0] !== c) { return false; }
      if (t && r[2] !== t) { return false; }
      if (!text) { return true; }
      return (r[0] + " " + r[1] + " " + r[2] + " " + r[3] + " " + r[4]).toLowerCase()
        .indexOf(text) >= 0;
    });
    if (sortCol >= 0) {
      var k = sortCol;
      shown = shown.slice().sort(function (a, b) {
        var x = a[k], y = b[k];
        if (x === y) { return 0; }
        if (x === null) { return 1; }
        if (y === null) { return -1; }
        return (x < y ? -1 : 1) * sortDir;
      });
    }
    page = 0;
    draw();
  }
  root.querySelectorAll("th[data-col]").forEach(function (th) {
    th.addEventListener("click", function () {
      var k = cols.indexOf(th.getAttribute("data-col"));
      sortDir = (sortCol === k) ? -sortDir : (th.classList.contains("num") ? -1 : 1);
      sortCol = k;
      root.querySelectorAll("th[data-col]").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      apply();
    });
  });
  [q, clause, team].forEach(function (el) { el.addEventListener("input", apply); });
  root.querySelector(".bt-prev").addEventListener("click", function () {
    if (page > 0) { page--; draw(); }
  });
  root.querySelector(".bt-next").addEventListener("click", function () {
    if ((page + 1) * size < shown.length) { page++; draw(); }
  });
  root.hidden = false;
  draw();
})();
