import { execFile } from 'child_process'
import * as fs from 'fs'
import * as http from 'http'
import * as net from 'net'
import * as os from 'os'
import * as path from 'path'
import { Git, NetworkLimits } from '../src/git/git'
import { pushCredentials } from '../src/git/credentials'
import { bareWithClone, git } from '../testkit/fleet'
import { serveGit } from '../testkit/forge/githttp'

// Every git call that talks to a remote: no credentials carried to another host by a redirect, and no wait
// without end on a remote that stops answering. Real git against servers on 127.0.0.1.

const TOKEN = 'tok_5b1e0c9a7d3f4e2a8c6b0d1f3e5a7c9b'
const BASIC = Buffer.from(`x-access-token:${TOKEN}`).toString('base64')

interface Repo {
  dir: string
  bare: string
  work: string
  head: string
}

/** A bare repository with a `main` branch and a clone of it, whose origin the test points at a server. */
function repo(): Repo {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-gitnet-'))
  const bare = path.join(dir, 'srv', 'r.git')
  fs.mkdirSync(path.dirname(bare))
  const work = path.join(dir, 'w')
  const head = bareWithClone(bare, work)
  git(work, ['push', '-q', 'origin', 'HEAD:main'])
  return { dir, bare, work, head }
}

function listen(server: net.Server): Promise<number> {
  return new Promise(resolve =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port))
  )
}

function close(server: net.Server): Promise<void> {
  return new Promise(resolve => server.close(() => resolve()))
}

/** Everything that talks to the remote, as publishing does it. */
const operations: [string, (g: Git, r: Repo) => Promise<unknown>][] = [
  ['ls-remote', g => g.remoteBranchSha('origin', 'main')],
  ['fetch', g => g.fetchBranches('origin', ['main'], false)],
  ['push', (g, r) => g.pushWithLease('origin', r.head, 'update', undefined)]
]

describe('a remote that redirects to another host', () => {
  let r: Repo
  let origin: http.Server
  let other: http.Server
  // Every request the other host received, with the Authorization header it carried.
  const seen: { method: string; url: string; authorization?: string }[] = []
  let originUrl: string

  beforeAll(async () => {
    r = repo()
    // The other host serves the repository to anyone, as a hostile or misconfigured server would, and notes
    // every header it is sent.
    other = http.createServer((req, res) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization })
      const [pathInfo, query] = (req.url ?? '').split('?')
      req.headers.authorization ??= `Basic ${BASIC}`
      serveGit(req, res, { bareRepo: r.bare, token: TOKEN, pathInfo, query: query ?? '' })
    })
    const otherPort = await listen(other)
    origin = http.createServer((req, res) => {
      res.writeHead(302, { Location: `http://localhost:${otherPort}${req.url ?? '/'}` })
      res.end()
    })
    originUrl = `http://127.0.0.1:${await listen(origin)}/r.git`
    git(r.work, ['remote', 'set-url', 'origin', originUrl])
  })
  afterAll(async () => {
    await close(origin)
    await close(other)
    fs.rmSync(r.dir, { recursive: true, force: true })
  })
  beforeEach(() => {
    seen.length = 0
  })

  test('without the action, git carries the push token to the other host (what the action must prevent)', async () => {
    const plain = await Git.create(r.work)
    const env = await pushCredentials(plain, originUrl, TOKEN, () => undefined)
    expect(env.GIT_CONFIG_KEY_0).toBe(`http.${new URL(originUrl).origin}/.extraheader`)
    // Plain git, as the action called it before: the header is scoped to the origin, yet goes along.
    await new Promise<void>(resolve =>
      execFile(
        'git',
        ['push', '--porcelain', 'origin', `${r.head}:refs/heads/leak`],
        { cwd: r.work, env: { ...process.env, ...env, GIT_TERMINAL_PROMPT: '0' } },
        () => resolve()
      )
    )
    expect(seen.some(s => s.authorization?.includes(BASIC))).toBe(true)
  })

  test.each(operations)(
    '%s fails naming the redirect, and the other host gets no credentials',
    async (op, call) => {
      const plain = await Git.create(r.work)
      const g = plain.withEnv(await pushCredentials(plain, originUrl, TOKEN, () => undefined))
      const error = await call(g, r).then(
        () => undefined,
        (e: unknown) => (e instanceof Error ? e.message : String(e))
      )
      expect(error).toBe(
        `git ${op} with remote 'origin' (${originUrl}): the remote answered with a redirect (HTTP 302), which is not followed so that the credentials stay with that host; set the remote's URL to the address it redirects to`
      )
      expect(seen).toEqual([])
    }
  )
})

describe('a remote that accepts the connection and never answers', () => {
  let r: Repo
  let server: net.Server
  const sockets: net.Socket[] = []
  let port: number

  beforeAll(async () => {
    r = repo()
    server = net.createServer(socket => {
      sockets.push(socket)
      socket.on('error', () => undefined)
    })
    port = await listen(server)
    // A URL with credentials in it: they must not appear in any message.
    git(r.work, ['remote', 'set-url', 'origin', `http://x-access-token:${TOKEN}@127.0.0.1:${port}/r.git`])
  })
  afterAll(async () => {
    for (const s of sockets) s.destroy()
    await close(server)
    fs.rmSync(r.dir, { recursive: true, force: true })
  })

  /** Processes still running that talk to the silent server (git-remote-http has the URL in its arguments). */
  function leftover(): string[] {
    const out: string[] = []
    for (const pid of fs.readdirSync('/proc').filter(p => /^\d+$/.test(p))) {
      try {
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
        if (cmd.includes(`127.0.0.1:${port}/`)) out.push(`${pid} ${cmd}`)
      } catch {
        // gone
      }
    }
    return out
  }

  const expectNamed = (message: string, op: string): void => {
    // The remote is named with its credentials replaced, as every URL the action shows.
    expect(message).toContain(`git ${op} with remote 'origin' (http://***@127.0.0.1:${port}/r.git)`)
    expect(message).not.toContain(TOKEN)
    expect(message).not.toContain('x-access-token')
  }

  test.each(operations)(
    '%s: a stalled transfer ends at the low-speed limit',
    async (op, call) => {
      const limits: NetworkLimits = { lowSpeedLimit: 1000, lowSpeedTime: 2, timeout: 120 }
      const g = await Git.create(r.work, {}, limits)
      const start = Date.now()
      const error = await call(g, r).then(
        () => '',
        (e: unknown) => (e instanceof Error ? e.message : String(e))
      )
      // Well before the wall-clock limit: the low-speed limit ended it.
      expect(Date.now() - start).toBeLessThan(limits.timeout * 1000)
      expectNamed(error, op)
      expect(error).toContain('stalled (less than 1000 bytes/s for 2 s, or no connection)')
      expect(leftover()).toEqual([])
    },
    60000
  )

  test.each(operations)(
    '%s: the wall-clock limit stops git and everything it started',
    async (op, call) => {
      // Low-speed limit out of reach: only the time-out can end the call.
      const g = await Git.create(r.work, {}, { lowSpeedLimit: 1, lowSpeedTime: 3600, timeout: 3 })
      const error = await call(g, r).then(
        () => '',
        (e: unknown) => (e instanceof Error ? e.message : String(e))
      )
      expectNamed(error, op)
      expect(error).toContain('did not finish within 3 s and was stopped')
      expect(leftover()).toEqual([])
    },
    60000
  )
})
