// Small page behaviours declared with data-* attributes, so that no page needs an inline script or an
// on…="" handler (the Content-Security-Policy allows scripts from our own static files only).
(function () {
  "use strict";

  // <select data-autosubmit>: choosing a value submits its form (a <noscript> button does it without JS).
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.matches && el.matches("[data-autosubmit]") && el.form) { el.form.submit(); }
  });

  // <form data-confirm-message="…">: ask before submitting.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches && form.matches("form[data-confirm-message]") && !window.confirm(form.dataset.confirmMessage)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  document.addEventListener("DOMContentLoaded", function () {
    // <form data-focus-error>: after a refused save, take the keyboard to the first field with an error.
    var form = document.querySelector("form[data-focus-error]");
    if (form) {
      var bad = form.querySelector('[aria-invalid="true"]') || document.getElementById("form-errors");
      if (bad) { bad.focus(); }
    }
  });

  // A list with "加载更多" (data-load-status="<id of the status line>" on its <tbody>): after new rows arrive,
  // update the count for screen readers and move focus to the first new row.
  document.addEventListener("htmx:afterSettle", function () {
    var body = document.querySelector("tbody[data-load-status]");
    if (!body) { return; }
    var status = document.getElementById(body.dataset.loadStatus);
    if (!status) { return; }
    var rows = body.querySelectorAll("tr[data-person]");
    var done = !document.getElementById("load-more-row");
    status.textContent = "已显示 " + rows.length + " 条" + (done ? "，已全部显示" : "");
    var starts = body.querySelectorAll("tr[data-batch-start]");
    var first = starts.length ? starts[starts.length - 1].querySelector("a") : null;
    if (first) { first.focus(); }
  });
})();
