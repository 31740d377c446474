/* Document view: scroll to and highlight the chunk named in the URL fragment. */
(function () {
  "use strict";
  function show() {
    var id = decodeURIComponent((window.location.hash || "").slice(1));
    if (!id) { return; }
    var el = document.getElementById(id);
    if (!el) { return; }
    Array.prototype.forEach.call(document.querySelectorAll(".doc-chunk.highlight"), function (x) { x.classList.remove("highlight"); });
    el.classList.add("highlight");
    el.scrollIntoView({ block: "center" });
    el.focus({ preventScroll: true });
  }
  window.addEventListener("hashchange", show);
  show();
})();
