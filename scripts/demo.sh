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

summary="$work/summary.md"
outputs="$work/outputs.txt"
: >"$summary"
: >"$outputs"
status=0
(
  cd "$work/fleet"
  env GITHUB_WORKSPACE="$work/fleet" GITHUB_STEP_SUMMARY="$summary" GITHUB_OUTPUT="$outputs" RUNNER_TEMP="$work" \
    INPUT_FLAKE=. INPUT_EXCLUDE-HOSTS='.*-minimal' INPUT_DRY-RUN=true INPUT_BUILD=true \
    INPUT_FAIL-ON-REGRESSION=true INPUT_BRANCH=auto/flake-update INPUT_BASE-BRANCH=main \
    node "$root/dist/index.js" >"$work/action.log" 2>&1
) || status=$?

echo "== Action log (last lines)"
grep -E '^(::error::|Hosts:|Updated inputs|Using|[A-Z][a-z]+ [a-z. ]+: [0-9.]+ s$)' "$work/action.log" || true
echo
echo "== Job summary (the pull request body)"
cat "$summary"
echo "== Outputs"
grep -E '^(hosts|changed|updated-inputs|failed-hosts|regressed-hosts|reboot-hosts)<<' -A1 "$outputs" | grep -v -- '^--$' | paste - - | sed 's/<<ghadelimiter_[^\t]*\t/ = /'
echo
echo "Exit code $status (non-zero: a host regressed and fail-on-regression is true)."
