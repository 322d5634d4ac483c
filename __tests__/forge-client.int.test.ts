import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { ForgejoForge } from '../src/forge/forgejo'
import { GitHubForge } from '../src/forge/github'
import { ApiClient, ForgeError } from '../src/forge/http'
import { Forge } from '../src/forge/forge'
import { ForgeKind, TestForge, startForge } from './forge/server'

const TOKEN = 'tok_client_5e6f7a8b9c0d'
// Fast backoff so that the retry tests take milliseconds; the attempt count is the production default.
const FAST = { baseDelayMs: 20, maxDelayMs: 500, timeoutMs: 300 }

function makeRepo(): { dir: string; bare: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-client-'))
  const bare = path.join(dir, 'fleet.git')
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare])
  const work = path.join(dir, 'work')
  execFileSync('git', ['init', '-q', '-b', 'main', work])
  const g = (args: string[]): void => {
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], {
      cwd: work,
      stdio: 'pipe'
    })
  }
  fs.writeFileSync(path.join(work, 'flake.lock'), '{}\n')
  g(['add', '-A'])
  g(['commit', '-qm', 'init'])
  g(['push', '-q', bare, 'main'])
  for (const b of ['update-a', 'update-b']) {
    g(['checkout', '-q', '-b', b, 'main'])
    fs.writeFileSync(path.join(work, 'flake.lock'), `{"b":"${b}"}\n`)
    g(['commit', '-qam', b])
    g(['push', '-q', bare, b])
  }
  return { dir, bare }
}

/** A fresh repository and forge for one test, removed afterwards. */
async function withForge(
  options: { kind: ForgeKind; autoMergeAllowed?: boolean },
  fn: (forge: TestForge, repo: { dir: string; bare: string }) => Promise<void>
): Promise<void> {
  const repo = makeRepo()
  const forge = await startForge({
    ...options,
    bareRepo: repo.bare,
    owner: 'infra',
    repo: 'fleet',
    token: TOKEN
  })
  try {
    await fn(forge, repo)
  } finally {
    await forge.close()
    fs.rmSync(repo.dir, { recursive: true, force: true })
  }
}

function client(kind: ForgeKind, f: TestForge, token = TOKEN, extra: object = {}): Forge {
  return kind === 'forgejo'
    ? new ForgejoForge(f.apiUrl, token, 'infra', 'fleet', f.serverUrl, { ...FAST, mergeRetries: 4, ...extra })
    : new GitHubForge(f.apiUrl, token, 'infra', 'fleet', f.serverUrl, `${f.apiUrl}/graphql`, {
        ...FAST,
        ...extra
      })
}

describe.each<ForgeKind>(['forgejo', 'github'])('%s client against the test forge', kind => {
  let repo: { dir: string; bare: string }
  let forge: TestForge
  beforeAll(async () => {
    repo = makeRepo()
    forge = await startForge({
      kind,
      bareRepo: repo.bare,
      owner: 'infra',
      repo: 'fleet',
      token: TOKEN,
      labels: ['dependencies'],
      mergeableAfter: 2
    })
  })
  afterAll(async () => {
    await forge.close()
    fs.rmSync(repo.dir, { recursive: true, force: true })
  })

  test('create, find, update; a duplicate create returns the existing pull request', async () => {
    const c = client(kind, forge)
    const { pull, created } = await c.createPull({ head: 'update-a', base: 'main', title: 't1', body: 'b1' })
    expect(created).toBe(true)
    expect(await c.findOpenPull('update-a', 'main')).toMatchObject({ number: pull.number, state: 'open' })
    expect(await c.findOpenPull('update-b', 'main')).toBeUndefined()
    const again = await c.createPull({ head: 'update-a', base: 'main', title: 't1', body: 'b1' })
    expect(again).toMatchObject({ created: false, pull: { number: pull.number } })
    const updated = await c.updatePull(pull.number, 't2', 'b2')
    expect(updated).toMatchObject({ title: 't2', body: 'b2' })
    expect(forge.pulls).toHaveLength(1)
  })

  test('labels by name; unknown names give a warning, not a failure', async () => {
    const c = client(kind, forge)
    const n = forge.pulls[0].number
    const missing = await c.addLabels(n, ['dependencies', 'no-such-label'])
    expect(forge.pulls[0].labels).toContain('dependencies')
    if (kind === 'forgejo') {
      expect(missing).toEqual(['no-such-label'])
      expect(forge.pulls[0].labels).not.toContain('no-such-label')
    }
  })

  test('auto-merge is requested the way each forge takes it', async () => {
    const c = client(kind, forge)
    const pull = await c.findOpenPull('update-a', 'main')
    await c.enableAutoMerge(pull as NonNullable<typeof pull>)
    expect(forge.pulls[0].autoMerge).toBe(true)
    if (kind === 'forgejo') {
      // 405 twice while mergeability is computed, then scheduled; asking again (409) is not an error.
      const merges = forge.requests.filter(r => r.method === 'POST' && /\/merge$/.test(r.path))
      expect(merges).toHaveLength(3)
      await c.enableAutoMerge(pull as NonNullable<typeof pull>)
    } else {
      expect(forge.requests.some(r => r.path.endsWith('/graphql'))).toBe(true)
    }
  })

  test('a 500 is retried, a 500 forever stops after a bounded number of attempts', async () => {
    const c = client(kind, forge)
    forge.failNext({ method: 'GET' }, [{ status: 502, rawBody: '<html>bad gateway</html>' }])
    expect(await c.findOpenPull('update-a', 'main')).toBeDefined()
    const before = forge.requests.length
    forge.failNext(
      { method: 'GET' },
      Array.from({ length: 4 }, () => ({ status: 500, body: { message: 'boom' } }))
    )
    const start = Date.now()
    const error = await c.findOpenPull('update-a', 'main').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ForgeError)
    expect((error as ForgeError).message).toMatch(
      /^Finding the open pull request failed: GET \/repos\/infra\/fleet\/pulls\?.* answered 500: boom$/
    )
    expect(forge.requests.length - before).toBe(4)
    expect(Date.now() - start).toBeLessThan(5000)
  })

  test('429 waits for Retry-After; a reset connection and a slow answer are retried', async () => {
    const c = client(kind, forge)
    forge.failNext({ method: 'GET' }, [
      { status: 429, headers: { 'Retry-After': '0.3' }, body: { message: 'slow down' } }
    ])
    const start = Date.now()
    expect(await c.findOpenPull('update-a', 'main')).toBeDefined()
    expect(Date.now() - start).toBeGreaterThanOrEqual(290)
    forge.failNext({ method: 'GET' }, [{ reset: true }])
    expect(await c.findOpenPull('update-a', 'main')).toBeDefined()
    forge.failNext({ method: 'GET' }, [{ delayMs: 1000 }])
    expect(await c.findOpenPull('update-a', 'main')).toBeDefined()
  })

  test('4xx are not retried and name operation, path, status and the forge message; the token is not in them', async () => {
    for (const status of [401, 403, 404, 422]) {
      const c = client(kind, forge)
      const before = forge.requests.length
      forge.failNext({ method: 'PATCH' }, [{ status, body: { message: `refused ${status}` } }])
      const error = await c.updatePull(forge.pulls[0].number, 't', 'b').catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ForgeError)
      expect((error as Error).message).toMatch(
        new RegExp(
          `^Updating the pull request failed: PATCH /repos/infra/fleet/pulls/\\d+ answered ${status}: refused ${status}$`
        )
      )
      expect((error as Error).message).not.toContain(TOKEN)
      expect(forge.requests.length - before).toBe(1)
    }
    const wrong = await client(kind, forge, 'wrong-token')
      .findOpenPull('update-a', 'main')
      .catch((e: unknown) => e)
    expect((wrong as ForgeError).status).toBe(401)
  })

  test('a successful answer that is not JSON is an error naming the operation', async () => {
    const c = client(kind, forge)
    forge.failNext({ method: 'GET' }, [{ status: 200, rawBody: 'this is not json' }])
    await expect(c.findOpenPull('update-a', 'main')).rejects.toThrow(
      /Finding the open pull request failed: GET .* answered 200: the answer is not JSON: this is not json/
    )
  })
})

describe('GitHub auto-merge refused', () => {
  test('a repository that does not allow auto-merge gives a message saying what is needed', async () => {
    await withForge({ kind: 'github', autoMergeAllowed: false }, async forge => {
      const c = client('github', forge)
      const { pull } = await c.createPull({ head: 'update-a', base: 'main', title: 't', body: 'b' })
      await expect(c.enableAutoMerge(pull)).rejects.toThrow(
        /^Enabling auto-merge failed: .+\. Auto-merge needs "Allow auto-merge" in the repository settings and a token that may merge/
      )
      expect(forge.pulls[0].autoMerge).toBe(false)
    })
  })
})

describe('Forgejo specifics', () => {
  test('open pull requests are found on later pages, since Forgejo ignores ?head=', async () => {
    await withForge({ kind: 'forgejo' }, async (forge, repo) => {
      // Listing 51 pull requests costs the test forge a git call each: a longer time-out than FAST's.
      const c = client('forgejo', forge, TOKEN, { timeoutMs: 30000 })
      // The one to find is the oldest; 50 newer ones fill the first page (Forgejo lists newest first).
      const { pull } = await c.createPull({ head: 'update-b', base: 'main', title: 't', body: 'b' })
      const sha = execFileSync('git', ['--git-dir', repo.bare, 'rev-parse', 'update-a'], {
        encoding: 'utf8'
      }).trim()
      for (let i = 0; i < 50; i++) {
        execFileSync('git', ['--git-dir', repo.bare, 'update-ref', `refs/heads/other-${i}`, sha])
        await c.createPull({ head: `other-${i}`, base: 'main', title: `other ${i}`, body: '' })
      }
      expect(await c.findOpenPull('update-b', 'main')).toMatchObject({ number: pull.number })
      const pages = forge.requests
        .filter(r => r.method === 'GET' && /\/pulls$/.test(r.path))
        .map(r => r.query.page)
      expect(pages).toEqual(['1', '2'])
    })
  })

  test('the API client sends the token only in the Authorization header', async () => {
    await withForge({ kind: 'forgejo' }, async forge => {
      await new ApiClient(forge.apiUrl, TOKEN, FAST).request(
        'Reading the repository',
        'GET',
        '/repos/infra/fleet'
      )
      const r = forge.requests[forge.requests.length - 1]
      expect(r.headers.authorization).toBe(`token ${TOKEN}`)
      expect(JSON.stringify(r.query)).not.toContain(TOKEN)
    })
  })
})
