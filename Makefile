# The two commands a newcomer needs are `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSDEPS := $(VENV)/.system-deps

.PHONY: demo test lint typecheck unit bench screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Debian packages for browser and PostgreSQL tests (installed by the project, never by hand).
$(SYSDEPS): scripts/install-system-deps $(STAMP)
	./scripts/install-system-deps
	touch $(SYSDEPS)

demo: $(STAMP)
	$(BIN)/relapsewatch serve --demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# axe-core for the browser accessibility tests, from npm at the locked version.
NODE_DEPS := node_modules/.installed
$(NODE_DEPS): package.json package-lock.json $(SYSDEPS)
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_DEPS)

unit: $(STAMP) $(SYSDEPS) $(NODE_DEPS)
	$(BIN)/pytest -n 2 -q

test: lint typecheck unit

# Refresh docs/screenshots from the browser tests (test runs otherwise leave tracked files alone).
screenshots: $(STAMP) $(SYSDEPS)
	RELAPSEWATCH_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q -p no:cacheprovider tests/web/test_browser.py

bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
