/* The sidebar's complaint action: turn the current conversation into a complaint record. CiteDesk
   drafts it (POST /api/complaints/draft), the agent edits and saves it (POST /api/complaints). */
(function () {
  "use strict";
  var t = window.CD.t, api = window.CD.api;
  var $ = function (id) { return document.getElementById(id); };
  var box = $("complaint-action"), button = $("record-complaint"), form = $("complaint-form");
  var status = $("complaint-status"), topic = $("c-topic");
  var current = null, draft = null;

  function localTime(iso) {  // in the company's time zone (the rule file's), as the complaint pages show it
    var d = new Date(iso), zone = draft && draft.timezone;
    if (isNaN(d)) { return iso; }
    try { return d.toLocaleString(document.documentElement.lang, zone ? { timeZone: zone } : {}); }
    catch (e) { return d.toLocaleString(); }
  }

  function fill(data) {
    draft = data;
    topic.textContent = "";
    (data.topics || []).forEach(function (name) {
      var opt = document.createElement("option");
      opt.textContent = name;
      opt.selected = name === data.topic;
      topic.appendChild(opt);
    });
    $("c-product").value = data.product || "";
    $("c-narrative").value = data.narrative || "";
    $("c-request").value = data.request || "";
    $("c-amount").value = data.amount == null ? "" : data.amount;
    $("c-escalate").checked = !!data.escalated;
    var src = data.procedure_source || {};
    $("c-step-box").hidden = !data.procedure_step;
    $("c-step").textContent = data.procedure_step || "";
    $("c-step-link").href = src.doc_id ? "/documents/" + encodeURIComponent(src.doc_id) + "#" + encodeURIComponent(src.chunk_id || "") : "#";
    $("c-step-link").textContent = src.title ? src.title + (src.section ? " › " + src.section : "") : t("js.open_doc");
    $("c-routing").textContent = t("js.complaint_routing", { department: data.department,
      response: localTime(data.response_due), resolve: localTime(data.resolve_due) });
    form.hidden = false;
    $("c-narrative").focus();
  }

  document.addEventListener("citedesk:answer", function (ev) {
    current = ev.detail;
    box.hidden = current.interaction_id == null;
    form.hidden = true;
    status.textContent = "";
    var complaining = (current.flags || []).indexOf("complaint") >= 0;
    button.className = complaining ? "" : "secondary";
    button.disabled = false;
  });

  button.addEventListener("click", function () {
    if (!current) { return; }
    button.disabled = true;
    status.textContent = t("js.complaint_drafting");
    api("POST", "/api/complaints/draft", { interaction_id: current.interaction_id }).then(function (data) {
      status.textContent = "";
      fill(data);
    }).catch(function (err) {
      status.textContent = window.CD.errorText(err);
    }).then(function () { button.disabled = false; });
  });

  $("c-cancel").addEventListener("click", function () { form.hidden = true; button.focus(); });

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var narrative = $("c-narrative").value.trim();
    if (!narrative) { $("c-narrative").focus(); return; }
    var amount = $("c-amount").value.trim();
    var body = {
      narrative: narrative, request: $("c-request").value.trim() || null, topic: topic.value || null,
      product: $("c-product").value.trim() || null, amount: amount ? Number(amount) : null,
      escalate: $("c-escalate").checked, signals: (draft && draft.signals) || [],
      procedure_step: (draft && draft.procedure_step) || null, procedure_source: (draft && draft.procedure_source) || {},
      interaction_id: current ? current.interaction_id : null
    };
    $("c-save").disabled = true;
    api("POST", "/api/complaints", body).then(function (c) {
      form.hidden = true;
      status.textContent = "";
      var link = document.createElement("a");
      link.href = "/complaints/" + c.id;
      link.id = "complaint-saved";
      link.target = window.top !== window.self ? "_blank" : "_self";
      link.textContent = t("js.complaint_saved", { ticket: c.ticket_no, department: c.department,
        resolve: localTime(c.resolve_due) });
      status.appendChild(link);
    }).catch(function (err) {
      status.textContent = window.CD.errorText(err);
    }).then(function () { $("c-save").disabled = false; });
  });
})();
