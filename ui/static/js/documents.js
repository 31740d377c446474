/* Admin documents: upload with a progress bar (XHR reports upload progress; fetch does not),
   follow the ingest job, delete and re-ingest through the JSON API. */
(function () {
  "use strict";
  var t = window.CD.t, api = window.CD.api, csrf = window.CD.csrf;
  var form = document.getElementById("upload-form"), bar = document.getElementById("upload-progress");
  var status = document.getElementById("upload-status");

  function followJob(jobId) {
    api("GET", "/api/documents/jobs/" + encodeURIComponent(jobId)).then(function (job) {
      if (job.status === "done") {
        status.textContent = t("js.job_done");
        window.setTimeout(function () { window.location.reload(); }, 300);
      } else if (job.status === "failed") {
        status.textContent = t("js.job_failed", { msg: job.error || "" });
      } else {
        window.setTimeout(function () { followJob(jobId); }, 700);
      }
    }).catch(function (err) { status.textContent = t("js.error", { msg: err.message }); });
  }

  if (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var data = new FormData(form);
      if (!data.get("kind")) { data.delete("kind"); }
      var xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/documents");
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      xhr.setRequestHeader("Accept", "application/json");
      document.getElementById("upload-progress-box").hidden = false;
      bar.value = 0;
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          bar.value = Math.round((e.loaded / e.total) * 100);
          status.textContent = t("js.uploading", { p: bar.value });
        }
      });
      xhr.addEventListener("load", function () {
        var body = {};
        try { body = JSON.parse(xhr.responseText || "{}"); } catch (e) { body = {}; }
        if (xhr.status >= 200 && xhr.status < 300) {
          bar.value = 100;
          status.textContent = t("js.uploaded");
          followJob(body.id);
        } else {
          status.textContent = t("js.error", { msg: body.detail || xhr.statusText });
        }
      });
      xhr.addEventListener("error", function () { status.textContent = t("js.error", { msg: "network" }); });
      xhr.send(data);
    });
  }

  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("button[data-doc]");
    if (!btn) { return; }
    var id = btn.getAttribute("data-doc"), action = btn.getAttribute("data-action");
    var url = "/api/documents/" + encodeURIComponent(id);
    if (action === "delete") {
      if (!window.confirm(t("js.confirm_delete"))) { return; }
      api("DELETE", url).then(function () { window.location.reload(); })
        .catch(function (err) { status.textContent = t("js.error", { msg: err.message }); });
    } else if (action === "reingest") {
      api("POST", url + "/reingest").then(function (job) { status.textContent = t("js.uploaded"); followJob(job.id); })
        .catch(function (err) { status.textContent = t("js.error", { msg: err.message }); });
    }
  });
})();
