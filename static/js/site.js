// Every page: the theme toggle (remembered in localStorage), the phone menu, and the error summary of a rejected
// form, which takes the focus (so it is seen and read out) and whose links move the focus to the field they name.
// Without JavaScript: the system's theme, an always-open menu, and the summary's links as plain anchors.
(function () {
  "use strict";
  var root = document.documentElement;

  // Theme -------------------------------------------------------------------------------------------------------
  var toggle = document.querySelector("[data-theme-toggle]");
  var systemDark = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  function isDark() {
    var chosen = root.getAttribute("data-theme");
    return chosen ? chosen === "dark" : !!(systemDark && systemDark.matches);
  }
  function showTheme() {
    if (!toggle) return;
    toggle.setAttribute("aria-pressed", isDark() ? "true" : "false");
    toggle.title = isDark() ? "Switch to the light theme" : "Switch to the dark theme";
  }
  if (toggle) {
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      var next = isDark() ? "light" : "dark";
      root.setAttribute("data-theme", next);
      try { localStorage.setItem("theme", next); } catch (e) { /* private mode: this page only */ }
      showTheme();
    });
    if (systemDark && systemDark.addEventListener) systemDark.addEventListener("change", showTheme);
    showTheme();
  }

  // Phone menu --------------------------------------------------------------------------------------------------
  var menu = document.querySelector("[data-menu-toggle]");
  var nav = document.getElementById("main-nav");
  if (menu && nav) {
    menu.hidden = false;
    menu.addEventListener("click", function () {
      var open = menu.getAttribute("aria-expanded") !== "true";
      menu.setAttribute("aria-expanded", open ? "true" : "false");
      nav.classList.toggle("open", open);
    });
  }

  // Filters fold away on a phone, unless some are in use --------------------------------------------------------
  var fold = document.querySelector("[data-filters-fold]");
  if (fold && window.matchMedia && window.matchMedia("(max-width: 760px)").matches && !fold.hasAttribute("data-active")) {
    fold.open = false;
  }

  // Copy buttons (the prompt on a video's page) ------------------------------------------------------------------
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // Plain http on a LAN has no clipboard API: the older selection-based copy still works there.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    var ok = document.execCommand("copy");
    area.remove();
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }
  document.querySelectorAll("[data-copy-text]").forEach(function (button) {
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", function () {
      copyText(button.getAttribute("data-copy-text")).then(
        function () { button.textContent = "Copied"; },
        function () { button.textContent = "Could not copy"; }
      ).then(function () {
        window.setTimeout(function () { button.textContent = label; }, 2000);
      });
    });
  });

  // A field that picks its own option: a date typed in picks "On a date" (Settings → API tokens) -------------------
  document.querySelectorAll("[data-checks]").forEach(function (input) {
    input.addEventListener("input", function () {
      var option = document.getElementById(input.getAttribute("data-checks"));
      if (option && input.value) option.checked = true;
    });
  });

  // Error summary -----------------------------------------------------------------------------------------------
  var summary = document.querySelector(".error-summary");
  if (summary) {
    summary.setAttribute("tabindex", "-1");
    summary.focus();
    summary.scrollIntoView({ block: "start" });
    summary.addEventListener("click", function (e) {
      var link = e.target.closest("[data-error-link]");
      if (!link) return;
      var box = document.getElementById(link.getAttribute("href").slice(1));
      if (!box) return;
      var input = box.querySelector("input:not([type=hidden]), select, textarea");
      if (!input || input.offsetParent === null) return;  // let the anchor scroll to the box itself
      e.preventDefault();
      input.focus();
      box.scrollIntoView({ block: "center" });
    });
  }
})();
