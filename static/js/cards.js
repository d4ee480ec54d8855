// Video cards: a muted preview on hover, focus or first tap (never autoplay on load), and favourite stars
// that toggle with fetch() instead of a page load. Without JavaScript the links and forms work as they are.
(function () {
  "use strict";

  // Previews --------------------------------------------------------------------------------------------------
  function start(media) {
    if (media.querySelector("video")) return;
    var video = document.createElement("video");
    video.muted = true;
    video.loop = true;
    video.setAttribute("playsinline", "");
    video.preload = "auto";
    var img = media.querySelector("img");
    if (img) video.poster = img.currentSrc || img.src;
    video.src = media.getAttribute("data-preview");
    media.appendChild(video);
    if (img) img.hidden = true;
    var played = video.play();
    if (played && played.catch) played.catch(function () {});
  }

  function stop(media) {
    var video = media.querySelector("video");
    if (!video) return;
    video.pause();
    video.removeAttribute("src");
    video.load();
    video.remove();
    var img = media.querySelector("img");
    if (img) img.hidden = false;
  }

  function bindPreview(media) {
    var tile = media.closest(".tile");
    var trigger = tile ? tile.querySelector("[data-preview-trigger]") : null;
    media.addEventListener("pointerenter", function (e) { if (e.pointerType === "mouse") start(media); });
    media.addEventListener("pointerleave", function () { stop(media); });
    // Touch: the first tap plays the preview, the second opens the video.
    media.addEventListener("click", function (e) {
      if (!media.querySelector("video")) {
        e.preventDefault();
        start(media);
      }
    });
    if (trigger) {
      trigger.addEventListener("focus", function () { start(media); });
      trigger.addEventListener("blur", function () { stop(media); });
    }
  }
  document.querySelectorAll("[data-preview]").forEach(bindPreview);

  // Cards of videos still being made follow their status (My videos): one status.json per card every few
  // seconds, only while something is in flight, and a ready card gets its poster and preview in place.
  function follow(tile) {
    fetch(tile.getAttribute("data-status-url"), { headers: { Accept: "application/json" }, credentials: "same-origin",
      cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (d) {
        var chip = tile.querySelector("[data-card-status]");
        if (chip) {
          chip.textContent = d.status_label;
          chip.className = "chip " + d.status;
        }
        var placeholder = tile.querySelector("[data-card-placeholder]");
        if (placeholder && !d.poster_url) placeholder.textContent = d.status_label;
        if (!d.is_finished) return;
        tile.removeAttribute("data-live-card");
        if (d.status !== "ready") return;
        var media = tile.querySelector(".tile-media");
        if (d.poster_url && placeholder) {
          var img = document.createElement("img");
          img.src = d.poster_url;
          img.alt = tile.querySelector(".tile-title a").textContent;
          placeholder.replaceWith(img);
        }
        if (d.preview_url && media) {  // a short clip, never the full video; none: the poster only
          media.setAttribute("data-preview", d.preview_url);
          var link = tile.querySelector(".tile-title a");
          if (link) link.setAttribute("data-preview-trigger", "");
          bindPreview(media);
        }
      })
      .catch(function () {});  // a blip: the next round asks again
  }

  function followAll() {
    var live = document.querySelectorAll("[data-live-card]");
    if (!live.length) return;
    live.forEach(follow);
    window.setTimeout(followAll, 4000);
  }
  if (document.querySelector("[data-live-card]")) window.setTimeout(followAll, 2000);

  // Favourites ------------------------------------------------------------------------------------------------
  document.querySelectorAll("form[data-favorite]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var button = form.querySelector("button");
      button.disabled = true;
      fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: {
          Accept: "application/json",
          "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value,
        },
      })
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        })
        .then(function (d) {
          button.setAttribute("aria-pressed", d.favorite ? "true" : "false");
          button.textContent = d.favorite ? "★" : "☆";
          button.title = d.favorite ? "Remove from favourites" : "Add to favourites";
        })
        .catch(function () { form.submit(); })  // fall back to the plain POST
        .finally(function () { button.disabled = false; });
    });
  });
})();
