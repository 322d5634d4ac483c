#!/usr/bin/env bash
# Creates the example fleet in DIR: DIR/pkgs (a local package set, already bumped to its next version: openssl,
# kernel, curl change and rsync fails to build) and DIR/fleet (a flake whose lock still points at the old
# package set). Both are git repositories; nothing is fetched. Used by the demo and the self-test.
#
#   scripts/example-fleet.sh DIR
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -eq 1 ] || {
  echo "usage: scripts/example-fleet.sh DIR" >&2
  exit 2
}
work="$1"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
[ ! -e "$work/pkgs" ] && [ ! -e "$work/fleet" ] || {
  echo "example-fleet: $work/pkgs or $work/fleet exists already" >&2
  exit 1
}
# shellcheck source=scripts/nix-env.sh
. "$root/scripts/nix-env.sh"
git_quiet() { git -c user.name=demo -c user.email=demo@example.invalid -c init.defaultBranch=main "$@" >/dev/null; }

cp -r "$root/examples/pkgs" "$work/pkgs"
cp -r "$root/examples/fleet" "$work/fleet"
rm -f "$work/pkgs/packages.next.json"
(cd "$work/pkgs" && git_quiet init && git_quiet add -A && git_quiet commit -m "package set 1")
# Point the fleet at the local package set.
sed -i "s#git+file:///tmp/nixos-fleet-update-demo/pkgs#git+file://$work/pkgs#" "$work/fleet/flake.nix"
(cd "$work/fleet" && git_quiet init && git_quiet add -A && nix flake lock 2>/dev/null && git_quiet add -A && git_quiet commit -m "fleet")
cp "$root/examples/pkgs/packages.next.json" "$work/pkgs/packages.json"
(cd "$work/pkgs" && git_quiet commit -am "package set 2")
