// Triage Desk: the few behaviours htmx needs from the page.
(function () {
  "use strict";

  var QUEUE_PANEL_ID = "queue-panel";
  var RELOAD_MESSAGE = "Not saved: your session or permissions changed (signed out in another tab?). Reload the page and try again.";
  var SIGNED_OUT_MESSAGE = "Your session has ended. Reload the page to sign in again.";
  var GONE_MESSAGE = "This entry no longer exists. Reload the page.";
  var FAILED_MESSAGE = "The server could not complete the request. Try again in a moment.";
  var OFFLINE_MESSAGE = "The server cannot be reached. The page will update again once it can.";

  // The queue poll is skipped while the lead is typing or has unsaved changes in a row,
  // because the refreshed rows would replace what they typed.
  function queueBusy() {
    var panel = document.getElementById(QUEUE_PANEL_ID);
    if (!panel) {
      return false;
    }
    var active = document.activeElement;
    if (active && panel.contains(active) && active.matches("input, select, textarea")) {
      return true;
    }
    return panel.querySelector("tbody[data-dirty]") !== null;
  }
  window.queueBusy = queueBusy;

  function markDirty(event) {
    var target = event.target;
    if (!(target instanceof Element) || !target.matches("input, select, textarea")) {
      return;
    }
    var group = target.closest("tbody.entry");
    if (group) {
      group.setAttribute("data-dirty", "");
    }
  }
  document.addEventListener("input", markDirty);
  document.addEventListener("change", markDirty);

  function showStatus(text) {
    var bar = document.getElementById("htmx-status");
    if (!bar) {
      return;
    }
    bar.textContent = text;
    bar.hidden = false;
  }

  function clearStatus() {
    var bar = document.getElementById("htmx-status");
    if (bar && !bar.hidden) {
      bar.hidden = true;
      bar.textContent = "";
    }
  }

  function isRow(target) {
    return target instanceof Element && target.matches("tbody.entry");
  }

  // Put a message into the row's message line, or into the page's status bar when the
  // request did not target a row (a poll of a whole panel, say).
  function showInline(target, text) {
    var slot = isRow(target) ? target.querySelector("[data-row-message]") : null;
    if (!slot) {
      showStatus(text);
      return;
    }
    slot.textContent = text;
    slot.className = "message-error";
    slot.setAttribute("role", "alert");
    slot.parentElement.hidden = false;
  }

  // A poll is the queue panel refreshing itself; a filter form, tab or page link that
  // targets the panel is the lead's own request and always swaps.
  function isQueuePoll(detail) {
    return detail.target.id === QUEUE_PANEL_ID && detail.requestConfig && detail.requestConfig.elt === detail.target;
  }

  function redirectedToLogin(xhr) {
    if (!xhr.responseURL) {
      return false;
    }
    return new URL(xhr.responseURL).pathname.indexOf("/accounts/login/") === 0;
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var status = detail.xhr.status;
    if ((status === 400 || status === 409 || status === 422) && isRow(detail.target)) {
      // The server returns these with the row re-rendered: its current values, the
      // field errors or the reason the save was rejected.
      detail.shouldSwap = true;
      detail.isError = false;
    } else if (status === 403) {
      // A CSRF or permission failure returns a full page; never put it in a row.
      detail.shouldSwap = false;
      showInline(detail.target, RELOAD_MESSAGE);
    } else if (status === 404) {
      detail.shouldSwap = false;
      showInline(detail.target, GONE_MESSAGE);
    } else if (status < 300 && redirectedToLogin(detail.xhr)) {
      // An expired session turns the poll into the login page; keep the panels as they are.
      detail.shouldSwap = false;
      showInline(detail.target, SIGNED_OUT_MESSAGE);
    } else if (status < 300 && isQueuePoll(detail) && queueBusy()) {
      // The lead started typing while this poll was in flight, so its rows are stale
      // next to what they typed; the next poll after the save brings them in.
      detail.shouldSwap = false;
    } else if (status < 300) {
      clearStatus();
    }
  });

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (status >= 500) {
      showInline(event.detail.target, FAILED_MESSAGE);
    }
  });

  document.addEventListener("htmx:sendError", function () {
    showStatus(OFFLINE_MESSAGE);
  });
})();
