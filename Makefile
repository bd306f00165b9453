# Townlet developer tasks. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
CONFIG ?= configs/examples/poc_hybrid.yaml
RUST_SRC := $(shell find rust -name '*.rs' -o -name Cargo.toml) Cargo.toml pyproject.toml

.PHONY: help setup build run test test-rust test-py bench bench-baseline bench-compare bench-report bench-rust lint fmt clean wheel

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	touch $@

$(VENV)/.deps: $(VENV)/.created pyproject.toml
	$(BIN)/pip install --quiet "maturin>=1.7,<2"
	touch $@

$(VENV)/.built: $(VENV)/.deps $(RUST_SRC)
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/maturin develop --release --extras dev --quiet
	touch $@

setup: $(VENV)/.built ## create .venv, build the extension (release) and install townlet[dev]

build: setup ## alias of setup

TICKS ?= 1000

run: setup ## run the default shard (CONFIG=..., TICKS=...) and print its summary
	$(BIN)/townlet run $(CONFIG) --ticks $(TICKS)

test-rust: ## cargo test for the pure-Rust core
	cargo test --workspace --exclude townlet-bindings --quiet

test-py: setup ## pytest (includes slow tests)
	$(BIN)/pytest -q

test: setup test-rust test-py ## set up, then cargo test and pytest

BENCH_JSON := .benchmarks/latest.json
BASELINE ?= .benchmarks/baseline.json
THRESHOLD ?= 15
BENCH_ARGS ?=

bench: setup ## run the benchmark suite (BENCH_ARGS="-k observe" to pick), write .benchmarks/latest.json, print a table
	mkdir -p .benchmarks
	OPENBLAS_NUM_THREADS=1 $(BIN)/pytest benches --benchmark-enable --benchmark-only \
		--benchmark-json=$(BENCH_JSON) --benchmark-columns=mean,rounds -q $(BENCH_ARGS)
	$(PY) -m benches.tools table $(BENCH_JSON)

bench-baseline: ## save the latest bench run as the baseline (runs make bench first if there is none)
	test -f $(BENCH_JSON) || $(MAKE) bench
	cp $(BENCH_JSON) $(BASELINE)
	@echo "baseline saved: $(BASELINE)"

bench-compare: ## compare the latest bench run with the baseline; fails on a regression over THRESHOLD percent (15)
	$(PY) -m benches.tools compare $(BASELINE) $(BENCH_JSON) --threshold $(THRESHOLD)

bench-report: ## scaling report: per-agent cost tables and docs/img/scaling.png from the latest bench run
	test -f $(BENCH_JSON) || $(MAKE) bench
	$(PY) -m benches.tools report $(BENCH_JSON) --png docs/img/scaling.png --markdown .benchmarks/scaling.md

bench-rust: ## criterion benches of the pure-Rust core (World.step at 8..4096 agents)
	cargo bench -p townlet-core --bench tick

lint: setup ## ruff, mypy strict, stubtest, cargo fmt --check, clippy -D warnings
	$(BIN)/ruff check python tests benches
	$(BIN)/ruff format --check python tests benches
	$(BIN)/mypy
	$(BIN)/python -m mypy.stubtest townlet._core --allowlist .stubtest-allowlist
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt: ## format Rust and Python sources
	cargo fmt --all
	$(BIN)/ruff format python tests benches
	$(BIN)/ruff check --fix python tests benches

wheel: setup ## build a release wheel into dist/
	$(BIN)/maturin build --release --out dist

clean: ## remove build outputs and the virtualenv
	rm -rf $(VENV) target dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
