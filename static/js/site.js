// Every page: the error summary of a rejected form takes the focus (so it is seen and read out), and its links
// move the focus to the field they name. Without JavaScript the summary and its links still work as anchors.
(function () {
  "use strict";
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
