#!/usr/bin/env bash
# One run of nixos-upgrade.service (services.fleet-auto-upgrade): picks the fleet commit this host may deploy
# (the branch tip in wave 0; in wave N the newest branch commit the action marked `nixos-rollout/wave-N`
# success), refuses one older than the deployed commit, builds it within the time limit, installs it, runs the
# health checks after a switch and rolls back to the previous generation when one fails. With --boot-check it
# runs the checks once the system a `boot` upgrade installed has booted.
#
#   upgrade.sh --config FILE [--boot-check]
#
# FILE is the JSON the module writes (no secret in it: the token is read from reportStatus's token file, sent to
# curl through a file descriptor, never on a command line or in the journal). The outcome goes to
# STATE_DIR/outcome (boot-check-outcome with --boot-check) as key=value lines, which report-status.sh (ExecStopPost=) posts as a commit status:
#   rev=SHA          the fleet commit the run is about (written as soon as it is known)
#   phase=TEXT       what the run is doing, for a time-out systemd reports
#   state=STATE      success, pending or failure, once the run has decided
#   description=TEXT the status description (a success without one is described by report-status.sh)
#   report=no        nothing to report
# Needs bash, coreutils, curl, jq, nix, nixos-rebuild, nix-env and systemctl.
set -uo pipefail

say() { echo "fleet-auto-upgrade: $*" >&2; }
die() {
  say "$*"
  exit 2
}

config='' mode=upgrade
while [ $# -gt 0 ]; do
  case "$1" in
  --config)
    [ $# -ge 2 ] || die "--config needs a file"
    config="$2"
    shift 2
    ;;
  --boot-check)
    mode=boot-check
    shift
    ;;
  *) die "unknown argument $1 (usage: upgrade.sh --config FILE [--boot-check])" ;;
  esac
done
[ -r "$config" ] || die "cannot read the configuration file '$config'"

# One jq for every setting: NUL-separated, null as empty.
settings=(flake operation wave branch state_dir time_limit time_limit_text check_timeout allow_reboot
  window_lower window_upper api_url repository token_file check_commands_count)
for name in "${settings[@]}"; do printf -v "$name" ''; done
{
  for name in "${settings[@]}"; do IFS= read -r -d '' "${name?}"; done
} < <(jq -j '[.flake, .operation, .wave, .branch, .stateDir, .timeLimit, .timeLimitText, .healthChecks.timeout,
  (.allowReboot == true), .rebootWindow.lower, .rebootWindow.upper, .forge.apiUrl, .forge.repository,
  .forge.tokenFile, (.healthChecks.commands // [] | length)]
  | .[] | (if . == null then "" else tostring end), "\u0000"' "$config")
api_url="${api_url%/}"
mapfile -t extra_flags < <(jq -r '.extraFlags // [] | .[]' "$config")
mapfile -t check_units < <(jq -r '.healthChecks.units // [] | .[]' "$config")
mapfile -t check_urls < <(jq -r '.healthChecks.urls // [] | .[]' "$config")

[ -n "$state_dir" ] || die "the configuration has no stateDir"
mkdir -p "$state_dir" || die "cannot create $state_dir"
# The boot check has its own outcome file: a missed timer run (Persistent=) may start an upgrade at the same boot.
# Emptied first, so that a run that stops early is never reported with the previous run's outcome.
outcome="$state_dir/outcome"
[ "$mode" = upgrade ] || outcome="$state_dir/boot-check-outcome"
: >"$outcome" || die "cannot write $outcome"
[ -n "$flake" ] || die "the configuration has no flake"
case "$operation" in switch | boot) ;; *) die "operation must be switch or boot, got '$operation'" ;; esac
[[ "$wave" =~ ^[0-9]+$ ]] || die "wave must be a number, got '$wave'"
[[ "$time_limit" =~ ^[1-9][0-9]*$ ]] || die "timeLimit must be a number of seconds, got '$time_limit'"
[[ "${check_timeout:-0}" =~ ^[0-9]+$ ]] || die "healthChecks.timeout must be a number of seconds"

# Where the running, booted and installed systems are; tests point these elsewhere.
current_system="${NFU_CURRENT_SYSTEM:-/run/current-system}"
booted_system="${NFU_BOOTED_SYSTEM:-/run/booted-system}"
profile="${NFU_SYSTEM_PROFILE:-/nix/var/nix/profiles/system}"

deployed_file="$state_dir/deployed.json"
pending_file="$state_dir/boot-check.json"

note() {
  # $1 key, $2 value: one line per key, newlines and control characters removed.
  printf '%s=%s\n' "$1" "$(printf '%s' "$2" | tr -d '\000-\037')" >>"$outcome"
}
finish() {
  # $1 state, $2 description (may be empty), $3 exit code
  note state "$1"
  [ -z "$2" ] || note description "$2"
  [ -z "$2" ] || say "$2"
  exit "$3"
}

is_rev() { [[ "$1" =~ ^[0-9a-f]{40}$ ]]; }

deadline=$((SECONDS + time_limit))
timed_out() {
  finish failure "timed out after $time_limit_text while $1" 124
}
# Runs a command within what is left of the time limit; 124 when it ran out.
limited() {
  local left=$((deadline - SECONDS))
  [ "$left" -ge 1 ] || return 124
  timeout --kill-after=30 "$left" "$@"
}

# --- flake references -----------------------------------------------------------------------------------------

flake_url="${flake%%#*}"
flake_attr=''
[ "$flake_url" = "$flake" ] || flake_attr="#${flake#*#}"

# The URL with `rev=REV` in its query. github:, gitlab: and sourcehut: refuse a ref next to a rev, so a branch
# there (`/BRANCH` or `?ref=`) is dropped; git URLs keep their ref, which Nix fetches the rev from.
with_rev() {
  local url="$1" rev="$2" base query='' kept=() p
  base="${url%%\?*}"
  [ "$base" = "$url" ] || query="${url#*\?}"
  local forge_scheme=false
  case "$base" in github:* | gitlab:* | sourcehut:*)
    forge_scheme=true
    local scheme="${base%%:*}" path="${base#*:}"
    IFS=/ read -r -a parts <<<"$path"
    base="$scheme:${parts[0]}/${parts[1]}"
    ;;
  esac
  if [ -n "$query" ]; then
    IFS='&' read -r -a params <<<"$query"
    for p in "${params[@]}"; do
      case "$p" in rev=*) continue ;; ref=*) "$forge_scheme" && continue ;; esac
      kept+=("$p")
    done
  fi
  kept+=("rev=$rev")
  local IFS='&'
  printf '%s?%s' "$base" "${kept[*]}"
}

# The branch the flake follows: `ref=` in the query, or github:OWNER/REPO/BRANCH.
flake_branch() {
  local url="$1" query p
  if [[ "$url" == *\?* ]]; then
    query="${url#*\?}"
    IFS='&' read -r -a params <<<"$query"
    for p in "${params[@]}"; do
      case "$p" in ref=*)
        printf '%s' "${p#ref=}"
        return
        ;;
      esac
    done
  fi
  case "$url" in github:* | gitlab:* | sourcehut:*)
    local path="${url#*:}"
    path="${path%%\?*}"
    IFS=/ read -r -a parts <<<"$path"
    [ "${#parts[@]}" -lt 3 ] || printf '%s' "${parts[2]}"
    ;;
  esac
}

# `nix flake metadata --json` of a URL: prints "REV LASTMODIFIED".
metadata() {
  local json
  json="$(limited nix --extra-experimental-features 'nix-command flakes' flake metadata --json \
    --no-write-lock-file "$@")"
  local rc=$?
  [ "$rc" -eq 0 ] || return "$rc"
  printf '%s' "$json" | jq -r '"\(.revision // .locked.rev // "") \(.lastModified // .locked.lastModified // "")"'
}

# --- the forge (wave gates) -----------------------------------------------------------------------------------

token=''
read_token() {
  [ -n "$token" ] && return 0
  [ -r "$token_file" ] || {
    say "cannot read the token file $token_file"
    return 1
  }
  token="$(tr -d '\r\n' <"$token_file")"
  [ -n "$token" ] || {
    say "the token file $token_file is empty"
    return 1
  }
}

# GET an API path into FILE (its headers into FILE.headers). Three attempts on errors that may pass (network,
# 5xx, 429).
api_get() {
  local url="$api_url/repos/$repository/$1" body="$2" code attempt rc=0
  for attempt in 1 2 3; do
    # The Authorization header comes from a file descriptor, not from the command line that `ps` shows.
    code="$(limited curl --silent --show-error --output "$body" --dump-header "$body.headers" \
      --write-out '%{http_code}' --max-time 30 --connect-timeout 10 \
      --header @<(printf 'Authorization: token %s\n' "$token") \
      --header 'Accept: application/json' "$url")"
    rc=$?
    [ "$rc" = 124 ] && break
    case "$code" in
    2??) return 0 ;;
    4??) [ "$code" = 429 ] || break ;;
    esac
    [ "$attempt" = 3 ] || sleep "$((attempt * 2))"
  done
  say "GET $url answered ${code:-nothing}: $(head -c 200 "$body" 2>/dev/null | tr -d '\000-\037')"
  [ "$rc" = 124 ] && return 124
  return 1
}

# The newest of the branch's last 20 commits whose newest `nixos-rollout/wave-N` status is success, or nothing.
# GitHub pages with per_page (up to 100), Forgejo with limit (capped by the server, 50 by default) and says how
# many there are in X-Total-Count; each ignores the other's parameter. Forgejo names a status's state `status`
# (structs.CommitStatus), GitHub `state`. Statuses come newest first, so the first one with the context is the
# commit's newest; hosts' reports may push it past the first page.
wave_gate() {
  local context="nixos-rollout/wave-$wave" query="per_page=20&limit=20&stat=false&verification=false&files=false"
  [ -z "$branch" ] || query="sha=$(jq -rn --arg b "$branch" '$b | @uri')&$query"
  local page_file sha state page count fetched total rc
  page_file="$(mktemp)"
  api_get "commits?$query" "$page_file" || {
    rc=$?
    rm -f "$page_file" "$page_file.headers"
    return "$rc"
  }
  local shas
  shas="$(jq -r '.[] | select(. != null) | .sha // empty' "$page_file" | head -n 20)"
  for sha in $shas; do
    is_rev "$sha" || continue
    state='' fetched=0
    for page in 1 2 3 4 5 6 7 8 9 10; do
      api_get "commits/$sha/statuses?per_page=100&limit=50&page=$page" "$page_file" || {
        rc=$?
        rm -f "$page_file" "$page_file.headers"
        return "$rc"
      }
      state="$(jq -r --arg c "$context" '[.[] | select(. != null and .context == $c)] | .[0]
        | if . == null then "none" else (.state // .status // "") end' "$page_file")"
      [ "$state" = none ] || break
      state=''
      count="$(jq -r 'length' "$page_file")"
      fetched=$((fetched + count))
      total="$(tr -d '\r' <"$page_file.headers" | sed -n 's/^[Xx]-[Tt]otal-[Cc]ount: *\([0-9]*\)$/\1/p' | tail -n1)"
      if [ "$count" = 0 ] || { [ -n "$total" ] && [ "$fetched" -ge "$total" ]; } ||
        { [ -z "$total" ] && [ "$count" -lt 100 ]; }; then
        break
      fi
    done
    if [ "$state" = success ]; then
      rm -f "$page_file" "$page_file.headers"
      printf '%s' "$sha"
      return 0
    fi
  done
  rm -f "$page_file" "$page_file.headers"
}

# --- the deployed system --------------------------------------------------------------------------------------

resolve() { readlink -f "$1" 2>/dev/null || true; }

# "REV LASTMODIFIED" of what the system profile holds: the record this script wrote when it installed it, or the
# running system's configurationRevision (and its date from the flake).
deployed() {
  local system rev='' modified=''
  system="$(resolve "$profile")"
  if [ -r "$deployed_file" ] && [ "$(jq -r '.system // ""' "$deployed_file")" = "$system" ]; then
    rev="$(jq -r '.rev // ""' "$deployed_file")"
    modified="$(jq -r '.lastModified // ""' "$deployed_file")"
  fi
  if ! is_rev "$rev"; then
    rev="$(nixos-version --configuration-revision 2>/dev/null || true)"
    modified=''
  fi
  is_rev "$rev" || return 0
  if ! [[ "$modified" =~ ^[0-9]+$ ]]; then
    local meta
    meta="$(metadata "$(with_rev "$flake_url" "$rev")" 2>/dev/null)" || meta=''
    modified="${meta#* }"
  fi
  printf '%s %s' "$rev" "$modified"
}

record_deployed() {
  # $1 system, $2 rev, $3 lastModified
  jq -n --arg s "$1" --arg r "$2" --arg m "$3" '{system: $s, rev: $r, lastModified: ($m | tonumber? // null)}' \
    >"$deployed_file.tmp" && mv "$deployed_file.tmp" "$deployed_file"
}

# --- health checks --------------------------------------------------------------------------------------------

failed_check=''
# Every check must pass before the deadline: units active, commands exit 0, URLs answer 2xx. A unit that is still
# starting, a command or URL that fails, is tried again until then.
run_checks() {
  local until=$((SECONDS + ${check_timeout:-0})) unit url i code state
  local -a command
  for unit in "${check_units[@]}"; do
    while :; do
      state="$(systemctl is-active "$unit" 2>/dev/null)"
      [ "$state" = active ] && break
      if [ "$SECONDS" -ge "$until" ]; then
        failed_check="unit $unit failed (state: ${state:-unknown})"
        return 1
      fi
      sleep 1
    done
  done
  for ((i = 0; i < check_commands_count; i++)); do
    mapfile -t command < <(jq -r --argjson i "$i" '.healthChecks.commands[$i][]' "$config")
    while :; do
      local left=$((until - SECONDS))
      [ "$left" -ge 1 ] || left=1
      timeout --kill-after=10 "$left" "${command[@]}" </dev/null >&2
      code=$?
      [ "$code" = 0 ] && break
      if [ "$SECONDS" -ge "$until" ]; then
        failed_check="command ${command[0]##*/} failed (exit $code)"
        return 1
      fi
      sleep 1
    done
  done
  for url in "${check_urls[@]}"; do
    while :; do
      local left=$((until - SECONDS))
      [ "$left" -ge 1 ] || left=1
      code="$(curl --silent --output /dev/null --write-out '%{http_code}' --max-time "$((left < 30 ? left : 30))" \
        --connect-timeout 10 "$url" 2>/dev/null)"
      [[ "$code" == 2?? ]] && break
      if [ "$SECONDS" -ge "$until" ]; then
        failed_check="url $url failed (HTTP ${code:-000})"
        return 1
      fi
      sleep 1
    done
  done
}

# Back to PREVIOUS: the system profile's previous generation (or PREVIOUS set anew), then activated.
roll_back() {
  local previous="$1"
  nix-env --profile "$profile" --rollback >&2 || true
  if [ "$(resolve "$profile")" != "$previous" ]; then
    nix-env --profile "$profile" --set "$previous" >&2 || return 1
  fi
  "$previous/bin/switch-to-configuration" switch >&2
}

# --- boot check -----------------------------------------------------------------------------------------------

if [ "$mode" = boot-check ]; then
  if [ ! -r "$pending_file" ]; then
    note report no
    exit 0
  fi
  system="$(jq -r '.system // ""' "$pending_file")"
  rev="$(jq -r '.rev // ""' "$pending_file")"
  previous="$(jq -r '.previous // ""' "$pending_file")"
  if [ "$(resolve "$booted_system")" != "$system" ]; then
    say "the booted system is not the one the upgrade to ${rev:0:7} installed: nothing to check yet"
    note report no
    exit 0
  fi
  rm -f "$pending_file"
  note rev "$rev"
  if run_checks; then
    finish success "running ${rev:0:7}" 0
  fi
  say "$failed_check: rolling back to $previous"
  if [ -n "$previous" ] && roll_back "$previous"; then
    finish failure "rolled back from ${rev:0:7}: $failed_check" 1
  fi
  finish failure "rollback from ${rev:0:7} failed after $failed_check" 1
fi

# --- upgrade --------------------------------------------------------------------------------------------------

note phase "resolving the target"

read -r deployed_rev deployed_modified < <(deployed; echo)
deployed_rev="${deployed_rev:-}"
deployed_modified="${deployed_modified:-}"
# Until a target is known, a failure is about the commit the host runs.
! is_rev "$deployed_rev" || note rev "$deployed_rev"

if [ "$wave" -gt 0 ]; then
  [ -n "$api_url" ] && [ -n "$repository" ] && [ -n "$token_file" ] ||
    die "wave $wave needs the forge's API (reportStatus.apiUrl, repository, tokenFile)"
  [ -n "$branch" ] || branch="$(flake_branch "$flake_url")"
  note phase "looking up wave $wave"
  read_token || exit 1
  gate="$(wave_gate)"
  rc=$?
  [ "$rc" = 124 ] && timed_out "looking up wave $wave"
  [ "$rc" = 0 ] || {
    say "cannot read the wave $wave gate from $api_url ($repository): changing nothing"
    exit 1
  }
  if [ -z "$gate" ]; then
    if is_rev "$deployed_rev"; then note rev "$deployed_rev"; else note report no; fi
    finish pending "waiting for wave $((wave - 1))" 0
  fi
  say "wave $wave: ${branch:-the default branch} is open up to ${gate:0:7}"
  target_url="$(with_rev "$flake_url" "$gate")"
  note phase "fetching ${gate:0:7}"
  meta="$(metadata "$target_url")"
else
  note phase "fetching ${flake_url}"
  meta="$(metadata --refresh "$flake_url")"
fi
rc=$?
[ "$rc" = 124 ] && timed_out "fetching the fleet flake"
[ "$rc" = 0 ] || {
  say "cannot fetch the fleet flake $flake_url"
  exit 1
}
target_rev="${meta%% *}"
target_modified="${meta#* }"
is_rev "$target_rev" || {
  say "nix flake metadata gave no revision for $flake_url"
  exit 1
}
[ "$wave" -gt 0 ] || target_url="$(with_rev "$flake_url" "$target_rev")"
note rev "$target_rev"
short="${target_rev:0:7}"

if is_rev "$deployed_rev" && [[ "$deployed_modified" =~ ^[0-9]+$ ]] && [[ "$target_modified" =~ ^[0-9]+$ ]] &&
  [ "$target_modified" -lt "$deployed_modified" ]; then
  finish failure "refused $short: older than the running ${deployed_rev:0:7}" 1
fi

note phase "building $short"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && limited nixos-rebuild build --flake "$target_url$flake_attr" --no-update-lock-file \
  "${extra_flags[@]}") 2>&1 | tee "$work/build.log" >&2
rc="${PIPESTATUS[0]}"
[ "$rc" = 124 ] && timed_out "building $short"
if [ "$rc" != 0 ]; then
  # The error nixos-rebuild ended with (a failed derivation, an evaluation error), as the status says it.
  last="$(grep -v '^[[:space:]]*$' "$work/build.log" | tail -n1)"
  finish failure "upgrade failed: ${last:-nixos-rebuild build exited with $rc}" 1
fi
new_system="$(resolve "$work/result")"
[ -x "$new_system/bin/switch-to-configuration" ] || {
  say "nixos-rebuild build left no system in $work/result"
  exit 1
}

# With allowReboot, a new kernel, initrd or kernel modules are installed for the next boot; the host reboots
# when inside the reboot window (nixpkgs' system.autoUpgrade does the same).
action="$operation" reboot=false
if [ "$allow_reboot" = true ]; then
  for part in initrd kernel kernel-modules; do
    if [ "$(resolve "$booted_system/$part")" != "$(resolve "$new_system/$part")" ]; then
      action=boot
      reboot=true
    fi
  done
  if "$reboot" && [ -n "$window_lower" ]; then
    now="$(date +%H:%M)"
    if [[ "$window_lower" < "$window_upper" ]]; then
      [[ "$now" > "$window_lower" && "$now" < "$window_upper" ]] || reboot=false
    else
      [[ "$now" < "$window_upper" || "$now" > "$window_lower" ]] || reboot=false
    fi
    "$reboot" || say "the new system needs a reboot, outside the reboot window $window_lower-$window_upper: installed for the next boot"
  fi
fi

previous="$(resolve "$profile")"
running="$(resolve "$current_system")"
note phase "installing $short"
nix-env --profile "$profile" --set "$new_system" >&2 || {
  say "cannot set the system profile to $new_system"
  exit 1
}

if [ "$action" = boot ]; then
  "$new_system/bin/switch-to-configuration" boot >&2 || {
    say "switch-to-configuration boot failed for $short: restoring the profile"
    nix-env --profile "$profile" --rollback >&2
    exit 1
  }
  record_deployed "$new_system" "$target_rev" "$target_modified"
  if [ "${#check_units[@]}" -gt 0 ] || [ "${#check_urls[@]}" -gt 0 ] || [ "$check_commands_count" -gt 0 ]; then
    jq -n --arg s "$new_system" --arg r "$target_rev" --arg p "$running" '{system: $s, rev: $r, previous: $p}' \
      >"$pending_file"
  fi
  if "$reboot"; then
    say "rebooting into $short in a minute"
    shutdown -r +1 >&2 || say "cannot schedule the reboot"
  fi
  finish success "boots into $short at next reboot" 0
fi

note phase "switching to $short"
if ! "$new_system/bin/switch-to-configuration" switch >&2; then
  failed_check="switch-to-configuration failed"
else
  note phase "checking $short"
  run_checks
fi
if [ -n "$failed_check" ]; then
  say "$failed_check: rolling back to $running"
  if roll_back "$running"; then
    finish failure "rolled back from $short: $failed_check" 1
  fi
  finish failure "rollback from $short failed after $failed_check" 1
fi
record_deployed "$new_system" "$target_rev" "$target_modified"
rm -f "$pending_file"
finish success '' 0
