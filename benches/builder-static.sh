#!/usr/bin/env bash
# Benchmark: one STATIC build by coolify-builder (file:// clone, generated
# Containerfile, Podman build API, store) against `podman build` run by hand on
# the same context, alternating, same base image, fresh page content per run
# so neither hits the other's layer cache. Prints each run, the medians and
# their ratio. Not part of the test suite. The agent's driver (transient build
# container) adds its own start-up on top; this measures the builder alone.
#   benches/builder-static.sh [runs] [coolify-builder binary]
set -euo pipefail
runs=${1:-7}
bin=${2:-${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-musl/release/coolify-builder}
[ -x "$bin" ] || { echo "no $bin: run scripts/build-static first" >&2; exit 2; }

dir=$(mktemp -d)
tag="bench-builder-$$"
base="localhost/$tag-base:1"
cleanup() {
  podman images --format '{{.Repository}}:{{.Tag}}' | grep "^localhost/$tag-" | xargs -r podman rmi -f >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

mkdir "$dir/base"
cp /bin/busybox "$dir/base/busybox"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nCMD ["/bin/busybox","httpd","-f","-p","8080","-h","/usr/share/nginx/html"]\n' > "$dir/base/Containerfile"
podman build -q -t "$base" "$dir/base" >/dev/null

git init -q -b main "$dir/repo"
mkdir -p "$dir/repo/dist" "$dir/ctx/public"
printf 'FROM %s\nCOPY public/ /usr/share/nginx/html/\n' "$base" > "$dir/ctx/Containerfile"

ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

builder=(); by_hand=()
for i in $(seq 1 "$runs"); do
  echo "<h1>builder $i $$</h1>" > "$dir/repo/dist/index.html"
  git -C "$dir/repo" add -A
  git -C "$dir/repo" -c user.email=bench@coolify.invalid -c user.name=bench commit -qm "run $i"
  printf '{"repo":"file://%s","ref":"main","stack":"STATIC","publish_dir":"dist","base_image":"%s","tags":["localhost/%s-a:%d"]}' \
    "$dir/repo" "$base" "$tag" "$i" > "$dir/spec.json"
  rm -rf "$dir/work"
  t0=$(ms); "$bin" --spec "$dir/spec.json" --work-dir "$dir/work" >/dev/null; t1=$(ms)
  builder+=($((t1 - t0)))

  echo "<h1>by hand $i $$</h1>" > "$dir/ctx/public/index.html"
  t0=$(ms); podman build -q -t "localhost/$tag-b:$i" "$dir/ctx" >/dev/null; t1=$(ms)
  by_hand+=($((t1 - t0)))
  printf 'run %d: coolify-builder %d ms, podman build %d ms\n' "$i" "${builder[-1]}" "${by_hand[-1]}"
done
mb=$(printf '%s\n' "${builder[@]}" | median)
mh=$(printf '%s\n' "${by_hand[@]}" | median)
printf '\n| case | runs | median ms |\n|---|---|---|\n'
printf '| coolify-builder STATIC (file://) | %d | %s |\n' "$runs" "$mb"
printf '| podman build, same context | %d | %s |\n' "$runs" "$mh"
awk -v a="$mb" -v b="$mh" 'BEGIN { printf "\nratio of medians: %.2fx (goal for the whole path: <= 1.2x)\n", a / b }'
