# Developer entry points. `make run` starts the local demo; `make test` runs the suite,
# which is also what CI runs through .ci/run.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The install step reruns only when pyproject.toml is newer than this file.
INSTALL_STAMP := $(VENV)/.install-stamp
PORT ?= 8000
# pytest-xdist workers; README.md gives the timings behind this default.
TEST_WORKERS ?= 2
PYTEST_ARGS ?=

export PORT

.PHONY: help install run migrate seed test

help:
	@echo "make run      create .venv, install, migrate, seed demo data, start web + worker + beat"
	@echo "make test     install, then run the test suite (PYTEST_ARGS='-k cycle' to narrow it)"
	@echo "make install  create .venv and install the project with its test extra"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo "Triage Desk needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) --version 2>&1)."; \
		echo "Run make with PYTHON=python3.12 (or another 3.11+ interpreter)."; exit 1; }
	@$(PYTHON) -m venv $(VENV) || { \
		echo "Creating the virtualenv failed; on Debian or Ubuntu install python3-venv first."; exit 1; }

$(INSTALL_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[test]'
	@touch $@

install: $(INSTALL_STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py setup_schedule

seed: migrate
	$(BIN)/python manage.py seed_demo

run: seed
	@echo "Starting web, worker and beat; the URL follows once the web server answers."
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/procfile_run.py Procfile.dev \
		--url http://127.0.0.1:$(PORT)/

# --ds wins over a DJANGO_SETTINGS_MODULE exported in the shell, so tests never run on dev settings.
# NOTE: with pytest 9.2 and pytest-xdist 3.8, --dist loadgroup ignores xdist_group marks and
# spreads those tests like any other, so no test may rely on running alone.
test: install
	$(BIN)/python -m pytest --ds=config.settings.test -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)
