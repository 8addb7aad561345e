/* equity-outcomes scorecards: render the charts of this page from the shared templates. */
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
