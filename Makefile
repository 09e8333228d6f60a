# Operator — build, images, tests, benchmarks, demo.
# Every target works on a fresh machine with Docker and no registry.

SHELL := /bin/bash
CARGO ?= cargo
PROFILE ?= debug

.PHONY: all build deps images test test-unit test-docker bench demo clippy fmt clean

all: build

build:
	$(CARGO) build --bins

# System packages the tests and images need (Debian).
deps:
	@command -v promtool >/dev/null && command -v busybox >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus busybox-static iproute2 >/dev/null; }

test: build
	$(CARGO) test --all-targets

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all
