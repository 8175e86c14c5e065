# auditseal — the two commands a new user needs: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_DIR ?= run

.PHONY: install run stop test soak bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# Dev PKI, a collector and an agent on this machine, sample events flowing, a query.
run: install
	RUN_DIR=$(RUN_DIR) BIN=$(BIN) scripts/run-local.sh start

stop:
	RUN_DIR=$(RUN_DIR) BIN=$(BIN) scripts/run-local.sh stop

test: install
	$(BIN)/pytest -q

# Long soak tests, kept out of `make test`.
soak: install
	$(BIN)/pytest -q -m slow -o addopts=''

bench: install
	$(BIN)/python bench/e2e.py

clean: stop
	rm -rf $(RUN_DIR)
