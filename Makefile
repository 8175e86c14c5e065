# auditseal — the two commands a new user needs: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_DIR ?= run

.PHONY: install test-deps lint run stop cluster cluster-stop test soak fuzz bench test-es-real test-kibana-real s3-up s3-down clean packages

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

# The scaled shape on loopback: 3 NATS JetStream nodes, 2 collectors, 1 agent (run-cluster/).
cluster: install
	RUN_DIR=run-cluster BIN=$(BIN) scripts/cluster.sh start

cluster-stop:
	RUN_DIR=run-cluster BIN=$(BIN) scripts/cluster.sh stop

# deb and rpm of the agent and the collector into dist/ (root: each environment is built at its
# final path, /opt/auditseal/<program>, in a private mount namespace). VERSION=0.2.0 to override.
packages: install
	$(BIN)/python packaging/build.py --out dist $(if $(VERSION),--version $(VERSION),)

# System packages the tests use (rsyslog, Ceph RGW, ...), installed when missing.
test-deps:
	scripts/test-deps.sh

test: test-deps install lint
	$(BIN)/pytest -q

# Lint (ruff) and the layer rules (import-linter: the core imports neither program; the
# agent and the collector never import each other).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# Coverage-guided fuzzing (atheris) of every decoder, FUZZ_SECONDS each (make test runs 5 s each).
FUZZ_SECONDS ?= 300
fuzz: install
	@for target in $$($(BIN)/python -c 'from tests.fuzz.targets import TARGETS; print(*TARGETS)'); do \
	  echo "== $$target ($(FUZZ_SECONDS) s)"; \
	  $(BIN)/python -m tests.fuzz.run $$target -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=fuzz-$$target- \
	    2>&1 | grep -E '^#[0-9]+ +DONE|Uncaught|Error|crash-' || exit 1; \
	done

# Long soak tests, kept out of `make test`, and the outage and rotation tests made longer
# (sinks away 5 minutes, rotation under load for 5 minutes).
soak: test-deps install
	$(BIN)/pytest -q -m slow -o addopts=''
	AUDITSEAL_TEST_OUTAGE=300 AUDITSEAL_ROTATION_SECONDS=300 $(BIN)/pytest -q tests/e2e/test_sink_outages.py tests/e2e/test_rotation.py

# The Elasticsearch sink tests against a real cluster: make test-es-real ES_URL=http://host:9200
# (the fault-injection tests need the suite's test server and are left out).
test-es-real: install
	@test -n "$(ES_URL)" || { echo "give ES_URL=http://host:9200"; exit 2; }
	ES_URL=$(ES_URL) $(BIN)/pytest -q -o addopts='' -m 'not es_faults and not slow' tests/test_es_sink.py tests/test_query_contract.py

# The Kibana objects imported into a real Kibana 8.x: make test-kibana-real KIBANA_URL=http://host:5601
# (KIBANA_API_KEY, or KIBANA_USERNAME and KIBANA_PASSWORD, when it needs credentials).
test-kibana-real: install
	@test -n "$(KIBANA_URL)" || { echo "give KIBANA_URL=http://host:5601"; exit 2; }
	KIBANA_URL=$(KIBANA_URL) $(BIN)/pytest -q -o addopts='' -m kibana_real tests/test_kibana_real.py

# A local Ceph RADOS Gateway (S3 with Object Lock) on 127.0.0.1:7480, for trying the S3 archive.
s3-up:
	scripts/ceph-rgw.sh start $(RUN_DIR)/ceph 7480
s3-down:
	scripts/ceph-rgw.sh stop $(RUN_DIR)/ceph

bench: install
	$(BIN)/python bench/e2e.py

clean: stop
	rm -rf $(RUN_DIR)
