#!/usr/bin/env bash
# The cost of attribution and holding back (bench/attribution.ts), from the sources (src/, not dist/).
#   bench/attribution.sh                 50 hosts
#   bench/attribution.sh --sizes 10      a quick run
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/nix-env.sh
. "$root/scripts/nix-env.sh"
cd "$root"
work="$(mktemp -d "${TMPDIR:-/tmp}/nfu-bench-attribution.XXXXXX")"
trap 'rm -rf "$work"' EXIT
node_modules/.bin/tsc --outDir "$work/js" --rootDir . --module commonjs --target es2022 \
  --moduleResolution node --types node --strict --skipLibCheck --esModuleInterop --resolveJsonModule \
  bench/attribution.ts
# The compiled sources live outside the repository: their packages come from its node_modules.
NODE_PATH="$root/node_modules" TMPDIR="$work" NFU_BENCH_REPO="$root" node "$work/js/bench/attribution.js" "$@"
