#!/usr/bin/env bash
# The demo: a small example fleet copied to a temporary directory, its package set bumped, and the action run
# in dry-run on it, as a runner would run it. No network needed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
# shellcheck source=scripts/nix-env.sh
. "$root/scripts/nix-env.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/nixos-fleet-update-demo.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "== Example fleet in $work/fleet; bumping its package set (openssl, kernel, curl; rsync now fails to build)"
"$root/scripts/example-fleet.sh" "$work"

echo "== A stand-in forge on 127.0.0.1 (the test suite's Forgejo double) with the fleet repository;"
echo "   four hosts report their last upgrade with nixos/report-status.sh, as the NixOS module runs it"
token=demo-token
bare="$work/remote/fleet.git"
mkdir -p "$work/remote"
git init -q --bare -b main "$bare"
git -C "$work/fleet" push -q "$bare" main:main
(cd "$root" && npx --no-install tsc --outDir build/demo-forge --rootDir . --module commonjs --target es2022 \
  --moduleResolution node --types node --strict --skipLibCheck --esModuleInterop testkit/forge/server.ts)
node "$root/scripts/demo-forge.mjs" "$bare" "$token" "$work/forge.json" &
forge_pid=$!
trap 'kill "$forge_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do [ -s "$work/forge.json" ] && break; sleep 0.1; done
api_url="$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).apiUrl' "$work/forge.json")"
server_url="$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).serverUrl' "$work/forge.json")"
rev="$(git -C "$work/fleet" rev-parse HEAD)"
printf '%s\n' "$token" >"$work/token"

# What a host has and this machine has not: nixos-version, the fleet flake's metadata, the journal, and the
# current and booted systems' boot links.
report_host() { # NAME RESULT [--operation boot] [--new-kernel] [--journal LINE]
  local name="$1" result="$2" h="$work/host-$1" extra=() journal=''
  shift 2
  mkdir -p "$h/bin" "$h/current" "$h/booted" "$h/store/linux-6.6.30" "$h/store/linux-6.6.31"
  while [ $# -gt 0 ]; do
    case "$1" in
    --operation) extra+=(--operation "$2") && shift ;;
    --new-kernel) touch "$h/new-kernel" ;;
    --journal) journal="$2" && shift ;;
    esac
    shift
  done
  printf '#!/bin/sh\necho %s\n' "$rev" >"$h/bin/nixos-version"
  printf '#!/bin/sh\necho %s\n' "'{\"revision\":\"$rev\"}'" >"$h/bin/nix"
  printf '%s\n' "$journal" >"$h/journal"
  printf '#!/bin/sh\ncat %s\n' "'$h/journal'" >"$h/bin/journalctl"
  chmod +x "$h/bin/"*
  ln -sfn "$h/store/linux-6.6.30" "$h/booted/kernel"
  if [ -e "$h/new-kernel" ]; then ln -sfn "$h/store/linux-6.6.31" "$h/current/kernel"; else ln -sfn "$h/store/linux-6.6.30" "$h/current/kernel"; fi
  PATH="$h/bin:$PATH" NFU_CURRENT_SYSTEM="$h/current" NFU_BOOTED_SYSTEM="$h/booted" \
    bash "$root/nixos/report-status.sh" --api-url "$api_url" --repository demo/fleet --token-file "$work/token" \
    --context "nixos-upgrade/$name" --flake "git+https://forge.example/demo/fleet#$name" --result "$result" \
    --time-limit 10 "${extra[@]}"
}
report_host web success
report_host mail success --new-kernel
report_host laptop success --operation boot
report_host db failure --journal "error: builder for '/nix/store/5q2x-rsync-3.2.7.drv' failed with exit code 1"
echo

summary="$work/summary.md"
outputs="$work/outputs.txt"
: >"$summary"
: >"$outputs"
status=0
(
  cd "$work/fleet"
  env GITHUB_WORKSPACE="$work/fleet" GITHUB_STEP_SUMMARY="$summary" GITHUB_OUTPUT="$outputs" RUNNER_TEMP="$work" \
    INPUT_FLAKE=. INPUT_EXCLUDE-HOSTS='.*-minimal' INPUT_DRY-RUN=true INPUT_BUILD=true \
    INPUT_FAIL-ON-REGRESSION=true INPUT_BRANCH=auto/flake-update INPUT_BASE-BRANCH=main INPUT_TOKEN="$token" \
    GITHUB_REPOSITORY=demo/fleet GITHUB_SERVER_URL="$server_url" GITHUB_API_URL="$api_url" FORGEJO_ACTIONS=true \
    node "$root/dist/index.js" >"$work/action.log" 2>&1
) || status=$?

echo "== Action log (last lines)"
grep -E '^(::error::|Hosts:|Fleet state|Updated inputs|Using|[A-Z][a-z]+ [a-z. ]+: [0-9.]+ s$)' "$work/action.log" || true
echo
echo "== Job summary (the pull request body)"
cat "$summary"
echo "== Outputs"
grep -E '^(hosts|changed|updated-inputs|failed-hosts|regressed-hosts|reboot-hosts|stale-hosts|failed-upgrades)<<' -A1 "$outputs" | grep -v -- '^--$' | paste - - | sed 's/<<ghadelimiter_[^\t]*\t/ = /'
echo
echo "Exit code $status (non-zero: a host regressed and fail-on-regression is true)."

echo
echo "== Rollout (mode: rollout, as an hourly workflow runs it): waves from each host's configuration,"
echo "   web in wave 0, db and mail in wave 1, laptop in wave 2; no soak for the demo"
: >"$outputs"
(
  cd "$work/fleet"
  env GITHUB_WORKSPACE="$work/fleet" GITHUB_STEP_SUMMARY="$work/rollout.md" GITHUB_OUTPUT="$outputs" RUNNER_TEMP="$work" \
    INPUT_MODE=rollout INPUT_ROLLOUT-SOAK=0 INPUT_EXCLUDE-HOSTS='.*-minimal' INPUT_BASE-BRANCH=main INPUT_TOKEN="$token" \
    GITHUB_REPOSITORY=demo/fleet GITHUB_SERVER_URL="$server_url" GITHUB_API_URL="$api_url" FORGEJO_ACTIONS=true \
    node "$root/dist/index.js" >"$work/rollout.log" 2>&1
) || true
cat "$work/rollout.md"
grep -E '^(rollout-gates|rollout-halted)<<' -A1 "$outputs" | grep -v -- '^--$' | paste - - | sed 's/<<ghadelimiter_[^\t]*\t/ = /'
echo "Wave 1 (db, mail) may deploy the gated commit: web, in wave 0, runs it. db's failure there halts wave 2."
