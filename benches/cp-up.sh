#!/usr/bin/env bash
# Benchmark: `coolify cp up` to a green /healthz, measured end to end.
#   cold: no appliance image and no container (the image is built)
#   warm: the image is present, no container
# Prints each run and the medians. Uses its own container name, image repo,
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
dir=$(mktemp -d)
args=(--config-dir "$dir/etc" cp up --name "$name" --image-repo "$repo"
      --api-port 28443 --health-port 28442 --data-dir "$dir/lib" --run-dir "$dir/run"
      --firewall off --runtime-services "")
down() { "$bin" --config-dir "$dir/etc" cp down --name "$name" --image-repo "$repo" --run-dir "$dir/run" --timeout 2s "$@" >/dev/null 2>&1 || true; }
trap 'down --purge; rm -rf "$dir"' EXIT

ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

cold=(); warm=()
for i in $(seq 1 "$runs"); do
  down --purge
  t0=$(ms); "$bin" "${args[@]}" >/dev/null 2>&1; t1=$(ms)
  cold+=($((t1 - t0)))
  down
  t0=$(ms); "$bin" "${args[@]}" >/dev/null 2>&1; t1=$(ms)
  warm+=($((t1 - t0)))
  printf 'run %d: cold %d ms, warm %d ms\n' "$i" "${cold[-1]}" "${warm[-1]}"
done
printf '\n| case | runs | median ms | goal ms |\n|---|---|---|---|\n'
printf '| cold (no image) | %d | %s | 3000 |\n' "$runs" "$(printf '%s\n' "${cold[@]}" | median)"
printf '| warm (image, no container) | %d | %s | 1000 |\n' "$runs" "$(printf '%s\n' "${warm[@]}" | median)"
