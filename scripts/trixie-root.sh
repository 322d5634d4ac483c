#!/usr/bin/env bash
# The Debian trixie root (Nix 2.26): scripts/debian-root.sh --suite trixie, kept under this name for the
# remote-builder test and the CI script. Arguments: [--unmount] [ROOT].
exec "$(dirname "$0")/debian-root.sh" --suite trixie "$@"
