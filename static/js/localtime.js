// Show <time datetime="...Z" data-localize="datetime|date"> in the browser's own time zone.
// The server writes UTC text, so the page is still correct without JavaScript.
(function () {
  "use strict";
  var formats = {
    datetime: new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" }),
    date: new Intl.DateTimeFormat(undefined, { dateStyle: "medium" }),
  };
  function localize(root) {
    var nodes = (root || document).querySelectorAll("time[data-localize]");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var when = new Date(node.getAttribute("datetime"));
      if (isNaN(when.getTime())) continue;
      var format = formats[node.getAttribute("data-localize")] || formats.datetime;
      if (!node.title) node.title = node.textContent.trim();
      node.textContent = format.format(when);
    }
  }
  document.addEventListener("DOMContentLoaded", function () { localize(document); });
  // After htmx replaces part of the page (outerHTML swaps detach the old target), redo it all:
  // localizing is idempotent and cheap.
  document.addEventListener("htmx:afterSettle", function () { localize(document); });
})();
