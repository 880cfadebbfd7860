"""The dashboard in headless Chromium: sign in, filter, decide inline, survive polls."""

import os
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from backlog.models import BacklogEntry
from backlog.services.entries import TriageDecision, entry_decide
from tests.factories import EntryLineFactory, resolution_method

pytest_plugins = ["tests.browser_fixtures"]

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = REPO_ROOT / "test-results" / "dashboard.png"
DOCS_SCREENSHOT = REPO_ROOT / "docs" / "screenshots" / "dashboard.png"
POLL_MILLISECONDS = 21_000


def local_input(hours_ahead: int) -> str:
    """Return a datetime-local value `hours_ahead` from now, on the site's clock."""
    moment = timezone.localtime(timezone.now() + timedelta(hours=hours_ahead))
    return moment.replace(minute=30).strftime("%Y-%m-%dT%H:%M")


def test_lead_filters_and_decides_inline(live_server, page, browser_backlog, sign_in):
    lead = browser_backlog.lead
    store_entries = browser_backlog.in_channel("store")
    eta = local_input(48)

    # given: a signed-in lead on the dashboard
    sign_in(page, lead.username)
    expect_text(page.locator("#summary-panel"), "Anna Keller")
    expect_text(page.locator("#summary-panel"), "0 / 8 decided")

    # when: the lead filters the queue by one channel
    page.get_by_label("Channel").select_option("store")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"channel=store"))
    page.locator("#queue-heading", has_text="filtered").wait_for()

    # then: only that channel's entries are listed, oldest first
    channels = page.locator("#queue-panel tbody.entry .col-channel").all_inner_texts()
    references = page.locator("#queue-panel tbody.entry th a").all_inner_texts()
    assert set(channels) == {"Store pick-up"}
    assert references == [entry.reference for entry in store_entries]

    # when: the lead sets owner, method and ETA on the first row and saves
    target = store_entries[0]
    page.evaluate("window.pageLoadMarker = 'still here'")
    page.get_by_label(f"Owner of {target.reference}").select_option(label="Anna Keller")
    page.get_by_label(f"Resolution method of {target.reference}").select_option(
        label="Transfer from secondary stock"
    )
    page.get_by_label(f"ETA of {target.reference}").fill(eta)
    page.get_by_role("button", name=f"Save {target.reference}").click()

    # then: the row updates in place, without a page load
    row = page.locator(f"#entry-{target.pk}")
    expect_text(row.locator("[data-row-message]"), "Saved.")
    assert page.evaluate("window.pageLoadMarker") == "still here"
    assert row.locator("input[name=version]").input_value() == "2"
    target.refresh_from_db()
    assert target.owner == lead
    assert target.resolution_method.code == "secondary-transfer"
    assert timezone.localtime(target.due_at).strftime("%Y-%m-%dT%H:%M") == eta

    # when: the page is reloaded
    page.reload()

    # then: the saved values are shown
    assert page.get_by_label(f"Owner of {target.reference}").input_value() == str(lead.pk)
    assert page.get_by_label(f"Resolution method of {target.reference}").input_value() == str(
        target.resolution_method_id
    )
    assert page.get_by_label(f"ETA of {target.reference}").input_value() == eta

    page.goto(f"{live_server.url}/")
    expect_text(page.locator("#summary-panel"), "1 / 8 decided")
    save_screenshots(page)
    # At 1280 px the whole queue row, Save button included, fits without scrolling.
    overflow = page.locator(".table-scroll").evaluate("element => element.scrollWidth - element.clientWidth")
    assert overflow <= 0


def test_stale_save_shows_message_and_current_values(live_server, page, browser_backlog, sign_in):
    lead, support = browser_backlog.lead, browser_backlog.support
    target = browser_backlog.entries[0]
    sign_in(page, lead.username)

    # Someone else saves the entry after the page loaded.
    entry_decide(
        entry_id=target.pk,
        expected_version=target.version,
        decision=TriageDecision(owner=support, resolution_method=resolution_method("expedite")),
        actor=support,
        now=timezone.now(),
    )
    page.get_by_label(f"Owner of {target.reference}").select_option(label="Anna Keller")
    page.get_by_role("button", name=f"Save {target.reference}").click()

    row = page.locator(f"#entry-{target.pk}")
    expect_text(row.locator("[data-row-message]"), f"{target.reference} was changed by Ben Okafor")
    assert page.get_by_label(f"Owner of {target.reference}").input_value() == str(support.pk)
    assert row.locator("input[name=version]").input_value() == str(target.version + 1)
    target.refresh_from_db()
    assert target.owner == support


def test_save_after_signing_out_elsewhere_asks_to_reload(live_server, page, browser_backlog, sign_in):
    target = browser_backlog.entries[0]
    sign_in(page, browser_backlog.lead.username)
    rows_before = page.locator("#queue-panel tbody.entry").count()

    # Clearing the cookies stands in for signing out in another tab, which ends the
    # session and rotates the CSRF token.
    page.context.clear_cookies()
    page.get_by_label(f"Owner of {target.reference}").select_option(label="Anna Keller")
    page.get_by_role("button", name=f"Save {target.reference}").click()

    message = page.locator(f"#entry-{target.pk} [data-row-message]")
    expect_text(message, "Reload the page")
    assert page.locator("#queue-panel tbody.entry").count() == rows_before
    assert page.locator("#queue-panel form[action='/accounts/login/']").count() == 0
    assert BacklogEntry.objects.get(pk=target.pk).owner is None


def test_queue_poll_waits_while_lead_is_typing(live_server, page, browser_backlog, sign_in):
    lead, support = browser_backlog.lead, browser_backlog.support
    typed, changed_elsewhere = browser_backlog.entries[0], browser_backlog.entries[1]
    page.clock.install()
    sign_in(page, lead.username)
    polls = []
    # Recorded when the response has arrived, so a poll still in flight cannot swap later.
    page.on("requestfinished", lambda request: polls.append(request.headers.get("hx-target")))


    # An idle queue refreshes on the poll.
    page.clock.run_for(POLL_MILLISECONDS)
    wait_until(page, lambda: "queue-panel" in polls)
    assert page.evaluate("queueBusy()") is False

    # A focused input pauses the queue poll.
    eta_input = page.get_by_label(f"ETA of {typed.reference}")
    eta_input.focus()
    assert page.evaluate("queueBusy()") is True

    # Typed but unsaved values pause it too, even after the focus has moved on.
    eta_input.fill(local_input(30))
    page.get_by_role("heading", name="Filters").click()
    assert page.evaluate("queueBusy()") is True
    entry_decide(
        entry_id=changed_elsewhere.pk,
        expected_version=changed_elsewhere.version,
        decision=TriageDecision(owner=support),
        actor=support,
        now=timezone.now(),
    )
    polls.clear()
    page.clock.run_for(POLL_MILLISECONDS)
    wait_until(page, lambda: "summary-panel" in polls)
    assert "queue-panel" not in polls
    assert eta_input.input_value() == local_input(30)
    assert page.get_by_label(f"Owner of {changed_elsewhere.reference}").input_value() == ""

    # Saving the row ends the pause, and the next poll brings the other change in.
    page.get_by_role("button", name=f"Save {typed.reference}").click()
    expect_text(page.locator(f"#entry-{typed.pk} [data-row-message]"), "Saved.")
    page.get_by_role("heading", name="Filters").click()
    polls.clear()
    page.clock.run_for(POLL_MILLISECONDS)
    wait_until(page, lambda: "queue-panel" in polls)
    owner_select = page.get_by_label(f"Owner of {changed_elsewhere.reference}")
    wait_until(page, lambda: owner_select.input_value() == str(support.pk))


def test_poll_in_flight_skips_swap_while_typing(live_server, page, browser_backlog, sign_in):
    typed = browser_backlog.entries[0]
    sign_in(page, browser_backlog.lead.username)
    page.get_by_label(f"ETA of {typed.reference}").fill(local_input(30))

    # A poll whose response arrives after the lead started typing reaches
    # htmx:beforeSwap with this detail.
    should_swap = page.evaluate(
        """() => {
            const panel = document.getElementById("queue-panel");
            const detail = {
                xhr: {status: 200, responseURL: location.href},
                target: panel,
                requestConfig: {elt: panel},
                shouldSwap: true,
            };
            document.dispatchEvent(new CustomEvent("htmx:beforeSwap", {detail}));
            return detail.shouldSwap;
        }"""
    )

    assert should_swap is False


def test_entry_page_opens_from_the_queue(live_server, page, browser_backlog, sign_in):
    target = browser_backlog.entries[0]
    sign_in(page, browser_backlog.lead.username)

    page.get_by_role("link", name=target.reference).click()

    page.wait_for_url(re.compile(rf"/entries/{target.pk}/$"))
    expect_text(page.locator("h1"), target.reference)
    expect_text(page.locator("#timeline-heading").locator(".."), "Queued for triage")


def test_queue_method_names_are_not_cut(live_server, page, browser_backlog, sign_in):
    target = browser_backlog.entries[0]
    sign_in(page, browser_backlog.lead.username)
    method = page.get_by_label(f"Resolution method of {target.reference}")

    # The widest option's text, measured in the select's font, plus about 24 px for the
    # padding and the arrow, fits in the select.
    spare = method.evaluate(
        """select => {
            const context = document.createElement("canvas").getContext("2d");
            context.font = getComputedStyle(select).font;
            const widest = Math.max(...Array.from(select.options, o => context.measureText(o.text).width));
            return select.clientWidth - widest - 24;
        }"""
    )

    assert spare >= 0


def test_narrow_window_scrolls_queue_not_page(live_server, page, browser_backlog, sign_in):
    page.set_viewport_size({"width": 1000, "height": 900})
    sign_in(page, browser_backlog.lead.username)

    assert page.evaluate("document.documentElement.scrollWidth") <= 1000
    overflow = page.locator(".table-scroll").evaluate("element => element.scrollWidth - element.clientWidth")
    assert overflow > 0


def test_entry_page_with_long_ids_fits_1280(live_server, page, browser_backlog, sign_in):
    target = browser_backlog.entries[0]
    # Olist product and seller ids are 32 hexadecimal characters.
    sku, seller = "deff29051b7f3eb939ef8bf8ca0e85a2", "58e4b302b54937e55a678c4d15111da4"
    EntryLineFactory(entry=target, sku=sku, seller=seller, category="informatica_acessorios", unit_price="109.99")
    sign_in(page, browser_backlog.lead.username)

    page.goto(f"{live_server.url}/entries/{target.pk}/")

    lines = page.locator("#lines-heading").locator("..")
    expect_text(lines, sku)
    expect_text(lines, seller)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    overflow = lines.evaluate("panel => panel.scrollWidth - panel.clientWidth")
    assert overflow <= 0
    price = lines.get_by_text("109.99").bounding_box()
    panel = lines.bounding_box()
    assert price["x"] + price["width"] <= panel["x"] + panel["width"]


def expect_text(locator, text: str, *, timeout_ms: int = 5000) -> None:
    """Wait until `locator` contains `text`, failing with what it showed instead."""
    expect(locator).to_contain_text(text, timeout=timeout_ms)


def wait_until(page, condition, *, timeout_s: float = 5.0) -> None:
    """Check `condition` every 50 ms of real time until it holds.

    Waiting through Playwright, not time.sleep, lets the sync API deliver the page's
    events meanwhile; the page's own clock may be frozen by page.clock.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"Condition still false after {timeout_s} s.")


def save_screenshots(page) -> None:
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    if os.environ.get("SAVE_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_SCREENSHOT), full_page=True)
