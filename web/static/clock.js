// The switch-day runbook's clock: the time in Denmark, each second, and while the IdP is
// down the downtime so far. Without this script the page shows the time it was fetched at
// and the downtime then; the buttons record the server's own time either way.
(function () {
  "use strict";
  var clock = document.getElementById("clock-time");
  if (!clock) return;
  var time = new Intl.DateTimeFormat("da-DK", {
    timeZone: "Europe/Copenhagen",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  });
  var downtime = document.getElementById("downtime-so-far");
  var since = downtime ? Date.parse(downtime.getAttribute("data-since")) : NaN;
  var window_ = downtime ? parseInt(downtime.getAttribute("data-window"), 10) : NaN;

  // As the server writes it (web/clock_times.py minutes_text): 1 minut, 1 time og 5 minutter.
  function lasting(minutes) {
    var hours = Math.floor(minutes / 60), rest = minutes % 60;
    var inMinutes = rest === 1 ? "1 minut" : rest + " minutter";
    if (!hours) return inMinutes;
    var inHours = hours === 1 ? "1 time" : hours + " timer";
    return rest ? inHours + " og " + inMinutes : inHours;
  }

  function tick() {
    var now = new Date();
    clock.textContent = time.format(now).replace(/:/g, ".");
    clock.setAttribute("datetime", now.toISOString());
    if (downtime && !isNaN(since)) {
      var minutes = Math.max(0, Math.floor((now.getTime() - since) / 60000));
      downtime.textContent = lasting(minutes);
      downtime.classList.toggle("over-window", !isNaN(window_) && minutes > window_);
    }
  }

  tick();
  window.setInterval(tick, 1000);
  document.documentElement.classList.add("clock-running");
})();
