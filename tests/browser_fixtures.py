"""Fixtures for Playwright tests: Debian's Chromium, a 1280 px window and a small backlog.

Load with `pytest_plugins = ["tests.browser_fixtures"]` in a browser test module. The tests
drive the Chromium that the operating system ships (apt package `chromium`), so no browser
is downloaded; CHROMIUM_PATH points elsewhere when it lives at another path.
"""

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from backlog.models import BacklogEntry, Stage
from tests.factories import ChannelFactory, EntryFactory, EntryLineFactory, ShiftFactory, UserFactory
from triage.services.cycles import cycle_run

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
# Headless Chromium as root in a container: no sandbox, no GPU, no shared-memory files,
# and no calls home for updates, sync or field trials.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct-horse-battery"
VIEWPORT = {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict:
    if not CHROMIUM.exists():
        pytest.skip(
            f"Chromium is missing at {CHROMIUM}: install the Debian package `chromium` "
            "or set CHROMIUM_PATH."
        )
    return {"executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args() -> dict:
    return {"viewport": VIEWPORT, "locale": "en-GB"}


@dataclass
class BrowserBacklog:
    lead: object
    support: object
    web: object
    store: object
    entries: list[BacklogEntry]

    def in_channel(self, code: str) -> list[BacklogEntry]:
        return [entry for entry in self.entries if entry.channel.code == code]


@pytest.fixture
def browser_backlog(transactional_db) -> BrowserBacklog:
    """Create a lead and a support person on duty, classified entries in two channels, a cycle.

    The live server reads only committed rows, so the test runs outside a transaction.
    """
    now = timezone.now()
    lead = UserFactory(
        username="lead-anna", first_name="Anna", last_name="Keller", password=PASSWORD, roles=["lead"]
    )
    support = UserFactory(
        username="support-ben", first_name="Ben", last_name="Okafor", roles=["support"]
    )
    ShiftFactory(name="Round the clock", starts_at="00:00", ends_at="23:59:59", lead=lead, support=support)
    web = ChannelFactory(code="web", name="Web shop")
    store = ChannelFactory(code="store", name="Store pick-up")

    shapes = [
        # (channel, hours since order, stage, hand-over overdue by hours, items unavailable)
        (web, 200, Stage.AWAITING_HANDOVER, 150, False),
        (store, 130, Stage.AWAITING_ALLOCATION, None, True),
        (web, 80, Stage.AWAITING_APPROVAL, None, False),
        (store, 50, Stage.AWAITING_HANDOVER, 20, True),
        (web, 30, Stage.AWAITING_HANDOVER, 6, False),
        (store, 20, Stage.AWAITING_HANDOVER, 3, False),
        (web, 9, Stage.AWAITING_ALLOCATION, None, True),
        (store, 2, Stage.AWAITING_HANDOVER, None, False),
    ]
    entries = []
    for number, (channel, hours, stage, overdue_hours, unavailable) in enumerate(shapes, start=1):
        ordered_at = now - timedelta(hours=hours)
        entry = EntryFactory(
            channel=channel,
            external_ref=f"ORD-{40000 + number}",
            ordered_at=ordered_at,
            detected_at=ordered_at,
            stage=stage,
            handover_due_at=now - timedelta(hours=overdue_hours) if overdue_hours else None,
            items_unavailable=unavailable,
        )
        EntryLineFactory(entry=entry, sku=f"SKU-{4400 + number}", quantity=1 + number % 3)
        entries.append(entry)
    cycle_run(now=now)
    for entry in entries:
        entry.refresh_from_db()
    return BrowserBacklog(lead=lead, support=support, web=web, store=store, entries=entries)


@pytest.fixture
def sign_in(live_server):
    """Return a function that opens the dashboard, meets the login form and signs in."""

    def sign_in_as(page, username: str, password: str = PASSWORD) -> None:
        page.goto(f"{live_server.url}/")
        page.wait_for_url("**/accounts/login/**")
        page.get_by_label("User name").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_server.url}/")

    return sign_in_as
