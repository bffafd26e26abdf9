# router-ext: `make run` starts the server, `make test` runs the whole suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
PROTOS := $(wildcard proto/router_ext/v1/*.proto)

.PHONY: install install-test run test lint proto bench docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

install: $(STAMP)

$(TEST_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install-test: $(TEST_STAMP)

run: install
	mkdir -p data
	$(BIN)/router-ext serve

test: install-test
	bash scripts/test-deps.sh
	$(BIN)/ruff check .
	$(BIN)/mypy router_ext router_ext_client harness hooks
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/mypy router_ext router_ext_client harness hooks

proto: install
	$(BIN)/python -m grpc_tools.protoc -I proto --python_out=. --grpc_python_out=. --pyi_out=. $(PROTOS)

bench: install-test
	bash scripts/bench-deps.sh
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

docs: install
	$(BIN)/router-ext config --write-docs docs/configuration.md
