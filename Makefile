# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test test-fast test-n8n n8n lint clean

$(STAMP): requirements.txt requirements-dev.txt service/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e service
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/gateway serve

# The whole suite, including a real n8n (installed once into ~/.cache/ai-gateway).
test: $(STAMP)
	$(BIN)/pytest

# Everything but the real-n8n tests, for a quick loop while developing.
test-fast: $(STAMP)
	$(BIN)/pytest -m "not n8n"

test-n8n: $(STAMP)
	$(BIN)/pytest -m n8n tests/n8n

# n8n on :5678 with the node pack, its credentials and the example workflows
# (start the gateway first with `make run`).
n8n: $(STAMP)
	$(BIN)/python -m tests.n8n.local

lint: $(STAMP)
	$(BIN)/ruff check service tests bench
	$(BIN)/ruff format --check service tests bench

clean:
	rm -rf $(VENV)
