#!/usr/bin/env bash
# Cluster DNS benchmark: coold's namespace server vs aardvark-dns, side by
# side in one run, same load generator (dnsperf), same machine.
#
#   benches/dns.sh [seconds-per-run] [rounds]      (root, Podman, dnsperf)
#
# Two throwaway networks in 198.18.0.0/15 (DESIGN.md): one with DNS disabled
# that coold serves, one with DNS enabled so Podman runs aardvark-dns on its
# gateway. One container on each; each server is asked for its in-zone name
# (coold: <c>.alpha.coolify.internal, aardvark: <c>.dns.podman). Runs
# alternate (coold, aardvark, coold, …) so drift hits both. dnsperf -v logs
# every query's latency, from which p50/p99 are computed. Prints a table and
# the ratios. Everything is removed on exit, also on failure.
set -euo pipefail

SECS=${1:-10}
ROUNDS=${2:-2}
CLIENTS=${DNS_BENCH_CLIENTS:-4}
OUTSTANDING=${DNS_BENCH_OUTSTANDING:-64}
IMAGE=${DNS_BENCH_IMAGE:-localhost/coolify-test-busybox:latest}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
COOLD=${COOLD_BIN:-$TARGET/release/coold}

command -v dnsperf >/dev/null || { echo "dnsperf missing: apt-get install dnsperf" >&2; exit 2; }
[ -x "$COOLD" ] || { echo "build coold first: cargo build --release -p coold (or set COOLD_BIN)" >&2; exit 2; }

ID=$(printf '%04x' $((RANDOM)))
WORK=$(mktemp -d)
NET_C=bench-dns-coold-$ID
NET_A=bench-dns-aard-$ID
COOLD_PID=

cleanup() {
  [ -n "$COOLD_PID" ] && kill "$COOLD_PID" 2>/dev/null && wait "$COOLD_PID" 2>/dev/null || true
  podman rm -f -t 0 "web-$ID" "aard-$ID" >/dev/null 2>&1 || true
  podman network rm -f "$NET_C" "$NET_A" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Two free /24s in 198.18.0.0/15, away from what the tests pick at random.
net_create() { # name dns(yes|no)
  local name=$1 dns=$2 flag=() i third
  [ "$dns" = no ] && flag=(--disable-dns)
  for i in $(seq 1 20); do
    third=$(( (RANDOM % 200) + 20 ))
    if podman network create "${flag[@]}" --subnet "198.19.$third.0/24" --gateway "198.19.$third.1" "$name" >/dev/null 2>&1; then
      echo "198.19.$third.1"; return 0
    fi
  done
  echo "no free /24 in 198.19.0.0/16" >&2; return 1
}
GW_C=$(net_create "$NET_C" no)
GW_A=$(net_create "$NET_A" yes)

mkdir -p "$WORK/data"
echo token > "$WORK/token"
HEALTH_PORT=$(( 20000 + RANDOM % 20000 ))
env -i PATH="$PATH" \
  COOLD_HOST_MGMT_IP=127.0.0.1 COOLD_HEALTH_BIND=127.0.0.1:$HEALTH_PORT \
  COOLD_FIREWALL=off COOLD_DATA_DIR="$WORK/data" \
  COOLD_RULES_PATH="$WORK/allow.rules" COOLD_BRIDGE_RULES_PATH="$WORK/allow.nft" \
  COOLD_NAMESPACES="alpha:$NET_C:$GW_C" COOLD_DNS_UPSTREAM=127.0.0.9:53 \
  COOLD_RECONCILE_INTERVAL=500ms COOLD_LOG=warn \
  "$COOLD" 2>"$WORK/coold.log" &
COOLD_PID=$!

podman run -d --name "web-$ID" --network "$NET_C" --label coolify.managed=true \
  --label coolify.namespace=alpha "$IMAGE" sleep 3600 >/dev/null
podman run -d --name "aard-$ID" --network "$NET_A" "$IMAGE" sleep 3600 >/dev/null

NAME_C="web-$ID.alpha.coolify.internal"
NAME_A="aard-$ID.dns.podman"
echo "$NAME_C A" > "$WORK/q-coold"
echo "$NAME_A A" > "$WORK/q-aard"

# Both must answer NOERROR with an address before measuring.
ready() { # server name
  for _ in $(seq 1 100); do
    if dnsperf -s "$1" -d <(echo "$2 A") -n 1 -t 1 2>/dev/null | grep -q 'NOERROR 1'; then return 0; fi
    sleep 0.2
  done
  echo "$1 never answered $2" >&2; return 1
}
ready "$GW_C" "$NAME_C"
ready "$GW_A" "$NAME_A"

run() { # label server queries-file -> appends "label qps p50_us p99_us lost"
  local out="$WORK/run.out"
  dnsperf -s "$2" -d "$3" -l "$SECS" -c "$CLIENTS" -q "$OUTSTANDING" -t 2 -v > "$out" 2>&1 || true
  local qps lost
  qps=$(awk '/Queries per second:/ {print $4}' "$out")
  lost=$(awk '/Queries lost:/ {print $3}' "$out")
  # Verbose lines: "> NOERROR <name> A <seconds>"
  awk '$1 == ">" && $2 == "NOERROR" {print $NF}' "$out" | sort -g > "$WORK/lat"
  local n p50 p99
  n=$(wc -l < "$WORK/lat")
  [ "$n" -gt 0 ] || { echo "$1: no answers" >&2; cat "$out" >&2; return 1; }
  p50=$(awk -v n="$n" 'NR == int(n*0.50)+1 {printf "%.0f", $1*1e6; exit}' "$WORK/lat")
  p99=$(awk -v n="$n" 'NR == int(n*0.99)+1 {printf "%.0f", $1*1e6; exit}' "$WORK/lat")
  echo "$1 $qps $p50 $p99 $lost" >> "$WORK/results"
}

for r in $(seq 1 "$ROUNDS"); do
  run coold "$GW_C" "$WORK/q-coold"
  run aardvark "$GW_A" "$WORK/q-aard"
done

echo
echo "cluster DNS, in-zone A query, dnsperf -c $CLIENTS -q $OUTSTANDING, ${SECS}s x $ROUNDS rounds each"
printf '%-10s %12s %10s %10s %8s\n' server 'queries/s' 'p50 (us)' 'p99 (us)' lost
while read -r who qps p50 p99 lost; do
  printf '%-10s %12.0f %10s %10s %8s\n' "$who" "$qps" "$p50" "$p99" "$lost"
done < "$WORK/results"
awk '
  { qps[$1] += $2; p99[$1] += $4; n[$1]++ }
  END {
    c = qps["coold"] / n["coold"]; a = qps["aardvark"] / n["aardvark"]
    cp = p99["coold"] / n["coold"]; ap = p99["aardvark"] / n["aardvark"]
    printf "\nmean: coold %.0f q/s p99 %.0f us | aardvark %.0f q/s p99 %.0f us\n", c, cp, a, ap
    printf "throughput ratio coold/aardvark: %.2fx (goal >= 1.5x); p99 ratio: %.2f (goal < 1)\n", c / a, cp / ap
  }' "$WORK/results"
