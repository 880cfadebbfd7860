"""Celery settings; the app in config/celery.py reads every CELERY_* name here."""

from config.env import BASE_DIR, env

# Without REDIS_URL, a folder on disk is the broker, so a first run needs no server.
# memory:// cannot be used because beat and the worker are separate processes.
BROKER_FOLDER = BASE_DIR / "var" / "celery-broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=env.str("REDIS_URL", default="filesystem://"))
if CELERY_BROKER_URL == "filesystem://":
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_FOLDER / "queue"),
        "data_folder_out": str(BROKER_FOLDER / "queue"),
        "processed_folder": str(BROKER_FOLDER / "processed"),
        "control_folder": str(BROKER_FOLDER / "control"),
        "store_processed": False,
    }
    # Kombu creates only the control folder itself; a worker started before the queue folder
    # exists fails on its first poll.
    for folder in ("queue", "processed", "control"):
        (BROKER_FOLDER / folder).mkdir(parents=True, exist_ok=True)

# Tasks record their outcome in the database (triage cycles, timeline events), so
# Celery's own result store would only duplicate it.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# A worker that dies mid-task hands the message back to the broker, so a cycle is never
# silently dropped. The services are idempotent, so running it again is safe.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

# The tests run tasks in-process unless they start a real worker.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
