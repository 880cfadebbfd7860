from django.core.management.base import BaseCommand

from triage.services.schedule import PERIODIC_JOBS, periodic_jobs_register


class Command(BaseCommand):
    help = "Register the periodic jobs in the beat schedule, keeping any an admin changed."

    def handle(self, *args, **options) -> None:
        created = periodic_jobs_register()
        for job in PERIODIC_JOBS:
            state = "created" if job.name in created else "kept as configured"
            self.stdout.write(f"{job.name} ({job.task}): {state}")
