# Production image: web (gunicorn + WhiteNoise), worker and beat all run from it; see
# docker-compose.yml for the commands and the environment each one needs.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=config.settings.production

WORKDIR /app

# Dependencies first, so a change in the code alone reuses this layer.
COPY pyproject.toml README.md ./
COPY config/__init__.py config/
COPY backlog/__init__.py backlog/
COPY triage/__init__.py triage/
COPY allocation/__init__.py allocation/
COPY comms/__init__.py comms/
RUN pip install .

COPY . .
# The project is imported from /app (PYTHONPATH), where templates/ and static/ sit beside
# config/; reinstalling without dependencies keeps the installed metadata in step with it.
RUN pip install --no-deps .

# collectstatic needs only the settings to load, so placeholder values stand in for the
# real ones here; nothing connects to a database or Redis during the build.
RUN SECRET_KEY=collectstatic-only \
    DATABASE_URL=sqlite:////tmp/collectstatic.sqlite3 \
    REDIS_URL=redis://localhost:6379/0 \
    ALLOWED_HOSTS=localhost \
    EMAIL_URL=consolemail:// \
    python manage.py collectstatic --noinput \
    && rm -rf /app/var

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin triage
# A new named volume copies this folder's owner, so the web user can write uploads there.
RUN mkdir -p /srv/import-uploads && chown triage /srv/import-uploads
USER triage

EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
