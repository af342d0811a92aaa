// ifnscope pages: small progressive enhancements. Everything works without this file (and
// without htmx); it only removes rows, moves focus and reports refused htmx requests.
(function () {
  "use strict";
  document.documentElement.classList.remove("no-js");
  document.documentElement.classList.add("js");

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    // Move focus to the error summary, so a screen reader announces the problems.
    var summary = document.getElementById("error-summary");
    if (summary) summary.focus();
  });

  // "Remove" on a lesion or medication row.
  document.addEventListener("click", function (evt) {
    var btn = evt.target.closest("[data-remove-row]");
    if (!btn) return;
    var row = document.getElementById(btn.getAttribute("data-remove-row"));
    if (!row) return;
    var container = row.parentElement;
    row.remove();
    var add = container && container.parentElement.querySelector(".add-row");
    if (add) add.focus();
  });

  // "?" beside a finding: show or hide its definition (a tap on a touch screen, Enter or Space
  // on a keyboard; the definitions are shown without JavaScript).
  document.addEventListener("click", function (evt) {
    var btn = evt.target.closest(".def-toggle");
    if (!btn) return;
    var def = document.getElementById(btn.getAttribute("aria-controls"));
    if (!def) return;
    var open = btn.getAttribute("aria-expanded") !== "true";
    btn.setAttribute("aria-expanded", open ? "true" : "false");
    def.hidden = !open;
  });

  // After htmx adds a row, put the cursor in its first field.
  document.addEventListener("htmx:afterSwap", function (evt) {
    var target = evt.detail && evt.detail.target;
    if (target && target.classList.contains("rows")) {
      var rows = target.querySelectorAll(".row");
      var last = rows[rows.length - 1];
      var first = last && last.querySelector("select, input");
      if (first) first.focus();
    }
  });

  // An htmx request the server refused (e.g. the session ended): say so instead of doing nothing.
  document.addEventListener("htmx:responseError", function (evt) {
    var status = evt.detail.xhr ? evt.detail.xhr.status : 0;
    var text = status === 401 ? "Your session has ended: reload the page to log in again."
      : status === 403 ? "Not accepted: reload the page and try again."
      : "The server could not answer (" + status + "). Reload the page and try again.";
    var box = document.getElementById("htmx-error");
    if (!box) {
      box = document.createElement("div");
      box.id = "htmx-error";
      box.className = "error-summary";
      box.setAttribute("role", "alert");
      var main = document.getElementById("main");
      main.insertBefore(box, main.firstChild);
    }
    box.textContent = text;
  });
})();
