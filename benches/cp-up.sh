#!/usr/bin/env bash
# Benchmark: `coolify cp up` to a green /healthz, measured end to end.
#   cold: no appliance image and no container (the image is built)
#   warm: the image is present, no container
# and the same two with `--with-broker` (to a connected agent stream: the
# broker container, its UDS health, the agent, the stream), interleaved in
# the same runs so the rows compare side by side.
# Prints each run and the medians. Uses its own container names, image repo,
# ports and dirs, and removes them afterwards. Not part of the test suite.
# The firewall writer and the per-runtime engine services are off: the
# benchmark must not touch the machine's own chains, and a runtime service
# is started once per host, not per `cp up`.
#   benches/cp-up.sh [runs] [coolify binary]
set -euo pipefail
runs=${1:-7}
bin=${2:-${CARGO_TARGET_DIR:-target}/release/coolify}
[ -x "$bin" ] || { echo "no $bin: run scripts/build-static first" >&2; exit 2; }

name="coolify-cp-bench-$$"
repo="localhost/$name"
broker="$name-broker"
dir=$(mktemp -d)
args=(--config-dir "$dir/etc" cp up --name "$name" --image-repo "$repo" --broker-name "$broker"
      --api-port 28443 --health-port 28442 --data-dir "$dir/lib" --run-dir "$dir/run"
      --firewall off --runtime-services "")
with_broker=(--with-broker --host-id bench --broker-grpc-bind 127.0.0.1:28444)
down() { "$bin" --config-dir "$dir/etc" cp down --name "$name" --image-repo "$repo" --broker-name "$broker" --run-dir "$dir/run" --timeout 2s "$@" >/dev/null 2>&1 || true; }
trap 'down --purge; rm -rf "$dir"' EXIT

ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# One `cp up` with the given extra flags; its time in ms (fails the bench if it fails).
up() { local t0 t1; t0=$(ms); "$bin" "${args[@]}" "$@" >/dev/null 2>"$dir/err" || { cat "$dir/err" >&2; exit 1; }; t1=$(ms); echo $((t1 - t0)); }

cold=(); warm=(); bcold=(); bwarm=()
for i in $(seq 1 "$runs"); do
  down --purge; cold+=("$(up)")
  down;         warm+=("$(up)")
  down --purge; bcold+=("$(up "${with_broker[@]}")")
  down;         bwarm+=("$(up "${with_broker[@]}")")
  printf 'run %d: cold %d ms, warm %d ms; --with-broker cold %d ms, warm %d ms\n' \
    "$i" "${cold[-1]}" "${warm[-1]}" "${bcold[-1]}" "${bwarm[-1]}"
done
printf '\n| case | runs | median ms | goal ms |\n|---|---|---|---|\n'
printf '| cold (no image) | %d | %s | 3000 |\n' "$runs" "$(printf '%s\n' "${cold[@]}" | median)"
printf '| warm (image, no container) | %d | %s | 1000 |\n' "$runs" "$(printf '%s\n' "${warm[@]}" | median)"
printf '| --with-broker cold | %d | %s | |\n' "$runs" "$(printf '%s\n' "${bcold[@]}" | median)"
printf '| --with-broker warm | %d | %s | |\n' "$runs" "$(printf '%s\n' "${bwarm[@]}" | median)"
