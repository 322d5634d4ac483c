import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as http from 'http'
import * as net from 'net'
import * as os from 'os'
import * as path from 'path'
import { ForgejoForge } from '../src/forge/forgejo'
import { GitHubForge } from '../src/forge/github'
import { ApiClient, ForgeError } from '../src/forge/http'
import { Forge } from '../src/forge/forge'
import { AutoMergeRefusal } from '../src/forge/forge'
import { MergeMethodError } from '../src/forge/merge'
import {
  ForgeKind,
  ForgeOptions,
  TestForge,
  githubForbidden,
  githubRateLimited,
  githubSecondaryRateLimited,
  githubSecondaryRateLimitedUntimed,
  startForge
} from '../testkit/forge/server'
import { MemoryLog } from '../src/log/log'

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
  options: Omit<ForgeOptions, 'bareRepo' | 'owner' | 'repo' | 'token'>,
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

function client(
  kind: ForgeKind,
  f: TestForge,
  token = TOKEN,
  extra: object = {},
  log = new MemoryLog()
): Forge {
  return kind === 'forgejo'
    ? new ForgejoForge(f.apiUrl, token, 'infra', 'fleet', f.serverUrl, log, {
        ...FAST,
        mergeRetries: 4,
        ...extra
      })
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
    expect(await c.enableAutoMerge(pull as NonNullable<typeof pull>, 'auto')).toBe('merge')
    expect(forge.pulls[0].autoMerge).toBe(true)
    if (kind === 'forgejo') {
      // 405 twice while mergeability is computed, then scheduled; asking again (409) is not an error.
      const merges = forge.requests.filter(r => r.method === 'POST' && /\/merge$/.test(r.path))
      expect(merges).toHaveLength(3)
      await c.enableAutoMerge(pull as NonNullable<typeof pull>, 'auto')
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
      await expect(c.enableAutoMerge(pull, 'auto')).rejects.toThrow(
        /^Enabling auto-merge failed: Auto merge is not allowed for this repository: enable "Allow auto-merge" in the repository settings/
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

/** Another origin on loopback that records what reaches it: where a hostile redirect would send the token. */
async function elsewhere(): Promise<{ url: string; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = []
  const server = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`)
    res.writeHead(201, { 'Content-Type': 'application/json' })
    res.end(
      '{"number": 99, "html_url": "http://elsewhere/99", "title": "t", "state": "open", "head": {"ref": "x"}, "base": {"ref": "main"}}'
    )
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  const port = (server.address() as net.AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () =>
      new Promise(resolve => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  }
}

describe.each<ForgeKind>(['forgejo', 'github'])('%s client: hostile and odd answers', kind => {
  test('a redirect to another origin is not followed; the error names its target', async () => {
    await withForge({ kind }, async forge => {
      const other = await elsewhere()
      try {
        forge.failNext({ method: 'POST', path: /\/pulls$/ }, [
          { status: 307, headers: { Location: `${other.url}/steal?x=1` } }
        ])
        const error = await client(kind, forge)
          .createPull({ head: 'update-a', base: 'main', title: 't', body: 'b' })
          .catch((e: unknown) => e)
        expect(error).toBeInstanceOf(ForgeError)
        expect((error as Error).message).toBe(
          `Creating the pull request failed: POST /repos/infra/fleet/pulls answered 307: redirected to another origin, ${other.url}/steal: not followed (the token and the request are only sent to ${forge.serverUrl}; set 'api-url' to the forge's real address if it moved)`
        )
        expect(other.hits).toEqual([])
        expect(forge.pulls).toHaveLength(0)
      } finally {
        await other.close()
      }
    })
  })

  test('a redirect within the origin is followed, keeping the method and body on 307', async () => {
    await withForge({ kind }, async forge => {
      const path = new URL(forge.apiUrl).pathname.replace(/\/$/, '')
      forge.failNext({ method: 'POST', path: /\/repos\/old\/fleet\/pulls$/ }, [
        { status: 307, headers: { Location: `${path}/repos/infra/fleet/pulls` } }
      ])
      // A time-out here would retry the POST and meet the pull request the first attempt made.
      const c = new ApiClient(forge.apiUrl, TOKEN, { ...FAST, timeoutMs: 30000 })
      const r = await c.request('Creating the pull request', 'POST', '/repos/old/fleet/pulls', {
        head: 'update-a',
        base: 'main',
        title: 't',
        body: 'b'
      })
      expect(r.status).toBe(201)
      expect(forge.pulls).toHaveLength(1)
    })
  })

  test('a create whose answer was lost is found on the retry and reported as created', async () => {
    await withForge({ kind }, async forge => {
      // The forge creates the pull request, then the connection drops before the answer arrives.
      forge.failNext({ method: 'POST', path: /\/pulls$/ }, [{ resetAfter: true }])
      const r = await client(kind, forge).createPull({
        head: 'update-a',
        base: 'main',
        title: 't',
        body: 'b'
      })
      expect(r.created).toBe(true)
      expect(r.pull.number).toBe(forge.pulls[0].number)
      expect(forge.pulls).toHaveLength(1)
      expect(forge.requests.filter(q => q.method === 'POST' && /\/pulls$/.test(q.path))).toHaveLength(2)
    })
  })

  test('answers of the wrong shape name the operation, the path and the missing field', async () => {
    await withForge({ kind }, async forge => {
      const c = client(kind, forge)
      forge.failNext({ method: 'POST', path: /\/pulls$/ }, [{ status: 201, body: {} }])
      await expect(c.createPull({ head: 'update-a', base: 'main', title: 't', body: 'b' })).rejects.toThrow(
        'Creating the pull request failed: POST /repos/infra/fleet/pulls answered 201: unexpected answer: the answer has no number (a number expected, missing)'
      )
      const entry = { number: 1, html_url: 'u', title: 't', state: 'open', head: null, base: { ref: 'main' } }
      forge.failNext({ method: 'GET', path: /\/pulls$/ }, [{ status: 200, body: [entry] }])
      await expect(c.findOpenPull('update-a', 'main')).rejects.toThrow(
        /^Finding the open pull request failed: GET \/repos\/infra\/fleet\/pulls\?\S+ answered 200: unexpected answer: entry 1 has no head\.ref \(a string expected, missing\)$/
      )
      forge.failNext({ method: 'GET', path: /\/pulls$/ }, [{ status: 200, body: { message: 'hi' } }])
      await expect(c.findOpenPull('update-a', 'main')).rejects.toThrow(
        /answered 200: unexpected answer: a list was expected, got an object$/
      )
    })
  })

  test('merge-method auto on a squash-only repository schedules a squash, which then merges', async () => {
    await withForge({ kind, mergeStyles: ['squash'], defaultMergeStyle: 'merge' }, async forge => {
      const c = client(kind, forge)
      const { pull } = await c.createPull({ head: 'update-a', base: 'main', title: 't', body: 'b' })
      expect(await c.enableAutoMerge(pull, 'auto')).toBe('squash')
      expect(forge.pulls[0].autoMergeMethod).toBe('squash')
      expect(forge.runAutoMerge(pull.number)).toBe(true)
      expect(forge.pulls[0].merged).toBe(true)
      expect(forge.serverLog).toEqual([])
    })
  })

  test('a method the repository forbids fails naming the allowed ones, and nothing is scheduled', async () => {
    await withForge({ kind, mergeStyles: ['squash', 'rebase'] }, async forge => {
      const c = client(kind, forge)
      const { pull } = await c.createPull({ head: 'update-a', base: 'main', title: 't', body: 'b' })
      const before = forge.requests.length
      const error = await c.enableAutoMerge(pull, 'merge').catch((e: unknown) => e)
      expect(error).toBeInstanceOf(MergeMethodError)
      const allowed = kind === 'forgejo' ? 'rebase, squash' : 'squash, rebase'
      expect((error as Error).message).toBe(
        `Input 'merge-method' is merge, which infra/fleet does not allow; it allows: ${allowed} (or use auto)`
      )
      expect(forge.requests.slice(before).map(q => `${q.method} ${q.path}`)).toEqual([
        `GET ${new URL(forge.apiUrl).pathname.replace(/\/$/, '')}/repos/infra/fleet`
      ])
      expect(forge.pulls[0].autoMerge).toBe(false)
    })
  })
})

describe('GitHub: auto-merge refusals and rate limits', () => {
  const refusal = async (
    options: Partial<ForgeOptions>,
    method: 'auto' | 'merge' = 'auto'
  ): Promise<Error> => {
    let error: unknown
    await withForge({ kind: 'github', ...options }, async forge => {
      const c = client('github', forge)
      const { pull } = await c.createPull({ head: 'update-a', base: 'main', title: 't', body: 'b' })
      error = await c.enableAutoMerge(pull, method).catch((e: unknown) => e)
      expect(forge.pulls[0].autoMerge).toBe(false)
    })
    expect(error).toBeInstanceOf(AutoMergeRefusal)
    return error as Error
  }

  test('each refusal gets a hint naming its cause', async () => {
    expect((await refusal({ requiredChecks: false })).message).toBe(
      "Enabling auto-merge failed: Pull request Pull request is in clean status: the pull request can already be merged, since 'main' requires no status check to pass: GitHub enables auto-merge only while required checks are pending. Require a check in 'main''s branch protection, or merge by hand"
    )
    expect((await refusal({ branchProtection: false })).message).toBe(
      "Enabling auto-merge failed: Protected branch rules not configured for this branch: 'main' has no branch protection rule: auto-merge needs one that requires status checks"
    )
    // A token that cannot see the settings: no method is sent, GitHub's default MERGE is refused.
    expect((await refusal({ hideMergeSettings: true, mergeStyles: ['squash'] })).message).toBe(
      "Enabling auto-merge failed: Merge method merge commits are not allowed on this repository: the repository does not allow this merge method: set 'merge-method' to one it allows, or to auto with a token that can read the repository's settings"
    )
  })

  test('without visible settings an explicit method is sent as asked', async () => {
    await withForge({ kind: 'github', hideMergeSettings: true, mergeStyles: ['rebase'] }, async forge => {
      const c = client('github', forge)
      const { pull } = await c.createPull({ head: 'update-a', base: 'main', title: 't', body: 'b' })
      expect(await c.enableAutoMerge(pull, 'rebase')).toBe('rebase')
      expect(forge.pulls[0].autoMergeMethod).toBe('rebase')
      const gql = forge.requests.filter(q => q.path === '/graphql').pop()
      expect(gql?.body).toMatchObject({ variables: { method: 'REBASE' } })
    })
  })

  test('a rate-limit 403 is retried like a 429; any other 403 is final', async () => {
    await withForge({ kind: 'github' }, async forge => {
      const c = client('github', forge)
      const count = (): number => forge.requests.filter(q => q.method === 'GET').length
      let before = count()
      forge.failNext({ method: 'GET' }, [githubRateLimited(0.2)])
      expect(await c.findOpenPull('update-a', 'main')).toBeUndefined()
      expect(count() - before).toBe(2)
      before = count()
      forge.failNext({ method: 'GET' }, [githubSecondaryRateLimited(0.1)])
      expect(await c.findOpenPull('update-a', 'main')).toBeUndefined()
      expect(count() - before).toBe(2)
      before = count()
      forge.failNext({ method: 'GET' }, [githubForbidden])
      await expect(c.findOpenPull('update-a', 'main')).rejects.toThrow(
        /answered 403: Resource not accessible by integration$/
      )
      expect(count() - before).toBe(1)
    })
  })
})

/** A wait that records how long it was asked to wait, and returns at once. */
const recordWait =
  (waits: number[]) =>
  (ms: number): Promise<void> => {
    waits.push(ms)
    return Promise.resolve()
  }

describe('GitHub: a secondary rate limit that names no time', () => {
  test.each([403, 429])('%i: one wait of a minute, then the request goes through', async status => {
    await withForge({ kind: 'github' }, async forge => {
      const waits: number[] = []
      const c = client('github', forge, TOKEN, { wait: recordWait(waits), timeoutMs: 20000 })
      const before = forge.requests.filter(q => q.method === 'POST').length
      forge.failNext({ method: 'POST', path: /\/pulls$/ }, [githubSecondaryRateLimitedUntimed(status)])
      const { created } = await c.createPull({ head: 'update-a', base: 'main', title: 't', body: 'b' })
      expect(created).toBe(true)
      expect(waits).toEqual([60000])
      expect(forge.requests.filter(q => q.method === 'POST').length - before).toBe(2)
    })
  })

  test('a second one fails, saying it waited; the wait is not repeated', async () => {
    await withForge({ kind: 'github' }, async forge => {
      const waits: number[] = []
      const c = client('github', forge, TOKEN, { wait: recordWait(waits), timeoutMs: 20000 })
      forge.failNext({ method: 'GET' }, [
        githubSecondaryRateLimitedUntimed(),
        githubSecondaryRateLimitedUntimed()
      ])
      await expect(c.findOpenPull('update-a', 'main')).rejects.toThrow(
        /answered 403: You have exceeded a secondary rate limit .* \(again after waiting 60 s; run the workflow later, and keep runs from overlapping with a concurrency group\)$/
      )
      expect(waits).toEqual([60000])
      expect(forge.requests.filter(q => q.method === 'GET')).toHaveLength(2)
    })
  })

  test('with Retry-After or an exhausted quota the headers decide, as before', async () => {
    await withForge({ kind: 'github' }, async forge => {
      const waits: number[] = []
      const c = client('github', forge, TOKEN, { wait: recordWait(waits), timeoutMs: 20000 })
      forge.failNext({ method: 'GET' }, [githubSecondaryRateLimited(0.3)])
      expect(await c.findOpenPull('update-a', 'main')).toBeUndefined()
      expect(waits).toEqual([300])
    })
  })
})

describe('Forgejo: scopes, organisation labels, null entries, merge refusals', () => {
  test('a token without the issue scope opens the pull request; labels fail naming the scope', async () => {
    await withForge(
      { kind: 'forgejo', labels: ['dependencies'], tokenScopes: ['write:repository'] },
      async forge => {
        const c = client('forgejo', forge)
        const { pull, created } = await c.createPull({
          head: 'update-a',
          base: 'main',
          title: 't',
          body: 'b'
        })
        expect(created).toBe(true)
        await expect(c.addLabels(pull.number, ['dependencies'])).rejects.toThrow(
          /^Listing labels failed: GET \/repos\/infra\/fleet\/labels\?\S+ answered 403: token does not have at least one of required scope\(s\): \[read:issue\]\. Forgejo keeps labels under the token scope write:issue \(the token lacks read:issue\): add that scope to the token, or leave 'pr-labels' empty$/
        )
        expect(forge.pulls[0].labels).toEqual([])
      }
    )
  })

  test('organisation labels are found too; without read:organization a warning, repository labels still', async () => {
    await withForge({ kind: 'forgejo', labels: ['nix'], orgLabels: ['dependencies'] }, async forge => {
      const c = client('forgejo', forge)
      const { pull } = await c.createPull({ head: 'update-a', base: 'main', title: 't', body: 'b' })
      expect(await c.addLabels(pull.number, ['dependencies', 'nix'])).toEqual([])
      expect(forge.pulls[0].labels.sort()).toEqual(['dependencies', 'nix'])
      expect(forge.requests.some(q => q.path === '/api/v1/orgs/infra/labels')).toBe(true)
    })
    await withForge(
      {
        kind: 'forgejo',
        labels: ['nix'],
        orgLabels: ['dependencies'],
        tokenScopes: ['write:repository', 'write:issue']
      },
      async forge => {
        const log = new MemoryLog()
        const c = client('forgejo', forge, TOKEN, {}, log)
        const { pull } = await c.createPull({ head: 'update-a', base: 'main', title: 't', body: 'b' })
        expect(await c.addLabels(pull.number, ['dependencies', 'nix'])).toEqual(['dependencies'])
        expect(log.warnings.map(w => w.message)).toContain(
          'Organisation labels of infra not read: the token lacks the scope read:organization (read:organization); repository labels only'
        )
        expect(forge.pulls[0].labels).toEqual(['nix'])
      }
    )
  })

  test('the organisation is asked only for names the repository lacks; a user owner answers 404, no warning', async () => {
    await withForge(
      { kind: 'forgejo', labels: ['nix'], tokenScopes: ['write:repository', 'write:issue'] },
      async forge => {
        const c = client('forgejo', forge)
        const { pull } = await c.createPull({ head: 'update-a', base: 'main', title: 't', body: 'b' })
        // All found in the repository: no organisation request, so no scope warning either.
        expect(await c.addLabels(pull.number, ['nix'])).toEqual([])
        expect(forge.pulls[0].labels).toEqual(['nix'])
        expect(forge.requests.some(q => q.path.startsWith('/api/v1/orgs/'))).toBe(false)
      }
    )
    await withForge({ kind: 'forgejo', labels: ['nix'] }, async forge => {
      const log = new MemoryLog()
      const c = client('forgejo', forge, TOKEN, {}, log)
      const { pull } = await c.createPull({ head: 'update-a', base: 'main', title: 't', body: 'b' })
      expect(await c.addLabels(pull.number, ['nix', 'elsewhere'])).toEqual(['elsewhere'])
      expect(log.warnings.map(w => w.message)).toEqual([
        'Labels not found in infra/fleet, not added: elsewhere'
      ])
      expect(forge.requests.some(q => q.path === '/api/v1/orgs/infra/labels')).toBe(true)
    })
  })

  test('null entries in the pull request list are skipped', async () => {
    await withForge({ kind: 'forgejo' }, async forge => {
      const c = client('forgejo', forge)
      const a = await c.createPull({ head: 'update-a', base: 'main', title: 'a', body: '' })
      const b = await c.createPull({ head: 'update-b', base: 'main', title: 'b', body: '' })
      forge.failToLoad(b.pull.number)
      const list = await new ApiClient(forge.apiUrl, TOKEN, FAST).request(
        'List',
        'GET',
        '/repos/infra/fleet/pulls'
      )
      expect(list.body).toEqual([null, expect.objectContaining({ number: a.pull.number })])
      expect(await c.findOpenPull('update-a', 'main')).toMatchObject({ number: a.pull.number })
      expect(await c.findOpenPull('update-b', 'main')).toBeUndefined()
    })
  })

  test('405s other than "Please try again later" are final at once, with the forge text and a hint', async () => {
    await withForge({ kind: 'forgejo', mergeRefusal: 'User not allowed to merge PR' }, async forge => {
      const c = client('forgejo', forge)
      const { pull } = await c.createPull({ head: 'update-a', base: 'main', title: 't', body: 'b' })
      await expect(c.enableAutoMerge(pull, 'auto')).rejects.toThrow(
        new AutoMergeRefusal(
          `Scheduling auto-merge failed: POST /repos/infra/fleet/pulls/${pull.number}/merge answered 405: User not allowed to merge PR: the token's account may not merge into the base branch (repository permissions or the branch protection's merge allow-list)`
        )
      )
      expect(forge.requests.filter(q => q.method === 'POST' && /\/merge$/.test(q.path))).toHaveLength(1)
    })
    await withForge({ kind: 'forgejo' }, async forge => {
      const c = client('forgejo', forge)
      const { pull } = await c.createPull({ head: 'update-a', base: 'main', title: 'WIP: t', body: 'b' })
      await expect(c.enableAutoMerge(pull, 'auto')).rejects.toThrow(
        /answered 405: Work in progress PRs cannot be merged: the title marks the pull request as work in progress$/
      )
    })
  })

  test('"Please try again later" is retried for a bounded number of attempts', async () => {
    await withForge({ kind: 'forgejo', mergeableAfter: 100 }, async forge => {
      const c = client('forgejo', forge)
      const { pull } = await c.createPull({ head: 'update-a', base: 'main', title: 't', body: 'b' })
      await expect(c.enableAutoMerge(pull, 'auto')).rejects.toThrow(
        /answered 405: Please try again later \(still after 4 attempts\): Forgejo had not finished checking/
      )
      expect(forge.requests.filter(q => q.method === 'POST' && /\/merge$/.test(q.path))).toHaveLength(4)
    })
  })

  test("the automatic token: creation answers 404 with Forgejo's text; the error gives the compare URL", async () => {
    await withForge({ kind: 'forgejo', automaticToken: true }, async forge => {
      await expect(
        client('forgejo', forge).createPull({ head: 'update-a', base: 'main', title: 't', body: 'b' })
      ).rejects.toThrow(
        `Creating the pull request failed: POST /repos/infra/fleet/pulls answered 404: Can't read pulls or can't read UnitTypeCode. The token cannot open pull requests here (Forgejo's automatic workflow token is refused for this): use a bot account's token. The branch update-a is pushed; open the pull request by hand: ${forge.serverUrl}/infra/fleet/compare/main...update-a`
      )
    })
  })
})
