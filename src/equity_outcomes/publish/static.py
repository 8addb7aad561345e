"""Static files written to ``<out>/assets/`` next to the Vega bundle: the stylesheet, the page-diagnostics script
(records errors and every loaded resource into hidden elements, which the browser tests read) and the page script
(merges chart templates with each chart's rows and renders them with vega-embed; filters the school matrix)."""

CSS = r"""
:root { --ink:#1a1a1a; --muted:#555; --line:#d0d0d0; --bg:#fff; --soft:#f5f6f8; --link:#005a9c;
        --r4:#2166ac; --r3:#92c5de; --r2:#fdb863; --r1:#b35806; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
       color:var(--ink); background:var(--bg); }
main, header.page, footer.page { max-width:1240px; margin:0 auto; padding:0 20px; }
header.page { padding-top:18px; border-bottom:3px solid var(--r4); margin-bottom:14px; }
header.page h1 { margin:4px 0 2px; font-size:26px; }
header.page .meta { color:var(--muted); margin:0 0 10px; }
nav.crumbs a, a { color:var(--link); }
h2 { font-size:20px; margin:28px 0 8px; border-bottom:1px solid var(--line); padding-bottom:4px; }
h3 { font-size:16px; margin:18px 0 6px; }
p.lead { margin:6px 0 12px; max-width:900px; }
.small, .note { font-size:13px; color:var(--muted); }
table { border-collapse:collapse; margin:8px 0 14px; font-size:14px; }
caption { text-align:left; font-weight:600; padding:4px 0; caption-side:top; }
th, td { border:1px solid var(--line); padding:4px 7px; vertical-align:top; text-align:left; }
thead th { background:var(--soft); font-weight:600; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
tbody.cat > tr.cat th { background:#e9eef5; font-size:15px; }
th.target-words { font-weight:normal; width:230px; min-width:200px; font-size:13px; }
th.target-words b { display:block; font-size:14px; }
th.measure { width:125px; }
th .n { font-weight:normal; }
td.context { font-size:13px; width:175px; } table.scorecard td[data-field=target_value] { white-space:normal; }
table.scorecard .ci { white-space:normal; }
table.scorecard td[data-field=change] { width:150px; }
table.scorecard td[data-field=flags] { width:120px; }
td.context .ctx { display:block; margin-top:3px; }
table.scorecard td, table.scorecard th { font-size:13.5px; }
table.scorecard td.rating { min-width:110px; }
.r1 .n, .r4 .n { color:#fff; }
.rating .why { white-space:normal; font-weight:normal; max-width:150px; }
.r2 .n, .r3 .n { color:#111; }
.readiness { display:flex; flex-wrap:wrap; gap:14px 24px; align-items:flex-start; }
.n { display:block; font-size:12px; color:var(--muted); }
.ci { display:block; font-size:12px; color:var(--muted); white-space:nowrap; }
.rating { font-weight:600; white-space:nowrap; }
.r4 { background:var(--r4); color:#fff; }
.r3 { background:var(--r3); color:#000; }
.r2 { background:var(--r2); color:#000; }
.r1 { background:var(--r1); color:#fff; }
.s-not-yet-due { background:repeating-linear-gradient(45deg,#fff 0 5px,#e4e4e4 5px 8px); color:#222;
                 outline:1px dashed #777; outline-offset:-3px; }
.s-insufficient-data { background:repeating-linear-gradient(-45deg,#efefef 0 3px,#c9c9c9 3px 5px); color:#222; }
.s-not-comparable { background:repeating-linear-gradient(90deg,#f4f4f4 0 4px,#cfcfcf 4px 6px); color:#222; }
.s-none { background:#fff; color:#777; }
.chip { display:inline-block; padding:2px 8px; margin:2px 4px 2px 0; border-radius:3px; font-size:13px;
        border:1px solid rgba(0,0,0,.15); }
.legend { margin:6px 0 12px; font-size:12px; }
.legend .chip { font-size:12px; padding:1px 6px; }
.flag { display:inline-block; font-size:12px; padding:0 5px; margin:1px 2px 1px 0; border:1px solid #999;
        border-radius:8px; background:#fafafa; white-space:nowrap; }
dl.flags dt { font-weight:600; margin-top:6px; }
dl.flags dd { margin:0 0 4px 18px; }
.grid { display:grid; grid-template-columns:repeat(auto-fill,minmax(540px,1fr)); gap:14px 20px; }
figure.chart { margin:0; padding:8px; border:1px solid var(--line); border-radius:4px; background:#fff;
               break-inside:avoid; }
figure.chart .vis { min-height:60px; }
figure.chart .fallback { color:var(--muted); font-size:13px; }
figure.chart.rendered .fallback { display:none; }
figure.chart figcaption { font-size:13px; color:var(--muted); margin-top:4px; }
details { margin:4px 0; }
details summary { cursor:pointer; color:var(--link); font-size:13px; }
details td { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
.matrix-wrap { overflow-x:auto; max-width:100%; }
table.matrix td.cell { text-align:center; width:44px; min-width:40px; font-size:11.5px; padding:3px 2px;
                       line-height:1.15; white-space:normal; }
table.matrix th.col { font-size:12px; padding:6px 2px; vertical-align:bottom; writing-mode:vertical-rl;
                     transform:rotate(180deg); white-space:nowrap; text-align:left; }
table.matrix th.col .n { display:inline; margin-left:4px; }
table.matrix th[scope=colgroup] { font-size:12px; }
table.counts th, table.counts td { font-size:13px; padding:3px 6px; }
table.counts thead th { white-space:normal; max-width:96px; vertical-align:bottom; }
table.matrix th[scope=row] { white-space:nowrap; font-weight:normal; }
table.matrix th[scope=row] a { font-weight:600; }
.sr { position:absolute; width:1px; height:1px; overflow:hidden; clip:rect(0 0 0 0); white-space:nowrap; }
input.filter { font:inherit; padding:4px 8px; width:320px; margin:6px 0; }
footer.page { border-top:1px solid var(--line); margin-top:30px; padding-top:10px; padding-bottom:30px;
              color:var(--muted); font-size:13px; }
.diag { display:none; }
p.plain { max-width:900px; font-size:15.5px; background:var(--soft); border-left:4px solid var(--r4);
          padding:8px 12px; }
.year-select select { font:inherit; padding:2px 6px; }
table.history td.rating { font-size:12.5px; min-width:96px; }
table.history .n { color:inherit; opacity:.85; }
@media print {
  body { font-size:13px; } main, header.page, footer.page { max-width:none; padding:0; }
  nav.crumbs, input.filter, label[for=school-filter], details, figure .fallback, #groups, #readiness,
  .year-select .small, footer.page .diag, #history figure { display:none; }
  .grid { grid-template-columns:repeat(4, 1fr); gap:6px 8px; } .flag { white-space:normal; font-size:10px; } .grid figure.chart svg { width:100%; height:auto; }
  .grid figure.chart figcaption { display:none; }
  figure.chart { padding:4px; break-inside:avoid; } figure.chart figcaption { font-size:11px; }
  h2 { break-after:avoid; margin-top:16px; } tr, figure, p.plain { break-inside:avoid; }
  table.scorecard { width:100%; table-layout:fixed; } table.scorecard td, table.scorecard th { font-size:12px; padding:3px 5px; }
  td.context, table.scorecard td[data-field=change] { width:auto; }
  table.scorecard col:nth-child(1) { width:16% !important; } table.scorecard col:nth-child(2) { width:11% !important; }
  table.scorecard col:nth-child(7) { width:11% !important; } table.scorecard col:nth-child(3), table.scorecard col:nth-child(4) { width:8% !important; } table.scorecard col:nth-child(8) { width:13% !important; }
  table.scorecard col:nth-child(9) { width:15% !important; } table.scorecard col:nth-child(10) { width:7% !important; }
  table.scorecard td.rating { white-space:normal; min-width:0; } th.target-words { font-size:11px !important; } td.context .ctx { margin-top:1px; } th.target-words .n { display:none; }
  dl.flags { column-count:3; column-gap:14px; font-size:11.5px; } dl.flags dd { break-before:avoid; }
  table.context td, table.context th, table.history td, table.history th { font-size:11.5px; padding:2px 5px; }
  th.target-words { width:190px; min-width:0; } .matrix-wrap { overflow:visible; }
  .r4,.r3,.r2,.r1,[class^="s-"],[class*=" s-"],p.plain,thead th,tbody.cat th {
    -webkit-print-color-adjust:exact; print-color-adjust:exact; }
}
"""

DIAGNOSTICS_JS = r"""/* equity-outcomes page diagnostics: errors and loaded resources, written into hidden elements. */
(function () {
  "use strict";
  var errors = [], warnings = [];
  function put(id, list) { var el = document.getElementById(id); if (el) { el.textContent = list.join("\n"); } }
  function flush() { put("page-errors", errors); put("page-warnings", warnings); }
  function str(args) { return Array.prototype.map.call(args, function (a) {
    return (a && a.message) ? a.message : String(a); }).join(" "); }
  window.EO_DIAG = {
    error: function (m) { errors.push(String(m)); flush(); },
    resources: function () {
      var names = [];
      try { names = performance.getEntriesByType("resource").map(function (e) { return e.name; }); } catch (e) {}
      put("page-resources", names);
      flush();
    }
  };
  window.addEventListener("error", function (e) {
    var t = e.target;
    if (t && t !== window && (t.src || t.href)) { errors.push("failed to load " + (t.src || t.href)); }
    else { errors.push("error: " + (e.message || e)); }
    flush();
  }, true);
  window.addEventListener("unhandledrejection", function (e) {
    errors.push("unhandled rejection: " + ((e.reason && e.reason.message) || e.reason)); flush();
  });
  var ce = console.error, cw = console.warn;
  console.error = function () { errors.push("console.error: " + str(arguments)); flush(); return ce.apply(console, arguments); };
  console.warn = function () { warnings.push("console.warn: " + str(arguments)); flush(); return cw.apply(console, arguments); };
  document.addEventListener("DOMContentLoaded", flush);
})();
"""

PAGE_JS = r"""/* equity-outcomes scorecards: render the charts of this page from the shared templates. */
(function () {
  "use strict";
  var T = window.EO_TEMPLATES || {};
  var figures = Array.prototype.slice.call(document.querySelectorAll("[data-chart]"));
  function render(el) {
    var p = JSON.parse(document.getElementById(el.getAttribute("data-chart")).textContent);
    var tpl = T[p.t];
    if (!tpl) { throw new Error("unknown chart template " + p.t); }
    var spec = JSON.parse(JSON.stringify(tpl));
    spec.title = Object.assign({}, tpl.title || {}, p.title);
    spec.datasets = {};
    Object.keys(p.data).forEach(function (name) {
      var d = p.data[name];
      spec.datasets[name] = d.v.map(function (row) {
        var o = {};
        d.f.forEach(function (k, i) { o[k] = row[i]; });
        return o;
      });
    });
    spec.description = p.title.text;
    if (p.colors) {  /* this chart's own colour for each series (school blue, its state grey, ...) */
      (function setColors(node) {
        var c = node.encoding && node.encoding.color;
        if (c && c.field) { c.scale = { domain: p.colors.domain, range: p.colors.range }; delete c.sort; }
        (node.layer || []).forEach(setColors);
      })(spec);
    }
    if (spec.layer) {  /* a layer whose rows are empty (no baseline, no target) is left out */
      spec.layer = spec.layer.filter(function (l) {
        var name = l.data && l.data.name;
        return !name || (spec.datasets[name] && spec.datasets[name].length > 0);
      });
    }
    return window.vegaEmbed(el, spec, { actions: false, renderer: "svg" }).then(function (res) {
      el.setAttribute("data-rendered", "true");
      if (el.parentNode && el.parentNode.classList) { el.parentNode.classList.add("rendered"); }
      return res;
    });
  }
  function finish(state) {
    document.body.setAttribute("data-charts", state);
    if (window.EO_DIAG) { window.EO_DIAG.resources(); }
  }
  if (typeof window.vegaEmbed !== "function") {
    console.error("charts need assets/vega-bundle.js next to this page (share the whole folder)");
    finish("no-bundle");
  } else {
    Promise.all(figures.map(function (el) {
      try {
        return render(el).catch(function (e) {
          el.setAttribute("data-rendered", "error");
          console.error("chart " + el.id + ": " + ((e && e.message) || e));
        });
      } catch (e) {
        el.setAttribute("data-rendered", "error");
        console.error("chart " + el.id + ": " + ((e && e.message) || e));
        return null;
      }
    })).then(function () { finish(String(figures.length)); });
  }
  var years = document.getElementById("year-select");
  if (years) {  /* every evaluated year is in the page: show the chosen one's panels, hide the others */
    years.addEventListener("change", function () {
      Array.prototype.forEach.call(document.querySelectorAll(".year-panel"), function (p) {
        p.hidden = p.getAttribute("data-year") !== years.value;
      });
      document.body.setAttribute("data-year", years.value);
    });
  }
  var filter = document.getElementById("school-filter");
  if (filter) {
    filter.addEventListener("input", function () {
      var q = filter.value.toLowerCase();
      Array.prototype.forEach.call(document.querySelectorAll("table.matrix tbody tr"), function (tr) {
        tr.hidden = q && tr.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  }
})();
"""
