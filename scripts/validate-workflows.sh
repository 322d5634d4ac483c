#!/usr/bin/env bash
# Validates action.yml and every workflow (the project's and the examples users copy) against the Actions schemas
# (@action-validator/cli, from npm).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
validate() {
  if out="$(npx --no-install action-validator "$1" 2>&1)"; then
    echo "valid: $2"
  else
    echo "invalid: $2" >&2
    echo "$out" >&2
    status=1
  fi
}
# action-validator 0.6's schema lists node12/16/20 for runs.using; node24 is otherwise the same kind of action.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sed 's/^\(  using: \)node24$/\1node20/' action.yml >"$tmp/action.yml"
grep -q '^  using: node24$' action.yml || {
  echo "action.yml: runs.using is not node24" >&2
  status=1
}
validate "$tmp/action.yml" action.yml
shopt -s nullglob
for f in .forgejo/workflows/*.y*ml .github/workflows/*.y*ml examples/workflows/*.y*ml; do
  validate "$f" "$f"
done
exit "$status"
