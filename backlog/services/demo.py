"""Demo data that the product generates itself: staff, channels, shifts and synthetic orders.

The orders are written as a generic CSV in memory and loaded through the generic importer,
so the demo goes through the same intake path as a real file. Every step is safe to run
again: existing users, channels, teams and shifts are kept as they are, demo orders load
only into an empty demo source, and the triage cycle runs once per slot.
"""

import csv
import io
import logging
import random
import unicodedata
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from backlog.models import BacklogEntry, Channel, Stage, Status, Team
from backlog.roles import Role
from backlog.services.imports import GenericOptions, ImportReport, import_generic
from comms.services.templates import default_templates_ensure
from triage.models import Shift
from triage.services.cycles import CycleOutcome, cycle_run

logger = logging.getLogger(__name__)

DEMO_SOURCE = "demo"
DEFAULT_ORDER_COUNT = 300
DEFAULT_SEED = 2026
MAX_ORDER_COUNT = 20_000
# Orders spread over this many days, enough for the 28-day demand baseline to mean something.
HISTORY_DAYS = 35
# The demand surge hits one category this many days before `now`, with this share of all orders.
SURGE_DAYS_AGO = 3
SURGE_CATEGORY = "Garden & outdoor"
SURGE_SHARE = 0.1
# Fewer surge orders than this would not pass the default minimum of the surge signal.
MIN_SURGE_ORDERS = 6

CSV_COLUMNS = (
    "order_ref",
    "channel",
    "customer_name",
    "customer_email",
    "region",
    "ordered_at",
    "approved_at",
    "handed_over_at",
    "delivered_at",
    "handover_due_at",
    "promised_at",
    "stage",
    "status",
    "items_unavailable",
    "sku",
    "qty",
    "category",
    "seller",
    "unit_price",
    "note",
)


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: Role
    first_name: str
    last_name: str
    # A fixed, published password: these accounts exist for a local demo only.
    password: str


DEMO_USERS = (
    DemoUser("admin", Role.ADMIN, "Aylin", "Demir", "demo-admin-2026"),
    DemoUser("manager", Role.MANAGER, "Markus", "Brandt", "demo-manager-2026"),
    DemoUser("lead", Role.LEAD, "Inês", "Araújo", "demo-lead-2026"),
    DemoUser("support", Role.SUPPORT, "Jürgen", "Weiß", "demo-support-2026"),
)


@dataclass(frozen=True)
class DemoChannel:
    code: str
    name: str
    high_impact: bool
    # Share of all orders, and days from order to the promised delivery.
    weight: float
    promise_days: int


DEMO_CHANNELS = (
    DemoChannel("web", "Web shop", False, 0.45, 5),
    DemoChannel("store-pickup", "Store pick-up", False, 0.1, 3),
    DemoChannel("marketplace", "Marketplace", True, 0.25, 7),
    DemoChannel("app", "Mobile app", False, 0.2, 5),
)

# (name, starts at, ends at) on the site's clock; together they cover the whole day.
DEMO_SHIFTS = (
    ("Early", time(6), time(14)),
    ("Late", time(14), time(22)),
    ("Night", time(22), time(6)),
)
DEMO_TEAMS = ("Fulfilment", "Customer care")


@dataclass(frozen=True)
class DemoCategory:
    name: str
    sku_prefix: str
    min_price: int
    max_price: int


CATEGORIES = (
    DemoCategory("Garden & outdoor", "GRD", 8, 240),
    DemoCategory("Kitchen", "KIT", 5, 180),
    DemoCategory("Electronics", "ELC", 15, 900),
    DemoCategory("Toys", "TOY", 4, 90),
    DemoCategory("Sports", "SPT", 10, 320),
    DemoCategory("Home textiles", "TEX", 6, 140),
    DemoCategory("Beauty", "BTY", 3, 75),
    DemoCategory("Books", "BOK", 5, 45),
)
SKUS_PER_CATEGORY = 12
SELLERS = ("berlin-central", "hamburg-north", "munich-south", "cologne-west", "partner-lisboa", "partner-krakow")
REGIONS = (
    ("Berlin", 14),
    ("Bayern", 18),
    ("Nordrhein-Westfalen", 22),
    ("Hamburg", 8),
    ("Baden-Württemberg", 15),
    ("Sachsen", 7),
    ("Hessen", 9),
    ("Niedersachsen", 7),
)
FIRST_NAMES = (
    "Jürgen", "Inês", "Zoë", "Łukasz", "Søren", "François", "Ana", "Chloé", "José", "Ngozi",
    "Björn", "Ayşe", "Mateo", "Leonie", "Hannah", "Ömer", "Emma", "Jonas", "Marta", "Dmitri",
    "Élodie", "Kai", "Noémie", "Paulina", "Yusuf", "Greta", "Tomás", "Mia", "Felix", "Sofía",
)
LAST_NAMES = (
    "Weiß", "Araújo", "Müller", "Dvořák", "Kowalski", "Schröder", "Okafor", "Yılmaz", "García",
    "Nguyễn", "Fischer", "Çelik", "Jørgensen", "Lefèvre", "Becker", "Nowak", "Hoffmann", "Šimić",
    "Wagner", "Costa", "Krüger", "Ferreira", "Schäfer", "Novák", "Richter", "Łuczak",
)
NOTES = (
    "Customer asked for delivery after 17:00.",
    "Gift wrap requested.",
    "Leave the parcel with a neighbour if nobody is home.",
    "Customer called about the delivery date.",
    "Second attempt: first payment was declined.",
    "Replacement for a damaged item from an earlier order.",
)
# Letters that Unicode decomposition does not reduce to ASCII, for the e-mail local part.
ASCII_SPELLINGS = str.maketrans({"ß": "ss", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ı": "i", "æ": "ae"})


@dataclass(frozen=True)
class UserOutcome:
    user: DemoUser
    created: bool


@dataclass(frozen=True)
class OrdersOutcome:
    # None when demo orders were already loaded and nothing was imported.
    report: ImportReport | None
    existing: int


@dataclass(frozen=True)
class DemoSeedReport:
    users: list[UserOutcome]
    channels: int
    teams: int
    shifts: list[Shift]
    orders: OrdersOutcome
    cycle: CycleOutcome


class DemoImportError(Exception):
    """Raised when the importer rejects the generated orders, which points to a bug in the generator."""


def demo_seed(*, order_count: int = DEFAULT_ORDER_COUNT, seed: int = DEFAULT_SEED, now: datetime) -> DemoSeedReport:
    """Create the demo staff, channels, teams and shifts, load demo orders, and run a triage cycle."""
    if not 1 <= order_count <= MAX_ORDER_COUNT:
        raise ValueError(f"Invalid number of demo orders {order_count}: expected 1 to {MAX_ORDER_COUNT}.")

    with transaction.atomic():
        users = _demo_users_ensure()
        channels = _demo_channels_ensure()
        teams = _demo_teams_ensure()
        shifts = _demo_shifts_ensure()
    orders = _demo_orders_load(order_count=order_count, seed=seed, now=now)
    cycle = cycle_run(now=now)
    default_templates_ensure(now=now)
    return DemoSeedReport(users=users, channels=channels, teams=teams, shifts=shifts, orders=orders, cycle=cycle)


def _demo_users_ensure() -> list[UserOutcome]:
    """Create missing demo users; an existing one keeps its password and gets its role group back."""
    User = get_user_model()
    outcomes = []
    for demo in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=demo.username,
            defaults={
                "first_name": demo.first_name,
                "last_name": demo.last_name,
                "email": f"{demo.username}@triage-desk.example",
                # Managers edit escalation policies and calendars in the Django admin.
                "is_staff": demo.role in (Role.ADMIN, Role.MANAGER),
                "is_superuser": demo.role == Role.ADMIN,
            },
        )
        if created:
            user.set_password(demo.password)
            user.save(update_fields=["password"])
        group, _ = Group.objects.get_or_create(name=demo.role.value)
        user.groups.add(group)
        outcomes.append(UserOutcome(user=demo, created=created))
    return outcomes


def _demo_channels_ensure() -> int:
    for channel in DEMO_CHANNELS:
        Channel.objects.get_or_create(
            code=channel.code, defaults={"name": channel.name, "high_impact": channel.high_impact}
        )
    return len(DEMO_CHANNELS)


def _demo_teams_ensure() -> int:
    User = get_user_model()
    staff = {user.username: user for user in User.objects.filter(username__in=[demo.username for demo in DEMO_USERS])}
    for name in DEMO_TEAMS:
        team, created = Team.objects.get_or_create(name=name, defaults={"manager": staff.get("manager")})
        if created:
            team.members.add(*[staff[username] for username in ("lead", "support") if username in staff])
    return len(DEMO_TEAMS)


def _demo_shifts_ensure() -> list[Shift]:
    """Create missing shifts with the demo lead and support on duty; existing shifts stay as configured."""
    User = get_user_model()
    lead = User.objects.filter(username="lead").first()
    support = User.objects.filter(username="support").first()
    shifts = []
    for name, starts_at, ends_at in DEMO_SHIFTS:
        shift, _ = Shift.objects.get_or_create(
            name=name, defaults={"starts_at": starts_at, "ends_at": ends_at, "lead": lead, "support": support}
        )
        shifts.append(shift)
    return shifts


def _demo_orders_load(*, order_count: int, seed: int, now: datetime) -> OrdersOutcome:
    existing = BacklogEntry.objects.filter(source=DEMO_SOURCE).count()
    if existing:
        logger.info("Demo source already contains %d entries; no demo orders imported.", existing)
        return OrdersOutcome(report=None, existing=existing)

    data = demo_orders_csv(order_count=order_count, seed=seed, now=now)
    report = import_generic(
        data,
        options=GenericOptions(source=DEMO_SOURCE, file_name=f"demo-orders-seed-{seed}.csv"),
        actor=None,
        now=now,
    )
    if not report.ok:
        first_errors = "; ".join(str(error) for error in report.errors[:5])
        raise DemoImportError(f"The importer rejected the generated demo orders: {first_errors}")
    return OrdersOutcome(report=report, existing=0)


def demo_orders_csv(*, order_count: int, seed: int, now: datetime) -> bytes:
    """Return `order_count` synthetic orders as a generic CSV in UTF-8, one row per order line.

    The same count, seed and `now` always give the same bytes. Times are written in UTC
    with their offset.
    """
    generator = _OrderGenerator(random.Random(seed), now=now, zone=ZoneInfo(settings.TIME_ZONE))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for number, (day_offset, category) in enumerate(generator.order_days(order_count), start=1):
        for row in generator.order_rows(number, day_offset=day_offset, first_category=category):
            writer.writerow([row.get(column, "") for column in CSV_COLUMNS])
    return buffer.getvalue().encode("utf-8")


class _OrderGenerator:
    """Draws orders from one random stream, so a seed fixes the whole data set."""

    def __init__(self, rng: random.Random, *, now: datetime, zone: ZoneInfo) -> None:
        self.rng = rng
        self.now = now
        self.zone = zone
        self.categories = {category.name: category for category in CATEGORIES}

    def order_days(self, order_count: int) -> list[tuple[int, str | None]]:
        """Return (days before now, forced first category or None) per order, oldest first."""
        surge_count = min(order_count // 2, max(MIN_SURGE_ORDERS, round(order_count * SURGE_SHARE)))
        days = [(self.rng.randint(0, HISTORY_DAYS), None) for _ in range(order_count - surge_count)]
        days += [(SURGE_DAYS_AGO, SURGE_CATEGORY)] * surge_count
        days.sort(key=lambda day: -day[0])
        return days

    def order_rows(self, number: int, *, day_offset: int, first_category: str | None) -> list[dict[str, str]]:
        rng = self.rng
        channel = rng.choices(DEMO_CHANNELS, weights=[channel.weight for channel in DEMO_CHANNELS])[0]
        ordered_at = self._order_time(day_offset)
        first_name, last_name = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        progress = self._progress(ordered_at, promise_days=channel.promise_days)

        order = {
            "order_ref": f"DEMO-{number:05d}",
            "channel": channel.code,
            "customer_name": f"{first_name} {last_name}",
            "customer_email": _email_for(first_name, last_name, number),
            "region": rng.choices([name for name, _ in REGIONS], weights=[weight for _, weight in REGIONS])[0],
            "ordered_at": _iso(ordered_at),
            "note": rng.choice(NOTES) if rng.random() < 0.1 else "",
            **progress,
        }
        return [{**order, **line} for line in self._lines(first_category)]

    def _order_time(self, day_offset: int) -> datetime:
        day = (self.now.astimezone(self.zone) - timedelta(days=day_offset)).date()
        # Orders arrive between 07:00 and midnight on the site's clock, most in the evening.
        minutes = int(self.rng.triangular(7 * 60, 23 * 60 + 59, 19 * 60))
        local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=self.zone)
        moment = local.astimezone(ZoneInfo("UTC"))
        # An order "today" after the current time is moved into the past.
        latest = self.now - timedelta(minutes=5)
        if moment > latest:
            moment = latest - timedelta(minutes=self.rng.randint(0, 240))
        return moment

    def _progress(self, ordered_at: datetime, *, promise_days: int) -> dict[str, str]:
        """Draw the order's timestamps, stage and status from one of five profiles."""
        rng = self.rng
        now = self.now
        promised_at = ordered_at + timedelta(days=promise_days)
        profile = rng.choices(
            ("stuck_in_approval", "items_unavailable", "late_handover", "late_delivery", "on_time"),
            weights=(5, 8, 14, 8, 65),
        )[0]

        approved_at = ordered_at + timedelta(hours=rng.uniform(0.1, 4))
        if profile == "stuck_in_approval" or approved_at > now:
            return {
                "promised_at": _iso(promised_at),
                "stage": Stage.AWAITING_APPROVAL,
                "status": Status.OPEN,
                "items_unavailable": "false",
            }

        handover_due_at = approved_at + timedelta(hours=48)
        base = {
            "approved_at": _iso(approved_at),
            "handover_due_at": _iso(handover_due_at),
            "promised_at": _iso(promised_at),
            "items_unavailable": "false",
        }
        if profile == "items_unavailable":
            status = Status.ON_HOLD if rng.random() < 0.25 else Status.OPEN
            return {**base, "stage": Stage.AWAITING_ALLOCATION, "status": status, "items_unavailable": "true"}

        if profile == "late_handover":
            handed_over_at = handover_due_at + timedelta(hours=rng.uniform(2, 60))
        else:
            handed_over_at = approved_at + timedelta(hours=rng.uniform(3, 40))
        if handed_over_at > now:
            return {**base, "stage": Stage.AWAITING_HANDOVER, "status": Status.OPEN}

        transit_hours = rng.uniform(60, 150) if profile == "late_delivery" else rng.uniform(20, 70)
        delivered_at = handed_over_at + timedelta(hours=transit_hours)
        if delivered_at > now:
            return {**base, "handed_over_at": _iso(handed_over_at), "stage": Stage.IN_TRANSIT, "status": Status.OPEN}
        return {
            **base,
            "handed_over_at": _iso(handed_over_at),
            "delivered_at": _iso(delivered_at),
            "stage": Stage.DELIVERED,
            "status": Status.CLOSED,
        }

    def _lines(self, first_category: str | None) -> list[dict[str, str]]:
        rng = self.rng
        line_count = rng.choices((1, 2, 3, 4), weights=(50, 30, 15, 5))[0]
        category_names = [first_category or rng.choice(CATEGORIES).name]
        category_names += [rng.choice(CATEGORIES).name for _ in range(line_count - 1)]

        lines = []
        used_skus = set()
        for name in category_names:
            category = self.categories[name]
            sku = f"{category.sku_prefix}-{rng.randint(1, SKUS_PER_CATEGORY):04d}"
            if sku in used_skus:
                continue
            used_skus.add(sku)
            price = Decimal(rng.uniform(category.min_price, category.max_price)).quantize(Decimal("0.01"))
            lines.append(
                {
                    "sku": sku,
                    "qty": str(rng.choices((1, 2, 3), weights=(80, 15, 5))[0]),
                    "category": category.name,
                    "seller": rng.choice(SELLERS),
                    "unit_price": str(price),
                }
            )
        return lines


def _iso(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("UTC")).isoformat(timespec="seconds")


def _email_for(first_name: str, last_name: str, number: int) -> str:
    """Spell a customer's name in ASCII for an address at example.com, a domain reserved for examples."""
    local = f"{first_name}.{last_name}".translate(ASCII_SPELLINGS)
    local = unicodedata.normalize("NFKD", local).encode("ascii", "ignore").decode("ascii").lower()
    return f"{local}.{number}@example.com"
