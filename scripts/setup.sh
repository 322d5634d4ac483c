#!/usr/bin/env bash
# Installs what the demo and the tests need: npm packages, and Nix from Debian when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1; then
  echo "Node.js 20 or later is needed: install it first (Debian: apt-get install nodejs npm)." >&2
  exit 1
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
# gpg and gpg-agent for OpenPGP signing keys (the tests make one), curl and jq for the NixOS module's scripts
# (the tests run them): Debian's base system may lack them.
if ! command -v gpg >/dev/null 2>&1 || [ ! -x /usr/lib/gnupg/gpg-preset-passphrase ] ||
  ! command -v jq >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnupg gpg-agent curl jq >/dev/null
  else
    echo "gpg, curl and jq are needed: as root on Debian run 'apt-get install gnupg gpg-agent curl jq'" >&2
  fi
fi
if ! command -v nix >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nix-bin >/dev/null
  else
    echo "Nix is needed: as root on Debian run 'apt-get install nix-bin', or see https://nixos.org/download" >&2
    exit 1
  fi
fi
