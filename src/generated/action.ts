// Generated from action.yml by scripts/generate.ts (npm run generate): edit action.yml, not this file.

export interface InputSpec {
  readonly description: string
  /** action.yml's default; a runner expression such as `${{ github.token }}` is kept as written. */
  readonly default: string
  readonly type: 'boolean' | 'string'
}

export const INPUTS = {
  "flake": {
    "description": "Directory of the flake in the checkout (holds `flake.nix` and `flake.lock`). Must be inside the workspace. Several directories of one repository, one a line or comma-separated (`.`, `lab`): mode update updates, builds and diffs each, then makes one commit with every changed lock and one pull request with a part per flake; in the list outputs every name is then prefixed with its flake's directory and `#` (`./lab#web`). The other modes take one directory.",
    "default": ".",
    "type": "string"
  },
  "configurations": {
    "description": "The flake output whose entries are built: `nixosConfigurations` (each entry's `config.system.build.toplevel`), `homeConfigurations` (home-manager, each entry's `activationPackage`) or `darwinConfigurations` (nix-darwin, each entry's `system`). An entry for a system that neither this machine nor a remote builder builds is evaluated only and reported as not buildable here, never as a failure.",
    "default": "nixosConfigurations",
    "type": "string"
  },
  "hosts": {
    "description": "Hosts to build, separated by spaces, commas or newlines. Empty means every `nixosConfigurations` entry. Unknown names are an error. With several flakes, a name selects that host in every flake that has it and `./lab#web` the host of one flake; a flake with none of the hosts named keeps its lock.",
    "default": "",
    "type": "string"
  },
  "exclude-hosts": {
    "description": "Regular expression matched against the whole host name (as `builtins.match` anchors it); matching hosts are left out. `^$` keeps every host.",
    "default": ".*-minimal",
    "type": "string"
  },
  "update-inputs": {
    "description": "Flake inputs to update (`nixpkgs home-manager`), separated by spaces, commas or newlines. Empty means all inputs. `!name` entries update every top-level input but those (`!nixpkgs-stable`); names and `!` entries cannot be mixed. Names that are not in `flake.lock` are an error.",
    "default": "",
    "type": "string"
  },
  "base-branch": {
    "description": "Branch the pull request targets. Empty means the repository's default branch from the event payload, else the current branch, else `main`. It is never written to.",
    "default": "",
    "type": "string"
  },
  "branch": {
    "description": "Branch that carries the update; `{date}` expands to the UTC date (`auto/flake-update-{date}`). Must differ from the base branch.",
    "default": "auto/flake-update",
    "type": "string"
  },
  "api-url": {
    "description": "REST API base URL of the forge, e.g. `https://codeberg.org/api/v1`. Empty means `GITHUB_API_URL`, else `GITHUB_SERVER_URL` + `/api/v1` on Forgejo.",
    "default": "",
    "type": "string"
  },
  "token": {
    "description": "Token for pushing the branch and calling the forge API; masked in the log. See the README for the permissions it needs.",
    "default": "${{ github.token }}",
    "type": "string"
  },
  "forge": {
    "description": "Which forge API to use: `github`, `forgejo` (also for Gitea) or `auto` (Forgejo/Gitea when `FORGEJO_ACTIONS=true` or `GITEA_ACTIONS` is set, else GitHub).",
    "default": "auto",
    "type": "string"
  },
  "signing-key": {
    "description": "Key that signs the update commit, from a secret: an OpenSSH private key without passphrase (git's `gpg.format ssh`), or an armored OpenPGP secret key (`-----BEGIN PGP PRIVATE KEY BLOCK-----`, signed with gpg in a keyring of its own; needs gpg on the runner).",
    "default": "",
    "type": "string"
  },
  "signing-key-passphrase": {
    "description": "Passphrase of an OpenPGP signing-key, from a secret. It reaches gpg on standard input only, never a command line or a file.",
    "default": "",
    "type": "string"
  },
  "git-user-name": {
    "description": "Author and committer name of the update commit.",
    "default": "nixos-fleet-update",
    "type": "string"
  },
  "git-user-email": {
    "description": "Author and committer e-mail of the update commit.",
    "default": "nixos-fleet-update@users.noreply.localhost",
    "type": "string"
  },
  "commit-message": {
    "description": "Subject of the update commit; `{date}` expands to the UTC date. The body lists the changed inputs.",
    "default": "chore: update flake inputs {date}",
    "type": "string"
  },
  "commit-via-api": {
    "description": "GitHub only: make the commit through GitHub's API (GraphQL createCommitOnBranch) instead of pushing one made here, so that GitHub signs it and shows it as verified, without a signing key. The token's account is the author (git-user-name and git-user-email do not apply). Cannot be combined with signing-key.",
    "default": "false",
    "type": "boolean"
  },
  "pr-title": {
    "description": "Title of the pull request; `{date}` expands to the UTC date.",
    "default": "chore: update flake inputs {date}",
    "type": "string"
  },
  "pr-labels": {
    "description": "Label names for the pull request, separated by commas or newlines.",
    "default": "",
    "type": "string"
  },
  "pr-reviewers": {
    "description": "Accounts asked to review the pull request, separated by spaces, commas or newlines (`alice bob`), when it is opened and on each update that pushes a new commit. A name the forge refuses (no access, the token's own account) is a warning naming it; the run goes on. Users only, no teams.",
    "default": "",
    "type": "string"
  },
  "pr-assignees": {
    "description": "Accounts the pull request is assigned to, separated by spaces, commas or newlines, when it is opened and on each update that pushes a new commit; assignees someone added stay. A name the forge refuses is a warning naming it.",
    "default": "",
    "type": "string"
  },
  "auto-merge": {
    "description": "Ask the forge to merge the pull request once its checks pass.",
    "default": "false",
    "type": "boolean"
  },
  "merge-method": {
    "description": "How auto-merge merges: `auto` (the repository's default merge style, else the first one it allows), `merge`, `squash` or `rebase`; on Forgejo also `rebase-merge` and `fast-forward-only`. A method the repository does not allow fails the step, naming the ones it allows.",
    "default": "auto",
    "type": "string"
  },
  "build": {
    "description": "Build every host before and after the update and diff them. `false` updates the lock only.",
    "default": "true",
    "type": "boolean"
  },
  "nix-args": {
    "description": "Extra arguments for every Nix call, split like a shell would (no shell runs them): `--max-jobs 4`, `--builders 'ssh://builder x86_64-linux'`, `--option NAME VALUE`. They go to `nix` and `nix-store` alike, so use settings flags, not `nix build`-only flags such as `-L`.",
    "default": "",
    "type": "string"
  },
  "eval-memory": {
    "description": "Memory in MiB that the evaluation processes may use together; each of them is killed past its share, and a host that cannot be evaluated within the whole budget is reported as failing. Empty means half of the memory available when the step starts.",
    "default": "",
    "type": "string"
  },
  "eval-workers": {
    "description": "Evaluation processes at once. Empty means one per CPU core (fewer when the memory budget is small).",
    "default": "",
    "type": "string"
  },
  "eval-chunk-size": {
    "description": "Hosts per evaluation process. Empty means chosen from what the first two processes measure: light hosts in one process, heavy ones in chunks that grow while the memory each process is seen to use leaves room under half of its share of eval-memory.",
    "default": "",
    "type": "string"
  },
  "fail-on-regression": {
    "description": "Fail the step (after every output and the summary are written) when a host that built before fails after.",
    "default": "true",
    "type": "boolean"
  },
  "dry-run": {
    "description": "Build, diff and report, then put `flake.lock` back: nothing is committed, pushed or opened.",
    "default": "false",
    "type": "boolean"
  },
  "push-to": {
    "description": "Nix store URL of a binary cache (file:///dir, s3://bucket?region=..., ssh-ng://user@host, ...). After the build, every host's new system and its closure is copied there, signed; the builds also fetch from it. Empty means no binary cache.",
    "default": "",
    "type": "string"
  },
  "push-signing-key": {
    "description": "Nix secret signing key (NAME:BASE64, from nix-store --generate-binary-cache-key) that signs what is pushed. Required with push-to. Pass it from a secret.",
    "default": "",
    "type": "string"
  },
  "push-public-key": {
    "description": "Public keys the builds trust for paths from push-to, separated by spaces. Default: the signing key's own. It must include that key (a check that the secret matches what the hosts trust).",
    "default": "",
    "type": "string"
  },
  "push-required": {
    "description": "Fail the step, and open no pull request, when the push to push-to fails. Default - warn and go on.",
    "default": "false",
    "type": "boolean"
  },
  "stale-after": {
    "description": "How long a host may go without reporting, or without deploying a newer commit of the base branch, before the \"Fleet state\" section and the stale-hosts output flag it (hosts report with the NixOS module's reportStatus). A duration such as 2d, 36h or 90m.",
    "default": "2d",
    "type": "string"
  },
  "mode": {
    "description": "What the run does: `update` (update flake.lock, build before and after, open the pull request), `review` (build a pull request's base and head commits, comment the difference on it, set the commit status nixos-fleet-update/review), `cache` (build the checked-out commit and push it to push-to) or `rollout` (no build, no update: read the hosts' reports and each host's rollout wave, and post the `nixos-rollout/wave-N` commit statuses that let the next wave deploy a commit). Empty means chosen from the event - review on pull_request, cache on a push to the base branch when push-to is set, update otherwise.",
    "default": "",
    "type": "string"
  },
  "review-base": {
    "description": "Commit a review compares from (a sha, branch or tag). Empty means the pull_request event's base. Set it with review-head.",
    "default": "",
    "type": "string"
  },
  "review-head": {
    "description": "Commit a review compares to (a sha, branch or tag). Empty means the pull_request event's head. Set it with review-base.",
    "default": "",
    "type": "string"
  },
  "rollout-soak": {
    "description": "With `mode: rollout`, how long every host of the lower waves must have run a commit (since its first successful report on it or a later commit) before the next wave gets it. A duration such as 6h, 1d or 90m, or 0.",
    "default": "6h",
    "type": "string"
  },
  "rollout-require-all": {
    "description": "With `mode: rollout`, a host of a lower wave that never reported blocks the waves above it. Default - such hosts are listed in the report and do not block.",
    "default": "false",
    "type": "boolean"
  },
  "attribution-max-builds": {
    "description": "When hosts that built before the update fail after it and several inputs changed, at most this many extra builds of those hosts find the inputs that break them (each changed input held back in turn). 0 turns the search off. With one changed input it is named without a build.",
    "default": "10",
    "type": "string"
  },
  "hold-back": {
    "description": "`regressing`: the pull request's flake.lock keeps the inputs that break hosts at their old revision and updates the rest (no pull request when nothing is left to update); `none`: it updates every input.",
    "default": "regressing",
    "type": "string"
  },
  "bisect": {
    "description": "Search the history of each breaking git-based input (github:, gitlab:, sourcehut:, git+…) for the first bad commit, building the broken hosts at revisions in between.",
    "default": "false",
    "type": "boolean"
  },
  "bisect-max-builds": {
    "description": "Builds each bisection may take; past it the report gives the range it narrowed to.",
    "default": "8",
    "type": "string"
  }
} as const satisfies Record<string, InputSpec>

export type InputName = keyof typeof INPUTS

export const OUTPUTS = {
  "hosts": {
    "description": "JSON array of the hosts considered, after filtering."
  },
  "changed": {
    "description": "`true` when `flake.lock` changed, else `false`."
  },
  "updated-inputs": {
    "description": "JSON array of the inputs whose locked revision changed (nested ones as `parent/child`)."
  },
  "failed-hosts": {
    "description": "JSON array of the hosts that failed to evaluate or build after the update."
  },
  "regressed-hosts": {
    "description": "JSON array of the hosts that built before the update and fail after it."
  },
  "reboot-hosts": {
    "description": "JSON array of the hosts whose kernel, initrd or kernel modules changed: `switch` alone does not apply them."
  },
  "push-status": {
    "description": "What the push to push-to did - pushed, failed or skipped; empty when nothing was to be pushed."
  },
  "pushed-paths": {
    "description": "Number of store paths sent to push-to (those it did not have yet)."
  },
  "pushed-bytes": {
    "description": "NAR size in bytes of the store paths sent to push-to."
  },
  "stale-hosts": {
    "description": "JSON array of the hosts whose last status report is older than stale-after, or that have not deployed a base-branch commit older than stale-after. Hosts that never reported are not in it (see the report)."
  },
  "failed-upgrades": {
    "description": "JSON array of the hosts whose last status report is a failed upgrade."
  },
  "rollout-halted": {
    "description": "With `mode: rollout`, JSON `{wave, commit, hosts, reason}` when a failed upgrade or a rollback of a lower wave halts the rollout at that commit (no higher wave is gated on it or after it); empty otherwise."
  },
  "rollout-gates": {
    "description": "With `mode: rollout`, JSON array of `{wave, commit, posted}`: per wave above 0, the commit its hosts deploy (the newest one gated for it), and whether this run posted that gate."
  },
  "held-back-inputs": {
    "description": "JSON array of the inputs the pull request's lock keeps at their old revision because they break hosts: `[{\"input\", \"old\", \"new\", \"hosts\": [...], \"firstBad\"}]`."
  },
  "report": {
    "description": "The Markdown report (job summary and pull request body)."
  },
  "report-json": {
    "description": "Path of a JSON file with the structured results (per host: status, store paths, every package change, the systemd units switch would restart, reload, start or stop, evaluation warnings, errors and log tails; per input: old and new lock entries). Its fields are described in the README's \"The JSON file\"."
  },
  "branch": {
    "description": "The update branch."
  },
  "commit": {
    "description": "SHA of the update commit, when one was made."
  },
  "pr-number": {
    "description": "Number of the pull request, when one was made."
  },
  "pr-url": {
    "description": "Web URL of the pull request, when one was made."
  },
  "pr-operation": {
    "description": "What happened to the pull request: `created`, `updated`, `unchanged` or `none`."
  },
  "comment-url": {
    "description": "Web URL of the review comment on the pull request (mode review), when it could be posted."
  }
} as const satisfies Record<string, { readonly description: string }>

export type OutputName = keyof typeof OUTPUTS
