import * as fs from 'fs'
import * as path from 'path'
import { InputName } from './generated/action'
import { MergeMethodSetting } from './forge/merge'
import { ConfigurationSet } from './nix/configurations'
import { SigningKey, checkPublicKey, parseSigningKey } from './nix/cache'
import { redactUrl, urlSecrets } from './redact'
import { ForgeKind, detectForge } from './forge/kind'
import { InputError } from './errors'
import { refNameProblem } from './git/refname'
import { maskNixSecrets, splitArgs } from './nix/args'
import { normaliseSigningKey } from './signing'
import { ModeSettings, parseModeSettings } from './modes/mode'
import { parseUpdateInputs } from './pipeline/input-selection'
import { parsePeople } from './pipeline/people'
import { checkCommitViaApi } from './pipeline/api-commit'
import { checkSigningKeyPassphrase, isOpenPgpKey } from './openpgp'
import { Log } from './log/log'
import { InputSource, environmentInputs, inputDefault, misspelledInputVariables } from './inputs/source'
import {
  compileHostPattern,
  expandDate,
  parseBoolean,
  parseCount,
  parseDuration,
  parseList,
  parseConfigurations,
  parseMergeMethod,
  validateBranch
} from './inputs/parse'
import { RolloutSettings, parseRolloutSettings } from './rollout/settings'
import { AttributionSettings, parseAttributionSettings } from './attribution-settings'

export type { ForgeKind } from './forge/kind'
export { InputError } from './errors'
export type { InputSource } from './inputs/source'

/** Everything the action was asked to do, read and validated once. */
export interface Settings {
  /** Absolute path of the flake's directory (holds flake.nix and flake.lock): the first of `flakeDirs`. */
  flakeDir: string
  /** Every flake directory the input names, in its order; mode update runs on each, one pull request for all. */
  flakeDirs: string[]
  /** The flake output whose entries are built (`nixosConfigurations`, `homeConfigurations`, `darwinConfigurations`). */
  configurations: ConfigurationSet
  /** Explicit host names to consider; empty means every entry of `configurations`. */
  hosts: string[]
  /** Hosts whose whole name matches are left out. */
  excludeHosts: RegExp
  /** The exclude pattern as the user wrote it, for messages. */
  excludeHostsSource: string
  /** Inputs to update as written (`!name`: all but those, resolved against flake.lock); empty means all. */
  updateInputs: string[]
  /** Branch the pull request targets; never written to. */
  baseBranch: string
  /** Branch that carries the update, `{date}` expanded. */
  branch: string
  /** REST API base URL, without a trailing slash; undefined when it is to be derived from the runner. */
  apiUrl?: string
  /** Token for the forge API and for pushing; masked in the log. */
  token: string
  /** Which forge API to speak: `auto` is decided from the runner's environment. */
  forge: ForgeKind
  /** An OpenSSH private key, or an armored OpenPGP secret key, that signs the commit; masked in the log. */
  signingKey?: string
  /** The OpenPGP key's passphrase ('' for none); masked in the log. */
  signingKeyPassphrase: string
  /** GitHub: the commit is made through GraphQL createCommitOnBranch, which GitHub signs. */
  commitViaApi: boolean
  gitUserName: string
  gitUserEmail: string
  commitMessage: string
  prTitle: string
  prLabels: string[]
  /** Accounts asked for a review, and assigned, on the pull request. */
  prReviewers: string[]
  prAssignees: string[]
  autoMerge: boolean
  /** How auto-merge merges: a method, or `auto` for the repository's default or first allowed one. */
  mergeMethod: MergeMethodSetting
  /** false: update the lock only, no builds or diffs. */
  build: boolean
  /** Extra arguments for every Nix call (split like a shell would, never run through one). */
  nixArgs: string[]
  /** Memory for the evaluation processes together, in MiB; undefined: a share of MemAvailable. */
  evalMemory?: number
  /** Evaluation processes at once; undefined: one per core. */
  evalWorkers?: number
  /** Hosts per evaluation process; undefined: sized from measured memory. */
  evalChunkSize?: number
  failOnRegression: boolean
  dryRun: boolean
  /** How long a host may go without reporting or deploying before it counts as stale, in milliseconds. */
  staleAfterMs: number
  /** UTC date (YYYY-MM-DD) that `{date}` expands to. */
  date: string
  /** The binary cache (a Nix store URL) that the new systems are copied to, and the builds fetch from. */
  push?: PushSettings
  /** `mode`, `review-base` and `review-head` (src/modes/mode.ts). */
  modes: ModeSettings
  /** `rollout-soak` and `rollout-require-all`. */
  rollout: RolloutSettings
  /** Finding the inputs that break hosts, holding them back, bisecting them. */
  attribution: AttributionSettings
}

export interface PushSettings {
  url: string
  key: SigningKey
  /** The keys the builds trust for paths from `url`, space-separated: push-public-key, else the signing key's. */
  publicKey: string
  /** A failed push fails the step (and no pull request is opened). */
  required: boolean
}

/** Input `flake`'s entries as written: one a line, or comma-separated; `.` when it names none. */
export function flakeEntries(value: string): string[] {
  const entries = value
    .split(/[\n,]+/)
    .map(s => s.trim())
    .filter(s => s !== '')
  return entries.length > 0 ? entries : ['.']
}

/**
 * Input `flake`: one directory of the checkout, or several (one a line, or comma-separated), each inside the
 * workspace and holding a flake.nix; the same directory twice is refused.
 */
export function parseFlakeDirs(value: string, workspace: string): string[] {
  const dirs: string[] = []
  for (const entry of flakeEntries(value)) {
    if (/^[a-z+]+:/.test(entry) && !entry.startsWith('path:')) {
      throw new InputError(
        `Input 'flake' must name directories of the checkout (they hold the flake.lock to update), got ${JSON.stringify(entry)}`
      )
    }
    const dir = path.resolve(workspace, entry.replace(/^path:/, ''))
    const rel = path.relative(workspace, dir)
    if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
      throw new InputError(
        `Input 'flake' must be inside the workspace ${workspace}, got ${JSON.stringify(entry)}`
      )
    }
    if (!fs.existsSync(path.join(dir, 'flake.nix'))) {
      throw new InputError(`Input 'flake': no flake.nix in ${dir}`)
    }
    if (dirs.includes(dir)) throw new InputError(`Input 'flake' names ${dir} twice`)
    dirs.push(dir)
  }
  return dirs
}

interface Environment {
  env: NodeJS.ProcessEnv
  /** Where secrets are masked and warnings go. */
  log: Log
  /** Where the inputs come from; `INPUT_*` variables of `env` when not given. */
  inputs?: InputSource
  /** The event payload's repository default branch, when the event has one. */
  defaultBranch?: string
  now: Date
}

function defaultBaseBranch(e: Environment): string {
  if (e.defaultBranch) return e.defaultBranch
  const refName = e.env.GITHUB_REF_NAME
  if (refName && e.env.GITHUB_REF?.startsWith('refs/heads/')) return refName
  if (e.env.GITHUB_REF?.startsWith('refs/heads/')) return e.env.GITHUB_REF.slice('refs/heads/'.length)
  return 'main'
}

/** Nix store URLs: `scheme://…` (file, s3, https, ssh, ssh-ng, …) or an absolute path (a local store). */
const STORE_URL = /^([a-z][a-z0-9+.-]*:\/\/[^\s]+|\/[^\s]*)$/i

/** push-to, push-signing-key, push-public-key and push-required; undefined when push-to is empty. */
function getPushSettings(input: (name: InputName) => string, log: Log): PushSettings | undefined {
  const url = input('push-to')
  const secret = input('push-signing-key')
  if (secret !== '') log.mask(secret)
  const publicInput = input('push-public-key')
  const required = parseBoolean(input, 'push-required')
  if (url === '') {
    if (secret !== '' || publicInput !== '' || required)
      throw new InputError("Inputs 'push-signing-key', 'push-public-key' and 'push-required' need 'push-to'")
    return undefined
  }
  for (const s of urlSecrets(url)) log.mask(s)
  if (!STORE_URL.test(url)) {
    throw new InputError(
      `Input 'push-to' must be a Nix store URL (file:///…, s3://…, ssh-ng://…, https://…) or an absolute path, got ${JSON.stringify(redactUrl(url))}`
    )
  }
  if (/[?&]secret-key=/.test(url)) {
    throw new InputError(
      "Input 'push-to' must not carry secret-key=: pass the key itself in 'push-signing-key' (from a secret)"
    )
  }
  if (secret === '') {
    throw new InputError(
      "Input 'push-signing-key' is required with 'push-to': hosts accept only signed paths from a binary cache"
    )
  }
  let key: SigningKey
  try {
    key = parseSigningKey(secret)
  } catch (e) {
    throw new InputError((e as Error).message)
  }
  let publicKey = key.publicKey
  if (publicInput !== '') {
    let keys: string[]
    try {
      keys = parseList(publicInput).map(k => checkPublicKey(k))
    } catch (e) {
      throw new InputError((e as Error).message)
    }
    if (!keys.includes(key.publicKey)) {
      throw new InputError(
        `Input 'push-public-key' (${keys.join(' ')}) does not hold the public key of 'push-signing-key' (${key.publicKey}): paths this run pushes would not verify against it`
      )
    }
    publicKey = keys.join(' ')
  }
  return { url, key, publicKey, required }
}

/** `commit-via-api`, checked against the forge and `signing-key`. */
function checkedCommitViaApi(value: boolean, forge: ForgeKind, signingKey: string | undefined): boolean {
  checkCommitViaApi(value, forge, signingKey)
  return value
}

/** Reads every input, validates it and returns the settings; the only place that reads inputs. */
export function getSettings(e: Environment): Settings {
  const workspace = path.resolve(e.env.GITHUB_WORKSPACE || process.cwd())
  const date = e.now.toISOString().slice(0, 10)
  const source = e.inputs ?? environmentInputs(e.env)
  if (!e.inputs) for (const warning of misspelledInputVariables(e.env)) e.log.warning(warning)
  // An input that was not given at all takes action.yml's default, as a runner would apply it.
  const input = (name: InputName): string => (source(name) ?? inputDefault(name)).trim()
  // Inputs that cannot be empty: an empty value means the default.
  const orDefault = (name: InputName): string => input(name) || inputDefault(name)

  const token = input('token')
  if (token) e.log.mask(token)
  const passphrase = input('signing-key-passphrase')
  if (passphrase) e.log.mask(passphrase)
  const signingKeyRaw = input('signing-key')
  let signingKey = ''
  if (signingKeyRaw !== '') {
    e.log.mask(signingKeyRaw)
    for (const line of signingKeyRaw.split(/\r?\n/)) if (line.trim().length > 8) e.log.mask(line.trim())
    signingKey = isOpenPgpKey(signingKeyRaw)
      ? signingKeyRaw.replace(/\r\n?/g, '\n').trim()
      : normaliseSigningKey(signingKeyRaw)
    for (const line of signingKey.split('\n')) if (line.length > 8) e.log.mask(line)
  }

  const flakeDirs = parseFlakeDirs(orDefault('flake'), workspace)

  const hosts = parseList(input('hosts'))
  const excludeHostsSource = input('exclude-hosts')
  const excludeHosts = compileHostPattern(excludeHostsSource === '' ? '(?!)' : excludeHostsSource)

  const updateInputs = parseUpdateInputs(input('update-inputs'))

  const baseBranch = input('base-branch') || defaultBaseBranch(e)
  const baseProblem = refNameProblem(baseBranch)
  if (baseProblem) {
    throw new InputError(
      `Input 'base-branch' is not a usable branch name (${baseProblem}): ${JSON.stringify(baseBranch)}`
    )
  }
  const branch = expandDate(orDefault('branch'), date)
  validateBranch(branch, baseBranch)

  const apiUrlRaw = input('api-url')
  let apiUrl: string | undefined
  if (apiUrlRaw !== '') {
    let parsed: URL
    try {
      parsed = new URL(apiUrlRaw)
    } catch {
      throw new InputError(`Input 'api-url' is not a URL: ${JSON.stringify(redactUrl(apiUrlRaw))}`)
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      throw new InputError(
        `Input 'api-url' must be an http(s) URL, got ${JSON.stringify(redactUrl(apiUrlRaw))}`
      )
    }
    if (parsed.username || parsed.password) {
      throw new InputError("Input 'api-url' must not carry credentials: pass them in 'token'")
    }
    apiUrl = apiUrlRaw.replace(/\/+$/, '')
  }

  const forgeRaw = orDefault('forge').toLowerCase()
  let forge: ForgeKind
  if (forgeRaw === 'auto') forge = detectForge(e.env)
  else if (forgeRaw === 'github') forge = 'github'
  else if (forgeRaw === 'forgejo' || forgeRaw === 'gitea') forge = 'forgejo'
  else throw new InputError(`Input 'forge' must be auto, github or forgejo, got ${JSON.stringify(forgeRaw)}`)

  const gitUserName = orDefault('git-user-name')
  if (/[<>\n]/.test(gitUserName))
    throw new InputError("Input 'git-user-name' must not contain <, > or a newline")
  const gitUserEmail = orDefault('git-user-email')
  if (!/^[^\s<>@]+@[^\s<>@]+$/.test(gitUserEmail)) {
    throw new InputError(`Input 'git-user-email' is not an e-mail address: ${JSON.stringify(gitUserEmail)}`)
  }

  const mergeMethod = parseMergeMethod(input('merge-method'), forge)

  const commitMessage = expandDate(orDefault('commit-message'), date)
  const prTitle = expandDate(orDefault('pr-title'), date)
  if (prTitle.includes('\n')) throw new InputError("Input 'pr-title' must be one line")

  const staleAfterText = input('stale-after').trim()
  const staleAfterMs = parseDuration(staleAfterText)
  if (staleAfterMs === undefined) {
    throw new InputError(
      `Input 'stale-after' must be a duration such as 2d, 36h or 90m, got ${JSON.stringify(staleAfterText)}`
    )
  }
  return {
    flakeDir: flakeDirs[0],
    flakeDirs,
    configurations: parseConfigurations(input('configurations')),
    hosts,
    excludeHosts,
    excludeHostsSource,
    updateInputs,
    baseBranch,
    branch,
    apiUrl,
    token,
    forge,
    signingKey: signingKey || undefined,
    signingKeyPassphrase: checkSigningKeyPassphrase(passphrase, signingKey || undefined),
    gitUserName,
    gitUserEmail,
    commitMessage,
    prTitle,
    prLabels: input('pr-labels')
      .split(/[,\n]+/)
      .map(s => s.trim())
      .filter(Boolean),
    prReviewers: parsePeople(input('pr-reviewers'), 'pr-reviewers'),
    prAssignees: parsePeople(input('pr-assignees'), 'pr-assignees'),
    commitViaApi: checkedCommitViaApi(parseBoolean(input, 'commit-via-api'), forge, signingKey || undefined),
    autoMerge: parseBoolean(input, 'auto-merge'),
    mergeMethod,
    build: parseBoolean(input, 'build'),
    nixArgs: maskNixSecrets(splitArgs(input('nix-args')), secret => e.log.mask(secret)),
    evalMemory: parseCount(input, 'eval-memory', 64, ' of MiB'),
    evalWorkers: parseCount(input, 'eval-workers', 1),
    evalChunkSize: parseCount(input, 'eval-chunk-size', 1),
    failOnRegression: parseBoolean(input, 'fail-on-regression'),
    dryRun: parseBoolean(input, 'dry-run'),
    staleAfterMs,
    date,
    push: getPushSettings(input, e.log),
    modes: parseModeSettings(input('mode'), input('review-base'), input('review-head')),
    rollout: parseRolloutSettings({ soak: input('rollout-soak'), requireAll: input('rollout-require-all') }),
    attribution: parseAttributionSettings({
      'attribution-max-builds': orDefault('attribution-max-builds'),
      'hold-back': orDefault('hold-back'),
      bisect: orDefault('bisect'),
      'bisect-max-builds': orDefault('bisect-max-builds')
    })
  }
}
