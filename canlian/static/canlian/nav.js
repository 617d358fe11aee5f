// Navigation badges (我的待办): each is a small fragment fetched after the page, so no page pays for a count.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-badge-url]").forEach(function (el) {
    fetch(el.dataset.badgeUrl, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) { el.outerHTML = html; })
      .catch(function () {});
  });
});
