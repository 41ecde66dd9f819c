// Live log of a run page: Server-Sent Events; the browser reconnects with Last-Event-ID, so no line is lost or
// repeated. A server with all its live logs taken answers 503, which closes the EventSource for good: the page then
// asks the same URL for JSON every few seconds. When the run ends the page reloads once, to show the final diff,
// tests and transcript.
(function () {
  var log = document.getElementById("log");
  if (!log || !log.dataset.stream) { return; }
  var POLL_MS = 2000;
  var seen = parseInt(log.dataset.lines || "0", 10);
  var url = new URL(log.dataset.stream, window.location.href);

  function add(index, text) {
    if (index < seen) { return; }
    seen = index + 1;
    log.appendChild(document.createTextNode(text + "\n"));
  }

  function finish(status) {
    var shown = document.getElementById("status");
    if (shown) { shown.textContent = status; shown.className = "status " + status; }
    log.dataset.ended = status;
    window.setTimeout(function () { window.location.reload(); }, 300);
  }

  function poll() {
    var next = new URL(url.toString());
    next.searchParams.set("from", String(seen));
    fetch(next.toString(), { headers: { "Accept": "application/json" }, cache: "no-store", credentials: "same-origin" })
      .then(function (answer) {
        if (answer.status >= 400 && answer.status < 500 && answer.status !== 429) {
          log.dataset.mode = "stopped";  // the link expired or the run is gone: asking again will not help
          return null;
        }
        if (!answer.ok) { throw new Error("HTTP " + answer.status); }
        return answer.json();
      })
      .then(function (body) {
        if (body === null) { return; }
        var first = body.next - body.lines.length;
        body.lines.forEach(function (line, i) { add(first + i, line); });
        if (body.final) { finish(body.status); } else { window.setTimeout(poll, POLL_MS); }
      })
      .catch(function () { window.setTimeout(poll, 2 * POLL_MS); });
  }

  var live = new URL(url.toString());
  live.searchParams.set("from", String(seen));
  var source = new EventSource(live.toString());
  source.onmessage = function (event) { add(parseInt(event.lastEventId, 10), event.data); };
  source.onerror = function () {
    // CONNECTING: the usual reconnect after the server ended a stream. CLOSED: refused (503), so poll instead.
    if (source.readyState === EventSource.CLOSED) { log.dataset.mode = "polling"; poll(); }
  };
  source.addEventListener("end", function (event) {
    source.close();
    finish(event.data);
  });
})();
