// hookbox console: live refresh. Elements with data-live="URL" are
// refreshed every few seconds with the HTML fragment that URL returns (the
// same server-rendered markup). The events list pauses when "Live refresh"
// is unchecked, and everything pauses while the tab is hidden.
(function () {
  "use strict";
  var interval = 5000;
  var live = document.getElementById("live");
  if (live) {
    live.parentElement.hidden = false;
  }
  function refresh(el) {
    if (document.hidden || (live && el.id === "rows" && !live.checked)) {
      return;
    }
    fetch(el.getAttribute("data-live"), { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (res) {
        if (!res.ok) { throw new Error(res.status); }
        return res.text();
      })
      .then(function (html) {
        var tag = el.tagName.toLowerCase();
        var doc = new DOMParser().parseFromString(
          tag === "tbody" ? "<table><tbody>" + html + "</tbody></table>" : "<div>" + html + "</div>",
          "text/html");
        var src = tag === "tbody" ? doc.querySelector("tbody") : doc.body.firstElementChild;
        if (src) {
          el.replaceChildren.apply(el, Array.prototype.slice.call(src.childNodes));
        }
      })
      .catch(function () { /* keep the last rows; try again next time */ });
  }
  document.querySelectorAll("[data-live]").forEach(function (el) {
    setInterval(function () { refresh(el); }, interval);
  });
})();
