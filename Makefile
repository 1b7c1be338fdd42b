# Two entry points (see README): `make demo` runs the main job, `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint imports typecheck pytest docs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The real Mermaid parser (node) that checks devtools' diagrams; skipped without npm.
MERMAID := tests/devtools/mermaid_parse
$(MERMAID)/node_modules/.installed: $(MERMAID)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(MERMAID) --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the Mermaid parser test will skip"; fi

demo: $(STAMP)
	$(BIN)/resultflow demo

test: $(STAMP) lint imports typecheck pytest docs

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

# The import layers (pyproject.toml [tool.importlinter], drawn in docs/architecture.md).
imports: $(STAMP)
	$(BIN)/lint-imports --no-logo --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/pyright

pytest: $(STAMP) $(MERMAID)/node_modules/.installed
	$(BIN)/pytest -q

docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir $(VENV)/site

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) site .mypy_cache .pytest_cache .ruff_cache
