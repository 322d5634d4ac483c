#!/usr/bin/env bash
# Installs the OpenSSH server that the remote-builder test (__tests__/remote-builder.int.test.ts) starts on its
# own: on 127.0.0.1, a random port, throwaway keys, in front of the trixie root (scripts/trixie-root.sh).
# The system's ssh service is not started by the installation: the test needs only the binary.
set -euo pipefail

if [ -x /usr/sbin/sshd ]; then
  echo "builder-sshd: $(/usr/sbin/sshd -V 2>&1 | head -n1 || true) is installed" >&2
  exit 0
fi
[ "$(id -u)" = 0 ] || {
  echo "builder-sshd: error: openssh-server is missing; run this as root to install it" >&2
  exit 1
}
command -v apt-get >/dev/null 2>&1 || {
  echo "builder-sshd: error: openssh-server is missing and this is not Debian or Ubuntu: install it" >&2
  exit 1
}

# A temporary policy-rc.d keeps the package from starting (and opening port 22) while it is installed.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  trap 'rm -f "$policy"' EXIT
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
fi
echo "builder-sshd: installing openssh-server" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
/usr/sbin/sshd -V 2>&1 | head -n1 || true
