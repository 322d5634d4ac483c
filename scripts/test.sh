#!/usr/bin/env bash
# Runs every test (unit and integration, with real Nix and git), installing what they need first.
# Arguments go to jest, e.g. `scripts/test.sh --selectProjects unit`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
# shellcheck source=scripts/nix-env.sh
. "$root/scripts/nix-env.sh"
cd "$root"
exec npx jest "$@"
