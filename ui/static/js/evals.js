/* Evaluation runs: start one through the JSON API and poll it until it finishes. */
(function () {
  "use strict";
  var t = window.CD.t, api = window.CD.api;
  var form = document.getElementById("eval-form"), status = document.getElementById("eval-status");
  if (!form) { return; }
  function poll(url) {
    api("GET", url).then(function (run) {
      var st = (run && run.status) || "queued";
      if (st === "done" || st === "failed") {
        status.textContent = st === "done" ? t("js.eval_done") : t("js.job_failed", { msg: run.error || "" });
        window.setTimeout(function () { window.location.reload(); }, 400);
        return;
      }
      status.textContent = t("js.eval_running", { status: st });
      window.setTimeout(function () { poll(url); }, 1000);
    }).catch(function (err) { status.textContent = t("js.error", { msg: err.message }); });
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var id = parseInt(document.getElementById("eval-set").value, 10);
    document.getElementById("eval-start").disabled = true;
    status.textContent = t("js.eval_running", { status: "queued" });
    api("POST", "/api/evals", { qaset_id: id }).then(function (run) {
      var runId = run.run_id != null ? run.run_id : run.id;
      poll("/api/evals/" + encodeURIComponent(runId));
    }).catch(function (err) {
      status.textContent = t("js.error", { msg: err.message });
      document.getElementById("eval-start").disabled = false;
    });
  });
})();
