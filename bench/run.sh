#!/usr/bin/env bash
# The benchmark's entry point: installs what it needs, builds dist/ when it is missing, compiles the benchmark
# (TypeScript, into a temporary directory: in the repository it writes only bench/results/), and runs it.
#   bench/run.sh                     all sizes: 1, 10, 50 and 200 hosts
#   bench/run.sh --sizes 1,10        a quick run (or NFU_BENCH_SIZES=1,10)
# Other options: --variants action,baseline,floor, --action PATH, --input NAME=VALUE, --keep (see bench/bench.ts;
# bench/options.ts parses them).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
# shellcheck source=scripts/nix-env.sh
. "$root/scripts/nix-env.sh"
cd "$root"

# GNU time gives the peak RSS of each variant's whole process tree; the benchmark runs without it too.
if [ ! -x /usr/bin/time ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null || true
fi

if [ ! -f dist/index.js ]; then
  npm run -s build
elif [ -n "$(find src -newer dist/index.js -name '*.ts' -print -quit)" ]; then
  echo "warning: src/ changed after dist/index.js was built; this measures the older build (npm run build)" >&2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/nfu-bench.XXXXXX")"
keep=false
for arg in "$@"; do [ "$arg" = --keep ] && keep=true; done
if $keep; then
  trap 'rm -rf "$work/js"' EXIT
else
  trap 'rm -rf "$work"' EXIT
fi
node_modules/.bin/tsc --outDir "$work/js" --rootDir . --module commonjs --target es2022 \
  --moduleResolution node --types node --strict --skipLibCheck --esModuleInterop \
  bench/bench.ts bench/rss.ts

# Fleets, build directories and the action's temporary files all go under $work, removed on exit or Ctrl-C
# (the fleets stay with --keep).
start=$(date +%s)
TMPDIR="$work" NFU_BENCH_REPO="$root" node "$work/js/bench/bench.js" "$@"
echo "bench/run.sh took $(($(date +%s) - start)) s (after setup)"
