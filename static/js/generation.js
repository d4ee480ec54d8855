// Generation page: follow the status without a reload (status.json every 2 s while in flight),
// tick the elapsed time, and swap in the player when the video is ready.
(function () {
  "use strict";
  var root = document.getElementById("generation");
  if (!root || root.getAttribute("data-in-flight") !== "1") return;

  var url = root.getAttribute("data-status-url");
  var $ = function (sel) { return document.querySelector(sel); };
  var all = function (sel) { return Array.prototype.slice.call(document.querySelectorAll(sel)); };
  var elapsed = 0;
  var estimate = 0;
  var finished = false;
  var timer = null;

  function fmt(total) {
    total = Math.max(Math.round(total), 0);
    var m = Math.floor(total / 60), s = total % 60;
    return m ? m + " min " + s + " s" : s + " s";
  }

  var waiting = false;  // needs attention: an admin decides; keep looking, slowly

  function tick() {
    if (finished || waiting) return;
    elapsed += 1;
    $("[data-elapsed]").textContent = fmt(elapsed);
    var bar = $("[data-progress]");
    bar.max = Math.max(estimate, elapsed + 1);
    bar.value = elapsed;
  }

  function renderSteps(steps) {
    var list = $("[data-steps]");
    list.textContent = "";
    steps.forEach(function (step) {
      var li = document.createElement("li");
      li.className = step.state + (step.state === "current" ? " " + step.key : "");
      if (step.state === "current") li.setAttribute("aria-current", "step");
      li.textContent = step.label;
      list.appendChild(li);
    });
  }

  function showPlayer(d) {
    var slot = $("[data-player]");
    if (!d.video_url || slot.querySelector("video")) return;
    var video = document.createElement("video");
    video.className = "player";
    video.controls = true;
    video.preload = "metadata";
    video.setAttribute("playsinline", "");
    if (d.poster_url) video.poster = d.poster_url;
    video.src = d.video_url;
    slot.appendChild(video);
    // Everything that needs the finished video (Download, Continue this video) appears with it.
    document.querySelectorAll("[data-when-ready]").forEach(function (el) { el.hidden = false; });
    var download = $("a[download][data-when-ready]");
    if (download) download.href = d.video_url + "?download=1";
    $("[data-status-box]").hidden = true;
  }

  function apply(d) {
    showTitle(d);
    var chip = $("[data-status-chip]");
    chip.textContent = d.status_label;
    chip.className = "chip chip-lg " + d.status;
    $("[data-status-label]").textContent = d.status_label;
    renderSteps(d.steps);
    elapsed = d.elapsed;
    estimate = d.estimate;
    $("[data-elapsed]").textContent = fmt(elapsed);
    $("[data-estimate]").textContent = fmt(estimate);
    var bar = $("[data-progress]");
    bar.max = Math.max(estimate, elapsed + 1);
    bar.value = elapsed;
    var place = $("[data-line]");
    place.hidden = !d.line;
    $("[data-line-text]").textContent = d.line || "";
    var retrying = $("[data-retrying]");
    retrying.hidden = d.is_finished || d.needs_attention || !d.error;
    $("[data-retrying-text]").textContent = d.error;
    all("[data-when-queued]").forEach(function (el) { el.hidden = d.status !== "queued"; });
    waiting = d.needs_attention;
    $("[data-attention]").hidden = !waiting;
    $("[data-progress]").hidden = waiting;
    all("[data-when-in-flight]").forEach(function (el) { el.hidden = waiting; });
    if (!d.is_finished) return;

    finished = true;
    window.clearInterval(timer);
    if (notifyButton) notifyButton.hidden = true;
    notifyDone(d);
    all("[data-when-in-flight]").forEach(function (el) { el.hidden = true; });
    $("[data-progress]").hidden = true;
    all("[data-when-finished]").forEach(function (el) { el.hidden = false; });
    // "Your video is queued…" was true when the page loaded; it no longer is.
    all("[data-live-message]").forEach(function (el) { el.remove(); });
    showFinished(d);
    if (d.status === "ready") {
      showPlayer(d);
    } else {
      $("[data-failure]").hidden = false;
      var canceled = d.status === "canceled";
      $("[data-failure-title]").textContent = canceled ? d.error || "Canceled." : "This video could not be made.";
      $("[data-failure-text]").textContent = canceled ? "" : d.error;
      $("[data-refund]").hidden = !d.refunded;
    }
  }

  // The settings list: finished time, resolution and size, as the page would show them after a reload.
  function showFinished(d) {
    var finishedEl = $("[data-finished]");
    if (finishedEl && d.finished_at) {
      finishedEl.textContent = "";
      var time = document.createElement("time");
      time.setAttribute("datetime", d.finished_at);
      time.textContent = d.finished_label;
      var took = document.createElement("span");
      took.className = "muted";
      took.textContent = "(" + fmt(d.elapsed) + ")";
      finishedEl.append(time, " ", took);
    }
    [["[data-resolution]", "[data-resolution-row]", d.resolution], ["[data-file-size]", "[data-size-row]", d.file_size]]
      .forEach(function (f) {
        var el = $(f[0]);
        if (!el) return;
        el.textContent = f[2];
        all(f[1]).forEach(function (row) { row.hidden = !f[2]; });
      });
  }

  // Tab title: progress while in flight, the outcome once finished, so a background tab tells the story -----------
  var baseTitle = document.title;
  function showTitle(d) {
    var prefix;
    if (d.status === "ready") prefix = "\u2713 Ready";
    else if (d.is_finished) prefix = "\u2717 " + d.status_label;
    else if (d.needs_attention) prefix = "\u26a0 " + d.status_label;
    else prefix = Math.min(99, Math.round((100 * d.elapsed) / Math.max(d.estimate, 1))) + "% " + d.status_label;
    document.title = prefix + " \u00b7 " + baseTitle;
  }

  // Opt-in browser notification when the video is ready or fails (remembered for the next videos) ---------------
  var NOTIFY_KEY = "notify-when-done";
  var notifyButton = $("[data-notify]");
  function notifyWanted() {
    try { return localStorage.getItem(NOTIFY_KEY) === "1" && Notification.permission === "granted"; }
    catch (e) { return false; }
  }
  function showNotifyButton() {
    var on = notifyWanted();
    notifyButton.setAttribute("aria-pressed", on ? "true" : "false");
    notifyButton.textContent = on ? "You will be notified" : "Notify me when it is done";
  }
  if (notifyButton && "Notification" in window && Notification.permission !== "denied") {
    notifyButton.hidden = false;
    showNotifyButton();
    notifyButton.addEventListener("click", function () {
      if (notifyWanted()) {
        try { localStorage.removeItem(NOTIFY_KEY); } catch (e) { /* nothing to forget */ }
        showNotifyButton();
        return;
      }
      Notification.requestPermission().then(function (permission) {
        if (permission === "granted") {
          try { localStorage.setItem(NOTIFY_KEY, "1"); } catch (e) { /* this page only */ }
        }
        if (permission === "denied") notifyButton.hidden = true;
        showNotifyButton();
      });
    });
  }
  function notifyDone(d) {
    if (!("Notification" in window) || !notifyWanted()) return;
    var body = d.status === "ready" ? "Your video is ready." : d.status_label + (d.error ? ": " + d.error : ".");
    var note = new Notification(baseTitle, { body: body, tag: url });
    note.onclick = function () { window.focus(); note.close(); };
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (d) {
        apply(d);
        if (!finished) window.setTimeout(poll, waiting ? 10000 : 2000);
      })
      .catch(function () {
        if (!finished) window.setTimeout(poll, 5000);  // a blip: try again a little later
      });
  }

  timer = window.setInterval(tick, 1000);
  poll();
})();

// "Use this frame as start image": offered while the player is paused mid-video, with the paused time.
(function () {
  "use strict";
  var link = document.querySelector("[data-use-frame]");
  if (!link) return;
  var base = link.getAttribute("href");
  document.addEventListener("pause", function (event) {
    var video = event.target;
    if (!video.classList || !video.classList.contains("player") || video.ended) return;
    link.href = base + "&at=" + video.currentTime.toFixed(2);
    link.hidden = false;
  }, true);
  document.addEventListener("play", function () { link.hidden = true; }, true);
})();
