/* live embed: <div data-live-room="ROOM_ID"></div><script src="https://LIVE-SERVER/static/embed.js" async></script>
 * Adds the viewer player as an iframe served from this script's own origin.
 * Optional attributes: data-share="<share token>", data-lang="en", data-height="640". */
(function () {
  "use strict";
  var script = document.currentScript;
  var origin = script && script.src ? new URL(script.src, location.href).origin : location.origin;
  function mount(el) {
    if (el.getAttribute("data-live-mounted")) return;
    var room = el.getAttribute("data-live-room");
    if (!room) return;
    el.setAttribute("data-live-mounted", "1");
    var q = [];
    var share = el.getAttribute("data-share");
    if (share) q.push("s=" + encodeURIComponent(share));
    var lang = el.getAttribute("data-lang");
    if (lang) q.push("lang=" + encodeURIComponent(lang));
    var frame = document.createElement("iframe");
    frame.src = origin + "/embed/" + encodeURIComponent(room) + (q.length ? "?" + q.join("&") : "");
    frame.title = "live";
    frame.allow = "autoplay; fullscreen; clipboard-write";
    frame.setAttribute("allowfullscreen", "");
    frame.loading = "lazy";
    frame.style.cssText = "width:100%;max-width:420px;height:" + (parseInt(el.getAttribute("data-height"), 10) || 720) +
      "px;border:0;border-radius:16px;display:block;background:#0b0b10";
    el.appendChild(frame);
  }
  function scan() {
    var nodes = document.querySelectorAll("[data-live-room]");
    for (var i = 0; i < nodes.length; i++) mount(nodes[i]);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", scan); else scan();
})();
