// Live log of a run page: Server-Sent Events; the browser reconnects with Last-Event-ID, so no line is lost or
// repeated. When the run ends the page reloads once, to show the final diff, tests and transcript.
(function () {
  var log = document.getElementById("log");
  if (!log || !log.dataset.stream) { return; }
  var seen = parseInt(log.dataset.lines || "0", 10);
  var url = new URL(log.dataset.stream, window.location.href);
  url.searchParams.set("from", String(seen));
  var source = new EventSource(url.toString());
  source.onmessage = function (event) {
    var index = parseInt(event.lastEventId, 10);
    if (index < seen) { return; }
    seen = index + 1;
    log.appendChild(document.createTextNode(event.data + "\n"));
  };
  source.addEventListener("end", function (event) {
    source.close();
    var status = document.getElementById("status");
    if (status) { status.textContent = event.data; status.className = "status " + event.data; }
    window.setTimeout(function () { window.location.reload(); }, 300);
  });
})();
