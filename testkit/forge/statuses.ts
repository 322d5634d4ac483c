/**
 * Commit statuses and the commit list of a branch, which hosts report to and the action reads the fleet's state
 * from. The paths are the same on both forges; the shapes differ where the forges differ:
 * - a status is `{state, …}` on GitHub and `{status, …}` on Forgejo (Forgejo's `structs.CommitStatus` marks its
 *   `State` field `json:"status"`; its create option takes `state`, as GitHub does);
 * - pages are `per_page` on GitHub and `limit` on Forgejo;
 * - statuses come newest first (GitHub: "in reverse chronological order"; Forgejo's default sort is by creation
 *   time, descending).
 * States accepted on creation: GitHub error/failure/pending/success, Forgejo also warning.
 */
import { ForgeKind, ForgeState, Json, Reply, isObj, str } from './repository'

interface TestStatus {
  id: number
  sha: string
  state: string
  context: string
  description: string
  targetUrl: string
  createdAt: string
}

const STATES: Record<ForgeKind, string[]> = {
  github: ['error', 'failure', 'pending', 'success'],
  forgejo: ['pending', 'success', 'error', 'failure', 'warning']
}

export interface StatusesApi {
  /** Every status posted, oldest first. */
  readonly statuses: TestStatus[]
  /** Adds a status as a host would, with a chosen time (ISO 8601). */
  add(status: Omit<TestStatus, 'id' | 'createdAt'> & { createdAt?: string }): void
  handle(ctx: { method: string; pathname: string; url: URL; body: unknown }): Reply | undefined
}

export function statusesApi(state: ForgeState, kind: ForgeKind): StatusesApi {
  const statuses: TestStatus[] = []
  let nextId = 1
  const repoPath = `/repos/${state.options.owner}/${state.options.repo}`
  // Forgejo's API lives under /api/v1 on the server, GitHub's (here) at the root.
  const prefix = `${new URL(state.apiUrl).pathname.replace(/\/+$/, '')}${repoPath}`.toLowerCase()

  function json(s: TestStatus): Json {
    const common = {
      id: s.id,
      context: s.context,
      description: s.description,
      target_url: s.targetUrl,
      url: `${state.apiUrl}${repoPath}/statuses/${s.sha}`,
      created_at: s.createdAt,
      updated_at: s.createdAt,
      creator: state.userJson
    }
    return kind === 'github' ? { ...common, state: s.state } : { ...common, status: s.state }
  }

  function page(url: URL): { size: number; page: number } {
    const size = Number(url.searchParams.get(kind === 'github' ? 'per_page' : 'limit') ?? '30')
    const n = Number(url.searchParams.get('page') ?? '1')
    return {
      size: Number.isFinite(size) && size > 0 ? Math.min(size, kind === 'github' ? 100 : 50) : 30,
      page: Number.isFinite(n) && n > 0 ? n : 1
    }
  }

  // Both list a commit's parents as `parents: [{sha, url, …}]`: GitHub's commit object, Forgejo's
  // structs.Commit (`Parents []*CommitMeta json:"parents"`, CommitMeta = {url, sha, created}).
  function commitJson(sha: string): Json {
    const [date, subject, parentList] = state.git
      .git(['show', '-s', '--format=%cI%x00%s%x00%P', sha])
      .trim()
      .split('\0')
    const commit = { message: subject, committer: { name: 'x', email: 'x@example.invalid', date } }
    const parents = (parentList ?? '')
      .split(' ')
      .filter(Boolean)
      .map(p => ({ sha: p, url: `${state.apiUrl}${repoPath}/git/commits/${p}` }))
    return kind === 'github'
      ? { sha, commit, parents, html_url: `${state.serverUrl}/${state.fullName}/commit/${sha}` }
      : {
          sha,
          created: date,
          commit,
          parents,
          html_url: `${state.serverUrl}/${state.fullName}/commit/${sha}`
        }
  }

  function add(s: Omit<TestStatus, 'id' | 'createdAt'> & { createdAt?: string }): void {
    statuses.push({ ...s, id: nextId++, createdAt: s.createdAt ?? new Date().toISOString() })
  }

  function handle(ctx: { method: string; pathname: string; url: URL; body: unknown }): Reply | undefined {
    const path = ctx.pathname.toLowerCase().startsWith(prefix) ? ctx.pathname.slice(prefix.length) : undefined
    if (path === undefined) return undefined
    const post = /^\/statuses\/([0-9a-f]{40})$/.exec(path)
    if (post && ctx.method === 'POST') {
      const b = isObj(ctx.body) ? ctx.body : {}
      const st = str(b.state) ?? ''
      if (!STATES[kind].includes(st)) {
        return { status: 422, body: { message: `invalid state ${JSON.stringify(st)}` } }
      }
      add({
        sha: post[1],
        state: st,
        context: str(b.context) ?? 'default',
        description: str(b.description) ?? '',
        targetUrl: str(b.target_url) ?? ''
      })
      return { status: 201, body: json(statuses[statuses.length - 1]) }
    }
    const list = /^\/commits\/([^/]+)\/statuses$/.exec(path)
    if (list && ctx.method === 'GET') {
      const sha = state.git.revParse(decodeURIComponent(list[1]))
      const all = statuses
        .filter(s => s.sha === sha)
        .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id - a.id)
      const { size, page: n } = page(ctx.url)
      return {
        status: 200,
        body: all.slice((n - 1) * size, n * size).map(json),
        // Forgejo's getCommitStatuses (routers/api/v1/repo/status.go) sets X-Total-Count (SetTotalCountHeader);
        // GitHub pages with Link headers only.
        headers: kind === 'forgejo' ? { 'X-Total-Count': String(all.length) } : {}
      }
    }
    if (path === '/commits' && ctx.method === 'GET') {
      const ref = ctx.url.searchParams.get('sha') || state.defaultBranch
      const { size, page: n } = page(ctx.url)
      const tip = state.git.revParse(ref)
      if (!tip) return { status: 404, body: { message: `ref ${ref} not found` } }
      const shas = state.git
        .git(['rev-list', `--max-count=${size}`, `--skip=${(n - 1) * size}`, tip])
        .split('\n')
        .filter(Boolean)
      return { status: 200, body: shas.map(commitJson) }
    }
    return undefined
  }

  return { statuses, add, handle }
}
