#!/usr/bin/env bash
# Baseline (b): what a hand-written update workflow does, run in the fleet's directory. One evaluation lists the
# hosts, then one `nix build` per host before the update, `nix flake update`, one `nix build` per host after,
# and one `nix store diff-closures` per host. Every call pays Nix's start-up and the flake's evaluation again.
set -euo pipefail

# The names are plain identifiers (host001, …), so stripping the JSON punctuation is enough to split them.
hosts=$(nix eval --json .#nixosConfigurations \
  --apply 'cs: builtins.filter (n: builtins.match ".*-minimal" n == null) (builtins.attrNames cs)' | tr -d '[]"' | tr ',' ' ')

for h in $hosts; do
  nix build ".#nixosConfigurations.$h.config.system.build.toplevel" -o "result-before-$h"
done
nix flake update
for h in $hosts; do
  nix build ".#nixosConfigurations.$h.config.system.build.toplevel" -o "result-after-$h"
done
# "./": a bare `result-before-x` would be read as a flake reference and looked up in the (online) registry.
for h in $hosts; do
  echo "== $h"
  nix store diff-closures "./result-before-$h" "./result-after-$h"
done
