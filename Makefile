# Everything a user runs. `make run` and `make test` install what they need first.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PYTEST_ARGS ?=

.PHONY: help install check-emulators run test test-unit lint format bench dlq-list dlq-replay reprocess clean \
	deploy-scrapers deploy-processors deploy-analytics deploy-all infra-apply \
	deploy-canary promote rollback

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

install: ## uv (from PyPI) and the locked dependencies in .venv, compiled to bytecode as in the image
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --locked --quiet --compile-bytecode

check-emulators: ## Java, the Pub/Sub emulator and Chromium: apt-installed when missing (root), else a clear error
	@scripts/check-emulators.sh

run: install check-emulators ## start the local stack, run a demo day, keep services up (Ctrl-C stops)
	@$(UV) run --locked nba-pipeline up

test: install check-emulators ## the whole suite; the emulators are started and stopped by the tests
	@$(UV) run --locked pytest -n 2 --dist loadfile --durations=10 $(PYTEST_ARGS)

test-unit: install ## tests that need no emulator
	@$(UV) run --locked pytest -m "not e2e" $(PYTEST_ARGS)

lint: install ## ruff and mypy, as CI runs them
	@$(UV) run --locked ruff check .
	@$(UV) run --locked ruff format --check .
	@$(UV) run --locked mypy

format: install ## apply ruff's formatting and safe fixes
	@$(UV) run --locked ruff format .
	@$(UV) run --locked ruff check --fix .

GCP_REGION ?= us-central1
RUN_URL = https://nba-$(1)-$(GCP_PROJECT_NUMBER).$(GCP_REGION).run.app

deploy-scrapers: install ## build and deploy scrapers to Cloud Run (DRY_RUN=1 prints the commands)
	@$(UV) run --locked nba-pipeline deploy scrapers
deploy-processors: install ## build and deploy processors to Cloud Run (DRY_RUN=1 prints the commands)
	@$(UV) run --locked nba-pipeline deploy processors
deploy-analytics: install ## build and deploy analytics to Cloud Run (DRY_RUN=1 prints the commands)
	@$(UV) run --locked nba-pipeline deploy analytics
deploy-all: install ## build and deploy the three services (DRY_RUN=1 prints the commands)
	@$(UV) run --locked nba-pipeline deploy all
deploy-canary: install ## SERVICE=...: new revision at CANARY_PERCENT (10%), watched, then promoted or rolled back
	@$(UV) run --locked python -m nba_pipeline.canary deploy $(SERVICE)
promote: install ## SERVICE=...: all traffic to the revision tagged canary (DRY_RUN=1 prints the command)
	@$(UV) run --locked python -m nba_pipeline.canary promote $(SERVICE)
rollback: install ## SERVICE=...: all traffic back to the revision tagged previous (DRY_RUN=1)
	@$(UV) run --locked python -m nba_pipeline.canary rollback $(SERVICE)
infra-apply: install ## Pub/Sub topology in GCP_PROJECT, then the Pub/Sub service agent's IAM
	@test -n "$(GCP_PROJECT)" -a -n "$(GCP_PROJECT_NUMBER)" -a -n "$(PUSH_SERVICE_ACCOUNT)" || { echo "set GCP_PROJECT, GCP_PROJECT_NUMBER, PUSH_SERVICE_ACCOUNT (docs/deploy.md)"; exit 2; }
	@$(UV) run --locked nba-pipeline infra apply --project $(GCP_PROJECT) \
		--processors-url $(call RUN_URL,processors) --analytics-url $(call RUN_URL,analytics) \
		--push-service-account $(PUSH_SERVICE_ACCOUNT)
	@$(UV) run --locked nba-pipeline deploy iam

bench: install check-emulators ## benchmarks against the local stack (BENCH_ARGS=--quick for a smoke run)
	@$(UV) run --locked nba-pipeline bench $(BENCH_ARGS)

# Without --project in ARGS, the DLQ commands talk to the `make run` emulator.
DLQ_ENV = $(if $(findstring --project,$(ARGS)),,PUBSUB_EMULATOR_HOST=$${PUBSUB_EMULATOR_HOST:-127.0.0.1:8085})

dlq-list: install ## dead-lettered messages of both DLQs (ARGS="--scraper bdl_games --project P ...")
	@$(DLQ_ENV) $(UV) run --locked nba-pipeline dlq list $(ARGS)

dlq-replay: install ## republish dead-lettered messages, ack after publish (ARGS="--dry-run --scraper ... --max N")
	@$(DLQ_ENV) $(UV) run --locked nba-pipeline dlq replay $(ARGS)

reprocess: install ## load stored raw files again after a parser fix, no upstream asked (ARGS="--from D --to D --dry-run")
	@$(UV) run --locked nba-pipeline reprocess $(ARGS)

clean: ## remove the local warehouse, logs and caches
	rm -rf .local .pytest_cache .mypy_cache .ruff_cache test-artifacts
