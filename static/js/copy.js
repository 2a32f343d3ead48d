/* Copy buttons: <button data-copy-target="ID"> copies the value (or text) of element ID and
   says so in the element named by data-copy-status (an aria-live region). No dependencies. */
(function () {
  "use strict";

  function fallbackCopy(field) {
    field.focus();
    field.select();
    try {
      return document.execCommand("copy");
    } catch (error) {
      return false;
    }
  }

  function announce(button, text) {
    var status = document.getElementById(button.getAttribute("data-copy-status"));
    if (status) {
      status.textContent = text;
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) {
      return;
    }
    var field = document.getElementById(button.getAttribute("data-copy-target"));
    if (!field) {
      return;
    }
    var text = "value" in field ? field.value : field.textContent;
    var done = function () { announce(button, "Copied to the clipboard."); };
    var failed = function () {
      if (fallbackCopy(field)) {
        done();
      } else {
        announce(button, "Press Ctrl+C (or ⌘+C) to copy the selected link.");
      }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, failed);
    } else {
      failed();
    }
  });
})();
