#!/bin/sh
# Firewall benchmark: bulk apply of 10 000 rules and one add at 0 vs 10 000
# rules, against one `iptables -A` process per rule, in one run, inside a
# private network namespace (the bench re-executes itself under
# `unshare --net`). Needs root, iptables (nft backend or legacy) and nft.
#
#   benches/firewall.sh                    # 10 000 rules
#   FW_BENCH_RULES=2000 benches/firewall.sh
#   FW_BENCH_NAIVE=1000 benches/firewall.sh  # shorter naive run, extrapolated
set -eu
cd "$(dirname "$0")/.."
exec cargo bench -p coold --bench firewall "$@"
