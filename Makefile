# The obvious targets. Each sets up .venv first (python3 -m venv + pip install -e '.[dev]').
PY := .venv/bin/python
VENV_STAMP := .venv/.installed

.PHONY: venv example test lit pytest lint bench clean

$(VENV_STAMP): pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@if ! command -v mlir-opt-22 >/dev/null 2>&1 && ! command -v mlir-opt >/dev/null 2>&1; then \
	  (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && apt-get update -qq >/dev/null && \
	   DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mlir-22-tools >/dev/null) || \
	  echo "note: mlir-22-tools not installed; MLIR interop tests will be skipped"; fi
	touch $(VENV_STAMP)

venv: $(VENV_STAMP)

example: $(VENV_STAMP)
	.venv/bin/irc-run examples/lenet.gir --target cpu --print --benchmark 20

lint: $(VENV_STAMP)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

lit: $(VENV_STAMP)
	PATH=$(CURDIR)/.venv/bin:$$PATH .venv/bin/lit -sv tests/filecheck

pytest: $(VENV_STAMP)
	.venv/bin/pytest -q

test: $(VENV_STAMP)
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory lit
	$(MAKE) --no-print-directory pytest

bench: $(VENV_STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) benchmarks/parse_print.py
	$(PY) benchmarks/ops_cpu.py

clean:
	rm -rf .venv build *.egg-info .pytest_cache .hypothesis
