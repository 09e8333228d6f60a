# Operator — build, images, tests, benchmarks, demo.
# Every target works on a fresh machine with Docker and no registry.

SHELL := /bin/bash
CARGO ?= cargo
PROFILE ?= debug

.PHONY: all build deps images test test-unit test-docker bench demo clippy fmt clean \
	images-tikv-sim images-operator images-prometheus images-chaos-helper

all: build

build:
	$(CARGO) build --bins

# System packages the tests and images need (Debian).
deps:
	@command -v promtool >/dev/null && command -v busybox >/dev/null && command -v tc >/dev/null && \
	  command -v iptables >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus busybox-static iproute2 iptables >/dev/null; }

test: build images
	$(CARGO) test --all-targets

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

# --- images -------------------------------------------------------------------------
# Local images built without a registry: `docker import` of a root filesystem holding a
# binary and the libraries ldd lists (compose/images/mkimage.sh). Up-to-date images are
# skipped (content-hash label + stamp files under target/images), so this is cheap to
# repeat. PROFILE=debug by default: nothing here starts a release build unless you ask
# with `make images PROFILE=release`.
CARGO_PROFILE := $(if $(filter debug,$(PROFILE)),dev,$(PROFILE))
IMAGE_ENV := PROFILE=$(PROFILE)

images: images-tikv-sim images-operator images-prometheus images-chaos-helper

images-tikv-sim:
	$(CARGO) build --profile $(CARGO_PROFILE) --bin tikv-sim
	$(IMAGE_ENV) compose/images/build.sh tikv-sim

images-operator:
	$(CARGO) build --profile $(CARGO_PROFILE) --bin operator
	$(IMAGE_ENV) compose/images/build.sh operator

images-prometheus: deps
	compose/images/build.sh prometheus

images-chaos-helper: deps
	compose/images/build.sh chaos-helper
