# CloudPAM: `make run` serves the console on :8080 with demo data; `make test` runs the suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DJANGO_SETTINGS_MODULE ?= cloudpam.settings.local

.PHONY: venv run test test-pg bench bench-scale lint format worker browser clean

$(STAMP): requirements/base.txt requirements/prod.txt requirements/dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/dev.txt
	@touch $(STAMP)

venv: $(STAMP)

# Migrations and the demo data log JSON lines (audit events among them) into
# var/run-setup.log, shown only if a step fails; the server prints the URL and
# the login last, once it listens.
PORT ?= 8080
RUN_LOG := $${CLOUDPAM_VAR_DIR:-var}/run-setup.log

run: venv
	@mkdir -p "$${CLOUDPAM_VAR_DIR:-var}"
	@echo "Preparing the database and the demo organization (log: $(RUN_LOG))..."
	@$(BIN)/python manage.py migrate --noinput >"$(RUN_LOG)" 2>&1 || { cat "$(RUN_LOG)"; exit 1; }
	@$(BIN)/python manage.py seed_demo >>"$(RUN_LOG)" 2>&1 || { cat "$(RUN_LOG)"; exit 1; }
	@DJANGO_RUNSERVER_HIDE_WARNING=true exec $(BIN)/python manage.py serve_demo 127.0.0.1:$(PORT)

# Headless Chromium for the browser tests comes from Debian's packages; without
# root or apt the browser tests skip and say why.
browser:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		(apt-get install -y -q chromium >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1)) \
		|| echo "chromium could not be installed; browser tests will be skipped"; \
	fi

test: venv browser
	DJANGO_SETTINGS_MODULE=cloudpam.settings.test $(BIN)/python -m pytest $(PYTEST_ARGS)

# The page walk, saving the main pages as an owner and a superuser under var/screenshots/.
.PHONY: screenshots
screenshots: venv browser
	CLOUDPAM_SCREENSHOTS=1 DJANGO_SETTINGS_MODULE=cloudpam.settings.test $(BIN)/python -m pytest tests/platform/test_page_walk.py -q
	@echo "Screenshots in var/screenshots/"

# Every script runs in its own process, even after one crashes or misses its targets; one
# table of figures (met or missed) at the end. Non-zero only when a script crashed.
bench: venv
	DJANGO_SETTINGS_MODULE=cloudpam.settings.test $(BIN)/python bench/run_all.py

# A million pools on PostgreSQL (minutes, not seconds): SCALE_DATABASE_URL names a database
# the benchmark may fill; the plan is generated once and reused by later runs.
bench-scale: venv
	@test -n "$$SCALE_DATABASE_URL" || (echo "SCALE_DATABASE_URL must name a PostgreSQL database" && exit 1)
	DJANGO_SETTINGS_MODULE=cloudpam.settings.test $(BIN)/python bench/run_all.py bench/bench_scale.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

worker: venv
	@test -n "$$REDIS_URL" || (echo "REDIS_URL must point at Redis for a worker" && exit 1)
	$(BIN)/celery -A cloudpam worker -l info -B --scheduler django_celery_beat.schedulers:DatabaseScheduler

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
