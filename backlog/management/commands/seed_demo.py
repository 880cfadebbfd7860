from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from backlog.services.demo import DEFAULT_ORDER_COUNT, DEFAULT_SEED, MAX_ORDER_COUNT, DemoSeedReport, demo_seed


class Command(BaseCommand):
    help = (
        "Create demo users (one per role), channels, teams and shifts, import synthetic orders "
        "and run one triage cycle. Safe to run again: nothing is duplicated or overwritten."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--entries",
            type=int,
            default=DEFAULT_ORDER_COUNT,
            help=f"Number of demo orders to generate, 1 to {MAX_ORDER_COUNT}. Default: {DEFAULT_ORDER_COUNT}.",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=DEFAULT_SEED,
            help=f"Random seed; the same seed gives the same orders. Default: {DEFAULT_SEED}.",
        )

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo creates accounts with published passwords, so it runs only with DEBUG on "
                "(the default of config.settings.dev)."
            )
        try:
            report = demo_seed(order_count=options["entries"], seed=options["seed"], now=timezone.now())
        except ValueError as error:
            raise CommandError(str(error)) from error
        self._print_logins(report)
        self._print_data(report)

    def _print_logins(self, report: DemoSeedReport) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING("Demo log-ins (local demo only: the passwords are published)"))
        self.stdout.write(f"  {'role':<9} {'user name':<10} {'password':<19} account")
        for outcome in report.users:
            demo = outcome.user
            state = "created" if outcome.created else "existing, password unchanged"
            self.stdout.write(f"  {demo.role.value:<9} {demo.username:<10} {demo.password:<19} {state}")

    def _print_data(self, report: DemoSeedReport) -> None:
        shifts = ", ".join(
            f"{shift.name} {shift.starts_at:%H:%M}-{shift.ends_at:%H:%M}" for shift in report.shifts
        )
        self.stdout.write(f"Channels: {report.channels}; teams: {report.teams}; shifts: {shifts}.")

        orders = report.orders
        if orders.report is None:
            self.stdout.write(f"Demo orders: {orders.existing} entries already loaded; none imported.")
        else:
            self.stdout.write(f"Demo orders imported: {orders.report.summary()}")

        cycle = report.cycle
        slot = timezone.localtime(cycle.slot_start).strftime("%Y-%m-%d %H:%M %Z")
        if cycle.ran:
            self.stdout.write(f"Triage cycle for slot {slot}: queued {cycle.queued} entries.")
        else:
            self.stdout.write(f"Triage cycle for slot {slot} already ran; nothing done.")
