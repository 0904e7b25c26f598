# BRIGHT flexibility platform. `make demo` runs it, `make test` tests it; both set up first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
BRIGHT := .venv/bin/bright
# make demo BLOCK_TIME=1  (seconds between blocks; default: a block per transaction)
BLOCK_TIME ?=
# make demo BUS=kafka  (the read side through a local Kafka broker and faust workers)
BUS ?=

.PHONY: help setup demo test lint bench lock clean

help:
	@echo "make demo   run the platform with the demo community (Ctrl-C stops it)"
	@echo "make test   run the whole test suite"
	@echo "make lint   ruff, mypy and the import layers (import-linter)"
	@echo "make bench  all benchmarks (JSON)"
	@echo "make setup  install everything (idempotent)"
	@echo "make lock   re-resolve the exact Python pins"

setup:
	@bash scripts/setup.sh

demo: setup
	$(BRIGHT) up $(if $(BLOCK_TIME),--block-time $(BLOCK_TIME)) $(if $(BUS),--bus $(BUS))

test: setup
	@bash scripts/test.sh

lint: setup
	.venv/bin/ruff check .
	.venv/bin/mypy
	.venv/bin/lint-imports

bench: setup
	$(BRIGHT) bench gas --json
	$(BRIGHT) bench matching --orders 100000 --json
	$(BRIGHT) bench market --json

lock:
	@bash scripts/lock.sh

clean:
	rm -rf build .cache/solcx
