/* The network-failure notice: when a request to CiteDesk fails for want of the network or the
   server (common.js reports it: no answer, or a proxy's 502/504), or the browser goes offline, the sidebar says so plainly and
   points to the offline pack; it checks every 15 seconds and clears the notice once CiteDesk
   answers again. */
(function () {
  "use strict";
  var notice = document.getElementById("outage"), timer = null;

  function probe() {
    fetch("/healthz", { cache: "no-store", credentials: "same-origin" }).then(function (resp) {
      if (resp.ok) { hide(); }
    }).catch(function () { /* still down */ });
  }

  function show() {
    notice.hidden = false;
    if (!timer) { timer = window.setInterval(probe, 15000); }
  }

  function hide() {
    notice.hidden = true;
    if (timer) { window.clearInterval(timer); timer = null; }
  }

  document.addEventListener("citedesk:unreachable", show);
  document.addEventListener("citedesk:reachable", hide);
  window.addEventListener("offline", show);
  window.addEventListener("online", probe);
  if (navigator.onLine === false) { show(); }
})();
