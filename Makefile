# Two commands: `make run` and `make test` (see README.md). Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
export DJANGO_SETTINGS_MODULE := district.settings
export PYTHONUNBUFFERED := 1

.PHONY: run test serve install install-dev system-deps messages migrate seed lint bench vendor clean

# `make run PORT=8001` serves on another port; Ctrl-C stops it. Without DATABASE_URL the embedded
# PostgreSQL is used: if this run started it, it is stopped again when the run ends (however it
# ends); one that was already running is left running. The INT trap (a handler, not "ignore")
# makes this shell wait for serve's own orderly stop before it stops the database.
run: install system-deps messages  ## install, migrate, seed the demo city, serve :$(PORT); Ctrl-C stops it
	@started=; if [ -z "$$DATABASE_URL" ] && ! $(PY) -m district.embedded_db --is-running; then started=1; fi; \
	trap 'true' INT TERM; status=0; \
	$(MAKE) --no-print-directory migrate seed serve || status=$$?; \
	if [ -n "$$started" ]; then echo "stopping the embedded PostgreSQL"; $(PY) -m district.embedded_db --stop; fi; \
	exit $$status

test: install-dev system-deps messages  ## lint, layer contracts, system checks and the whole suite on a real PostgreSQL
	@export DATABASE_URL="$$($(PY) -m district.embedded_db --for-tests)"; \
	echo "tests use $${DATABASE_URL%%\?*}"; \
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && \
	$(VENV)/bin/lint-imports --no-cache && \
	DATABASE_URL=postgres://localhost/unused $(VENV)/bin/mypy && \
	$(PY) manage.py check --fail-level WARNING && \
	$(PY) manage.py makemigrations --check --dry-run >/dev/null && \
	$(VENV)/bin/pytest

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.txt
	# face-recognition's metadata pulls the dlib sdist (25 min to compile); dlib-bin provides dlib.
	$(PIP) install -q --no-deps face-recognition==1.3.0
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Debian packages: Chromium for browser tests, CJK fonts for door plates and screenshots,
# gettext for translations. Installed only when missing (needs root or sudo).
SYSTEM_PACKAGES := chromium fonts-noto-cjk gettext
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

messages: install
	# compilemessages needs no database; a placeholder URL keeps it from starting the embedded one.
	DATABASE_URL=$${DATABASE_URL:-postgres://localhost/unused} $(PY) manage.py compilemessages --ignore=.venv -v0

migrate: install
	$(PY) manage.py migrate_all

seed: install
	$(PY) manage.py seed_demo

# daphne serves the pages; a procrastinate worker runs the background jobs (Excel imports) beside
# it. Each runs in a session of its own (setsid), so a Ctrl-C reaches only this shell, which then
# sends both one SIGTERM: daphne stops, the worker lets running jobs reach a checkpoint (a few
# seconds); a second Ctrl-C stops the worker at once (its job resumes after the next start). If
# either process exits, the other is stopped too.
serve: install
	@echo "serving http://$(HOST):$(PORT); background jobs: a procrastinate worker"
	@setsid $(VENV)/bin/daphne -b $(HOST) -p $(PORT) district.asgi:application & web=$$!; \
	setsid $(PY) manage.py procrastinate worker & worker=$$!; \
	stopped=; stop() { stopped=1; kill -TERM $$web $$worker 2>/dev/null; }; trap stop INT TERM; \
	wait -n $$web $$worker; status=$$?; if [ -n "$$stopped" ]; then status=0; else stop; fi; \
	while kill -0 $$web 2>/dev/null || kill -0 $$worker 2>/dev/null; do wait $$web $$worker; done; \
	exit $$status

lint: install-dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

# mypy with the django-stubs plugin imports the settings; the placeholder URL starts no database.
.PHONY: typecheck
typecheck: install-dev
	DATABASE_URL=postgres://localhost/unused $(VENV)/bin/mypy

bench: install
	$(PY) bench/provision.py

# 64 clients for 30 s on a daphne of its own (docs/benchmarks.md); e.g. make bench-load ARGS="--clients 16".
.PHONY: bench-load
bench-load: install-dev
	$(PY) bench/load.py $(ARGS)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
