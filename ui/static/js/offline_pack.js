/* The offline pack's search: runs in the browser from disk, no server (see ui/offline_pack.py).
   A question is normalised as the passages were (NFKC, lower case, Traditional → Simplified by the
   embedded character map) and cut into terms: overlapping character pairs of Chinese, whole words
   of anything else. A passage scores the rarity (idf) of the terms it contains, times the share of
   the question's terms it contains. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("pack-data").textContent);
  var entries = data.index, map = data.t2s, docs = data.docs;
  var form = document.getElementById("search-form"), input = document.getElementById("q");
  var list = document.getElementById("results"), status = document.getElementById("status");
  var CJK = /[\u3400-\u9fff]/;

  function normalise(text) {
    var out = "";
    Array.from(text.normalize("NFKC").toLowerCase()).forEach(function (ch) { out += map[ch] || ch; });
    return out;
  }

  function terms(question) {
    var found = {}, re = /[\u3400-\u9fff]+|[a-z0-9][a-z0-9.%]*/g, m;
    while ((m = re.exec(normalise(question))) !== null) {
      var w = m[0];
      if (CJK.test(w)) {
        if (w.length === 1) { found[w] = true; }
        for (var i = 0; i + 1 < w.length; i++) { found[w.substr(i, 2)] = true; }
      } else { found[w] = true; }
    }
    return Object.keys(found);
  }

  function search(question) {
    var qs = terms(question);
    if (!qs.length) { return []; }
    var idf = {};
    qs.forEach(function (q) {
      var df = 0;
      entries.forEach(function (e) { if (e.s.indexOf(q) >= 0) { df++; } });
      idf[q] = df ? Math.log(1 + entries.length / df) : 0;
    });
    var scored = [];
    entries.forEach(function (e) {
      var score = 0, hit = 0;
      qs.forEach(function (q) { if (idf[q] && e.s.indexOf(q) >= 0) { score += idf[q]; hit++; } });
      if (hit) { scored.push({ e: e, score: score * hit / qs.length, terms: qs.filter(function (q) { return e.s.indexOf(q) >= 0; }) }); }
    });
    scored.sort(function (a, b) { return b.score - a.score; });
    return scored.slice(0, 20);
  }

  function snippet(text, hitTerms) {
    var norm = normalise(text), at = -1, len = 0;
    hitTerms.forEach(function (q) { var i = norm.indexOf(q); if (i >= 0 && (at < 0 || i < at)) { at = i; len = q.length; } });
    var frag = document.createDocumentFragment();
    if (at < 0 || norm.length !== text.length) { frag.appendChild(document.createTextNode(text.slice(0, 120))); return frag; }
    var start = Math.max(0, at - 40), end = Math.min(text.length, at + len + 80);
    frag.appendChild(document.createTextNode((start ? "…" : "") + text.slice(start, at)));
    var mark = document.createElement("mark");
    mark.textContent = text.slice(at, at + len);
    frag.appendChild(mark);
    frag.appendChild(document.createTextNode(text.slice(at + len, end) + (end < text.length ? "…" : "")));
    return frag;
  }

  function show(question) {
    var found = search(question);
    list.textContent = "";
    status.textContent = found.length ? status.getAttribute("data-count").split("{n}").join(String(found.length))
      : status.getAttribute("data-none");
    found.forEach(function (r) {
      var article = document.getElementById("p-" + r.e.id);
      var li = document.createElement("li"), a = document.createElement("a"), p = document.createElement("div");
      var section = article ? article.querySelector("h4") : null;
      a.href = "#p-" + r.e.id;
      a.textContent = docs[r.e.d].title + (section ? " · " + section.textContent : "");
      a.className = "result";
      p.className = "snippet";
      p.appendChild(snippet(article ? article.querySelector(".text").textContent : "", r.terms));
      li.appendChild(a);
      li.appendChild(p);
      list.appendChild(li);
    });
  }

  form.addEventListener("submit", function (ev) { ev.preventDefault(); show(input.value); });
  input.addEventListener("input", function () { if (input.value.trim().length >= 2) { show(input.value); } });
})();
