#!/usr/bin/env bash
# Runs the test suite inside the Debian trixie root (scripts/trixie-root.sh) under its Nix 2.26, with this
# project bind-mounted read-only: the same tests, the same fixtures, the newer Nix's output shapes and commands.
# Arguments go to jest. Needs root.
set -euo pipefail
project="$(cd "$(dirname "$0")/.." && pwd)"
root="${NFU_TRIXIE_ROOT:-/var/cache/nixos-fleet-update/trixie}"
"$project/scripts/trixie-root.sh" "$root" >/dev/null
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
  HOME=/root PATH=/usr/local/bin:/usr/bin:/bin TMPDIR=/tmp CI="${CI:-}" \
  NIX_CONFIG=$'experimental-features = nix-command flakes\nsubstituters =\nsandbox = false\nbuild-users-group =' \
  /bin/sh -c 'cd /project && exec node node_modules/jest/bin/jest.js --cacheDirectory /tmp/jest-cache "$@"' jest "$@"
