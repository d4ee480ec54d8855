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

  function hint(box, img) {
    var el = box.querySelector("[data-ratio-hint]");
    var chosen = form.querySelector("input[name=aspect_ratio]:checked");
    var target = chosen ? ratioOf(chosen.value) : null;
    if (!el || !target || !img.naturalWidth || img.hidden) {
      if (el) el.textContent = "";
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
    img.addEventListener("load", function () { hint(box, img); });
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (!file) return;
      img.src = URL.createObjectURL(file);
      img.hidden = false;
    });
    form.addEventListener("change", function (event) {
      if (event.target.name === "aspect_ratio") hint(box, img);
    });
    if (img.complete) hint(box, img);
  });
})();
