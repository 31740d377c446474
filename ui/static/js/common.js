/* Shared helpers: translated strings, CSRF-protected JSON calls, confirmation on forms. */
(function () {
  "use strict";
  var strings = {};
  try { strings = JSON.parse(document.getElementById("i18n").textContent || "{}"); } catch (e) { strings = {}; }
  function t(key, params) {
    var s = Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : key;
    if (params) {
      Object.keys(params).forEach(function (k) { s = s.split("{" + k + "}").join(String(params[k])); });
    }
    return s;
  }
  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }
  function api(method, url, body) {
    var opts = { method: method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf(), "Accept": "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    // CiteDesk unreachable (no network, or a proxy answering 502/504 for a server that is down) is told to
    // the page, which says so plainly (outage.js); any answer from CiteDesk itself clears it
    return fetch(url, opts).catch(function (err) {
      document.dispatchEvent(new CustomEvent("citedesk:unreachable"));
      err.unreachable = true;
      throw err;
    }).then(function (resp) {
      var down = resp.status === 502 || resp.status === 504;  // a proxy's: the server behind it is gone
      document.dispatchEvent(new CustomEvent(down ? "citedesk:unreachable" : "citedesk:reachable"));
      return resp.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = { detail: text }; }
        if (!resp.ok) {
          var msg = (data && (data.detail || data.error || data.message)) || resp.statusText;
          if (typeof msg !== "string") { msg = JSON.stringify(msg); }
          var err = new Error(msg);
          err.status = resp.status;
          err.data = data;
          throw err;
        }
        return data;
      });
    });
  }
  /* An error from api() said in the UI language: what happened and what to do, not the server's
     English detail (a failed fetch has no status: the network is down). */
  function errorText(err) {
    var code = err && err.status;
    if (!code) { return t("js.err.network"); }
    if (code === 422) {
      var problems = (err.data && err.data.problems) || [];
      var tooLong = problems.some(function (p) { return /at most/.test(p.problem || ""); });
      return tooLong ? t("js.err.invalid_length") : t("js.err.invalid");
    }
    if (code === 413) { return t("js.err.too_large"); }
    if (code === 429) { return t("js.err.rate_limited"); }
    if (code === 403) { return t("js.err.forbidden"); }
    if (code === 409 || code === 503) { return t("js.err.busy"); }
    if (code >= 500) { return t("js.err.server"); }
    return t("js.error", { msg: err.message });
  }
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form.hasAttribute("data-confirm") && !window.confirm(t("js.confirm_delete"))) { ev.preventDefault(); }
  });
  window.CD = { t: t, csrf: csrf, api: api, errorText: errorText };
})();
