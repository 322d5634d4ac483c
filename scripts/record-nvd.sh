#!/usr/bin/env bash
# Records nvd's text for every case of __tests__/fixtures/nvd-cases.nix, with the store data the tests need to
# rebuild each diff without Nix: `scripts/record-nvd.sh PATH-TO-NVD > __tests__/fixtures/nvd-recorded.json`.
# nvd is not part of this repository: pass its script (github:azuwis/nvd, src/nvd). Run it with Nix 2.19 or later:
# older Nix has no `nix path-info --stdin`, and nvd then leaves out its size column.
set -euo pipefail
nvd="${1:?usage: record-nvd.sh PATH-TO-NVD}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cases=(selection multiversion names equal departures bytes renames nosw rebuild)
attrs=()
for c in "${cases[@]}"; do attrs+=(-A "$c.before" -A "$c.after"); done
mapfile -t roots < <(nix-build --no-out-link "$root/__tests__/fixtures/nvd-cases.nix" "${attrs[@]}")
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for i in "${!cases[@]}"; do
  c="${cases[$i]}"
  before="${roots[$((2 * i))]}"
  after="${roots[$((2 * i + 1))]}"
  printf '%s\n%s\n' "$before" "$after" > "$work/$c.roots"
  python3 "$nvd" --color never diff "$before" "$after" > "$work/$c.nvd"
  nix --extra-experimental-features nix-command path-info -r --json "$before" "$after" > "$work/$c.json"
done
python3 - "$work" "$(nix --version)" "$(python3 "$nvd" --version)" "${cases[@]}" <<'PY'
import json, os, sys
work, nix_version, nvd_version, *cases = sys.argv[1:]
out = {"nix": nix_version, "nvd": nvd_version, "cases": {}}
for c in cases:
    before, after = open(f"{work}/{c}.roots").read().split()
    info = json.load(open(f"{work}/{c}.json"))
    if isinstance(info, list):  # Nix before 2.19: an array of objects with `path`
        info = {e["path"]: e for e in info}
    out["cases"][c] = {
        "before": before,
        "after": after,
        "sw": {r: os.readlink(f"{r}/sw") for r in (before, after) if os.path.islink(f"{r}/sw")},
        "pathInfo": {p: {"narSize": v["narSize"], "references": sorted(v["references"])} for p, v in sorted(info.items())},
        "nvd": open(f"{work}/{c}.nvd").read(),
    }
json.dump(out, sys.stdout, indent=1)
print()
PY
