/* CiteDesk widget: <script src="https://citedesk.example/widget.js"></script> adds a collapsible
   panel at the right edge of the host page with the agent sidebar in an iframe. */
(function () {
  "use strict";
  if (window.__citedeskWidget) { return; }
  window.__citedeskWidget = true;
  var STRINGS = __STRINGS__;
  var script = document.currentScript;
  var origin = script ? new URL(script.src, window.location.href).origin : window.location.origin;
  var width = (script && script.getAttribute("data-width")) || "380px";

  var style = document.createElement("style");
  style.textContent =
    "#citedesk-toggle{position:fixed;right:0;top:40%;z-index:2147483000;writing-mode:vertical-rl;" +
    "padding:12px 6px;border:none;border-radius:6px 0 0 6px;background:#0b5cad;color:#fff;cursor:pointer;" +
    "font:15px 'Noto Sans CJK SC','PingFang SC','Microsoft YaHei',sans-serif}" +
    "#citedesk-toggle:focus-visible{outline:3px solid #b45309;outline-offset:2px}" +
    "#citedesk-panel{position:fixed;top:0;right:0;bottom:0;width:" + width + ";max-width:100vw;" +
    "z-index:2147482999;background:#fff;box-shadow:-2px 0 12px rgba(0,0,0,.25);display:none}" +
    "#citedesk-panel.open{display:block}#citedesk-panel iframe{border:0;width:100%;height:100%}" +
    "#citedesk-toggle.open{right:" + width + "}";
  document.head.appendChild(style);

  var panel = document.createElement("aside");
  panel.id = "citedesk-panel";
  panel.setAttribute("aria-label", STRINGS.open);
  var toggle = document.createElement("button");
  toggle.id = "citedesk-toggle";
  toggle.type = "button";
  toggle.textContent = STRINGS.open;
  toggle.setAttribute("aria-expanded", "false");
  toggle.setAttribute("aria-controls", "citedesk-panel");

  toggle.addEventListener("click", function () {
    var open = !panel.classList.contains("open");
    if (open && !panel.firstChild) {
      var frame = document.createElement("iframe");
      frame.src = origin + "/sidebar";
      frame.title = STRINGS.open;
      frame.setAttribute("allow", "clipboard-write");
      panel.appendChild(frame);
    }
    panel.classList.toggle("open", open);
    toggle.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    toggle.textContent = open ? STRINGS.close : STRINGS.open;
  });
  document.body.appendChild(panel);
  document.body.appendChild(toggle);
})();
