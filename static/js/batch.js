// Batches: the New batch page warns when the list changes after it was priced (Generate would make the list as
// checked), and a batch's page follows its progress and shows the ZIP button as videos become ready.
// Without JavaScript: Generate makes the checked list (the page says so), and a reload shows the progress.
(function () {
  "use strict";

  // New batch: a change after the check makes the priced list stale -------------------------------------------
  var edit = document.getElementById("batch-form");
  var confirmForm = document.getElementById("confirm-batch");
  if (edit && confirmForm) {
    var stale = function () {
      document.querySelectorAll("[form=confirm-batch], #confirm-batch button").forEach(function (b) { b.disabled = true; });
      var note = document.querySelector("[data-stale-note]");
      if (note) {
        note.textContent = "You changed the list or its settings: check it again to price the change.";
        note.classList.add("quote-error");
      }
    };
    edit.addEventListener("input", stale);
    edit.addEventListener("change", stale);
  }

  // A batch's page: counts, credits and the ZIP button, live until nothing is in flight ---------------------------
  var box = document.querySelector("[data-batch-progress][data-status-url]");
  if (!box) return;
  var bar = box.querySelector("progress");
  var text = box.querySelector("[data-progress-text]");
  var charged = box.querySelector("[data-charged]");
  var zip = document.querySelector("[data-zip]");
  var zipCount = document.querySelector("[data-zip-count]");
  var plural = function (n, word) { return n + " " + word + (n === 1 ? "" : "s"); };

  function show(d) {
    bar.max = d.total;
    bar.value = d.ready + d.failed;
    var parts = [d.ready + " of " + d.total + " ready"];
    if (d.in_flight) parts.push(d.in_flight + " in progress");
    if (d.failed) parts.push(d.failed + " failed or canceled (refunded)");
    text.textContent = parts.join(" · ");
    charged.textContent = d.charged + " credits" + (d.refunded ? " (" + d.refunded + " refunded)" : "");
    if (zip && d.ready) {
      zipCount.textContent = plural(d.ready, "ready video");
      zip.hidden = false;
    }
    document.title = d.ready + "/" + d.total + " ready · " + document.title.replace(/^\d+\/\d+ ready · /, "");
  }

  function poll() {
    fetch(box.getAttribute("data-status-url"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (!d) return;
        show(d);
        if (d.in_flight) window.setTimeout(poll, 4000);
      })
      .catch(function () { window.setTimeout(poll, 10000); });
  }
  window.setTimeout(poll, 3000);
})();
