#!/usr/bin/env bash
# Reports the outcome of this host's upgrade to the fleet repository as a commit status, on the fleet commit the
# upgrade tried to deploy, so that the next update pull request shows which hosts run what. Run by the NixOS
# module (services.fleet-auto-upgrade.reportStatus) after every run of nixos-upgrade.service, success or failure.
# Needs bash and curl only. The token is read from a file and goes to curl through a file descriptor: it is never
# on a command line and never printed. A report that cannot be made is logged; it never fails the upgrade.
#
#   report-status.sh --api-url URL --repository OWNER/REPO --token-file FILE --context CONTEXT --flake FLAKEREF
#                    [--result success|failure] [--operation switch|boot] [--time-limit SECONDS]
#                    [--outcome-file FILE] [--upgrade-timeout SPAN]
#
# --result defaults to systemd's $SERVICE_RESULT ("success" or a failure reason) for an ExecStopPost= command;
# "timeout" (systemd stopped the run at TimeoutStartSec=) is reported as "timed out after SPAN".
# --outcome-file is what upgrade.sh wrote: the commit (rev=), the state and description it decided, what it was
# doing (phase=), or report=no. Without a commit from it, the revision is the deployed system's
# configurationRevision (nixos-version) after a success, else the revision of the flake as Nix fetches it
# (`nix flake metadata --json`).
set -uo pipefail

say() { echo "report-status: $*" >&2; }
usage() {
  sed -n "8,10s/^# \{0,3\}//p" "$0" >&2
  exit 2
}

api_url='' repository='' token_file='' context='' flake='' result="${SERVICE_RESULT:-}" operation=switch
time_limit=60 outcome_file='' upgrade_timeout=''
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || usage
  case "$1" in
  --api-url) api_url="${2%/}" ;;
  --repository) repository="$2" ;;
  --token-file) token_file="$2" ;;
  --context) context="$2" ;;
  --flake) flake="$2" ;;
  --result) result="$2" ;;
  --operation) operation="$2" ;;
  --time-limit) time_limit="$2" ;;
  --outcome-file) outcome_file="$2" ;;
  --upgrade-timeout) upgrade_timeout="$2" ;;
  *) usage ;;
  esac
  shift 2
done
[ -n "$api_url" ] && [ -n "$token_file" ] && [ -n "$context" ] && [ -n "$flake" ] || usage
[[ "$repository" =~ ^[^/[:space:]]+/[^/[:space:]]+$ ]] || {
  say "--repository must be OWNER/REPO, got '$repository'"
  exit 2
}
[[ "$time_limit" =~ ^[0-9]+$ ]] || usage
case "$operation" in switch | boot) ;; *) usage ;; esac

# Where the running, booted and new systems are; tests point these elsewhere.
current_system="${NFU_CURRENT_SYSTEM:-/run/current-system}"
booted_system="${NFU_BOOTED_SYSTEM:-/run/booted-system}"

# What upgrade.sh decided (key=value lines); absent when the run ended before it wrote anything.
outcome_rev='' outcome_state='' outcome_description='' outcome_phase='' outcome_report=yes
if [ -n "$outcome_file" ] && [ -r "$outcome_file" ]; then
  while IFS='=' read -r key value; do
    case "$key" in
    rev) outcome_rev="$value" ;;
    state) outcome_state="$value" ;;
    description) outcome_description="$value" ;;
    phase) outcome_phase="$value" ;;
    report) outcome_report="$value" ;;
    esac
  done <"$outcome_file"
fi
if [ "$outcome_report" = no ] && [ "$result" != timeout ]; then
  say "nothing to report"
  exit 0
fi

if [ ! -r "$token_file" ]; then
  say "cannot read the token file $token_file: not reporting"
  exit 1
fi
token="$(tr -d '\r\n' <"$token_file")"
if [ -z "$token" ]; then
  say "the token file $token_file is empty: not reporting"
  exit 1
fi

is_rev() { [[ "$1" =~ ^[0-9a-f]{40}$ ]]; }

revision="$outcome_rev"
if ! is_rev "$revision" && [ "$result" = success ] && [ "$operation" = switch ]; then
  revision="$(nixos-version --configuration-revision 2>/dev/null || true)"
fi
if ! is_rev "$revision"; then
  metadata="$(nix --extra-experimental-features 'nix-command flakes' flake metadata --json --no-write-lock-file \
    "${flake%%#*}" 2>/dev/null || true)"
  revision="$(printf '%s' "$metadata" | grep -o '"revision":"[0-9a-f]\{40\}"' | head -n1 | cut -d'"' -f4)"
fi
if ! is_rev "$revision"; then
  say "cannot tell which fleet commit was deployed (no configurationRevision, no revision from nix flake metadata of ${flake%%#*}): not reporting"
  exit 1
fi
short="${revision:0:7}"

# What the booted system runs differently from the current one: a switch left these for the next boot.
reboot_pending() {
  local parts=() p
  for p in kernel initrd kernel-modules; do
    local a b
    a="$(readlink -e "$booted_system/$p" 2>/dev/null || true)"
    b="$(readlink -e "$current_system/$p" 2>/dev/null || true)"
    [ -n "$b" ] && [ "$a" != "$b" ] && parts+=("$p")
  done
  local IFS=,
  printf '%s' "${parts[*]}" | sed 's/,/, /g'
}

if [ "$result" = timeout ]; then
  state=failure
  description="timed out after ${upgrade_timeout:-its time limit}${outcome_phase:+ while $outcome_phase}"
elif [ -n "$outcome_state" ] && [ -n "$outcome_description" ]; then
  state="$outcome_state"
  description="$outcome_description"
elif [ "$result" = success ]; then
  state=success
  if [ "$operation" = boot ]; then
    description="boots into $short at next reboot"
  else
    pending="$(reboot_pending)"
    if [ -n "$pending" ]; then description="switched to $short; reboot pending ($pending)"; else description="running $short"; fi
  fi
else
  state=failure
  # The last line this run of the service logged: the error nixos-rebuild ended with.
  if [ -n "${INVOCATION_ID:-}" ]; then
    last="$(journalctl --no-pager -o cat "_SYSTEMD_INVOCATION_ID=$INVOCATION_ID" 2>/dev/null | grep -v '^[[:space:]]*$' | tail -n1)"
  else
    last="$(journalctl --no-pager -o cat -u nixos-upgrade.service -n 50 2>/dev/null | grep -v '^[[:space:]]*$' | tail -n1)"
  fi
  description="upgrade failed: ${last:-${result:-unknown reason}}"
fi
# GitHub keeps 140 characters of a description.
description="$(printf '%s' "$description" | tr -d '\000-\037' | cut -c1-140)"

json_string() {
  local s="$1"
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  printf '"%s"' "$s"
}
body="{\"state\":\"$state\",\"context\":$(json_string "$context"),\"description\":$(json_string "$description")}"
url="$api_url/repos/$repository/statuses/$revision"

err_file="$(mktemp)"
trap 'rm -f "$err_file"' EXIT
deadline=$((SECONDS + time_limit))
attempt=0
while :; do
  attempt=$((attempt + 1))
  left=$((deadline - SECONDS))
  [ "$left" -ge 1 ] || left=1
  # The Authorization header comes from a file descriptor, not from the command line that `ps` shows.
  code="$(curl --silent --show-error --output /dev/null --write-out '%{http_code}' \
    --max-time "$((left < 20 ? left : 20))" --connect-timeout 10 \
    --header @<(printf 'Authorization: token %s\n' "$token") \
    --header 'Content-Type: application/json' --header 'Accept: application/json' \
    --data "$body" "$url" 2>"$err_file" || true)"
  err="$(head -c 300 "$err_file" | tr '\n' ' ')"
  case "$code" in
  2??)
    say "reported $state on $short as $context: $description"
    exit 0
    ;;
  401 | 403 | 404 | 422)
    say "the forge refused the status (HTTP $code) for $repository@$short: check the token's scope and the repository"
    exit 1
    ;;
  esac
  if [ "$SECONDS" -ge "$deadline" ]; then
    say "giving up after $attempt attempts in ${time_limit}s: ${err:-HTTP $code}"
    exit 1
  fi
  say "attempt $attempt failed (${err:-HTTP $code}); retrying"
  pause=$((attempt < 5 ? attempt * 2 : 10))
  left=$((deadline - SECONDS))
  sleep "$((pause < left ? pause : left))"
done
