/**
 * A small stand-in for GitHub and Forgejo: the REST subset the action uses, GitHub's auto-merge GraphQL
 * mutation, and git smart HTTP over a real bare repository.
 *
 * Status codes and messages follow the forges, not the action:
 * - Forgejo: routers/api/v1/repo/pull.go, services/context/api.go, models/issues/pull.go,
 *   models/pull/automerge.go, services/auth/oauth2.go, routers/api/shared/middleware.go,
 *   routers/api/v1/repo/issue_label.go (Forgejo source, late 2024).
 * - GitHub: docs.github.com/rest/pulls/pulls, docs.github.com/rest/issues/labels, and the error bodies
 *   GitHub is seen to send (Validation Failed with resource/field/code errors).
 */
import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as http from 'http'
import * as net from 'net'
import * as os from 'os'
import * as path from 'path'
import { URL } from 'url'
import { serveGit, basicUser } from './githttp'

export type ForgeKind = 'github' | 'forgejo'

export interface FaultResponse {
  status?: number
  body?: unknown
  rawBody?: string
  headers?: Record<string, string>
  delayMs?: number
  reset?: boolean
}

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
  draft: boolean
  reviewers: string[]
  assignees: string[]
}

export interface TestForge {
  kind: ForgeKind
  serverUrl: string
  apiUrl: string
  gitUrl: string
  requests: RecordedRequest[]
  pulls: TestPull[]
  labels: { id: number; name: string }[]
  failNext(match: { method?: string; path?: RegExp }, responses: FaultResponse[]): void
  mergePull(n: number): void
  closePull(n: number): void
  close(): Promise<void>
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
}

type Json = Record<string, unknown>

interface Reply {
  status: number
  body?: unknown
  headers?: Record<string, string>
}

interface PullMeta {
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

const GIT_IDENTITY = {
  GIT_AUTHOR_NAME: 'Test Forge',
  GIT_AUTHOR_EMAIL: 'forge@example.invalid',
  GIT_COMMITTER_NAME: 'Test Forge',
  GIT_COMMITTER_EMAIL: 'forge@example.invalid'
}

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined
}

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

function intParam(v: string | null, fallback: number): number {
  if (v === null || v === '') return fallback
  const n = parseInt(v, 10)
  return Number.isFinite(n) ? n : fallback
}

function exitStatus(err: unknown): number | undefined {
  if (isObj(err) && typeof err.status === 'number') return err.status
  return undefined
}

class Repo {
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

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

function flatHeaders(h: http.IncomingHttpHeaders): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {}
  for (const [k, v] of Object.entries(h)) out[k] = Array.isArray(v) ? v.join(', ') : v
  return out
}

function send(res: http.ServerResponse, reply: Reply): void {
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

interface Fault {
  method?: string
  path?: RegExp
  responses: FaultResponse[]
}

interface Ctx {
  method: string
  url: URL
  pathname: string
  body: unknown
  bodyError: boolean
}

export async function startForge(options: ForgeOptions): Promise<TestForge> {
  const { kind, owner, repo, token } = options
  const bare = path.resolve(options.bareRepo)
  if (path.basename(bare) !== `${repo}.git`) {
    throw new Error(`bareRepo must be named ${repo}.git (got ${path.basename(bare)})`)
  }
  const git = new Repo(bare)
  git.git(['config', 'http.receivepack', 'true'])
  let defaultBranch = options.defaultBranch
  if (!defaultBranch) {
    try {
      defaultBranch = git.git(['symbolic-ref', '--short', 'HEAD'])
    } catch {
      defaultBranch = 'main'
    }
  }
  const mergeableAfter = options.mergeableAfter ?? 0
  const autoMergeAllowed = options.autoMergeAllowed ?? true
  const repoId = kind === 'github' ? 700001 : 7
  const ownerId = kind === 'github' ? 5000001 : 3
  const fullName = `${owner}/${repo}`

  const requests: RecordedRequest[] = []
  const pulls: TestPull[] = []
  const meta = new Map<number, PullMeta>()
  const labels: { id: number; name: string }[] = []
  const faults: Fault[] = []
  let nextLabelId = kind === 'github' ? 208045946 : 1
  let nextNumber = 1
  for (const name of options.labels ?? []) labels.push({ id: nextLabelId++, name })

  const server = http.createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as net.AddressInfo).port
  const serverUrl = `http://127.0.0.1:${port}`
  const apiUrl = kind === 'github' ? serverUrl : `${serverUrl}/api/v1`
  const gitUrl = `${serverUrl}/${owner}/${repo}.git`
  const swaggerUrl = `${serverUrl}/api/swagger`
  const userJson =
    kind === 'github'
      ? { login: owner, id: ownerId, node_id: `U_${ownerId}`, type: 'User', site_admin: false }
      : {
          id: ownerId,
          login: owner,
          login_name: '',
          full_name: '',
          email: `${owner}@example.invalid`,
          username: owner
        }

  const sameName = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase()
  const pullByNumber = (n: number): TestPull | undefined => pulls.find(p => p.number === n)
  const metaOf = (p: TestPull): PullMeta => {
    const m = meta.get(p.number)
    if (!m) throw new Error(`no metadata for pull ${p.number}`)
    return m
  }
  const openPullFor = (head: string, base: string): TestPull | undefined =>
    pulls.find(p => p.state === 'open' && p.head === head && p.base === base)

  function createPull(fields: {
    title: string
    body: string
    head: string
    base: string
    draft: boolean
    labels: string[]
    assignees: string[]
  }): TestPull {
    const number = nextNumber++
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
    meta.set(number, {
      id: kind === 'github' ? 1900000000 + number : 1000 + number,
      nodeId: `PR_kwDO${Buffer.from(`${repoId}:${number}`).toString('base64url')}`,
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
    pulls.push(p)
    return p
  }

  function setState(p: TestPull, state: 'open' | 'closed'): void {
    if (p.state === state) return
    const m = metaOf(p)
    if (state === 'closed') m.freezeHead()
    p.state = state
    m.closedAt = state === 'closed' ? now() : null
    m.updatedAt = now()
  }

  function mergePull(n: number): void {
    const p = pullByNumber(n)
    if (!p) throw new Error(`no pull request #${n}`)
    if (p.merged) throw new Error(`pull request #${n} is already merged`)
    const headSha = git.branch(p.head) ?? p.headSha
    if (!headSha) throw new Error(`head branch ${p.head} of #${n} is gone`)
    const message =
      kind === 'github'
        ? `Merge pull request #${n} from ${owner}/${p.head}\n\n${p.title}`
        : `Merge pull request '${p.title}' (#${n}) from ${p.head} into ${p.base}`
    const m = metaOf(p)
    m.mergeBase = git.mergeBase(git.branch(p.base) ?? '', headSha) || m.mergeBase
    const commit = git.merge(p.base, headSha, message)
    p.headSha = headSha
    p.state = 'closed'
    p.merged = true
    p.autoMerge = false
    m.mergeCommitSha = commit
    m.mergedAt = now()
    m.closedAt = m.mergedAt
    m.updatedAt = m.mergedAt
  }

  function closePull(n: number): void {
    const p = pullByNumber(n)
    if (!p) throw new Error(`no pull request #${n}`)
    setState(p, 'closed')
  }

  function labelByName(name: string): { id: number; name: string } | undefined {
    return labels.find(l => sameName(l.name, name))
  }

  // ---------------------------------------------------------------- shared JSON shapes

  function ghLabelJson(name: string): Json {
    const l = labelByName(name) ?? { id: 0, name }
    return {
      id: l.id,
      node_id: `LA_${Buffer.from(String(l.id)).toString('base64url')}`,
      url: `${apiUrl}/repos/${fullName}/labels/${encodeURIComponent(l.name)}`,
      name: l.name,
      color: 'ededed',
      default: false,
      description: null
    }
  }

  function fjLabelJson(name: string): Json {
    const l = labelByName(name) ?? { id: 0, name }
    return {
      id: l.id,
      name: l.name,
      exclusive: false,
      is_archived: false,
      color: 'ededed',
      description: '',
      url: `${apiUrl}/repos/${fullName}/labels/${l.id}`
    }
  }

  function ghRepoJson(): Json {
    return {
      id: repoId,
      node_id: `R_kgDO${Buffer.from(String(repoId)).toString('base64url')}`,
      name: repo,
      full_name: fullName,
      private: true,
      owner: userJson,
      html_url: `${serverUrl}/${fullName}`,
      url: `${apiUrl}/repos/${fullName}`,
      clone_url: gitUrl,
      default_branch: defaultBranch,
      allow_auto_merge: autoMergeAllowed,
      allow_merge_commit: true,
      allow_squash_merge: true,
      allow_rebase_merge: true,
      delete_branch_on_merge: false,
      archived: false,
      disabled: false,
      visibility: 'private',
      permissions: { admin: true, maintain: true, push: true, triage: true, pull: true }
    }
  }

  function fjRepoJson(): Json {
    return {
      id: repoId,
      owner: userJson,
      name: repo,
      full_name: fullName,
      description: '',
      empty: false,
      private: true,
      fork: false,
      template: false,
      parent: null,
      mirror: false,
      html_url: `${serverUrl}/${fullName}`,
      url: `${apiUrl}/repos/${fullName}`,
      ssh_url: '',
      clone_url: gitUrl,
      default_branch: defaultBranch,
      archived: false,
      has_pull_requests: true,
      has_issues: true,
      allow_merge_commits: true,
      allow_rebase: true,
      allow_rebase_explicit: true,
      allow_squash_merge: true,
      allow_rebase_update: true,
      default_merge_style: 'merge',
      default_allow_maintainer_edit: false,
      permissions: { admin: true, push: true, pull: true }
    }
  }

  function ghPullJson(p: TestPull): Json {
    const m = metaOf(p)
    const base = `${apiUrl}/repos/${fullName}`
    const repoJson = ghRepoJson()
    return {
      url: `${base}/pulls/${p.number}`,
      id: m.id,
      node_id: m.nodeId,
      html_url: `${serverUrl}/${fullName}/pull/${p.number}`,
      diff_url: `${serverUrl}/${fullName}/pull/${p.number}.diff`,
      patch_url: `${serverUrl}/${fullName}/pull/${p.number}.patch`,
      issue_url: `${base}/issues/${p.number}`,
      commits_url: `${base}/pulls/${p.number}/commits`,
      number: p.number,
      state: p.state,
      locked: false,
      title: p.title,
      user: userJson,
      body: p.body === '' ? null : p.body,
      labels: p.labels.map(ghLabelJson),
      milestone: null,
      active_lock_reason: null,
      created_at: m.createdAt,
      updated_at: m.updatedAt,
      closed_at: m.closedAt,
      merged_at: m.mergedAt,
      merge_commit_sha: m.mergeCommitSha,
      assignee: p.assignees.length ? { ...userJson, login: p.assignees[0] } : null,
      assignees: p.assignees.map(login => ({ ...userJson, login })),
      requested_reviewers: p.reviewers.map(login => ({ ...userJson, login })),
      requested_teams: [],
      head: { label: `${owner}:${p.head}`, ref: p.head, sha: p.headSha, user: userJson, repo: repoJson },
      base: {
        label: `${owner}:${p.base}`,
        ref: p.base,
        sha: git.branch(p.base) ?? '',
        user: userJson,
        repo: repoJson
      },
      author_association: 'OWNER',
      auto_merge: p.autoMerge
        ? { enabled_by: userJson, merge_method: 'merge', commit_title: '', commit_message: '' }
        : null,
      draft: p.draft,
      merged: p.merged,
      mergeable: p.state === 'open' ? true : null,
      mergeable_state: p.state === 'open' ? 'clean' : 'unknown',
      merged_by: p.merged ? userJson : null,
      maintainer_can_modify: false
    }
  }

  function isWip(title: string): boolean {
    const t = title.toUpperCase()
    return t.startsWith('WIP:') || t.startsWith('[WIP]')
  }

  function fjPullJson(p: TestPull): Json {
    const m = metaOf(p)
    const html = `${serverUrl}/${fullName}/pulls/${p.number}`
    const repoJson = fjRepoJson()
    const headExists = git.branch(p.head) !== undefined
    return {
      id: m.id,
      // Forgejo fills `url` with the web address, not the API one.
      url: html,
      number: p.number,
      user: userJson,
      title: p.title,
      body: p.body,
      labels: p.labels.map(fjLabelJson),
      milestone: null,
      assignee: p.assignees.length ? { ...userJson, login: p.assignees[0], username: p.assignees[0] } : null,
      assignees: p.assignees.map(login => ({ ...userJson, login, username: login })),
      requested_reviewers: p.reviewers.map(login => ({ ...userJson, login, username: login })),
      requested_reviewers_teams: [],
      state: p.state,
      draft: isWip(p.title),
      is_locked: false,
      comments: 0,
      review_comments: 0,
      additions: 0,
      deletions: 0,
      changed_files: 0,
      html_url: html,
      diff_url: `${html}.diff`,
      patch_url: `${html}.patch`,
      mergeable: p.state === 'open',
      merged: p.merged,
      merged_at: m.mergedAt,
      merge_commit_sha: m.mergeCommitSha,
      merged_by: p.merged ? userJson : null,
      allow_maintainer_edit: false,
      base: { label: p.base, ref: p.base, sha: git.branch(p.base) ?? '', repo_id: repoId, repo: repoJson },
      // With its branch deleted, Forgejo reports the pull ref instead of the branch name.
      head: {
        label: p.head,
        ref: headExists ? p.head : `refs/pull/${p.number}/head`,
        sha: p.headSha,
        repo_id: repoId,
        repo: repoJson
      },
      merge_base: m.mergeBase,
      due_date: null,
      created_at: m.createdAt,
      updated_at: m.updatedAt,
      closed_at: m.closedAt,
      pin_order: 0
    }
  }

  // ---------------------------------------------------------------- errors

  const ghDoc = 'https://docs.github.com/rest'
  const ghNotFound = (doc = ghDoc): Reply => ({
    status: 404,
    body: { message: 'Not Found', documentation_url: doc, status: '404' }
  })
  const ghValidation = (error: Json, doc: string): Reply => ({
    status: 422,
    body: {
      message: 'Validation Failed',
      errors: [{ resource: 'PullRequest', ...error }],
      documentation_url: doc,
      status: '422'
    }
  })
  const fjError = (status: number, message: string): Reply => ({
    status,
    body: { message, url: swaggerUrl }
  })
  const fjNotFound = (...errors: string[]): Reply => ({
    status: 404,
    body: { message: "The target couldn't be found.", url: swaggerUrl, errors }
  })

  // ---------------------------------------------------------------- auth

  function authorize(req: http.IncomingMessage, url: URL): Reply | undefined {
    const header = req.headers.authorization
    let presented: string | undefined
    // Forgejo reads the deprecated query tokens first, unless DISABLE_QUERY_AUTH_TOKEN is set.
    const queryToken =
      kind === 'forgejo'
        ? url.searchParams.get('token') || url.searchParams.get('access_token') || undefined
        : undefined
    if (queryToken) {
      presented = queryToken
    } else if (header) {
      const m = /^(\S+)\s+(\S+)$/.exec(header.trim())
      if (m) {
        const scheme = m[1]
        // Forgejo compares the `token` scheme case-sensitively and `bearer` case-insensitively.
        if (scheme.toLowerCase() === 'bearer') presented = m[2]
        else if (kind === 'github' ? scheme.toLowerCase() === 'token' : scheme === 'token') presented = m[2]
        else if (scheme.toLowerCase() === 'basic') presented = basicUser(header, token) ? token : m[2]
        // GitHub rejects a header it cannot parse; Forgejo ignores it and sees an anonymous request.
        else presented = kind === 'github' ? '' : undefined
      } else {
        presented = kind === 'github' ? '' : undefined
      }
    }
    if (presented === token) return undefined
    if (kind === 'github') {
      const doc = url.pathname === '/graphql' ? 'https://docs.github.com/graphql' : ghDoc
      return presented === undefined
        ? { status: 401, body: { message: 'Requires authentication', documentation_url: doc, status: '401' } }
        : { status: 401, body: { message: 'Bad credentials', documentation_url: doc, status: '401' } }
    }
    return presented === undefined
      ? fjError(401, 'token is required')
      : fjError(401, 'user does not exist [uid: 0, name: ]')
  }

  // ---------------------------------------------------------------- pagination

  function ghPage<T>(ctx: Ctx, items: T[], listPath: string): { page: T[]; headers: Record<string, string> } {
    const perPage = Math.min(Math.max(intParam(ctx.url.searchParams.get('per_page'), 30), 1), 100)
    const page = Math.max(intParam(ctx.url.searchParams.get('page'), 1), 1)
    const last = Math.max(Math.ceil(items.length / perPage), 1)
    const link = (n: number, rel: string): string => {
      const q = new URLSearchParams(ctx.url.searchParams)
      q.set('page', String(n))
      return `<${apiUrl}/repositories/${repoId}/${listPath}?${q.toString()}>; rel="${rel}"`
    }
    const links: string[] = []
    if (page > 1) links.push(link(page - 1, 'prev'))
    if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'))
    if (page > 1) links.push(link(1, 'first'))
    return {
      page: items.slice((page - 1) * perPage, page * perPage),
      headers: links.length ? { Link: links.join(', ') } : {}
    }
  }

  function fjPage<T>(ctx: Ctx, items: T[]): { page: T[]; headers: Record<string, string> } {
    let limit = intParam(ctx.url.searchParams.get('limit'), 0)
    if (limit <= 0) limit = 30
    if (limit > 50) limit = 50
    const page = Math.max(intParam(ctx.url.searchParams.get('page'), 1), 1)
    const last = Math.max(Math.ceil(items.length / limit), 1)
    const link = (n: number, rel: string): string => {
      const q = new URLSearchParams(ctx.url.searchParams)
      q.set('page', String(n))
      q.sort()
      return `<${serverUrl}${ctx.pathname}?${q.toString()}>; rel="${rel}"`
    }
    const links: string[] = []
    if (page < last) links.push(link(page + 1, 'next'))
    if (page !== last) links.push(link(last, 'last'))
    if (page !== 1) links.push(link(1, 'first'))
    if (page > 1) links.push(link(page - 1, 'prev'))
    const headers: Record<string, string> = { 'X-Total-Count': String(items.length) }
    if (links.length) headers.Link = links.join(',')
    return { page: items.slice((page - 1) * limit, page * limit), headers }
  }

  // ---------------------------------------------------------------- GitHub

  const ghCreateDoc = 'https://docs.github.com/rest/pulls/pulls#create-a-pull-request'

  function ghListPulls(ctx: Ctx): Reply {
    const q = ctx.url.searchParams
    const state = q.get('state') ?? 'open'
    let list = pulls.filter(p => state === 'all' || p.state === state)
    // GitHub silently ignores a head filter without the `owner:` part.
    const head = q.get('head')
    if (head && head.includes(':')) {
      const [o, ...rest] = head.split(':')
      const branch = rest.join(':')
      list = sameName(o, owner) ? list.filter(p => p.head === branch) : []
    }
    const base = q.get('base')
    if (base) list = list.filter(p => p.base === base)
    const asc =
      (q.get('direction') ?? (q.get('sort') && q.get('sort') !== 'created' ? 'asc' : 'desc')) === 'asc'
    const byUpdated = q.get('sort') === 'updated'
    list = [...list].sort((a, b) => {
      const ka = byUpdated ? metaOf(a).updatedAt : String(a.number).padStart(10, '0')
      const kb = byUpdated ? metaOf(b).updatedAt : String(b.number).padStart(10, '0')
      return (ka < kb ? -1 : ka > kb ? 1 : 0) * (asc ? 1 : -1)
    })
    const { page, headers } = ghPage(ctx, list, 'pulls')
    return { status: 200, body: page.map(ghPullJson), headers }
  }

  function ghCreatePull(ctx: Ctx): Reply {
    const b = ctx.body
    if (!isObj(b))
      return { status: 400, body: { message: 'Problems parsing JSON', documentation_url: ghCreateDoc } }
    const headIn = str(b.head)
    const base = str(b.base)
    if (!headIn) return ghValidation({ field: 'head', code: 'missing_field' }, ghCreateDoc)
    if (!base) return ghValidation({ field: 'base', code: 'missing_field' }, ghCreateDoc)
    const title = str(b.title)
    if (title === undefined && b.issue === undefined) {
      return ghValidation({ field: 'title', code: 'missing_field' }, ghCreateDoc)
    }
    let head = headIn
    const colon = headIn.indexOf(':')
    if (colon >= 0) {
      if (!sameName(headIn.slice(0, colon), owner))
        return ghValidation({ field: 'head', code: 'invalid' }, ghCreateDoc)
      head = headIn.slice(colon + 1)
    }
    const baseSha = git.branch(base)
    if (!baseSha) return ghValidation({ field: 'base', code: 'invalid' }, ghCreateDoc)
    const headSha = git.branch(head)
    if (!headSha) return ghValidation({ field: 'head', code: 'invalid' }, ghCreateDoc)
    if (openPullFor(head, base)) {
      return ghValidation(
        { code: 'custom', message: `A pull request already exists for ${owner}:${head}.` },
        ghCreateDoc
      )
    }
    if (git.countBetween(baseSha, headSha) === 0) {
      return ghValidation({ code: 'custom', message: `No commits between ${base} and ${head}` }, ghCreateDoc)
    }
    const p = createPull({
      title: title ?? '',
      body: str(b.body) ?? '',
      head,
      base,
      draft: b.draft === true,
      labels: [],
      assignees: []
    })
    const json = ghPullJson(p)
    return { status: 201, body: json, headers: { Location: String(json.url) } }
  }

  function ghUpdatePull(ctx: Ctx, p: TestPull): Reply {
    const doc = 'https://docs.github.com/rest/pulls/pulls#update-a-pull-request'
    const b = ctx.body
    if (!isObj(b)) return { status: 400, body: { message: 'Problems parsing JSON', documentation_url: doc } }
    const base = str(b.base)
    if (base !== undefined && base !== p.base) {
      if (!git.branch(base)) return ghValidation({ field: 'base', code: 'invalid' }, doc)
    }
    const state = str(b.state)
    if (state !== undefined && state !== 'open' && state !== 'closed') {
      return ghValidation({ field: 'state', code: 'invalid' }, doc)
    }
    if (state === 'open' && p.state === 'closed' && !p.merged) {
      if (openPullFor(p.head, base ?? p.base)) {
        return ghValidation(
          { code: 'custom', message: `A pull request already exists for ${owner}:${p.head}.` },
          doc
        )
      }
    }
    const title = str(b.title)
    if (title !== undefined) p.title = title
    if (b.body !== undefined) p.body = str(b.body) ?? ''
    if (base !== undefined) p.base = base
    if ((state === 'open' || state === 'closed') && !p.merged) setState(p, state)
    metaOf(p).updatedAt = now()
    return { status: 200, body: ghPullJson(p) }
  }

  function ghAddLabels(ctx: Ctx, p: TestPull, replace: boolean): Reply {
    const b = ctx.body
    let raw: unknown[]
    if (Array.isArray(b)) raw = b
    else if (isObj(b) && Array.isArray(b.labels)) raw = b.labels
    else {
      return {
        status: 422,
        body: {
          message: 'Invalid request.',
          documentation_url: 'https://docs.github.com/rest/issues/labels#add-labels-to-an-issue',
          status: '422'
        }
      }
    }
    const names: string[] = []
    for (const v of raw) {
      const name = typeof v === 'string' ? v : isObj(v) ? str(v.name) : undefined
      if (name) names.push(name)
    }
    if (replace) p.labels = []
    for (const name of names) {
      // GitHub creates labels that the repository does not have yet.
      const l = labelByName(name) ?? { id: nextLabelId++, name }
      if (!labels.includes(l)) labels.push(l)
      if (!p.labels.some(x => sameName(x, l.name))) p.labels.push(l.name)
    }
    metaOf(p).updatedAt = now()
    return { status: 200, body: p.labels.map(ghLabelJson) }
  }

  function ghGraphql(ctx: Ctx): Reply {
    const b = ctx.body
    if (ctx.method !== 'POST') return ghNotFound('https://docs.github.com/graphql')
    if (!isObj(b) || typeof b.query !== 'string') {
      return {
        status: 200,
        body: { errors: [{ message: 'A query attribute must be specified and must be a string.' }] }
      }
    }
    const query = b.query
    const variables = isObj(b.variables) ? b.variables : {}
    const field = /\b(enablePullRequestAutoMerge|disablePullRequestAutoMerge)\b/.exec(query)
    if (!field) {
      return {
        status: 200,
        body: {
          errors: [
            {
              message:
                'The test forge only answers enablePullRequestAutoMerge and disablePullRequestAutoMerge.'
            }
          ]
        }
      }
    }
    const mutation = field[1]
    const before = query.slice(0, field.index)
    const location = { line: before.split('\n').length, column: field.index - before.lastIndexOf('\n') }
    const candidates: string[] = []
    const collect = (v: unknown): void => {
      if (typeof v === 'string') candidates.push(v)
      else if (Array.isArray(v)) v.forEach(collect)
      else if (isObj(v)) Object.values(v).forEach(collect)
    }
    collect(variables)
    const inline = /pullRequestId\s*:\s*"([^"]+)"/.exec(query)
    if (inline) candidates.unshift(inline[1])
    const p = pulls.find(x => candidates.includes(metaOf(x).nodeId))
    const gqlError = (type: string, message: string): Reply => ({
      status: 200,
      body: {
        data: { [mutation]: null },
        errors: [{ type, path: [mutation], locations: [location], message }]
      }
    })
    if (!p) {
      const id = candidates[0] ?? ''
      return gqlError('NOT_FOUND', `Could not resolve to a node with the global id of '${id}'`)
    }
    if (mutation === 'enablePullRequestAutoMerge') {
      if (!autoMergeAllowed) return gqlError('UNPROCESSABLE', 'Auto merge is not allowed for this repository')
      if (p.state !== 'open')
        return gqlError('UNPROCESSABLE', `Pull request is in ${p.merged ? 'merged' : 'closed'} state`)
      p.autoMerge = true
    } else {
      p.autoMerge = false
    }
    metaOf(p).updatedAt = now()
    const methodMatch = /mergeMethod\s*:\s*([A-Z_]+)/.exec(query)
    const varMethod = Object.values(variables).find(v => v === 'MERGE' || v === 'SQUASH' || v === 'REBASE')
    const mergeMethod = methodMatch?.[1] ?? str(varMethod) ?? 'MERGE'
    return {
      status: 200,
      body: {
        data: {
          [mutation]: {
            clientMutationId: null,
            pullRequest: {
              id: metaOf(p).nodeId,
              number: p.number,
              url: `${serverUrl}/${fullName}/pull/${p.number}`,
              autoMergeRequest: p.autoMerge ? { enabledAt: now(), mergeMethod } : null
            }
          }
        }
      }
    }
  }

  function github(ctx: Ctx): Reply {
    if (ctx.pathname === '/graphql') return ghGraphql(ctx)
    let segs = ctx.pathname.split('/').filter(Boolean).map(decodeURIComponent)
    // Link headers name the repository by id; clients follow them verbatim.
    if (segs[0] === 'repositories' && segs[1] === String(repoId))
      segs = ['repos', owner, repo, ...segs.slice(2)]
    if (segs[0] !== 'repos' || segs.length < 3 || !sameName(segs[1], owner) || !sameName(segs[2], repo)) {
      return ghNotFound()
    }
    const rest = segs.slice(3)
    const m = ctx.method
    if (rest.length === 0) return m === 'GET' ? { status: 200, body: ghRepoJson() } : ghNotFound()
    if (rest[0] === 'labels' && rest.length === 1 && m === 'GET') {
      const { page, headers } = ghPage(ctx, labels, 'labels')
      return { status: 200, body: page.map(l => ghLabelJson(l.name)), headers }
    }
    if (rest[0] === 'pulls' && rest.length === 1) {
      if (m === 'GET') return ghListPulls(ctx)
      if (m === 'POST') return ghCreatePull(ctx)
      return ghNotFound()
    }
    if ((rest[0] === 'pulls' || rest[0] === 'issues') && /^\d+$/.test(rest[1] ?? '')) {
      const p = pullByNumber(parseInt(rest[1], 10))
      const getDoc = 'https://docs.github.com/rest/pulls/pulls#get-a-pull-request'
      if (!p) return ghNotFound(getDoc)
      const tail = rest.slice(2)
      if (rest[0] === 'pulls' && tail.length === 0) {
        if (m === 'GET') return { status: 200, body: ghPullJson(p) }
        if (m === 'PATCH') return ghUpdatePull(ctx, p)
        return ghNotFound()
      }
      if (rest[0] === 'pulls' && tail[0] === 'merge' && tail.length === 1) {
        if (m === 'GET') return p.merged ? { status: 204 } : ghNotFound()
        if (m === 'PUT') {
          if (p.state !== 'open') {
            return {
              status: 405,
              body: { message: 'Pull Request is not mergeable', documentation_url: ghDoc }
            }
          }
          mergePull(p.number)
          return {
            status: 200,
            body: { sha: metaOf(p).mergeCommitSha, merged: true, message: 'Pull Request successfully merged' }
          }
        }
        return ghNotFound()
      }
      if (rest[0] === 'pulls' && tail[0] === 'requested_reviewers' && tail.length === 1 && m === 'POST') {
        const b = ctx.body
        const reviewers =
          isObj(b) && Array.isArray(b.reviewers) ? b.reviewers.filter(v => typeof v === 'string') : []
        for (const r of reviewers) if (!p.reviewers.includes(r)) p.reviewers.push(r)
        return { status: 201, body: ghPullJson(p) }
      }
      if (rest[0] === 'issues' && tail[0] === 'labels' && tail.length === 1) {
        if (m === 'GET') return { status: 200, body: p.labels.map(ghLabelJson) }
        if (m === 'POST') return ghAddLabels(ctx, p, false)
        if (m === 'PUT') return ghAddLabels(ctx, p, true)
      }
    }
    return ghNotFound()
  }

  // ---------------------------------------------------------------- Forgejo

  function fjValidateRequired(b: Json, fields: [string, string][]): Reply | undefined {
    for (const [key, label] of fields) {
      const v = b[key]
      if (v === undefined || v === null || v === '') return fjError(422, `[${label}]: Required`)
    }
    return undefined
  }

  function fjIds(v: unknown): number[] {
    return Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : []
  }

  // Forgejo looks label IDs up and keeps the ones that exist: unknown IDs are dropped without an error.
  function fjLabelNames(ids: number[]): string[] {
    return labels.filter(l => ids.includes(l.id)).map(l => l.name)
  }

  function fjSplitHead(head: string): { owner?: string; branch: string } {
    const colon = head.indexOf(':')
    if (colon < 0) return { branch: head }
    let o = head.slice(0, colon)
    if (o.includes('/')) o = o.split('/')[0]
    return { owner: o, branch: head.slice(colon + 1) }
  }

  function fjCreatePull(ctx: Ctx): Reply {
    const b = ctx.body
    if (ctx.bodyError || !isObj(b)) return fjError(422, '[]: Deserialization')
    const missing = fjValidateRequired(b, [
      ['head', 'Head'],
      ['base', 'Base'],
      ['title', 'Title']
    ])
    if (missing) return missing
    const headIn = str(b.head) ?? ''
    const base = str(b.base) ?? ''
    if (headIn === base) {
      return fjError(422, 'Invalid PullRequest: There are no changes between the head and the base')
    }
    const parts = headIn.split(':')
    if (parts.length > 2) {
      return fjNotFound(
        `the head part of {basehead} ${headIn} must contain zero or one colon (:) but contains ${parts.length - 1}`
      )
    }
    const { owner: headOwner, branch: head } = fjSplitHead(headIn)
    if (headOwner !== undefined && !sameName(headOwner, owner)) {
      return fjNotFound(`the owner ${headOwner} does not exist`)
    }
    if (!git.anyRef(base)) {
      return fjNotFound(
        `could not find '${base}' to be a commit, branch or tag in the base repository ${fullName}`
      )
    }
    if (!git.anyRef(head)) {
      return fjNotFound(
        `could not find '${head}' to be a commit, branch or tag in the head repository ${fullName}`
      )
    }
    const existing = openPullFor(head, base)
    if (existing) {
      const m = metaOf(existing)
      return fjError(
        409,
        `pull request already exists for these targets [id: ${m.id}, issue_id: ${existing.number}, head_repo_id: ${repoId}, base_repo_id: ${repoId}, head_branch: ${existing.head}, base_branch: ${existing.base}]`
      )
    }
    const assignees = Array.isArray(b.assignees)
      ? b.assignees.filter((v): v is string => typeof v === 'string')
      : []
    const single = str(b.assignee)
    if (single && !assignees.includes(single)) assignees.unshift(single)
    const p = createPull({
      title: str(b.title) ?? '',
      body: str(b.body) ?? '',
      head,
      base,
      draft: false,
      labels: fjLabelNames(fjIds(b.labels)),
      assignees
    })
    p.draft = isWip(p.title)
    return { status: 201, body: fjPullJson(p) }
  }

  function fjEditPull(ctx: Ctx, p: TestPull): Reply {
    const b = ctx.body
    if (ctx.bodyError || !isObj(b)) return fjError(422, '[]: Deserialization')
    const title = str(b.title)
    if (title) {
      p.title = title
      p.draft = isWip(title)
    }
    if (typeof b.body === 'string') p.body = b.body
    if (Array.isArray(b.assignees))
      p.assignees = b.assignees.filter((v): v is string => typeof v === 'string')
    if (Array.isArray(b.labels)) p.labels = fjLabelNames(fjIds(b.labels))
    const state = str(b.state)
    if (state !== undefined) {
      if (p.merged) return fjError(412, 'cannot change state of this pull request, it was already merged')
      setState(p, state === 'closed' ? 'closed' : 'open')
    }
    const base = str(b.base)
    if (!p.merged && base && base !== p.base) {
      if (!git.branch(base)) return fjError(404, `new base '${base}' not exist`)
      p.base = base
    }
    metaOf(p).updatedAt = now()
    // Forgejo answers an edit with 201 (a long-standing TODO in its source says it should be 200).
    return { status: 201, body: fjPullJson(p) }
  }

  function fjMerge(ctx: Ctx, p: TestPull): Reply {
    const b = ctx.body
    if (ctx.bodyError || !isObj(b)) return fjError(422, '[]: Deserialization')
    // Go's JSON decoder matches the untagged `Do` field case-insensitively.
    const doKey = Object.keys(b).find(k => k.toLowerCase() === 'do')
    const action = doKey ? str(b[doKey]) : undefined
    if (!action) return fjError(422, '[Do]: Required')
    if (
      !['merge', 'rebase', 'rebase-merge', 'squash', 'fast-forward-only', 'manually-merged'].includes(action)
    ) {
      return fjError(422, '[Do]: In')
    }
    if (p.merged) return fjError(405, '')
    if (p.state === 'closed') return fjNotFound()
    const m = metaOf(p)
    m.mergeCalls++
    if (m.mergeCalls <= mergeableAfter) return fjError(405, 'Please try again later')
    if (b.merge_when_checks_succeed === true) {
      if (p.autoMerge) {
        return fjError(
          409,
          `pull request is already scheduled to auto merge when checks succeed [pull_id: ${m.id}]`
        )
      }
      p.autoMerge = true
      m.updatedAt = now()
      return { status: 201 }
    }
    mergePull(p.number)
    return { status: 200 }
  }

  function fjIssueLabels(ctx: Ctx, p: TestPull, replace: boolean): Reply {
    const b = ctx.body
    if (ctx.bodyError || !isObj(b)) return fjError(422, '[]: Deserialization')
    const raw: unknown[] = Array.isArray(b.labels) ? b.labels : []
    const ids = raw.filter((v): v is number => typeof v === 'number')
    const names = raw.filter((v): v is string => typeof v === 'string')
    if (ids.length && names.length) return fjError(400, 'labels should be an array of strings or integers')
    const found = names.length
      ? labels.filter(l => names.some(n => sameName(n, l.name))).map(l => l.name)
      : fjLabelNames(ids)
    if (replace) p.labels = []
    for (const name of found) if (!p.labels.includes(name)) p.labels.push(name)
    metaOf(p).updatedAt = now()
    return { status: 200, body: p.labels.map(fjLabelJson) }
  }

  function forgejo(ctx: Ctx): Reply {
    const prefix = '/api/v1'
    if (ctx.pathname !== prefix && !ctx.pathname.startsWith(`${prefix}/`))
      return { status: 404, body: { message: 'Not Found' } }
    const segs = ctx.pathname.slice(prefix.length).split('/').filter(Boolean).map(decodeURIComponent)
    const m = ctx.method
    if (segs.length === 1 && segs[0] === 'version' && m === 'GET') {
      return { status: 200, body: { version: '11.0.0+gitea-1.22.0' } }
    }
    if (segs[0] !== 'repos' || segs.length < 3) return { status: 404, body: { message: 'Not Found' } }
    if (!sameName(segs[1], owner) || !sameName(segs[2], repo)) return fjNotFound()
    const rest = segs.slice(3)
    if (rest.length === 0)
      return m === 'GET' ? { status: 200, body: fjRepoJson() } : fjError(405, 'Method Not Allowed')
    // Forgejo's git data API is read-only; nothing here can write commits or refs.
    if (rest[0] === 'git') return m === 'GET' ? fjNotFound() : fjError(405, 'Method Not Allowed')
    if (rest[0] === 'labels' && rest.length === 1) {
      if (m !== 'GET') return fjError(405, 'Method Not Allowed')
      const { page, headers } = fjPage(ctx, labels)
      return { status: 200, body: page.map(l => fjLabelJson(l.name)), headers }
    }
    if (rest[0] === 'pulls' && rest.length === 1) {
      if (m === 'GET') {
        const q = ctx.url.searchParams
        const state = q.get('state') ?? ''
        // Forgejo's list ignores `head` and `base`; without `state` it lists every state.
        let list = pulls.filter(p => (state === 'open' || state === 'closed' ? p.state === state : true))
        list = [...list].sort((a, c) =>
          q.get('sort') === 'oldest' ? a.number - c.number : c.number - a.number
        )
        const { page, headers } = fjPage(ctx, list)
        return { status: 200, body: page.map(fjPullJson), headers }
      }
      if (m === 'POST') return fjCreatePull(ctx)
      return fjError(405, 'Method Not Allowed')
    }
    if (rest[0] === 'pulls' && rest.length >= 2) {
      const known = ['merge', 'requested_reviewers']
      const isIndex = /^\d+$/.test(rest[1])
      if (rest.length === 2 || (isIndex && rest.length === 3 && known.includes(rest[2]))) {
        const p = isIndex ? pullByNumber(parseInt(rest[1], 10)) : undefined
        if (!p) return fjNotFound()
        if (rest.length === 2) {
          if (m === 'GET') return { status: 200, body: fjPullJson(p) }
          if (m === 'PATCH') return fjEditPull(ctx, p)
          return fjError(405, 'Method Not Allowed')
        }
        if (rest[2] === 'merge') {
          if (m === 'GET') return p.merged ? { status: 204 } : fjNotFound()
          if (m === 'POST') return fjMerge(ctx, p)
          if (m === 'DELETE') {
            if (!p.autoMerge) return fjNotFound()
            p.autoMerge = false
            return { status: 204 }
          }
          return fjError(405, 'Method Not Allowed')
        }
        if (m === 'POST') {
          const b = ctx.body
          const reviewers =
            isObj(b) && Array.isArray(b.reviewers)
              ? b.reviewers.filter((v): v is string => typeof v === 'string')
              : []
          for (const r of reviewers) if (!p.reviewers.includes(r)) p.reviewers.push(r)
          return {
            status: 201,
            body: reviewers.map((login, i) => ({
              id: 5000 + i,
              user: { ...userJson, login, username: login },
              state: 'REQUEST_REVIEW',
              pull_request_url: `${serverUrl}/${fullName}/pulls/${p.number}`
            }))
          }
        }
        return fjError(405, 'Method Not Allowed')
      }
      if (m !== 'GET') return fjError(405, 'Method Not Allowed')
      // GET /pulls/{base}/{head}: an unordered lookup that in practice yields the oldest pull request for
      // the pair, closed and merged ones included.
      const base = rest[1]
      const { owner: headOwner, branch } = fjSplitHead(rest.slice(2).join('/'))
      if (headOwner !== undefined && !sameName(headOwner, owner)) return fjNotFound()
      const first = pulls.find(p => p.base === base && p.head === branch)
      return first ? { status: 200, body: fjPullJson(first) } : fjNotFound()
    }
    if (rest[0] === 'issues' && rest.length === 3 && rest[2] === 'labels' && /^\d+$/.test(rest[1])) {
      const p = pullByNumber(parseInt(rest[1], 10))
      if (!p) return fjNotFound()
      if (m === 'GET') return { status: 200, body: p.labels.map(fjLabelJson) }
      if (m === 'POST') return fjIssueLabels(ctx, p, false)
      if (m === 'PUT') return fjIssueLabels(ctx, p, true)
      return fjError(405, 'Method Not Allowed')
    }
    return { status: 404, body: { message: 'Not Found' } }
  }

  // ---------------------------------------------------------------- request handling

  function gitPathInfo(pathname: string): string | undefined {
    const prefix = `/${owner}/`
    if (!pathname.toLowerCase().startsWith(prefix.toLowerCase())) return undefined
    const rest = pathname.slice(prefix.length)
    const m = /^([^/]+?)(\.git)?(\/(?:info\/refs|git-upload-pack|git-receive-pack|HEAD|objects\/.*))$/.exec(
      rest
    )
    if (!m || !sameName(m[1], repo)) return undefined
    return `/${repo}.git${m[3]}`
  }

  function takeFault(method: string, pathname: string): FaultResponse | undefined {
    for (let i = 0; i < faults.length; i++) {
      const f = faults[i]
      if (f.method && f.method.toUpperCase() !== method) continue
      if (f.path) {
        f.path.lastIndex = 0
        if (!f.path.test(pathname)) continue
      }
      const r = f.responses.shift()
      if (f.responses.length === 0) faults.splice(i, 1)
      if (r) return r
    }
    return undefined
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', serverUrl)
    const method = (req.method ?? 'GET').toUpperCase()
    const pathInfo = gitPathInfo(url.pathname)
    if (pathInfo !== undefined) {
      serveGit(req, res, { bareRepo: bare, token, pathInfo, query: url.search.replace(/^\?/, '') })
      return
    }

    const raw = await readBody(req)
    let body: unknown = undefined
    let bodyError = false
    if (raw.length) {
      const text = raw.toString('utf8')
      try {
        body = JSON.parse(text) as unknown
      } catch {
        body = text
        bodyError = true
      }
    }
    requests.push({
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams.entries()),
      headers: flatHeaders(req.headers),
      body
    })

    let extraHeaders: Record<string, string> = {}
    const fault = takeFault(method, url.pathname)
    if (fault) {
      if (fault.delayMs) await sleep(fault.delayMs)
      if (fault.reset) {
        req.socket.destroy()
        return
      }
      if (fault.status !== undefined || fault.body !== undefined || fault.rawBody !== undefined) {
        const status = fault.status ?? 500
        if (fault.rawBody !== undefined) {
          res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', ...(fault.headers ?? {}) })
          res.end(fault.rawBody)
        } else {
          send(res, { status, body: fault.body, headers: fault.headers })
        }
        return
      }
      extraHeaders = fault.headers ?? {}
    }

    const denied = authorize(req, url)
    if (denied) {
      send(res, { ...denied, headers: { ...(denied.headers ?? {}), ...extraHeaders } })
      return
    }
    const ctx: Ctx = { method, url, pathname: url.pathname, body, bodyError }
    if (kind === 'github' && bodyError) {
      send(res, {
        status: 400,
        body: { message: 'Problems parsing JSON', documentation_url: ghDoc, status: '400' }
      })
      return
    }
    const reply = kind === 'github' ? github(ctx) : forgejo(ctx)
    send(res, { ...reply, headers: { ...(reply.headers ?? {}), ...extraHeaders } })
  }

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      const message = err instanceof Error ? err.message : String(err)
      if (!res.headersSent) send(res, { status: 500, body: { message: `test forge: ${message}` } })
      else res.destroy()
    })
  })

  return {
    kind,
    serverUrl,
    apiUrl,
    gitUrl,
    requests,
    pulls,
    labels,
    failNext(match, responses) {
      faults.push({ method: match.method, path: match.path, responses: [...responses] })
    },
    mergePull,
    closePull,
    close(): Promise<void> {
      return new Promise(resolve => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    }
  }
}
