"""The bulk update page in headless Chromium: a lead selects two queued entries and sends their updates."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from backlog.models import BacklogEntry
from comms.models import CustomerUpdate
from comms.services.templates import default_templates_ensure

pytest_plugins = ["tests.browser_fixtures"]

pytestmark = pytest.mark.browser


def test_lead_sends_two_updates_in_bulk(live_server, page, browser_backlog, sign_in, settings):
    settings.CUSTOMER_SUPPORT_CONTACT = "support@shop.example"
    default_templates_ensure(now=timezone.now())
    with_eta, without_eta = browser_backlog.entries[0], browser_backlog.entries[1]
    BacklogEntry.objects.filter(pk=with_eta.pk).update(due_at=timezone.now() + timedelta(days=2))

    # given: a signed-in lead who follows the dashboard's link to the bulk page
    sign_in(page, browser_backlog.lead.username)
    page.get_by_role("link", name="Send updates").click()
    page.wait_for_url("**/updates/bulk/?stage=intake")
    expect(page.locator(f"#bulk-entry-{with_eta.pk}")).to_contain_text("Update on your order")
    expect(page.locator(f"#bulk-entry-{without_eta.pk}")).to_contain_text("held: missing: eta")

    # when: the lead selects two entries and sends
    page.get_by_label(f"Select {with_eta.reference}").check()
    page.get_by_label(f"Select {without_eta.reference}").check()
    page.get_by_role("button", name="Send selected intake updates").click()

    # then: the result lists one queued and one held entry
    expect(page.locator("#results-heading")).to_contain_text("1 queued, 1 held, 0 rejected")
    expect(page.locator(f"#bulk-result-{with_eta.pk}")).to_contain_text("queued")
    expect(page.locator(f"#bulk-result-{without_eta.pk}")).to_contain_text("missing: eta")
    assert CustomerUpdate.objects.filter(entry__in=[with_eta, without_eta]).count() == 2
