import * as core from '@actions/core'
import * as fs from 'fs'
import * as path from 'path'
import { INPUTS, InputName } from './generated/action'
import { FORGEJO_MERGE_METHODS, GITHUB_MERGE_METHODS, MergeMethodSetting } from './forge/merge'
import { SigningKey, checkPublicKey, parseSigningKey, redactUrl, urlSecrets } from './nix/cache'
import { parseDuration } from './forge/fleet-state'
import { ForgeKind, detectForge } from './forge/kind'
import { InputError } from './errors'
import { refNameProblem } from './git/refname'
import { maskNixSecrets, splitArgs } from './nix/args'
import { normaliseSigningKey } from './signing'
import { parseUpdateInputs } from './pipeline/input-selection'
import { parsePeople } from './pipeline/people'
import { checkCommitViaApi } from './pipeline/api-commit'
import { checkSigningKeyPassphrase, isOpenPgpKey } from './openpgp'

export type { ForgeKind } from './forge/kind'
export { InputError } from './errors'

/** Everything the action was asked to do, read and validated once. */
export interface Settings {
  /** Absolute path of the flake's directory (holds flake.nix and flake.lock). */
  flakeDir: string
  /** Explicit host names to consider; empty means every `nixosConfigurations` entry. */
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
}

export interface PushSettings {
  url: string
  key: SigningKey
  /** The keys the builds trust for paths from `url`, space-separated: push-public-key, else the signing key's. */
  publicKey: string
  /** A failed push fails the step (and no pull request is opened). */
  required: boolean
}

/** Splits a list input on commas, whitespace and newlines, dropping empty items. */
export function parseList(value: string): string[] {
  return value
    .split(/[\s,]+/)
    .map(s => s.trim())
    .filter(s => s !== '')
}

/** A URL-like text with whatever could be credentials (before an `@`) replaced, for messages. */
function redact(text: string): string {
  return text.replace(/^([^@]*?)(\/\/|:)[^/@]*@/, '$1$2***@')
}

/** Where the inputs come from: a value for each input that was given, `undefined` for one that was not. */
export type InputSource = (name: InputName) => string | undefined

/** The runner's variable for an input (what `core.getInput` reads): `INPUT_` and the name upper-cased. */
export function inputVariable(name: string): string {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`
}

/** Inputs as the runner passes them: `INPUT_*` variables. */
export function environmentInputs(env: NodeJS.ProcessEnv): InputSource {
  return name => env[inputVariable(name)]
}

/** A runner expression (`${{ github.token }}`) only a runner can evaluate: without one the default is empty. */
function isRunnerExpression(value: string): boolean {
  return value.includes('${{')
}

/** action.yml's default for an input, as it applies outside a runner. */
export function inputDefault(name: InputName): string {
  const value: string = INPUTS[name].default
  return isRunnerExpression(value) ? '' : value
}

/**
 * `INPUT_*` variables that name no input but would with `-` and `_` swapped (`INPUT_DRY_RUN` for `dry-run`): the
 * shell's spelling, silently ignored otherwise.
 */
export function misspelledInputVariables(env: NodeJS.ProcessEnv): string[] {
  const known = new Map((Object.keys(INPUTS) as InputName[]).map(n => [inputVariable(n), n]))
  const warnings: string[] = []
  for (const variable of Object.keys(env)) {
    if (!variable.startsWith('INPUT_') || known.has(variable)) continue
    const name = known.get(`INPUT_${variable.slice('INPUT_'.length).toUpperCase().replace(/_/g, '-')}`)
    if (name) {
      warnings.push(
        `${variable} is ignored: the input '${name}' is read from ${inputVariable(name)} (env '${inputVariable(name)}=…' node dist/index.js), or use node dist/cli.js --${name}`
      )
    }
  }
  return warnings
}

const BOOLEAN_TRUE = ['true', 'True', 'TRUE']
const BOOLEAN_FALSE = ['false', 'False', 'FALSE']

/** `true`/`false` as `core.getBooleanInput` takes them; anything else is an error naming the input. */
function getBoolean(input: (name: InputName) => string, name: InputName): boolean {
  const raw = input(name) || inputDefault(name)
  if (BOOLEAN_TRUE.includes(raw)) return true
  if (BOOLEAN_FALSE.includes(raw)) return false
  throw new InputError(`Input '${name}' must be true or false, got ${JSON.stringify(raw)}`)
}

/** An optional whole-number input of at least `min`; empty gives undefined. */
function getCount(
  input: (name: InputName) => string,
  name: InputName,
  min: number,
  unit = ''
): number | undefined {
  const raw = input(name)
  if (raw === '') return undefined
  if (!/^[0-9]+$/.test(raw) || Number(raw) < min || !Number.isSafeInteger(Number(raw))) {
    throw new InputError(
      `Input '${name}' must be a whole number${unit} of at least ${min}, or empty for automatic, got ${JSON.stringify(raw)}`
    )
  }
  return Number(raw)
}

/** Whole-name match, as `builtins.match` anchors its pattern. */
export function compileHostPattern(source: string, inputName = 'exclude-hosts'): RegExp {
  try {
    return new RegExp(`^(?:${source})$`, 'u')
  } catch (e) {
    throw new InputError(`Input '${inputName}' is not a valid regular expression: ${(e as Error).message}`)
  }
}

/** Checks a branch name against git's ref rules and the project's own: never the base branch. */
export function validateBranch(name: string, base: string, inputName = 'branch'): void {
  const problem = refNameProblem(name)
  if (problem)
    throw new InputError(
      `Input '${inputName}' is not a usable branch name (${problem}): ${JSON.stringify(name)}`
    )
  if (name === base) {
    throw new InputError(
      `Input '${inputName}' names the base branch '${base}': the update needs a branch of its own`
    )
  }
}

/** `commit-via-api`, checked against the forge and `signing-key`. */
function commitViaApi(value: boolean, forge: ForgeKind, signingKey: string | undefined): boolean {
  checkCommitViaApi(value, forge, signingKey)
  return value
}

/** Expands `{date}` in a text. */
export function expandDate(text: string, date: string): string {
  return text.split('{date}').join(date)
}

interface Environment {
  env: NodeJS.ProcessEnv
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
function getPushSettings(input: (name: InputName) => string): PushSettings | undefined {
  const url = input('push-to')
  const secret = input('push-signing-key')
  if (secret !== '') core.setSecret(secret)
  const publicInput = input('push-public-key')
  const required = getBoolean(input, 'push-required')
  if (url === '') {
    if (secret !== '' || publicInput !== '' || required)
      throw new InputError("Inputs 'push-signing-key', 'push-public-key' and 'push-required' need 'push-to'")
    return undefined
  }
  for (const s of urlSecrets(url)) core.setSecret(s)
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

/** `merge-method`: auto, or a method the forge knows (rebase-merge and fast-forward-only are Forgejo's). */
export function parseMergeMethod(value: string, forge: ForgeKind): MergeMethodSetting {
  const v = (value.trim() || 'auto').toLowerCase()
  const known: readonly string[] = forge === 'github' ? GITHUB_MERGE_METHODS : FORGEJO_MERGE_METHODS
  if (v === 'auto' || known.includes(v)) return v as MergeMethodSetting
  const forgejoOnly = forge === 'github' && (FORGEJO_MERGE_METHODS as readonly string[]).includes(v)
  throw new InputError(
    `Input 'merge-method' must be auto, ${known.join(', ')} on ${forge === 'github' ? 'GitHub' : 'Forgejo'}, got ${JSON.stringify(value.trim())}${forgejoOnly ? ' (a Forgejo merge style)' : ''}`
  )
}

/** Reads every input, validates it and returns the settings; the only place that reads inputs. */
export function getSettings(e: Environment): Settings {
  const workspace = path.resolve(e.env.GITHUB_WORKSPACE || process.cwd())
  const date = e.now.toISOString().slice(0, 10)
  const source = e.inputs ?? environmentInputs(e.env)
  if (!e.inputs) for (const warning of misspelledInputVariables(e.env)) core.warning(warning)
  // An input that was not given at all takes action.yml's default, as a runner would apply it.
  const input = (name: InputName): string => (source(name) ?? inputDefault(name)).trim()
  // Inputs that cannot be empty: an empty value means the default.
  const orDefault = (name: InputName): string => input(name) || inputDefault(name)

  const token = input('token')
  if (token) core.setSecret(token)
  if (input('signing-key-passphrase')) core.setSecret(input('signing-key-passphrase'))
  const signingKeyRaw = input('signing-key')
  let signingKey = ''
  if (signingKeyRaw !== '') {
    core.setSecret(signingKeyRaw)
    for (const line of signingKeyRaw.split(/\r?\n/)) if (line.trim().length > 8) core.setSecret(line.trim())
    signingKey = isOpenPgpKey(signingKeyRaw)
      ? signingKeyRaw.replace(/\r\n?/g, '\n').trim()
      : normaliseSigningKey(signingKeyRaw)
    for (const line of signingKey.split('\n')) if (line.length > 8) core.setSecret(line)
  }

  const flakeInput = orDefault('flake')
  if (/^[a-z+]+:/.test(flakeInput) && !flakeInput.startsWith('path:')) {
    throw new InputError(
      `Input 'flake' must be a directory of the checkout (it holds the flake.lock to update), got ${JSON.stringify(flakeInput)}`
    )
  }
  const flakeDir = path.resolve(workspace, flakeInput.replace(/^path:/, ''))
  const rel = path.relative(workspace, flakeDir)
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new InputError(
      `Input 'flake' must be inside the workspace ${workspace}, got ${JSON.stringify(flakeInput)}`
    )
  }
  if (!fs.existsSync(path.join(flakeDir, 'flake.nix'))) {
    throw new InputError(`Input 'flake': no flake.nix in ${flakeDir}`)
  }

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
      throw new InputError(`Input 'api-url' is not a URL: ${JSON.stringify(redact(apiUrlRaw))}`)
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      throw new InputError(`Input 'api-url' must be an http(s) URL, got ${JSON.stringify(redact(apiUrlRaw))}`)
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
    flakeDir,
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
    signingKeyPassphrase: checkSigningKeyPassphrase(input('signing-key-passphrase'), signingKey || undefined),
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
    commitViaApi: commitViaApi(getBoolean(input, 'commit-via-api'), forge, signingKey || undefined),
    autoMerge: getBoolean(input, 'auto-merge'),
    mergeMethod,
    build: getBoolean(input, 'build'),
    nixArgs: maskNixSecrets(splitArgs(input('nix-args'))),
    evalMemory: getCount(input, 'eval-memory', 64, ' of MiB'),
    evalWorkers: getCount(input, 'eval-workers', 1),
    evalChunkSize: getCount(input, 'eval-chunk-size', 1),
    failOnRegression: getBoolean(input, 'fail-on-regression'),
    dryRun: getBoolean(input, 'dry-run'),
    staleAfterMs,
    date,
    push: getPushSettings(input)
  }
}
