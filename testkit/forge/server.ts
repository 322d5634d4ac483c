/**
 * A small stand-in for GitHub and Forgejo over a real bare repository: the REST subset the action uses,
 * GitHub's auto-merge GraphQL mutation, and git smart HTTP. Status codes and messages follow the forges, not
 * the action. This file only routes: each forge's routes, shapes and quirks are in github.ts and forgejo.ts,
 * the state they share in repository.ts, injected faults in faults.ts, git smart HTTP in githttp.ts.
 */
import * as http from 'http'
import * as net from 'net'
import * as path from 'path'
import { URL } from 'url'
import { FaultMatch, FaultResponse, Faults } from './faults'
import { forgejoApi, forgejoApiPath, forgejoProfile } from './forgejo'
import { githubApi, githubApiPath, githubProfile } from './github'
import { serveGit } from './githttp'
import { StatusesApi, statusesApi } from './statuses'
import {
  Ctx,
  ForgeKind,
  ForgeOptions,
  ForgeState,
  RecordedRequest,
  TestComment,
  TestLabel,
  TestPull,
  flatHeaders,
  readBody,
  sameName,
  send
} from './repository'

export type { FaultResponse } from './faults'
export {
  githubForbidden,
  githubRateLimited,
  githubSecondaryRateLimited,
  githubSecondaryRateLimitedUntimed
} from './github'
export type { ForgeKind, ForgeOptions, RecordedRequest, TestComment, TestPull } from './repository'

export interface TestForge {
  kind: ForgeKind
  serverUrl: string
  apiUrl: string
  gitUrl: string
  requests: RecordedRequest[]
  pulls: TestPull[]
  labels: TestLabel[]
  /** Every pull request comment, in the order they were made. */
  comments: TestComment[]
  /** Opens a pull request as a person would in the web interface (no token involved). */
  openPull(head: string, base: string, title: string): TestPull
  /** Commit statuses (what hosts report) and the branch commit list. */
  statuses: StatusesApi
  failNext(match: FaultMatch, responses: FaultResponse[]): void
  /** What the forge logged but answered nowhere (a scheduled merge that failed). */
  serverLog: string[]
  mergePull(n: number): void
  closePull(n: number): void
  /** Checks passed: a pull request scheduled for auto-merge merges, if its style is allowed. */
  runAutoMerge(n: number): boolean
  /** The pull request fails to load from now on: Forgejo lists it as null. */
  failToLoad(n: number): void
  close(): Promise<void>
}

export async function startForge(options: ForgeOptions): Promise<TestForge> {
  const { kind, owner, repo, token } = options
  const bare = path.resolve(options.bareRepo)
  if (path.basename(bare) !== `${repo}.git`) {
    throw new Error(`bareRepo must be named ${repo}.git (got ${path.basename(bare)})`)
  }

  const server = http.createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as net.AddressInfo).port
  const serverUrl = `http://127.0.0.1:${port}`
  const apiPath = kind === 'github' ? githubApiPath : forgejoApiPath
  const state = new ForgeState(
    options,
    kind === 'github' ? githubProfile : forgejoProfile,
    serverUrl,
    `${serverUrl}${apiPath}`
  )
  state.git.git(['config', 'http.receivepack', 'true'])
  const api = kind === 'github' ? githubApi(state) : forgejoApi(state)
  const statuses = statusesApi(state, kind)
  const requests: RecordedRequest[] = []
  const faults = new Faults()

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

    const fault = await faults.apply(method, url.pathname, req, res)
    if (fault.kind === 'answered') return
    const denied = api.authorize(req, url)
    const ctx: Ctx = { method, url, pathname: url.pathname, body, bodyError }
    const reply = denied ?? statuses.handle(ctx) ?? api.handle(ctx)
    if (fault.resetAfter) {
      req.socket.destroy()
      return
    }
    send(res, { ...reply, headers: { ...(reply.headers ?? {}), ...fault.headers } })
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
    apiUrl: state.apiUrl,
    gitUrl: state.gitUrl,
    requests,
    pulls: state.pulls,
    labels: state.labels,
    comments: state.comments,
    openPull: (head, base, title) =>
      state.createPull({ head, base, title, body: '', draft: false, labels: [], assignees: [] }),
    statuses,
    failNext(match, responses) {
      faults.add(match, responses)
    },
    serverLog: state.serverLog,
    mergePull: n => state.mergePull(n),
    closePull: n => state.closePull(n),
    runAutoMerge: n => state.runAutoMerge(n),
    failToLoad: n => {
      state.unloadable.add(n)
    },
    close(): Promise<void> {
      return new Promise(resolve => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    }
  }
}
