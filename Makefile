# Spectral. `make help` lists the targets; `make run` and `make test` are all a newcomer needs.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
SYNCED := $(VENV)/.synced
PROJECT_FILES := uv.lock pyproject.toml $(wildcard shared/pyproject.toml services/*/pyproject.toml gateway/pyproject.toml)

# The split topology (make stack) talks to these; override any of them from the environment.
STACK_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/spectral
STACK_BROKER_URL ?= amqp://guest:guest@127.0.0.1:5672//
STACK_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Spectral needs Python 3.11 or newer; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(SYNCED): $(UV) $(PROJECT_FILES)
	$(UV) sync --locked --python "$$($(PYTHON) -c 'import sys; print(sys.executable)')"
	@touch $@

.PHONY: install
install: $(SYNCED) ## Install everything into .venv (from the lock file)

.PHONY: run
run: $(SYNCED) ## Run the whole platform in one process on http://localhost:5000 (PORT overrides)
	$(BIN)/spectral all

.PHONY: test
test: $(SYNCED) ## Run the whole test suite (needs PostgreSQL, RabbitMQ and Redis; see README)
	$(BIN)/pytest $(PYTEST_ARGS)

.PHONY: lint
lint: $(SYNCED) ## ruff, mypy, import boundaries and cycles, hadolint and shellcheck
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared/spectral_shared services/*/spectral_* gateway/spectral_gateway tools
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/python tools/check_import_cycles.py
	$(BIN)/hadolint Dockerfile
	$(BIN)/shellcheck --severity=warning .ci/run deploy/docker/gateway-entrypoint.sh deploy/postgres/init.sh

.PHONY: fmt
fmt: $(SYNCED) ## Format and fix what ruff can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: migrate
migrate: $(SYNCED) ## Apply every service's migrations (DATABASE_URL, or SQLite under var/)
	$(BIN)/spectral db upgrade

.PHONY: backup
backup: $(SYNCED) ## Back up every service's PostgreSQL schema to var/backups (30 daily, 12 monthly)
	$(BIN)/spectral db backup

.PHONY: stack
stack: $(SYNCED) ## Run every target as its own process against PostgreSQL, RabbitMQ, Redis and local S3
	@BROKER_URL="$(STACK_BROKER_URL)" $(BIN)/python deploy/stack/prepare.py --database-url "$(STACK_DATABASE_URL)"
	DATABASE_URL="$(STACK_DATABASE_URL)" BROKER_URL="$(STACK_BROKER_URL)" REDIS_URL="$(STACK_REDIS_URL)" \
	  $(BIN)/honcho --procfile Procfile --env deploy/stack/stack.env start

.PHONY: stack-reset
stack-reset: $(SYNCED) ## Drop make stack's database, its data and generated secrets (the next make stack starts afresh)
	$(BIN)/python deploy/stack/prepare.py --database-url "$(STACK_DATABASE_URL)" --reset

.PHONY: up
up: ## Build the images and start the platform with docker compose (.env.production)
	@test -f .env.production || { echo "No .env.production: cp .env.production.example .env.production, then replace every CHANGE_ME (see its header)" >&2; exit 1; }
	docker compose --env-file .env.production up -d --build --wait

.PHONY: down
down: ## Stop and remove the docker compose platform's containers (volumes are kept)
	docker compose --env-file .env.production down

.PHONY: bench
bench: $(SYNCED) ## Run the benchmarks in bench/ and rewrite docs/benchmarks.md
	$(BIN)/python bench/run.py

.PHONY: events-doc
events-doc: $(SYNCED) ## Print the generated part of docs/events.md
	$(BIN)/spectral events catalog

.PHONY: telemetry-doc
telemetry-doc: $(SYNCED) ## Print the generated part of docs/telemetry.md
	$(BIN)/spectral governance telemetry-doc

.PHONY: rules-doc
rules-doc: $(SYNCED) ## Print the generated part of docs/rules.md
	$(BIN)/spectral governance rules-doc

.PHONY: clean
clean: ## Remove .venv, .tools and the embedded data under var/
	rm -rf $(VENV) $(TOOLS) var .pytest_cache .mypy_cache .ruff_cache
