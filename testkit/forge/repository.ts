/**
 * What both test forges share: the bare repository on disk, the pull requests and labels kept over it, and
 * the small JSON-over-HTTP helpers. Each forge's routes, JSON shapes and error bodies live in github.ts and
 * forgejo.ts; injected faults in faults.ts; git smart HTTP in githttp.ts.
 */
import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as http from 'http'
import * as os from 'os'
import * as path from 'path'
import { URL } from 'url'

export type ForgeKind = 'github' | 'forgejo'

export type Json = Record<string, unknown>

export interface RecordedRequest {
  method: string
  path: string
  query: Record<string, string>
  headers: Record<string, string | undefined>
  body: unknown
}

export interface TestPull {
  number: number
  title: string
  body: string
  state: 'open' | 'closed'
  merged: boolean
  head: string
  base: string
  headSha: string
  labels: string[]
  autoMerge: boolean
  /** The merge method auto-merge was scheduled with, in the forge's words. */
  autoMergeMethod?: string
  draft: boolean
  reviewers: string[]
  assignees: string[]
}

export interface TestLabel {
  id: number
  name: string
}

/** A comment of a pull request's conversation (an issue comment on both forges). */
export interface TestComment {
  id: number
  /** The pull request's number. */
  issue: number
  body: string
  /** Who posted it: the token's account, or someone else for comments a test adds. */
  poster: string
  createdAt: string
  updatedAt: string
}

export interface ForgeOptions {
  kind: ForgeKind
  bareRepo: string
  owner: string
  repo: string
  token: string
  defaultBranch?: string
  labels?: string[]
  /** Forgejo: the merge endpoint answers 405 this many times per pull request before it accepts. */
  mergeableAfter?: number
  /** GitHub: whether the repository allows auto-merge (enablePullRequestAutoMerge fails otherwise). */
  autoMergeAllowed?: boolean
  /**
   * The merge methods the repository allows, in the forge's words: GitHub merge, squash, rebase; Forgejo also
   * rebase-merge and fast-forward-only. Default: all of them.
   */
  mergeStyles?: string[]
  /** Forgejo: `default_merge_style` (default merge). */
  defaultMergeStyle?: string
  /** GitHub: the repository JSON without the allow_* merge flags, as for a token that may not see settings. */
  hideMergeSettings?: boolean
  /** GitHub: the base branch has a protection rule (default true); auto-merge needs one. */
  branchProtection?: boolean
  /** GitHub: that rule requires status checks (default true); without, auto-merge is refused in "clean status". */
  requiredChecks?: boolean
  /** Forgejo: the token's scopes, e.g. ['write:repository'] (default: every scope). */
  tokenScopes?: string[]
  /** Forgejo: the token is a workflow's automatic token (no scopes checked; opening pull requests refused). */
  automaticToken?: boolean
  /** Forgejo: the owner is an organisation with these labels (GET /orgs/{org}/labels). */
  orgLabels?: string[]
  /** Forgejo: every merge request answers 405 with this message (e.g. "User not allowed to merge PR"). */
  mergeRefusal?: string
  /**
   * Accounts with write access to the repository besides the owner (who is the token's account and the author
   * of every pull request): they may review and be assigned. Default: none.
   */
  collaborators?: string[]
  /** Accounts that exist on the forge without access to the repository. Default: none. */
  otherUsers?: string[]
  /**
   * The token is the workflow token of a pull request from a fork. GitHub: read-only, every write answers 403.
   * Forgejo: the automatic token with read access to every unit (see forgejo.ts for what that allows).
   */
  forkPullRequestToken?: boolean
}

export interface Reply {
  status: number
  body?: unknown
  headers?: Record<string, string>
}

export interface Ctx {
  method: string
  url: URL
  pathname: string
  body: unknown
  bodyError: boolean
}

export interface PullMeta {
  id: number
  nodeId: string
  createdAt: string
  updatedAt: string
  closedAt: string | null
  mergedAt: string | null
  mergeCommitSha: string | null
  mergeBase: string
  mergeCalls: number
  freezeHead(): void
}

/** What differs between the forges in the shared state: ids, the user object, the merge commit message. */
export interface ForgeProfile {
  repoId: number
  ownerId: number
  firstLabelId: number
  pullId(number: number): number
  userJson(owner: string): Json
  mergeMessage(owner: string, p: TestPull): string
}

const GIT_IDENTITY = {
  GIT_AUTHOR_NAME: 'Test Forge',
  GIT_AUTHOR_EMAIL: 'forge@example.invalid',
  GIT_COMMITTER_NAME: 'Test Forge',
  GIT_COMMITTER_EMAIL: 'forge@example.invalid'
}

export function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined
}

export function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
}

export function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
}

export function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

export function intParam(v: string | null, fallback: number): number {
  if (v === null || v === '') return fallback
  const n = parseInt(v, 10)
  return Number.isFinite(n) ? n : fallback
}

export const sameName = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase()

function exitStatus(err: unknown): number | undefined {
  if (isObj(err) && typeof err.status === 'number') return err.status
  return undefined
}

export class Repo {
  constructor(readonly gitDir: string) {}

  git(args: string[], extraEnv: Record<string, string> = {}): string {
    return execFileSync('git', ['--git-dir', this.gitDir, ...args], {
      encoding: 'utf8',
      env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', ...GIT_IDENTITY, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe']
    }).trim()
  }

  revParse(rev: string): string | undefined {
    try {
      return this.git(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`])
    } catch {
      return undefined
    }
  }

  branch(name: string): string | undefined {
    return name ? this.revParse(`refs/heads/${name}`) : undefined
  }

  // Forgejo accepts a branch, a tag or a commit id wherever a PR names its base or head.
  anyRef(name: string): string | undefined {
    return (
      this.branch(name) ??
      this.revParse(`refs/tags/${name}`) ??
      (/^[0-9a-f]{7,64}$/.test(name) ? this.revParse(name) : undefined)
    )
  }

  countBetween(base: string, head: string): number {
    return parseInt(this.git(['rev-list', '--count', `${base}..${head}`]), 10)
  }

  mergeBase(a: string, b: string): string {
    try {
      return this.git(['merge-base', a, b])
    } catch {
      return ''
    }
  }

  /** A real two-parent merge commit of head into base; base moves only if nobody moved it meanwhile. */
  merge(baseBranch: string, headSha: string, message: string): string {
    const baseSha = this.branch(baseBranch)
    if (!baseSha) throw new Error(`base branch ${baseBranch} does not exist`)
    let commit: string
    try {
      const tree = this.git(['merge-tree', '--write-tree', baseSha, headSha]).split('\n')[0]
      commit = this.git(['commit-tree', tree, '-p', baseSha, '-p', headSha, '-m', message])
    } catch (err) {
      if (exitStatus(err) === 1) throw new Error(`merge conflict merging ${headSha} into ${baseBranch}`)
      // merge-tree --write-tree needs git 2.38; older git merges in a throwaway worktree.
      commit = this.mergeInWorktree(baseSha, headSha, message)
    }
    this.git(['update-ref', `refs/heads/${baseBranch}`, commit, baseSha])
    return commit
  }

  private mergeInWorktree(baseSha: string, headSha: string, message: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forge-merge-'))
    try {
      this.git(['worktree', 'add', '--detach', dir, baseSha])
      const env = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', ...GIT_IDENTITY }
      execFileSync('git', ['-C', dir, 'merge', '--no-ff', '--no-edit', '-m', message, headSha], {
        env,
        stdio: ['ignore', 'pipe', 'pipe']
      })
      return execFileSync('git', ['-C', dir, 'rev-parse', 'HEAD'], { env, encoding: 'utf8' }).trim()
    } finally {
      try {
        this.git(['worktree', 'remove', '--force', dir])
      } catch {
        // The worktree may never have been created.
      }
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

export interface NewTestPull {
  title: string
  body: string
  head: string
  base: string
  draft: boolean
  labels: string[]
  assignees: string[]
}

/** The repository as a forge sees it: its git data, pull requests and labels, and the addresses it serves. */
export class ForgeState {
  readonly git: Repo
  readonly pulls: TestPull[] = []
  readonly labels: TestLabel[] = []
  readonly comments: TestComment[] = []
  private nextCommentId = 1
  /** What the forge wrote to its own log: failures no API answer reports (e.g. a scheduled merge that failed). */
  readonly serverLog: string[] = []
  /** Pull requests that fail to load: Forgejo lists them as null. */
  readonly unloadable = new Set<number>()
  readonly fullName: string
  readonly repoId: number
  readonly userJson: Json
  readonly defaultBranch: string
  private readonly meta = new Map<number, PullMeta>()
  private nextLabelId: number
  private nextNumber = 1

  constructor(
    readonly options: ForgeOptions,
    readonly profile: ForgeProfile,
    readonly serverUrl: string,
    readonly apiUrl: string
  ) {
    this.git = new Repo(path.resolve(options.bareRepo))
    this.fullName = `${options.owner}/${options.repo}`
    this.repoId = profile.repoId
    this.userJson = profile.userJson(options.owner)
    this.nextLabelId = profile.firstLabelId
    for (const name of options.labels ?? []) this.addLabel(name)
    let defaultBranch = options.defaultBranch
    if (!defaultBranch) {
      try {
        defaultBranch = this.git.git(['symbolic-ref', '--short', 'HEAD'])
      } catch {
        defaultBranch = 'main'
      }
    }
    this.defaultBranch = defaultBranch
  }

  get owner(): string {
    return this.options.owner
  }

  /** The canonical spelling of an account with write access (the owner or a collaborator), if `name` is one. */
  collaborator(name: string): string | undefined {
    return [this.options.owner, ...(this.options.collaborators ?? [])].find(c => sameName(c, name))
  }

  /** The canonical spelling of any account of the forge, if `name` is one. */
  user(name: string): string | undefined {
    return this.collaborator(name) ?? (this.options.otherUsers ?? []).find(c => sameName(c, name))
  }

  get repo(): string {
    return this.options.repo
  }

  get gitUrl(): string {
    return `${this.serverUrl}/${this.owner}/${this.repo}.git`
  }

  addLabel(name: string): TestLabel {
    const l = { id: this.nextLabelId++, name }
    this.labels.push(l)
    return l
  }

  /** A comment on pull request `issue`; ids count up from `firstId` (each forge numbers its own way). */
  addComment(issue: number, body: string, poster: string, firstId = 1): TestComment {
    const id = Math.max(this.nextCommentId, firstId)
    this.nextCommentId = id + 1
    const t = now()
    const c = { id, issue, body, poster, createdAt: t, updatedAt: t }
    this.comments.push(c)
    return c
  }

  labelByName(name: string): TestLabel | undefined {
    return this.labels.find(l => sameName(l.name, name))
  }

  pullByNumber(n: number): TestPull | undefined {
    return this.pulls.find(p => p.number === n)
  }

  metaOf(p: TestPull): PullMeta {
    const m = this.meta.get(p.number)
    if (!m) throw new Error(`no metadata for pull ${p.number}`)
    return m
  }

  openPullFor(head: string, base: string): TestPull | undefined {
    return this.pulls.find(p => p.state === 'open' && p.head === head && p.base === base)
  }

  createPull(fields: NewTestPull): TestPull {
    const git = this.git
    const number = this.nextNumber++
    const headAtCreate = git.branch(fields.head) ?? ''
    let frozen = headAtCreate
    const p = {
      number,
      title: fields.title,
      body: fields.body,
      state: 'open',
      merged: false,
      head: fields.head,
      base: fields.base,
      headSha: '',
      labels: fields.labels,
      autoMerge: false,
      draft: fields.draft,
      reviewers: [],
      assignees: fields.assignees
    } as TestPull
    // An open pull request follows its branch as pushes land; a closed one keeps the last tip it saw.
    Object.defineProperty(p, 'headSha', {
      enumerable: true,
      configurable: true,
      get: (): string => (p.state === 'open' ? (git.branch(p.head) ?? frozen) : frozen),
      set: (v: string) => {
        frozen = v
      }
    })
    const t = now()
    const baseSha = git.branch(fields.base) ?? ''
    this.meta.set(number, {
      id: this.profile.pullId(number),
      nodeId: `PR_kwDO${Buffer.from(`${this.repoId}:${number}`).toString('base64url')}`,
      createdAt: t,
      updatedAt: t,
      closedAt: null,
      mergedAt: null,
      mergeCommitSha: null,
      mergeBase: headAtCreate && baseSha ? git.mergeBase(baseSha, headAtCreate) : '',
      mergeCalls: 0,
      freezeHead: () => {
        frozen = git.branch(p.head) ?? frozen
      }
    })
    this.pulls.push(p)
    return p
  }

  setState(p: TestPull, state: 'open' | 'closed'): void {
    if (p.state === state) return
    const m = this.metaOf(p)
    if (state === 'closed') m.freezeHead()
    p.state = state
    m.closedAt = state === 'closed' ? now() : null
    m.updatedAt = now()
  }

  touch(p: TestPull): void {
    this.metaOf(p).updatedAt = now()
  }

  mergePull(n: number): void {
    const p = this.pullByNumber(n)
    if (!p) throw new Error(`no pull request #${n}`)
    if (p.merged) throw new Error(`pull request #${n} is already merged`)
    const headSha = this.git.branch(p.head) ?? p.headSha
    if (!headSha) throw new Error(`head branch ${p.head} of #${n} is gone`)
    const message = this.profile.mergeMessage(this.owner, p)
    const m = this.metaOf(p)
    m.mergeBase = this.git.mergeBase(this.git.branch(p.base) ?? '', headSha) || m.mergeBase
    const commit = this.git.merge(p.base, headSha, message)
    p.headSha = headSha
    p.state = 'closed'
    p.merged = true
    p.autoMerge = false
    m.mergeCommitSha = commit
    m.mergedAt = now()
    m.closedAt = m.mergedAt
    m.updatedAt = m.mergedAt
  }

  /** The merge styles the repository allows. */
  get mergeStyles(): string[] {
    return this.options.mergeStyles ?? ['merge', 'squash', 'rebase', 'rebase-merge', 'fast-forward-only']
  }

  /**
   * Checks passed: a pull request scheduled for auto-merge is merged, as the forge's queue would, with the style
   * it was scheduled with; a style the repository forbids fails only in the server log, as on Forgejo.
   */
  runAutoMerge(n: number): boolean {
    const p = this.pullByNumber(n)
    if (!p) throw new Error(`no pull request #${n}`)
    if (!p.autoMerge) return false
    const style = p.autoMergeMethod ?? 'merge'
    if (!this.mergeStyles.includes(style)) {
      this.serverLog.push(
        `pull_service.Merge: merge strategy is not allowed or is invalid [repo_id: ${this.repoId}, strategy: ${style}]`
      )
      return false
    }
    this.mergePull(n)
    return true
  }

  closePull(n: number): void {
    const p = this.pullByNumber(n)
    if (!p) throw new Error(`no pull request #${n}`)
    this.setState(p, 'closed')
  }
}

// ---------------------------------------------------------------- HTTP

export function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

export function flatHeaders(h: http.IncomingHttpHeaders): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {}
  for (const [k, v] of Object.entries(h)) out[k] = Array.isArray(v) ? v.join(', ') : v
  return out
}

export function send(res: http.ServerResponse, reply: Reply): void {
  if (res.headersSent || res.destroyed) return
  const headers: Record<string, string> = { ...(reply.headers ?? {}) }
  if (reply.body === undefined) {
    res.writeHead(reply.status, headers)
    res.end()
    return
  }
  const text = JSON.stringify(reply.body)
  res.writeHead(reply.status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
    ...headers
  })
  res.end(text)
}

/** The parsed `Authorization` header: scheme and credential, or undefined when it has not that form. */
export function authScheme(header: string | undefined): { scheme: string; credential: string } | undefined {
  if (!header) return undefined
  const m = /^(\S+)\s+(\S+)$/.exec(header.trim())
  return m ? { scheme: m[1], credential: m[2] } : undefined
}

/** One page of a list and the headers announcing the others, as each forge writes them. */
export interface Page<T> {
  page: T[]
  headers: Record<string, string>
}

/** A forge's API: who may call it, and the answer to an authorised call. */
export interface ForgeApi {
  authorize(req: http.IncomingMessage, url: URL): Reply | undefined
  handle(ctx: Ctx): Reply
}
