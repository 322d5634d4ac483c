#!/usr/bin/env bash
# Floor (c): the plainest job, run in the fleet's directory with the hosts as arguments: one `nix build` of every
# host before the update, `nix flake update`, one `nix build` of every host after. No discovery, no GC roots,
# no diff, no report. It is not a strict lower bound: Nix 2.8 evaluates the flake once per installable here,
# where one `nix eval --apply` over nixosConfigurations (as the action does) evaluates it once for all hosts.
set -euo pipefail

installables=()
for h in "$@"; do
  installables+=(".#nixosConfigurations.$h.config.system.build.toplevel")
done

nix build --no-link "${installables[@]}"
nix flake update
nix build --no-link "${installables[@]}"
