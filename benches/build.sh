#!/usr/bin/env bash
# Benchmark: the same STATIC build through the whole path (broker UDS →
# coold → build container → coolify-builder → Podman) vs `podman build` run
# by hand on the same context, N runs each, interleaved; prints each run,
# the medians and their ratio (goal <= 1.2x). Each run commits new page
# content so neither side is served from the layer cache. Starts its own
# broker, coold, git daemon and test network, and removes them afterwards.
# Needs root, Podman's API socket, scripts/build-test-images and the musl
# target (the static builder is built on first use). Not part of the tests.
#   benches/build.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -q -p coold --bench build -- "${1:-5}"
