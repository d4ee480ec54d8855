// New video pictures: preview a chosen file at once, and say when its shape does not match the aspect ratio.
// An enhancement only: the server checks every file by its content and shows the same hint after a submit.
(function () {
  "use strict";
  var form = document.getElementById("new-video");
  if (!form) return;

  function ratioOf(value) {
    var parts = (value || "").split(":");
    var w = parseFloat(parts[0]), h = parseFloat(parts[1]);
    return w > 0 && h > 0 ? w / h : null;
  }

  // What the server will refuse (its limits are on the file input, from generations/media/images.py), said at once
  // instead of after a 10 MB upload; "" when the picture passes.
  function refusal(input, img, file) {
    var d = input.dataset, w = img.naturalWidth, h = img.naturalHeight;
    if (file && +d.maxBytes && file.size > +d.maxBytes) {
      return "The image is " + (file.size / 1048576).toFixed(1) + " MB; the limit is " +
        Math.round(+d.maxBytes / 1048576) + " MB.";
    }
    if (file && file.type && (input.accept || "").split(",").indexOf(file.type) < 0) {
      return "That file is not a JPEG, PNG or WebP picture.";
    }
    if (!w || !h) return "";
    var size = " (" + w + " by " + h + " pixels)";
    if (Math.max(w, h) > +d.maxSide) return "The image is " + w + " by " + h + " pixels; the limit is " + d.maxSide + " pixels on a side.";
    if (Math.min(w, h) < +d.minSide) return "The image is " + w + " by " + h + " pixels; each side needs at least " + d.minSide + ".";
    if (w > h * +d.maxRatio) return "The image is too wide" + size + ": its width may be at most " + d.maxRatio + " times its height.";
    if (h > w * +d.maxRatio) return "The image is too narrow and tall" + size + ": its height may be at most " + d.maxRatio + " times its width.";
    return "";
  }

  function refuse(box, text) {
    var el = box.querySelector("[data-ratio-hint]");
    if (!el) return;
    el.classList.add("field-error");
    el.textContent = text + " Choose another picture.";
  }

  function hint(box, img) {
    var el = box.querySelector("[data-ratio-hint]");
    var input = box.querySelector("input[type=file]");
    var chosen = form.querySelector("input[name=aspect_ratio]:checked");
    var target = chosen ? ratioOf(chosen.value) : null;
    if (!el) return;
    var file = input && input.files && input.files[0];
    var refused = input && !img.hidden ? refusal(input, img, file) : "";
    el.classList.toggle("field-error", !!refused);
    if (refused) {
      refuse(box, refused);
      return;
    }
    if (!target || !img.naturalWidth || img.hidden) {
      el.textContent = "";
      return;
    }
    var ratio = img.naturalWidth / img.naturalHeight;
    el.textContent = Math.abs(ratio - target) / target < 0.15 ? "" :
      "This picture is not " + chosen.value + ": the provider will crop or pad it to fit the video.";
  }

  form.querySelectorAll("[data-picture-box]").forEach(function (box) {
    var input = box.querySelector("input[type=file]");
    var img = box.querySelector("[data-preview]");
    if (!input || !img) return;
    var kept = box.querySelector("[data-kept]");
    var note = box.querySelector("[data-kept-note]");
    var ref = box.querySelector("input[type=hidden][name$=_ref]");
    var removeBox = box.querySelector("[data-remove-fallback]");
    var removeBtn = box.querySelector("[data-remove-picture]");
    // A picture kept from before (or just chosen) gets a "Remove" button; the checkbox is for pages without scripts.
    if (removeBox) removeBox.hidden = true;
    if (note && note.id) {
      var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      if (described.indexOf(note.id) < 0) input.setAttribute("aria-describedby", [note.id].concat(described).join(" "));
    }
    var showRemove = function (on) {
      if (!kept || !removeBtn) return;
      removeBtn.hidden = !on;
      if (on) kept.hidden = false;
    };
    showRemove(!img.hidden);
    if (removeBtn) {
      removeBtn.addEventListener("click", function () {
        if (ref) ref.value = "";
        var checkbox = removeBox && removeBox.querySelector("input[type=checkbox]");
        if (checkbox) checkbox.checked = true;  // the server lets go of it too, whatever else happens on this page
        input.value = "";
        img.hidden = true;
        img.removeAttribute("src");
        if (note) note.textContent = removeBtn.textContent.replace(/^Remove /, "").replace(/^./, function (c) {
          return c.toUpperCase();
        }) + " removed.";
        showRemove(false);
        input.dispatchEvent(new Event("change", { bubbles: true }));  // the price and the account follow
        input.focus();
      });
    }
    img.addEventListener("load", function () { hint(box, img); });
    img.addEventListener("error", function () {  // not a picture the browser can show: say so before any upload
      if (input.files && input.files[0]) refuse(box, "That file is not a JPEG, PNG or WebP picture.");
    });
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (!file) {
        hint(box, img);
        return;
      }
      var early = refusal(input, { naturalWidth: 0, naturalHeight: 0 }, file);
      if (early) {  // too big, or not a picture: not even decoded, and not uploaded with the form
        input.value = "";
        img.hidden = true;
        img.removeAttribute("src");
        refuse(box, early);
        return;
      }
      img.hidden = false;
      img.src = URL.createObjectURL(file);
      if (note) note.textContent = "";  // the file input names the new file itself
      showRemove(true);
    });
    form.addEventListener("change", function (event) {
      if (event.target.name === "aspect_ratio") hint(box, img);
    });
    if (img.complete) hint(box, img);
  });
})();
