/*
 * Gale web-analytics tracker: one script tag, no dependencies.
 *
 *   <script src="https://HOST:PORT/tracker.js" data-endpoint="https://HOST:PORT/events"></script>
 *
 * It reports, per EVENTS.md: a pageview, cursor positions (at most one every
 * data-move-ms, default 100, and only when the cursor moved), clicks with a
 * short CSS selector of the clicked element, the deepest scroll position, and
 * page visibility; a single-page app's route change (history.pushState,
 * replaceState, popstate to another path) is a new page view. Events are
 * queued and POSTed as {"events": [...], "sent": T} (T: this page's clock,
 * for the ingest's clock correction) every
 * data-flush-ms (default 1000) or once data-batch (default 50) are waiting,
 * and with navigator.sendBeacon when the page is hidden or left. Failed sends
 * are retried with exponential backoff (1 s to 30 s, or the server's
 * Retry-After); at most data-max-queue (default 1000) events are kept, the
 * oldest dropped first. Attributes are optional except that data-endpoint
 * defaults to /events next to the script.
 *
 * window.GaleTracker exposes {visitor, flush(), pending()} for debugging.
 */
(function () {
  "use strict";
  if (window.GaleTracker) return; // loaded twice

  var script = document.currentScript;
  function attr(name, def) {
    var v = script && script.getAttribute("data-" + name);
    return v == null || v === "" ? def : v;
  }
  function num(name, def) {
    var v = Number(attr(name, def));
    return isFinite(v) && v > 0 ? v : def;
  }
  var endpoint = attr("endpoint", script && script.src ? new URL("events", script.src).href : "/events");
  // "127.0.0.1:8080/events" (no scheme) is a path relative to this page:
  // the events would go to the page's own server. Say so once.
  if (!/^(https?:)?\/\//i.test(endpoint) && endpoint.charAt(0) !== "/" && window.console) {
    console.warn("gale tracker: data-endpoint \"" + endpoint + "\" is relative to this page (it resolves to " +
      new URL(endpoint, location.href).href + "); give a full URL such as https://HOST:PORT/events");
  }
  var moveMs = num("move-ms", 100);
  var flushMs = num("flush-ms", 1000);
  var batchMax = num("batch", 50);
  var maxQueue = num("max-queue", 1000);

  // Visitor id: random, kept in localStorage (in memory where storage is off).
  var visitor;
  try {
    visitor = localStorage.getItem("gale.visitor");
    if (!visitor) {
      visitor = newId();
      localStorage.setItem("gale.visitor", visitor);
    }
  } catch (e) {
    visitor = visitor || newId();
  }
  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var s = "";
    for (var i = 0; i < 32; i++) s += Math.floor(Math.random() * 16).toString(16);
    return s;
  }

  // location.pathname is a path ("/..."), except in frames such as
  // about:srcdoc ("srcdoc") and for URLs such as http://host//x ("//x"):
  // the ingest takes a path with one leading "/" only.
  function currentPath() {
    return ("/" + (location.pathname || "").replace(/^\/+/, "")).slice(0, 512);
  }
  var page = currentPath();
  var queue = [];
  var dropped = 0;

  function base(type) {
    return { visitor: visitor, ts: Date.now(), type: type, page: page };
  }
  function viewport(e) {
    e.vw = Math.round(window.innerWidth);
    e.vh = Math.round(window.innerHeight);
    var d = document.documentElement;
    e.dw = Math.round(Math.max(d.scrollWidth, document.body ? document.body.scrollWidth : 0));
    e.dh = Math.round(Math.max(d.scrollHeight, document.body ? document.body.scrollHeight : 0));
    return e;
  }
  function push(e) {
    queue.push(e);
    if (queue.length > maxQueue) {
      dropped += queue.length - maxQueue;
      queue.splice(0, queue.length - maxQueue);
    }
    if (queue.length >= batchMax && !inFlight && !retryTimer) send();
  }

  // ---- cursor: throttled, only when moved ----
  var lastX = -1, lastY = -1, curX = -1, curY = -1, lastMove = 0, moveTimer = 0;
  function emitMove() {
    moveTimer = 0;
    if (curX === lastX && curY === lastY) return;
    lastX = curX;
    lastY = curY;
    lastMove = Date.now();
    var e = viewport(base("move"));
    e.x = curX;
    e.y = curY;
    push(e);
  }
  document.addEventListener("mousemove", function (ev) {
    curX = Math.round(ev.pageX);
    curY = Math.round(ev.pageY);
    var wait = lastMove + moveMs - Date.now();
    if (wait <= 0) emitMove();
    else if (!moveTimer) moveTimer = setTimeout(emitMove, wait); // keep the last position
  }, { passive: true });

  // ---- clicks with a short selector ----
  function ident(s) {
    return window.CSS && CSS.escape ? CSS.escape(s) : s.replace(/[^a-zA-Z0-9_-]/g, "\\$&");
  }
  function selector(el) {
    var parts = [];
    for (var depth = 0; el && el.nodeType === 1 && depth < 5; depth++) {
      if (el.id) {
        parts.unshift("#" + ident(el.id));
        break;
      }
      var tag = el.tagName.toLowerCase();
      var part = tag;
      var classes = (typeof el.className === "string" ? el.className : "").trim().split(/\s+/).filter(Boolean);
      if (classes.length) part += "." + classes.slice(0, 2).map(ident).join(".");
      var parent = el.parentElement;
      if (parent) {
        var same = 0, index = 0;
        for (var c = parent.firstElementChild; c; c = c.nextElementSibling) {
          if (c.tagName === el.tagName) {
            same++;
            if (c === el) index = same;
          }
        }
        if (same > 1 && !classes.length) part += ":nth-of-type(" + index + ")";
      }
      parts.unshift(part);
      if (tag === "body" || tag === "html") break;
      el = parent;
    }
    return parts.join(" > ").slice(0, 512) || "unknown";
  }
  var interactive = "a,button,input,select,textarea,label,summary,[role=button],[role=link],[onclick],[id]";
  document.addEventListener("click", function (ev) {
    var el = ev.target && ev.target.nodeType === 1 ? ev.target : ev.target && ev.target.parentElement;
    if (!el) return;
    var hit = el.closest ? el.closest(interactive) || el : el;
    var e = viewport(base("click"));
    e.x = Math.round(ev.pageX);
    e.y = Math.round(ev.pageY);
    e.target = selector(hit);
    push(e);
  }, { capture: true, passive: true });

  // ---- scroll depth: the deepest point reached, in 1% steps ----
  var maxDepth = -1, scrollTimer = 0;
  function checkScroll() {
    scrollTimer = 0;
    var d = document.documentElement;
    var h = Math.max(d.scrollHeight, document.body ? document.body.scrollHeight : 0);
    if (h <= 0) return;
    var depth = Math.min(1, Math.max(0, (window.scrollY + window.innerHeight) / h));
    depth = Math.round(depth * 100) / 100;
    if (depth <= maxDepth) return;
    maxDepth = depth;
    var e = base("scroll");
    e.depth = depth;
    push(e);
  }
  window.addEventListener("scroll", function () {
    if (!scrollTimer) scrollTimer = setTimeout(checkScroll, 250);
  }, { passive: true });

  // ---- visibility, and sending on the way out ----
  document.addEventListener("visibilitychange", function () {
    var e = base("visibility");
    e.visible = document.visibilityState === "visible";
    push(e);
    if (!e.visible) beacon();
  });
  window.addEventListener("pagehide", beacon);

  // ---- sending ----
  var inFlight = false, retryTimer = 0, backoff = 0;
  function take() {
    return queue.splice(0, batchMax);
  }
  function requeue(batch) {
    queue = batch.concat(queue);
    if (queue.length > maxQueue) {
      dropped += queue.length - maxQueue;
      queue.splice(0, queue.length - maxQueue);
    }
  }
  // wrap is a batch's body: the events, and when this page sent them by
  // its clock, so that the ingest corrects their times when the page's
  // clock is off (EVENTS.md).
  function wrap(batch) {
    return JSON.stringify({ events: batch, sent: Date.now() });
  }
  function retryLater(seconds) {
    backoff = seconds ? seconds * 1000 : Math.min(30000, backoff ? backoff * 2 : 1000);
    var delay = backoff * (0.75 + Math.random() * 0.5);
    retryTimer = setTimeout(function () {
      retryTimer = 0;
      send();
    }, delay);
  }
  function send() {
    if (inFlight || retryTimer || !queue.length) return;
    var batch = take();
    var body = wrap(batch);
    inFlight = true;
    // text/plain keeps this a "simple" CORS request: no preflight.
    fetch(endpoint, {
      method: "POST",
      body: body,
      headers: { "Content-Type": "text/plain" },
      mode: "cors",
      credentials: "omit",
      keepalive: body.length < 60000
    }).then(function (resp) {
      inFlight = false;
      if (resp.ok) {
        backoff = 0;
        if (queue.length >= batchMax) send();
        return;
      }
      if (resp.status === 503 || resp.status === 429 || resp.status === 408 || resp.status >= 500) {
        requeue(batch);
        retryLater(Number(resp.headers.get("Retry-After")) || 0);
        return;
      }
      // 4xx: the batch can never succeed; say why once and drop it.
      dropped += batch.length;
      resp.text().then(function (t) {
        if (window.console) console.warn("gale tracker: events rejected:", resp.status, t);
      });
    }, function () {
      inFlight = false;
      requeue(batch);
      retryLater(0);
    });
  }
  function beacon() {
    if (!navigator.sendBeacon) return send();
    while (queue.length) {
      var batch = take();
      var ok = false;
      try {
        ok = navigator.sendBeacon(endpoint, new Blob([wrap(batch)], { type: "text/plain" }));
      } catch (e) {
        ok = false;
      }
      if (!ok) {
        requeue(batch);
        break;
      }
    }
  }
  setInterval(send, flushMs);

  function start() {
    push(viewport(base("pageview")));
    checkScroll();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();

  // ---- single-page apps: a route change is a new page view ----
  function routeChanged() {
    var p = currentPath();
    if (p === page) return;
    page = p;
    maxDepth = -1; // the new page's own scroll depth
    start();
  }
  ["pushState", "replaceState"].forEach(function (name) {
    var original = history[name];
    if (typeof original !== "function") return;
    history[name] = function () {
      var r = original.apply(this, arguments);
      routeChanged();
      return r;
    };
  });
  window.addEventListener("popstate", routeChanged);

  window.GaleTracker = {
    visitor: visitor,
    endpoint: endpoint,
    flush: function () {
      clearTimeout(retryTimer);
      retryTimer = 0;
      send();
    },
    pending: function () {
      return queue.length;
    },
    dropped: function () {
      return dropped;
    }
  };
})();
