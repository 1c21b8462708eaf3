// The operator console's one script: new alerts appear without a reload.
// The alerts page works without it (a reload shows new alerts). The server
// sends each new alert as its card, rendered and escaped on the server, over
// server-sent events (/console/alerts/events); this puts it at the top of the
// unverified list, once. No inline script, no eval (the page's CSP).
(function () {
  "use strict";
  var list = document.getElementById("alerts-new");
  if (!list || !window.EventSource) {
    return;
  }
  var live = document.getElementById("alerts-live");
  var since = list.getAttribute("data-since") || "";
  var events = new EventSource(
    "/console/alerts/events?since=" + encodeURIComponent(since)
  );
  events.addEventListener("alert", function (e) {
    var t = document.createElement("template");
    t.innerHTML = e.data;
    var card = t.content.firstElementChild;
    // Cards already on the page (or sent twice after a reconnect) stay once.
    if (!card || !card.id || document.getElementById(card.id)) {
      return;
    }
    list.insertBefore(card, list.firstChild);
    var none = document.getElementById("alerts-none");
    if (none) {
      none.hidden = true;
    }
    if (live) {
      var h = card.querySelector("h3");
      live.textContent = "New alert: " + (h ? h.textContent : "");
    }
  });
  // A stream the server ended for good (signed out) is not reopened.
  events.addEventListener("error", function () {
    if (events.readyState === EventSource.CLOSED && live) {
      live.textContent = "New alerts show after a reload.";
    }
  });
})();
