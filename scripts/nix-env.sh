# Sourced by the demo, the tests and the benchmark: Nix settings for a machine without network access.
# A user's own NIX_CONFIG is kept; these lines are added to it.
NIX_CONFIG="${NIX_CONFIG:+$NIX_CONFIG
}experimental-features = nix-command flakes
substituters =
sandbox = false"
# As root without a nix daemon (Debian's nix-bin), builds run as root instead of the nixbld users.
if [ "$(id -u)" = 0 ]; then
  NIX_CONFIG="$NIX_CONFIG
build-users-group ="
fi
export NIX_CONFIG
