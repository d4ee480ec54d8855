// New video: live character counter, live price (quote.json), multi-shot rows, camera fields, model switch.
// Everything here is an enhancement: without it the form still submits and the server checks everything.
(function () {
  "use strict";
  var form = document.getElementById("new-video");
  if (!form) return;

  // Character counter ---------------------------------------------------------------------------------------
  // It counts the field's actual value, also on "pageshow": Back restores the text without any input event.
  var updateCount = function () {};
  var counter = form.querySelector("[data-counter-for]");
  if (counter) {
    var area = document.getElementById(counter.getAttribute("data-counter-for"));
    var max = parseInt(counter.getAttribute("data-max"), 10);
    var count = counter.querySelector("[data-count]");
    area.setAttribute("aria-describedby", counter.id);
    updateCount = function () {
      var n = area.value.replace(/\r\n/g, "\n").trim().length;
      count.textContent = n;
      counter.classList.toggle("over", n > max);
    };
    area.addEventListener("input", updateCount);
    updateCount();
  }

  // Switching model re-renders the form with that model's fields, keeping what was typed --------------------
  var model = form.elements.model;
  var update = form.querySelector("[data-update-model]");
  if (model && update) {
    update.hidden = true;
    var rerender = function () {
      if (form.requestSubmit) form.requestSubmit(update);
      else update.click();
    };
    model.addEventListener("change", rerender);
    if (form.elements.account) form.elements.account.addEventListener("change", rerender);
  }

  // Live price ----------------------------------------------------------------------------------------------
  var costEl = form.querySelector("[data-cost]");
  var nowEl = form.querySelector("[data-balance-now]");
  var afterEl = form.querySelector("[data-balance-after]");
  var errorEl = form.querySelector("[data-quote-error]");
  var submit = form.querySelector("[data-submit]");
  var topBalance = document.querySelector("[data-balance]");
  var pending = null;

  function value(name) {
    var el = form.elements[name];
    if (!el) return null;
    if (el.type === "checkbox") return el.checked ? "1" : "0";
    return el.value;
  }

  var routeEl = form.querySelector("[data-route]");
  var quotedEl = form.querySelector("[data-quoted-cost]");
  var whyEl = form.querySelector("[data-route-why]");
  // The options that decide which accounts can make the video (views/new.py ROUTE_FIELDS, same list).
  var QUOTED = ["mode", "duration", "sound", "account", "aspect_ratio", "cfg_scale", "watermark", "multi_shot",
    "shot_type", "negative_prompt", "image_url", "tail_image_url", "camera_type", "camera_axis", "camera_value",
    "variants"];

  // The button says how many videos it makes: from the quote, or from the chosen "Variants" before one arrives.
  function submitLabel(count) {
    if (count === undefined) count = parseInt(value("variants") || "1", 10) || 1;
    return count > 1 ? "Generate " + count + " variants" : "Generate video";
  }

  function quote() {
    var params = new URLSearchParams({ model: model ? model.value : "" });
    QUOTED.forEach(function (name) {
      var v = value(name);
      if (v !== null && v !== undefined) params.set(name, v);
    });
    // A chosen picture (a file or one kept from before) narrows the accounts as a typed address does.
    [["start_image", "image_url"], ["end_image", "tail_image_url"]].forEach(function (pair) {
      var file = form.elements[pair[0] + "_file"], ref = form.elements[pair[0] + "_ref"];
      if ((file && file.files && file.files.length) || (ref && ref.value)) params.set(pair[1], "stored:chosen");
    });
    if (pending) pending.abort();
    pending = new AbortController();
    fetch(form.getAttribute("data-quote-url") + "?" + params.toString(), {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      signal: pending.signal,
    })
      .then(function (r) {
        return r.json().then(function (data) { return { ok: r.ok, data: data }; });
      })
      .then(function (res) {
        var d = res.data;
        if (!res.ok) {
          var errors = d.errors || {};
          var first = Object.keys(errors)[0];
          costEl.textContent = "—";
          if (quotedEl) quotedEl.value = "";
          afterEl.textContent = "—";
          errorEl.textContent = first ? errors[first] : "This combination cannot be priced.";
          return;
        }
        costEl.textContent = d.cost;
        if (quotedEl) quotedEl.value = d.cost;
        if (submit) submit.textContent = submitLabel(d.count);
        var each = form.querySelector("[data-cost-each]");
        if (each) each.textContent = d.count > 1 ? d.count + " \u00d7 " + d.unit_cost : "";
        if (routeEl) routeEl.textContent = d.account;
        if (whyEl) whyEl.textContent = d.why;
        nowEl.textContent = d.balance;
        afterEl.textContent = d.enough ? d.balance_after : "Not enough credits";
        if (topBalance) topBalance.textContent = d.balance;
        errorEl.textContent = !d.enough ?
          "Not enough credits: " + (d.count > 1 ? d.count + " variants cost " : "this video costs ") + d.cost +
          " and you have " + d.balance + "." :
          (d.cap_error || "");
      })
      .catch(function (err) {
        if (err.name !== "AbortError") errorEl.textContent = "Could not update the price; it is checked again when you submit.";
      });
  }

  QUOTED.concat(["start_image_file", "end_image_file"]).forEach(function (name) {
    var el = form.elements[name];
    if (!el) return;
    if (el.forEach) el.forEach(function (radio) { radio.addEventListener("change", quote); });
    else el.addEventListener("change", quote);
  });

  // Multi-shot editor: show only the rows in use, add and remove up to the maximum ---------------------------
  var shotsBox = form.querySelector("[data-shots]");
  if (shotsBox) {
    var rows = Array.prototype.slice.call(shotsBox.querySelectorAll("[data-shot]"));
    var addBtn = shotsBox.querySelector("[data-add-shot]");
    var sumEl = shotsBox.querySelector("[data-shot-sum]");
    var multi = form.elements.multi_shot;
    var shotType = form.elements.shot_type;
    var filled = function (row) {
      return Array.prototype.some.call(row.querySelectorAll("textarea, input"), function (el) { return el.value.trim() !== ""; });
    };
    var refresh = function () {
      var custom = multi.checked && (!shotType || shotType.value === "customize");
      var visible = rows.filter(function (r) { return !r.hidden; });
      addBtn.hidden = !custom || visible.length >= rows.length;
      rows.forEach(function (r) {
        r.querySelector("[data-remove-shot]").hidden = visible.length <= 1;
        r.classList.toggle("inactive", !custom);
      });
      var total = 0;
      visible.forEach(function (r) { total += parseInt(r.querySelector("input").value || "0", 10) || 0; });
      var duration = parseInt(value("duration") || "0", 10);
      sumEl.textContent = custom ? "Shots add up to " + total + " of " + duration + " s." : "";
      sumEl.classList.toggle("over", custom && total !== duration);
    };
    var shown = 0;
    rows.forEach(function (r, i) {
      var keep = filled(r) || i === 0;
      r.hidden = !keep;
      if (keep) shown += 1;
      r.querySelector("[data-remove-shot]").addEventListener("click", function () {
        r.querySelectorAll("textarea, input").forEach(function (el) { el.value = ""; });
        r.hidden = true;
        shotsBox.appendChild(r);  // keep visible rows first, so the next "Add" reuses this one
        shotsBox.appendChild(addBtn);
        rows = Array.prototype.slice.call(shotsBox.querySelectorAll("[data-shot]"));
        refresh();
      });
    });
    addBtn.addEventListener("click", function () {
      var next = rows.filter(function (r) { return r.hidden; })[0];
      if (next) {
        next.hidden = false;
        next.querySelector("textarea").focus();
      }
      refresh();
    });
    shotsBox.addEventListener("input", refresh);
    shotsBox.addEventListener("change", refresh);
    if (form.elements.duration) form.elements.duration.addEventListener("change", refresh);
    refresh();
  }

  // Camera control: the axis and amount only matter for a "simple" movement ---------------------------------
  var camera = form.elements.camera_type;
  if (camera) {
    var simple = form.querySelectorAll("[data-camera-simple]");
    var toggle = function () {
      simple.forEach(function (el) { el.hidden = camera.value !== "simple"; });
    };
    camera.addEventListener("change", toggle);
    toggle();
  }

  // Ctrl+Enter (Cmd+Enter on a Mac) anywhere in the form: Generate -----------------------------------------------
  form.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey) || !submit) return;
    event.preventDefault();
    if (form.requestSubmit) form.requestSubmit(submit);
    else submit.click();
  });
  if (submit) submit.title = "Ctrl+Enter (⌘+Enter on a Mac)";

  // Double-click safety on top of the form token: one click sends one request --------------------------------
  form.addEventListener("submit", function (event) {
    var by = event.submitter;
    if (by && by.hasAttribute("data-update-model")) return;
    if (form.dataset.sent) {
      event.preventDefault();
      return;
    }
    form.dataset.sent = "1";
    if (submit) {
      submit.disabled = true;
      submit.textContent = "Submitting…";
    }
  });
  // Back to this page after sending it (from the browser's page cache or history): whatever is changed and sent
  // now is a new video, so it gets a new form token. The token still stops a double-click from charging twice.
  function freshToken() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var b = window.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join("-");
  }
  // The browser may also have put back what was typed and chosen, without any input or change event: count, label
  // and price from the fields' actual values.
  window.addEventListener("pageshow", function (event) {
    var nav = window.performance && performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
    var restored = event.persisted || (nav && (nav.type === "back_forward" || nav.type === "reload"));
    if (event.persisted || (nav && nav.type === "back_forward")) form.elements.form_token.value = freshToken();
    delete form.dataset.sent;
    if (submit) {
      submit.disabled = false;
      submit.textContent = submitLabel();
    }
    updateCount();
    if (restored && costEl) quote();
  });
})();
