#!/usr/bin/env bash
# Runs the test suite inside a Debian root (scripts/debian-root.sh) under its Nix and Node.js, with this project
# bind-mounted read-only: the same tests, the same fixtures, the newer Nix's output shapes and commands.
# NFU_ROOT_SUITE picks the root: trixie (Nix 2.26, the default) or sid (Nix 2.34, Node.js 24).
# Arguments go to jest. Needs root.
set -euo pipefail
project="$(cd "$(dirname "$0")/.." && pwd)"
suite="${NFU_ROOT_SUITE:-trixie}"
root="$("$project/scripts/debian-root.sh" --suite "$suite" --path)"
"$project/scripts/debian-root.sh" --suite "$suite" "$root" >/dev/null
mnt="$root/project"
mkdir -p "$mnt"
if ! mountpoint -q "$mnt"; then
  mount --bind "$project" "$mnt"
  mount -o remount,bind,ro "$mnt"
fi
trap 'umount "$mnt" 2>/dev/null || true' EXIT
echo "Running the tests under $(chroot "$root" /usr/bin/nix --version), node $(chroot "$root" /usr/bin/node --version)"
# A clean environment: the host's PATH, NIX_CONFIG and temporary directories mean nothing inside the root.
chroot "$root" /usr/bin/env -i \
  HOME=/root PATH=/usr/local/bin:/usr/bin:/bin TMPDIR=/tmp CI="${CI:-}" NFU_ROOT_SUITE="$suite" \
  NIX_CONFIG=$'experimental-features = nix-command flakes\nsubstituters =\nsandbox = false\nbuild-users-group =' \
  /bin/sh -c 'cd /project && exec node node_modules/jest/bin/jest.js --cacheDirectory /tmp/jest-cache "$@"' jest "$@"
