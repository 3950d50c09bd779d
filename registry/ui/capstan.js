// Capstan's web UI (docs/ui.md): progressive enhancement only; every page works without
// this script. It keeps an open page current: it follows the registry's event stream
// (/api/v1/events/stream, authenticated by the session cookie) and, when an event
// concerns what the page shows (`data-live` on <main>: "*" or a model name), fetches the
// page again and swaps its <main>, keeping focus and the scroll position.
(function () {
  "use strict";
  var main = document.querySelector("main[data-live]");
  if (!main || !window.EventSource || !window.fetch) return;
  var watched = main.getAttribute("data-live");
  var status = document.getElementById("live-status");
  var pending = null;

  function refresh() {
    pending = null;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Capstan-Live": "1" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("main");
        if (!fresh) return;
        var active = document.activeElement;
        // A form being filled in is not replaced under the user's hands.
        if (active && active.form && main.contains(active) && active.value) return;
        var y = window.scrollY;
        main.innerHTML = fresh.innerHTML;
        window.scrollTo(0, y);
      })
      .catch(function () {});
  }

  function concerns(message) {
    if (watched === "*") return true;
    return message && message.model === watched;
  }

  var source = new EventSource("/api/v1/events/stream?after=" + (main.getAttribute("data-seq") || "0"));
  source.onopen = function () { if (status) { status.setAttribute("data-state", "on"); status.textContent = "live"; } };
  source.onerror = function () { if (status) { status.setAttribute("data-state", "off"); status.textContent = "reconnecting…"; } };
  // Closed as the page goes away, so streams of pages left behind never hold one of the
  // browser's few connections to the registry.
  window.addEventListener("pagehide", function () { source.close(); });
  // What no event announces (a batch job's progress) is polled while the page says so.
  var poll = parseInt(main.getAttribute("data-poll") || "0", 10);
  if (poll > 0) setInterval(refresh, poll);
  var kinds = (main.getAttribute("data-kinds") || "").split(" ").filter(Boolean);
  kinds.forEach(function (kind) {
    source.addEventListener(kind, function (event) {
      var message = null;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (!concerns(message)) return;
      if (pending) clearTimeout(pending);
      pending = setTimeout(refresh, 150);
    });
  });
})();
