#!/usr/bin/env bash
# A Debian root (trixie: Nix 2.26, Node 20; sid: Nix 2.34, Node 24) with a newer Nix than the host's and a
# /nix/store of its own. The remote-builder test reaches the trixie root over ssh as
# `chroot ROOT nix-store --serve --write`: a builder must have its own store (ssh to the same store deadlocks on
# the database lock), and it must not share the host's, because a newer Nix may migrate the database schema that
# the host's Nix 2.8 reads. Each root also has Node.js and git, to run the test suite under that Nix and Node.
#
#   scripts/debian-root.sh [--suite SUITE] [ROOT]             create ROOT (or reuse it) and mount /proc, /dev
#   scripts/debian-root.sh [--suite SUITE] --unmount [ROOT]   unmount what the first form mounted
#   scripts/debian-root.sh [--suite SUITE] --path             print where SUITE's root is, and do nothing else
#
# SUITE is trixie (the default) or sid. ROOT defaults to $NFU_TRIXIE_ROOT (trixie) or $NFU_SID_ROOT (sid), else
# /var/cache/nixos-fleet-update/SUITE. The Debian mirror is the one the host's apt uses ($DEBIAN_MIRROR overrides
# it). Needs root; the host must be Debian or Ubuntu (apt).
# Unmount before deleting ROOT: ROOT/dev is the host's /dev, and `rm -rf` would descend into it.
set -euo pipefail

# gnupg and gpg-agent: OpenPGP signing keys (gpg, gpgconf, gpg-preset-passphrase); curl and jq: the NixOS
# module's scripts (nixos/report-status.sh, nixos/upgrade.sh), which the tests run.
PACKAGES=(nix-bin nodejs git openssh-client gnupg gpg-agent curl jq)

usage() {
  sed -n "8,10s/^# \{0,3\}//p" "$0" >&2
  exit 2
}

suite=trixie
unmount_only=false
print_path=false
while [ $# -gt 0 ]; do
  case "$1" in
  --suite)
    [ $# -ge 2 ] || usage
    suite="$2"
    shift 2
    ;;
  --unmount)
    unmount_only=true
    shift
    ;;
  --path)
    print_path=true
    shift
    ;;
  -h | --help) usage ;;
  -*) usage ;;
  *) break ;;
  esac
done
[ $# -le 1 ] || usage
case "$suite" in
trixie) default_root="${NFU_TRIXIE_ROOT:-/var/cache/nixos-fleet-update/trixie}" ;;
sid) default_root="${NFU_SID_ROOT:-/var/cache/nixos-fleet-update/sid}" ;;
*)
  echo "debian-root: --suite must be trixie or sid, not '$suite'" >&2
  exit 2
  ;;
esac
root="${1:-$default_root}"
root="$(realpath -m -- "$root")"
if [ "$root" = / ]; then
  echo "debian-root: refusing to use / as the root" >&2
  exit 2
fi
if $print_path; then
  echo "$root"
  exit 0
fi

say() { echo "debian-root ($suite): $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot and mount need it)"

# In mounting order (dev/pts lies inside dev); unmounting goes in reverse.
MOUNTS=(proc dev dev/pts)

mount_all() {
  local m
  for m in "${MOUNTS[@]}"; do
    mkdir -p "$root/$m"
    mountpoint -q "$root/$m" || mount --bind "/$m" "$root/$m"
  done
}

unmount_all() {
  local i m
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    m="${MOUNTS[i]}"
    if [ -d "$root/$m" ] && mountpoint -q "$root/$m"; then umount "$root/$m" || umount -l "$root/$m"; fi
  done
}

# Anything still mounted below ROOT, e.g. by hand; removing ROOT then would delete the host's /dev.
mounted_below() {
  awk -v r="$root/" '{ gsub(/\\040/, " ", $2) } index($2, r) == 1 { print $2 }' /proc/mounts
}

if $unmount_only; then
  unmount_all
  left="$(mounted_below)"
  [ -z "$left" ] || die "still mounted below $root: $left"
  say "unmounted /proc, /dev and /dev/pts from $root"
  exit 0
fi

# Runs a command in ROOT with a clean environment: nothing of the caller's (NIX_CONFIG, NODE_OPTIONS, ...) leaks in.
in_root() {
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
    chroot "$root" "$@"
}

works() {
  [ -x "$root/usr/bin/nix" ] && in_root /usr/bin/nix --version >/dev/null 2>&1 &&
    in_root /usr/bin/node --version >/dev/null 2>&1 && in_root /usr/bin/git --version >/dev/null 2>&1 &&
    [ -x "$root/usr/bin/ssh-keygen" ] && [ -x "$root/usr/bin/gpg" ] && [ -x "$root/usr/lib/gnupg/gpg-preset-passphrase" ] &&
    [ -x "$root/usr/bin/jq" ] && [ -x "$root/usr/bin/curl" ]
}

# The first Debian archive URL in the host's apt sources (one-line and deb822 formats), not the security one.
host_mirror() {
  local files=()
  [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
  shopt -s nullglob
  files+=(/etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
  shopt -u nullglob
  [ ${#files[@]} -gt 0 ] || return 0
  awk '
    /^[[:space:]]*#/ { next }
    /^[[:space:]]*deb[[:space:]]/ {
      for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/ && $i !~ /=/) { print $i; break }
      next
    }
    /^URIs:/ { for (i = 2; i <= NF; i++) print $i }
  ' "${files[@]}" | grep -E '^(https?|file)://' | grep -Ev 'security|/debian-ports' |
    grep -E '/debian/?$' | head -n1
}

write_nix_conf() {
  mkdir -p "$root/etc/nix"
  # No daemon and no nixbld users in the root; builds run as root. No network: nothing to substitute from.
  cat >"$root/etc/nix/nix.conf" <<'EOF'
# Written by nixos-fleet-update's scripts/debian-root.sh.
build-users-group =
sandbox = false
substituters =
experimental-features = nix-command flakes
EOF
}

start=$SECONDS
mkdir -p "$(dirname "$root")"

if [ -d "$root" ] && [ -x "$root/usr/bin/apt-get" ] && [ ! -e "$root/debootstrap" ]; then
  mount_all
  if works; then
    write_nix_conf
    say "reusing $root ($(in_root /usr/bin/nix --version))"
    in_root /usr/bin/nix --version
    exit 0
  fi
  say "$root exists but lacks ${PACKAGES[*]}: installing them"
else
  if [ -e "$root" ]; then
    # debootstrap leaves ROOT/debootstrap behind until it finishes: this is an interrupted run, start over.
    say "$root is an incomplete root: removing it"
    unmount_all
    left="$(mounted_below)"
    [ -z "$left" ] || die "still mounted below $root, not removing it: $left"
    rm -rf --one-file-system "$root"
  fi
  if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap on the host"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  mirror="${DEBIAN_MIRROR:-$(host_mirror)}"
  [ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d}: set DEBIAN_MIRROR"
  say "debootstrap $suite from $mirror into $root"
  log="$(mktemp)"
  if ! debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    [ ! -f "$root/debootstrap/debootstrap.log" ] || tail -n 30 "$root/debootstrap/debootstrap.log" >&2
    rm -f "$log"
    die "debootstrap failed (above: its last lines); run this script again to start over"
  fi
  rm -f "$log"
  mount_all
fi

# Package scripts must not start services in the root (the host's init would not know about them).
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
# Not part of debootstrap's --include: nix-bin's dependencies do not resolve there.
say "apt-get install ${PACKAGES[*]} in $root"
# sid's Release file can be past its Valid-Until on a mirror that is not refreshed daily: the packages are
# still the ones that Release signs.
in_root apt-get -o Acquire::Check-Valid-Until=false update -qq
in_root apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
in_root apt-get clean
write_nix_conf
works || die "$root still has no working nix, node and git"
# Creates the store's database now rather than in the first ssh session.
in_root /usr/bin/nix path-info --all >/dev/null

say "ready in $((SECONDS - start)) s: $root ($(in_root /usr/bin/node --version | sed 's/^/Node.js /'))"
in_root /usr/bin/nix --version
