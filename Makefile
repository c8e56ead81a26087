# Two commands do everything on a fresh machine with Python 3.11+:
#   make run    start Flowport on SQLite with the examples deployed
#   make test   lint, type-check and run the whole test suite
.DEFAULT_GOAL := help
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
NPM := $(shell command -v npm 2>/dev/null)
# bpmn-js for the console's diagrams: pinned in package-lock.json, fetched here, not committed.
VENDOR := src/flowport/web/vendor
PYTEST_ARGS ?=

.PHONY: help run test lint bench chaos clean assets

help:
	@echo "make run    start Flowport (SQLite, examples deployed)"
	@echo "make test   run linters and the whole test suite"
	@echo "make bench  run the benchmarks"
	@echo "make chaos  run the full fault battery (tests/chaos; a short one runs in make test)"

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv==0.13.9

.venv/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen
	@touch $@

ifneq ($(NPM),)
$(VENDOR)/node_modules/.package-lock.json: $(VENDOR)/package-lock.json $(VENDOR)/package.json
	$(NPM) ci --prefix $(VENDOR) --no-audit --no-fund --loglevel=error
	@touch $@

assets: $(VENDOR)/node_modules/.package-lock.json
else
assets:
	@echo "npm not found: the console works, but says diagrams are unavailable"
endif

run: .venv/.synced assets
	$(UV) run --frozen flowport serve --examples examples --token-file var/admin.token

lint: .venv/.synced
	$(UV) run --frozen ruff check src tests bench
	$(UV) run --frozen mypy
	$(UV) run --frozen lint-imports

test: lint assets
	$(UV) run --frozen pytest $(PYTEST_ARGS)

bench: .venv/.synced
	$(UV) run --frozen python -m bench

# The fault battery at full scale (1,000 instances, a minute of kills); PostgreSQL for the
# replica and database-loss parts. `make test` runs the same tests at a short scale.
chaos: .venv/.synced
	FLOWPORT_CHAOS=full $(UV) run --frozen pytest tests/chaos -s -q $(PYTEST_ARGS)

clean:
	rm -rf .venv .tools var .pytest_cache .mypy_cache .ruff_cache $(VENDOR)/node_modules
