# The two commands of the README: `make run` starts the whole site, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint soak bench audit clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.base: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e .
	@touch $@

$(VENV)/.dev: $(VENV)/.base
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	@touch $@

run: $(VENV)/.base  ## the whole site on embedded defaults: http://127.0.0.1:$${PORT:-8000}/
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py devserver

test: $(VENV)/.dev  ## lint, migrations check, every test on 3 processes (most wait on HTTP, Redis, the browser)
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run --settings=tests.settings
	$(BIN)/pytest -n $${TEST_WORKERS:-3} --durations=15 $(PYTEST_ARGS)

audit: $(VENV)/.dev  ## known vulnerabilities in the pinned versions (needs pypi.org's JSON API or OSV)
	$(BIN)/pip-audit --progress-spinner off --strict -r constraints.txt --disable-pip --no-deps

lint: $(VENV)/.dev
	$(BIN)/ruff check .

soak: $(VENV)/.dev  ## the long fault-and-crash soak (500+ generations), the stateful model's long profile, the API fuzz at 200
	SOAK_GENERATIONS=$${SOAK_GENERATIONS:-500} $(BIN)/pytest tests/test_soak.py -m slow -s
	MODEL_PROFILE=soak $(BIN)/pytest tests/test_model_pipeline.py -s
	API_FUZZ_EXAMPLES=$${API_FUZZ_EXAMPLES:-200} $(BIN)/pytest tests/test_api_schema.py -p no:xdist

bench: $(VENV)/.dev  ## benchmarks that print figures (see bench/README.md)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) var staticfiles
