/* equity-outcomes page diagnostics: errors and loaded resources, written into hidden elements. */
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
