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

// The camera page's player: fragmented MP4 over a WebSocket (its address in
// the video's data-ws, on this site) into Media Source Extensions. The server
// sends {"session", "mime"} once the init segment is in, then the video as
// binary messages, then one last text message saying how it ended. When the
// buffer ahead is full this says "pause" (nothing more is sent), and
// "resume" when it has room again. A seek is a new page (a new playback).
// The same player shows a camera live (data-live="1", the live.ws address).
(function () {
  "use strict";
  var video = document.getElementById("player-video");
  var status = document.getElementById("player-status");
  if (!video || !status) {
    return;
  }
  function say(text) {
    status.textContent = text;
  }
  if (!window.MediaSource || !window.WebSocket) {
    say("This browser cannot play the video (no Media Source Extensions).");
    return;
  }
  var source = new MediaSource();
  var queue = [];
  var buffer = null;
  var ws = null;
  var ended = false;
  var paused = false;
  var lastWord = "";
  // Live: no pausing the camera; a player that fell behind jumps to the edge.
  var live = video.getAttribute("data-live") === "1";
  video.src = URL.createObjectURL(source);

  function ahead() {
    var b = video.buffered;
    return b.length ? b.end(b.length - 1) - video.currentTime : 0;
  }
  function flow() {
    if (live || !ws || ws.readyState !== WebSocket.OPEN) {
      return;
    }
    if (!paused && (queue.length > 4 || ahead() > 60)) {
      paused = true;
      ws.send("pause");
    } else if (paused && queue.length === 0 && ahead() < 20) {
      paused = false;
      ws.send("resume");
    }
  }
  function trim() {
    // What was played more than 30 s ago goes.
    if (buffer && !buffer.updating && video.currentTime > 30) {
      try {
        buffer.remove(0, video.currentTime - 30);
      } catch (e) {
        // Removed at the next update instead.
      }
    }
  }
  function feed() {
    if (!buffer || buffer.updating) {
      return;
    }
    var b = video.buffered;
    // The recording may not start at zero: start where the video is.
    if (b.length && video.currentTime < b.start(0)) {
      video.currentTime = b.start(0);
    }
    if (live && b.length && b.end(b.length - 1) - video.currentTime > 3) {
      video.currentTime = b.end(b.length - 1) - 0.5;
    }
    if (queue.length) {
      try {
        buffer.appendBuffer(queue[0]);
        queue.shift();
      } catch (e) {
        if (e.name === "QuotaExceededError") {
          trim();
        } else {
          say("The video could not be played: " + e.message);
          if (ws) {
            ws.close();
          }
        }
      }
    } else if (ended && source.readyState === "open") {
      source.endOfStream();
    }
    flow();
  }
  video.addEventListener("timeupdate", function () {
    flow();
    feed();
  });
  source.addEventListener("sourceopen", function () {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + location.host + video.getAttribute("data-ws"));
    ws.binaryType = "arraybuffer";
    say("Connecting…");
    ws.addEventListener("message", function (e) {
      if (typeof e.data !== "string") {
        queue.push(e.data);
        feed();
        return;
      }
      var m = null;
      try {
        m = JSON.parse(e.data);
      } catch (x) {
        m = null;
      }
      if (m && m.mime && !buffer) {
        if (!MediaSource.isTypeSupported(m.mime)) {
          say("This browser cannot play " + m.mime + ".");
          ws.close();
          return;
        }
        buffer = source.addSourceBuffer(m.mime);
        buffer.addEventListener("updateend", feed);
        video.setAttribute("data-session", m.session || "");
        say("Playing. This viewing is logged (session " + (m.session || "") + ").");
        var p = video.play();
        if (p && p.catch) {
          p.catch(function () {
            say("Press play to watch.");
          });
        }
        return;
      }
      // The last word: completed, refused: ..., failed: ...
      lastWord = e.data;
      video.setAttribute("data-ended", lastWord);
      if (lastWord !== "completed") {
        say("The video stopped: " + lastWord);
      }
    });
    ws.addEventListener("close", function (e) {
      ended = true;
      if (!lastWord) {
        say("The video stream closed" + (e.reason ? ": " + e.reason : "."));
      } else if (lastWord === "completed") {
        say("All of the range was sent.");
      }
      feed();
    });
  }, { once: true });
})();
