# Samplewise: `make run` starts the product, `make test` runs the whole suite.
PYTHON_BIN ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run worker test lint schema benchmark-engine

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON_BIN) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

run: install
	HOST=$(HOST) PORT=$(PORT) scripts/run

# A worker for one device, e.g. `make worker DEVICE=cuda:1` (one per GPU).
DEVICE ?= cpu
worker: install
	$(PY) manage.py runworker --device $(DEVICE)

test: install
	scripts/test

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

schema: install
	$(PY) manage.py spectacular --validate --fail-on-warn --file var/schema.yml
