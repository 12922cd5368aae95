# Two commands for everything: `make app` starts the lab, `make test` runs every check (CI runs
# it); `make test-fast` is the quick loop while working: ruff and every test not marked slow
# (the browser tests, marked e2e, are slow by nature).
# Each creates the virtual environment and installs the project into it when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: app lint test test-fast screenshots format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# pip, not uv: torch and torchvision come from wheels on this machine's disk.
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

app: $(STAMP)
	$(BIN)/streamlit run streamlit_app.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: lint
	$(BIN)/python -m pytest -q -m "not slow and not e2e" $(PYTEST_ARGS)

# RUN: a finished run folder that trained on all the data (see scripts/screenshots.py).
screenshots: $(STAMP)
	bash scripts/install-browser.sh
	$(BIN)/python scripts/screenshots.py --run $(RUN)

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
