# Build, lint and test entry points. Python tools (SAM CLI, cfn-lint, cargo-lambda, zig, pytest, moto) come from
# .tools/venv, installed at pinned versions by `make tools`; Rust comes from the machine's rustup toolchain.
#
#   make tools          install the pinned tools into .tools/ (quick when already installed)
#   make test           what CI runs: every step of TEST_STEPS, then the time each one took
#   make build          sam build: arm64 bootstrap binaries through cargo-lambda + zig, in .aws-sam/build
#   make lint-template  sam validate --lint, cfn-lint with the serverless rules, and the template tests
#   make feature-graph  check that the tests build every function with the features it ships with
#   make fmt / clippy   format the workspace / lint it with warnings as errors (building it for the tests)

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

TOOLS_BIN := $(CURDIR)/.tools/venv/bin
TOOLS_STAMP := .tools/venv.stamp
export PATH := $(TOOLS_BIN):$(PATH)
# Linting needs a region but no account or credentials; the template is region-neutral.
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

ARM64_TARGET := aarch64-unknown-linux-gnu
CARGO ?= cargo

# One build of the workspace serves every step. Clippy runs as the compiler of the workspace's own crates inside the
# build (what `cargo clippy` does in check mode, here with code generation), so the dependencies are compiled once,
# by rustc, for the lints, the tests, the local stack and jwh alike. Every cargo command below, and those that
# `make dev` and the end-to-end tests run, inherit it; a plain `cargo build` by hand recompiles only our crates.
CLIPPY_DRIVER := $(shell rustc --print sysroot 2>/dev/null)/bin/clippy-driver
ifneq ($(wildcard $(CLIPPY_DRIVER)),)
export RUSTC_WORKSPACE_WRAPPER := $(CLIPPY_DRIVER)
export CLIPPY_ARGS := -D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
endif

# `make test` runs these in order, stopping at the first that fails, and prints each one's time at the end
# (infra/tools/test-steps.sh); TEST_STEPS_BESIDE start at once and run beside the build, which does not need them;
# steps joined with + run at the same time (the tests mostly wait on moto and queues, not on the CPU).
TEST_STEPS_BESIDE := tools
TEST_STEPS := fmt-check feature-graph clippy unit-test+lint-template+e2e

.PHONY: help tools test check fmt fmt-check feature-graph clippy unit-test lint-template template-test build \
	arm64-std build-sizes

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST)

# --- tools -------------------------------------------------------------------------------------------------------

tools:
	infra/tools/install.sh

# Files that need the venv depend on this stamp, so a changed lock reinstalls before use.
$(TOOLS_STAMP): infra/tools/requirements.txt infra/tools/install.sh
	infra/tools/install.sh
	touch $@

# --- Rust --------------------------------------------------------------------------------------------------------

test:
	infra/tools/test-steps.sh $(addprefix --beside ,$(TEST_STEPS_BESIDE)) $(TEST_STEPS)

check: fmt-check feature-graph clippy

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

feature-graph:
	python3 infra/tools/feature_graph.py

# Lints every target with warnings as errors while building it: the test binaries, the benches (as tests) and every
# binary of the workspace (the functions, jwh), which `make dev` and the end-to-end tests then run as built.
clippy:
	$(CARGO) test --workspace --all-targets --locked --no-run
	$(CARGO) build --workspace --bins --locked

# cargo-nextest (on the project's machines beside cargo) runs each test in a process of its own, several at once:
# the integration tests mostly wait on moto, timeouts and held requests, so this is most of their time saved. Each
# process starts its own moto. Plain cargo test where nextest is missing.
UNIT_TEST_THREADS ?= 6
unit-test: $(TOOLS_STAMP)
	if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  $(CARGO) nextest run --workspace --locked --test-threads $(UNIT_TEST_THREADS) --no-tests fail; \
	else \
	  $(CARGO) test --workspace --locked; \
	fi

# --- template ----------------------------------------------------------------------------------------------------

lint-template: $(TOOLS_STAMP)
	sam validate --lint --template-file template.yaml
	cfn-lint template.yaml --append-rules cfn_lint_serverless.rules
	$(MAKE) --no-print-directory template-test

template-test: $(TOOLS_STAMP)
	pytest infra/tests

# --- build -------------------------------------------------------------------------------------------------------

# SAM's build cache (cached = true in samconfig.toml) keys each function on its CodeUri, functions/<crate>, and so
# cannot see the shared crate or the workspace manifests: drop the cache whenever those change.
SAM_CACHE_INPUTS := Cargo.toml Cargo.lock $(wildcard rust-toolchain.toml .cargo/config.toml) \
	$(shell find shared -type f -not -path '*/target/*' 2>/dev/null)

.aws-sam/workspace.stamp: $(SAM_CACHE_INPUTS)
	rm -rf .aws-sam/cache
	mkdir -p .aws-sam
	touch $@

build: $(TOOLS_STAMP) arm64-std .aws-sam/workspace.stamp
	sam build
	$(MAKE) --no-print-directory build-sizes

# cargo-lambda cross-compiles with zig as the linker, but links against the Rust std of the target, which only
# rustup provides (`rustup target add`). Without network access to rustup's distribution server there is no other
# way to get it: -Zbuild-std would rebuild std from the rust-src component, which comes from the same server.
arm64-std:
	@if ! rustup target list --installed | grep -qx '$(ARM64_TARGET)'; then \
	  echo "make build: the Rust std for $(ARM64_TARGET) is not installed; trying rustup target add" >&2; \
	  rustup target add $(ARM64_TARGET) || { \
	    echo "make build: cannot build arm64 Lambda binaries here: rustup could not add $(ARM64_TARGET)," >&2; \
	    echo "  and rust-src (needed for -Zbuild-std instead) comes from the same server. Run 'rustup target add" >&2; \
	    echo "  $(ARM64_TARGET)' where that server is reachable. The template, lint and tests do not need it." >&2; \
	    exit 1; }; \
	fi

# What Lambda would receive: the architecture of each bootstrap and the size of its deployment zip.
build-sizes:
	@for binary in .aws-sam/build/*/bootstrap; do \
	  fn=$$(basename "$$(dirname "$$binary")"); \
	  zipped=$$(cd "$$(dirname "$$binary")" && zip -q -9 -X - bootstrap | wc -c); \
	  printf '%-22s %-8s raw %6d KiB  zip %6d KiB\n' "$$fn" \
	    "$$(file -b "$$binary" | grep -o 'ARM aarch64\|x86-64' || echo '?')" \
	    $$(( $$(stat -c %s "$$binary") / 1024 )) $$(( zipped / 1024 )); \
	done

# --- local stack -------------------------------------------------------------------------------------------------
#   make dev            local stack: moto + every function (cargo lambda watch) + the SQS bridge; Ctrl-C stops it
#   make dev-down       stop a local stack started in the background (infra/local/dev.sh --background)
#   make e2e            end-to-end test: starts the local stack, sends every fixture, checks what was stored

.PHONY: dev dev-down e2e

dev:
	infra/local/dev.sh

dev-down:
	infra/local/dev.sh --stop

# The test runs its own stack (state in .dev/e2e/, free ports), so it does not disturb a `make dev` in progress;
# stopping it again afterwards is a no-op unless pytest itself was killed.
E2E_DIR := $(CURDIR)/.dev/e2e
e2e: $(TOOLS_STAMP)
	status=0; pytest infra/local/tests || status=$$?; \
	  JWH_DEV_DIR=$(E2E_DIR)/.dev infra/local/dev.sh --stop >/dev/null 2>&1 || true; \
	  exit $$status

# --- benchmarks ----------------------------------------------------------------------------------------------------
#   make bench          every benchmark, each figure beside a baseline of the same run, then the cost table
#                       (BENCHMARKS.md): CPU (Criterion), binary sizes and cold start, cost and reads against moto,
#                       the replay rate from the archive

.PHONY: bench bench-cpu bench-cold-start bench-cost bench-read bench-replay

BENCH_DIR := $(CURDIR)/target/bench
BENCH_FUNCTIONS := jwh-ingest jwh-connections jwh-backfills jwh-summaries jwh-timeseries jwh-lab jwh-catch-all jwh-api
# Extra Criterion arguments (a filter, --quick); JWH_BENCH_RUNS sets the cold starts per function (default 25).
BENCH_ARGS ?=

# Each step prints its own table; the log keeps them all, and the summary repeats the ratios, sizes, cold starts and
# the cost table (each step also writes them to $(BENCH_DIR)/*.txt, beside its JSON figures).
bench: $(TOOLS_STAMP)
	mkdir -p $(BENCH_DIR)
	$(MAKE) --no-print-directory bench-cpu bench-cold-start bench-cost bench-read bench-replay 2>&1 | tee $(BENCH_DIR)/bench.log
	@echo; echo "== summary (full output: $(BENCH_DIR)/bench.log)"; echo; \
	  grep -E '^verify/raw_hmac' $(BENCH_DIR)/bench.log; echo; \
	  cat $(BENCH_DIR)/cpu.txt $(BENCH_DIR)/cold-start.txt $(BENCH_DIR)/cost.txt $(BENCH_DIR)/read.txt \
	    $(BENCH_DIR)/replay.txt

bench-cpu:
	$(CARGO) bench --locked -p jwh-shared --bench verify -- $(BENCH_ARGS)
	$(CARGO) bench --locked -p jwh-bench --bench cpu -- $(BENCH_ARGS)

# x86_64 host binaries with the release profile (fat LTO: several minutes per binary on 2 cores); arm64 sizes are
# added from .aws-sam/build when `make build` has run.
bench-cold-start:
	$(CARGO) build --release --locked $(addprefix -p ,$(BENCH_FUNCTIONS))
	$(CARGO) build --release --locked -p jwh-bench --bin jwh-bench-echo
	$(CARGO) run --locked -q -p jwh-bench -- cold-start --out $(BENCH_DIR)/cold-start.json

bench-cost: $(TOOLS_STAMP)
	JWH_COST_OUT=$(BENCH_DIR)/cost-measured.json $(CARGO) test --locked -p jwh-tests --test it cost -- --nocapture
	$(CARGO) run --locked -q -p jwh-bench -- cost $(BENCH_DIR)/cost-measured.json \
	  --cold-start $(BENCH_DIR)/cold-start.json --cpu $(BENCH_DIR)/cpu.json

# The read API against moto: read units and latency of its windows, each beside a plain Query of the same items
# (tests/it/read_cost.rs), the median of JWH_READ_RUNS runs.
bench-read: $(TOOLS_STAMP)
	JWH_READ_OUT=$(BENCH_DIR)/read.json JWH_READ_RUNS=$${JWH_READ_RUNS:-5} \
	  $(CARGO) test --locked -p jwh-tests --test it read_cost -- --nocapture

# `jwh replay --archive` (release build) from an archive in moto to its queues, beside SendMessageBatch of the same
# messages (infra/bench/replay_rate.py); JWH_REPLAY_DELIVERIES sets the archive's size (default 1,000: moto's SQS
# slows down as its queues fill).
bench-replay: $(TOOLS_STAMP)
	$(CARGO) build --release --locked -p jwh
	python infra/bench/replay_rate.py --jwh target/release/jwh

# --- hostile input and load ------------------------------------------------------------------------------------------
#   make fuzz           cargo-fuzz: the signature verifier, the event parser, the ingest request decoding, seeded
#                       from the fixtures, FUZZ_SECONDS per target (default 600); a crash fails it (fuzz/artifacts/)
#   make load           10,000 signed webhooks at 8 senders through the local stack: p50/p99, errors, ingest memory

.PHONY: fuzz fuzz-seed load

# cargo-fuzz needs nightly-only flags (-Zsanitizer, sancov): RUSTC_BOOTSTRAP lets the stable toolchain take them.
CARGO_FUZZ_VERSION := 0.13.1
CARGO_FUZZ_ROOT := $(CURDIR)/.tools/cargo-fuzz-$(CARGO_FUZZ_VERSION)
CARGO_FUZZ := $(CARGO_FUZZ_ROOT)/bin/cargo-fuzz
FUZZ_TARGETS := verify parse_event ingest_request
FUZZ_SECONDS ?= 600
# Extra `cargo fuzz run` options, e.g. FUZZ_ARGS='--sanitizer none'.
FUZZ_ARGS ?=
FUZZ_LOGS := $(CURDIR)/target/fuzz

$(CARGO_FUZZ):
	$(CARGO) install --locked --root $(CARGO_FUZZ_ROOT) cargo-fuzz@$(CARGO_FUZZ_VERSION)

fuzz-seed:
	python3 fuzz/seed.py

# Every target runs its budget (libFuzzer stops a target at its first crash); the summary gives each one's executions
# and the crashes of this run (fuzz/artifacts/ keeps those of every run).
fuzz: $(CARGO_FUZZ) fuzz-seed
	mkdir -p $(FUZZ_LOGS)
	status=0; for t in $(FUZZ_TARGETS); do \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s (log: $(FUZZ_LOGS)/$$t.log)"; \
	  RUSTC_BOOTSTRAP=1 $(CARGO_FUZZ) run $(FUZZ_ARGS) $$t -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    > $(FUZZ_LOGS)/$$t.log 2>&1 || status=1; \
	done; \
	echo; echo "== fuzz summary ($(FUZZ_SECONDS) s per target)"; \
	for t in $(FUZZ_TARGETS); do \
	  runs=$$(grep -o 'stat::number_of_executed_units: *[0-9]*' $(FUZZ_LOGS)/$$t.log | grep -o '[0-9]*$$' || echo '?'); \
	  crashes=$$(grep -c 'Test unit written to .*/crash-' $(FUZZ_LOGS)/$$t.log || true); \
	  printf '%-16s executions %-12s crashes %s\n' $$t "$$runs" "$$crashes"; \
	done; \
	exit $$status

load: $(TOOLS_STAMP)
	python infra/local/load.py
