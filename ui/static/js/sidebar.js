/* The agent sidebar: ask, show the cited reply and its sources, copy, record feedback. */
(function () {
  "use strict";
  var t = window.CD.t, api = window.CD.api;
  var HISTORY_KEY = "citedesk.history";
  var $ = function (id) { return document.getElementById(id); };
  var form = $("ask-form"), question = $("question"), status = $("status"), banners = $("banners");
  var result = $("result"), reply = $("reply"), guidanceBox = $("guidance-box"), guidance = $("guidance");
  var sourcesBox = $("sources-box"), sources = $("sources");
  var editBox = $("edit-box"), edited = $("edited"), fbStatus = $("feedback-status");
  var count = $("question-count"), maxChars = parseInt(count.getAttribute("data-max"), 10) || 4000;
  var current = null, seq = 0;

  // characters as the server counts them (code points, so an emoji is one)
  function length(text) { return Array.from(text).length; }

  function showCount() {
    var n = length(question.value.trim());
    count.textContent = t("js.count", { n: n, max: maxChars });
    count.classList.toggle("over", n > maxChars);
    question.setAttribute("aria-invalid", n > maxChars ? "true" : "false");
  }

  // After an error no earlier reply may stay on screen to be copied or accepted by mistake.
  function clearReply() {
    current = null;
    result.hidden = true;
    result.removeAttribute("data-seq");
    reply.textContent = "";
    guidance.textContent = "";
    guidanceBox.hidden = true;
    edited.value = "";
    editBox.hidden = true;
    fbStatus.textContent = "";
    sources.textContent = "";
    sourcesBox.hidden = true;
    $("latency").textContent = "";
  }

  function showError(text) {
    banners.textContent = "";
    clearReply();
    banner("error", text).id = "error-banner";
  }

  function stripMarkers(text) {
    return text.replace(/\s*\[\d+\]/g, "").replace(/[ \t]+\n/g, "\n").trim();
  }

  function banner(cls, text, extraNode) {
    var div = document.createElement("div");
    div.className = "banner " + cls;
    div.setAttribute("role", cls === "info" ? "status" : "alert");
    var p = document.createElement("div");
    p.textContent = text;
    div.appendChild(p);
    if (extraNode) { div.appendChild(extraNode); }
    banners.appendChild(div);
    return div;
  }

  // What may be sent: the reply alone, never the agent's guidance (older servers send only `answer`).
  function replyText(data) {
    return typeof data.reply === "string" ? data.reply : (data.answer || "");
  }

  function renderCited(node, text) {
    node.textContent = "";
    var re = /\[(\d+)\]/g, last = 0, m;
    while ((m = re.exec(text)) !== null) {
      node.appendChild(document.createTextNode(text.slice(last, m.index)));
      var chip = document.createElement("button");
      chip.type = "button";
      chip.className = "chip";
      chip.textContent = m[1];
      chip.setAttribute("data-n", m[1]);
      chip.setAttribute("aria-label", t("js.citation", { n: m[1] }));
      node.appendChild(chip);
      last = re.lastIndex;
    }
    node.appendChild(document.createTextNode(text.slice(last)));
  }

  function renderReply(data) {
    var text = replyText(data);
    reply.classList.toggle("empty", !text);
    if (text) { renderCited(reply, text); } else { reply.textContent = t("js.no_reply"); }
    $("copy").disabled = !text;
    $("accept").disabled = !text;
    $("edit").disabled = !text;
    guidance.textContent = "";
    (data.guidance || []).forEach(function (item) {
      var li = document.createElement("li");
      renderCited(li, item);
      guidance.appendChild(li);
    });
    guidanceBox.hidden = !(data.guidance || []).length;
  }

  // The quoted sentences stay highlighted inside their passage. A quote of several sentences is
  // joined with " … " (kb.answer.verify.finalize): each part is found and marked on its own.
  function highlight(box, text, quote) {
    var spans = [];
    quote.split(" … ").forEach(function (part) {
      part = part.trim();
      var at = part ? text.indexOf(part) : -1;
      var free = at >= 0 && spans.every(function (s) { return at + part.length <= s[0] || at >= s[1]; });
      if (free) { spans.push([at, at + part.length]); }
    });
    spans.sort(function (a, b) { return a[0] - b[0]; });
    box.textContent = "";
    var last = 0;
    spans.forEach(function (s) {
      var mark = document.createElement("mark");
      mark.textContent = text.slice(s[0], s[1]);
      box.appendChild(document.createTextNode(text.slice(last, s[0])));
      box.appendChild(mark);
      last = s[1];
    });
    box.appendChild(document.createTextNode(text.slice(last)));
  }

  function loadPassage(card, c) {
    var box = card.querySelector(".passage"), btn = card.querySelector(".expand");
    var open = box.hidden;
    box.hidden = !open;
    btn.setAttribute("aria-expanded", open ? "true" : "false");
    btn.textContent = open ? t("js.collapse") : t("js.expand");
    if (open && !box.getAttribute("data-loaded")) {
      box.textContent = "…";
      api("GET", "/ui/chunks/" + encodeURIComponent(c.chunk_id)).then(function (data) {
        highlight(box, data.text || "", c.quote || "");
        box.setAttribute("data-loaded", "1");
      }).catch(function (err) { box.textContent = t("js.error", { msg: err.message }); });
    }
  }

  function renderSources(cits) {
    sources.textContent = "";
    var tpl = $("source-card");
    cits.forEach(function (c) {
      var card = tpl.content.firstElementChild.cloneNode(true);
      card.id = "source-" + c.n;
      card.querySelector(".cite-n").textContent = "[" + c.n + "]";
      card.querySelector(".cite-title").textContent = c.title || c.source || c.doc_id;
      card.querySelector(".cite-section").textContent = c.section || "";
      card.querySelector(".cite-version").textContent = (c.version ? t("js.version") + " " + c.version : "") +
        (c.part === "guidance" ? " · " + t("js.for_agent") : "");
      card.querySelector(".quote mark").textContent = c.quote || "";
      var link = card.querySelector(".open-doc");
      link.href = "/documents/" + encodeURIComponent(c.doc_id) + "#chunk-" + encodeURIComponent(c.chunk_id);
      link.target = window.top !== window.self ? "_blank" : "_self";
      card.querySelector(".expand").addEventListener("click", function () { loadPassage(card, c); });
      sources.appendChild(card);
    });
    sourcesBox.hidden = cits.length === 0;
  }

  function focusSource(n) {
    var card = $("source-" + n);
    if (!card) { return; }
    Array.prototype.forEach.call(sources.children, function (el) { el.classList.remove("active"); });
    card.classList.add("active");
    if (card.querySelector(".passage").hidden) { card.querySelector(".expand").click(); }
    card.scrollIntoView({ block: "nearest" });
    card.focus();
  }

  function nearestSources(q) {
    var body = { question: q, query: q, k: 3 };
    return api("POST", "/api/search", body).then(function (data) {
      var hits = (data && (data.hits || data.results)) || [];
      return hits.map(function (h, i) {
        var ch = h.chunk || h;
        return { n: i + 1, chunk_id: ch.chunk_id, doc_id: ch.doc_id, title: ch.title || (ch.meta || {}).title,
          section: ch.section, version: ch.version || (ch.meta || {}).version, quote: (ch.text || "").slice(0, 120) };
      });
    }).catch(function () { return []; });
  }

  function showBanners(data) {
    banners.textContent = "";
    var flags = data.flags || [];
    if (flags.indexOf("complaint") >= 0) {
      var proc = document.importNode($("complaint-procedure").content, true);
      if (window.top !== window.self) {
        Array.prototype.forEach.call(proc.querySelectorAll("a"), function (a) { a.target = "_blank"; });
      }
      banner("complaint", t("js.complaint"), proc).id = "complaint-banner";
    }
    if (data.abstained) {
      var reason = flags.indexOf("account_lookup") >= 0 ? "js.account_lookup"
        : flags.indexOf("no_company_source") >= 0 ? "js.no_company_source"
        : flags.indexOf("out_of_scope") >= 0 ? "js.out_of_scope"
        : flags.indexOf("figure_not_in_sources") >= 0 ? "js.figure_not_in_sources" : "js.abstained";
      var b = banner("abstain", t(reason));
      b.id = "abstain-banner";
    }
    flags.forEach(function (f) {
      if (f.indexOf("compliance:") === 0) { banner("compliance", t("js.compliance", { id: f.slice(11) })); }
    });
    if (flags.indexOf("llm_unavailable") >= 0) {  // the model endpoint is down: say so, offer the offline pack
      banner("info", t("js.llm_unavailable"), document.importNode($("offline-pack-links").content, true)).id = "llm-banner";
    }
    if (flags.indexOf("pii_masked") >= 0) { banner("info", t("js.pii_masked")); }
  }

  function render(data) {
    current = data;
    document.dispatchEvent(new CustomEvent("citedesk:answer", { detail: data }));  // complaint.js
    showBanners(data);
    renderReply(data);
    editBox.hidden = true;
    $("save-edit").hidden = true;
    $("edit").hidden = false;
    fbStatus.textContent = "";
    result.hidden = false;
    result.setAttribute("data-seq", String(++seq));
    $("latency").textContent = t("js.latency", { ms: Math.round(data.latency_ms || 0) }) + " · " +
      t("js.confidence", { p: Math.round((data.confidence || 0) * 100) });
    var cits = data.citations || [];
    renderSources(cits);
    if (data.abstained && cits.length) {
      var ab0 = $("abstain-banner"), p0 = document.createElement("div");
      p0.textContent = t("js.nearest");
      if (ab0) { ab0.appendChild(p0); }
    }
    if (data.abstained && cits.length === 0) {
      nearestSources(data.question).then(function (near) {
        if (near.length && current === data) {
          var ab = $("abstain-banner");
          if (ab) { var p = document.createElement("div"); p.textContent = t("js.nearest"); ab.appendChild(p); }
          renderSources(near);
        }
      });
    }
  }

  function remember(q) {
    var list = [];
    try { list = JSON.parse(sessionStorage.getItem(HISTORY_KEY) || "[]"); } catch (e) { list = []; }
    list = [q].concat(list.filter(function (x) { return x !== q; })).slice(0, 8);
    sessionStorage.setItem(HISTORY_KEY, JSON.stringify(list));
    showHistory();
  }

  function showHistory() {
    var list = [];
    try { list = JSON.parse(sessionStorage.getItem(HISTORY_KEY) || "[]"); } catch (e) { list = []; }
    var ul = $("history");
    if (!list.length) { return; }
    ul.textContent = "";
    list.forEach(function (q) {
      var li = document.createElement("li"), b = document.createElement("button");
      b.type = "button";
      b.textContent = q;
      b.addEventListener("click", function () { question.value = q; showCount(); ask(); });
      li.appendChild(b);
      ul.appendChild(li);
    });
  }

  function ask() {
    var q = question.value.trim();
    if (!q) { status.textContent = t("js.empty_question"); question.focus(); return; }
    if (length(q) > maxChars) {  // refused here, in the agent's language, before a round trip
      status.textContent = "";
      showError(t("js.err.question_too_long", { n: length(q), max: maxChars }));
      question.focus();
      return;
    }
    var body = { question: q };
    if ($("kind").value) { body.kind = $("kind").value; }
    if ($("product").value) { body.product = $("product").value; }
    status.textContent = t("js.asking");
    $("ask").disabled = true;
    api("POST", "/api/ask", body).then(function (data) {
      status.textContent = "";
      remember(data.question || q);  // as the server masked it: no personal number kept in the browser
      render(data);
    }).catch(function (err) {
      if (err.status === 401) {  // the session ended: sign in again and come back
        window.location.href = "/login?next=" + encodeURIComponent("/sidebar");
        return;
      }
      status.textContent = "";
      showError(window.CD.errorText(err));
    }).then(function () { $("ask").disabled = false; });
  }

  function feedback(verdict, editedReply) {
    if (!current || current.interaction_id == null) { return; }
    var body = { interaction_id: current.interaction_id, verdict: verdict };
    if (editedReply !== undefined) { body.edited_reply = editedReply; }
    api("POST", "/api/feedback", body).then(function () {
      fbStatus.textContent = t("js.saved", { verdict: t("js.verdict." + verdict) });
    }).catch(function (err) { fbStatus.textContent = window.CD.errorText(err); });
  }

  form.addEventListener("submit", function (ev) { ev.preventDefault(); ask(); });
  question.addEventListener("input", showCount);
  question.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); ask(); }
  });
  [reply, guidance].forEach(function (node) {
    node.addEventListener("click", function (ev) {
      var chip = ev.target.closest(".chip");
      if (chip) { focusSource(chip.getAttribute("data-n")); }
    });
  });
  $("copy").addEventListener("click", function () {
    if (!current) { return; }
    var text = editBox.hidden ? stripMarkers(replyText(current)) : stripMarkers(edited.value);
    if (!text) { return; }
    var done = function () { fbStatus.textContent = t("js.copied"); };
    var fail = function () { fbStatus.textContent = t("js.copy_failed"); };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, fail);
    } else { fail(); }
  });
  $("accept").addEventListener("click", function () { feedback("accepted"); });
  $("reject").addEventListener("click", function () { feedback("rejected"); });
  $("edit").addEventListener("click", function () {
    if (!current) { return; }
    edited.value = stripMarkers(replyText(current));
    editBox.hidden = false;
    $("edit").hidden = true;
    $("save-edit").hidden = false;
    edited.focus();
  });
  $("save-edit").addEventListener("click", function () {
    var text = edited.value.trim();
    if (!text) { edited.focus(); return; }
    feedback("edited", text);
  });
  showHistory();
  showCount();
})();
