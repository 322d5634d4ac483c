import { execFile, execFileSync } from 'child_process'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { ForgeKind, ForgeOptions, TestForge, startForge } from '../testkit/forge/server'

const TOKEN = 'forge-test-token'
const OWNER = 'fleet-owner'
const REPO = 'fleet'

// Isolated from the user's and the system's git configuration, and never prompting for credentials.
const gitEnv: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_TERMINAL_PROMPT: '0',
  GIT_ASKPASS: '',
  SSH_ASKPASS: '',
  GIT_AUTHOR_NAME: 'Fleet Bot',
  GIT_AUTHOR_EMAIL: 'bot@example.invalid',
  GIT_COMMITTER_NAME: 'Fleet Bot',
  GIT_COMMITTER_EMAIL: 'bot@example.invalid'
}

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    env: gitEnv,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe']
  }).trim()
}

// The forge runs in this process: a git command that talks to it must not block the event loop.
function gitNet(cwd: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, env: gitEnv, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`git ${args.join(' ')}: ${stderr}`))
      else resolve(stdout.trim())
    })
  })
}

async function gitNetFails(cwd: string, ...args: string[]): Promise<boolean> {
  try {
    await gitNet(cwd, ...args)
    return false
  } catch {
    return true
  }
}

interface ApiResponse {
  status: number
  headers: Headers
  json: unknown
  text: string
}

async function call(
  forge: TestForge,
  method: string,
  route: string,
  body?: unknown,
  auth: string | null = `token ${TOKEN}`,
  base = forge.apiUrl
): Promise<ApiResponse> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (auth !== null) headers.Authorization = auth
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  const res = await fetch(`${base}${route}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await res.text()
  let json: unknown = undefined
  try {
    json = text ? (JSON.parse(text) as unknown) : undefined
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, json, text }
}

function field(v: unknown, ...keys: (string | number)[]): unknown {
  let cur = v
  for (const k of keys) {
    if (typeof cur !== 'object' || cur === null) return undefined
    cur = (cur as Record<string | number, unknown>)[k]
  }
  return cur
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : []
}

describe.each<ForgeKind>(['github', 'forgejo'])('test forge (%s)', kind => {
  let tmp: string
  let bare: string
  let work: string
  let forge: TestForge
  const repoPath = `/repos/${OWNER}/${REPO}`
  const authedUrl = (): string => forge.gitUrl.replace('http://', `http://x-access-token:${TOKEN}@`)

  // A branch with one new commit on top of the forge's current main, pushed over HTTP.
  async function pushBranch(branch: string, file = `${branch}.txt`): Promise<string> {
    await gitNet(work, 'fetch', '-q', authedUrl(), 'main')
    git(work, 'checkout', '-q', '-B', branch, 'FETCH_HEAD')
    fs.writeFileSync(path.join(work, file), `${branch} ${Date.now()} ${Math.random()}\n`)
    git(work, 'add', file)
    git(work, 'commit', '-q', '-m', `change on ${branch}`)
    await gitNet(work, 'push', '-q', '--force', authedUrl(), `${branch}:refs/heads/${branch}`)
    return git(work, 'rev-parse', 'HEAD')
  }

  const createPull = (head: string, extra: Record<string, unknown> = {}): Promise<ApiResponse> =>
    call(forge, 'POST', `${repoPath}/pulls`, {
      title: `Update ${head}`,
      head,
      base: 'main',
      body: 'report',
      ...extra
    })

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), `forge-${kind}-`))
    fs.mkdirSync(path.join(tmp, 'srv'))
    bare = path.join(tmp, 'srv', `${REPO}.git`)
    git(tmp, 'init', '-q', '--bare', '-b', 'main', bare)
    forge = await startForge({
      kind,
      bareRepo: bare,
      owner: OWNER,
      repo: REPO,
      token: TOKEN,
      labels: ['dependencies', 'automerge', 'nixos'],
      mergeableAfter: 2
    })
    work = path.join(tmp, 'work')
    git(tmp, 'init', '-q', '-b', 'main', work)
    fs.writeFileSync(path.join(work, 'flake.lock'), '{}\n')
    git(work, 'add', 'flake.lock')
    git(work, 'commit', '-q', '-m', 'initial')
    await gitNet(work, 'push', '-q', authedUrl(), 'main')
  })

  afterAll(async () => {
    await forge.close()
    fs.rmSync(tmp, { recursive: true, force: true })
  })

  test('URLs have the forge layout', () => {
    expect(forge.serverUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(forge.apiUrl).toBe(kind === 'github' ? forge.serverUrl : `${forge.serverUrl}/api/v1`)
    expect(forge.gitUrl).toBe(`${forge.serverUrl}/${OWNER}/${REPO}.git`)
  })

  test('git smart HTTP clones and pushes with the token and refuses without it', async () => {
    const clone = path.join(tmp, 'clone')
    await gitNet(tmp, 'clone', '-q', authedUrl(), clone)
    expect(fs.readFileSync(path.join(clone, 'flake.lock'), 'utf8')).toBe('{}\n')
    fs.writeFileSync(path.join(clone, 'extra'), 'x\n')
    git(clone, 'add', 'extra')
    git(clone, 'commit', '-q', '-m', 'extra')
    await gitNet(clone, 'push', '-q', 'origin', 'HEAD:refs/heads/from-clone')
    expect(git(bare, 'rev-parse', 'refs/heads/from-clone')).toBe(git(clone, 'rev-parse', 'HEAD'))

    expect(await gitNetFails(tmp, 'ls-remote', forge.gitUrl)).toBe(true)
    expect(
      await gitNetFails(tmp, 'ls-remote', forge.gitUrl.replace('http://', 'http://x-access-token:wrong@'))
    ).toBe(true)
    expect(await gitNetFails(clone, 'push', '-q', forge.gitUrl, 'HEAD:refs/heads/anonymous')).toBe(true)
    expect(git(bare, 'for-each-ref', 'refs/heads/anonymous')).toBe('')
    // Git traffic is not API traffic.
    expect(forge.requests.some(r => r.path.includes('.git'))).toBe(false)
  })

  test('the API demands the token and records every request', async () => {
    const before = forge.requests.length
    const missing = await call(forge, 'GET', repoPath, undefined, null)
    const wrong = await call(forge, 'GET', repoPath, undefined, 'token nope')
    expect(missing.status).toBe(401)
    expect(wrong.status).toBe(401)
    if (kind === 'github') {
      expect(field(wrong.json, 'message')).toBe('Bad credentials')
      expect(field(wrong.json, 'documentation_url')).toBe('https://docs.github.com/rest')
    } else {
      expect(field(missing.json, 'message')).toBe('token is required')
      expect(field(wrong.json, 'message')).toBe('user does not exist [uid: 0, name: ]')
    }
    const oddScheme = await call(forge, 'GET', repoPath, undefined, `Token ${TOKEN}`)
    // GitHub reads the scheme case-insensitively, Forgejo only knows lower-case `token`.
    expect(oddScheme.status).toBe(kind === 'github' ? 200 : 401)
    if (kind === 'forgejo') {
      expect((await call(forge, 'GET', `${repoPath}?access_token=${TOKEN}`, undefined, null)).status).toBe(
        200
      )
    }
    const bearer = await call(forge, 'GET', repoPath, undefined, `Bearer ${TOKEN}`)
    expect(bearer.status).toBe(200)
    expect(bearer.headers.get('content-type')).toMatch(/^application\/json/)
    expect(field(bearer.json, 'default_branch')).toBe('main')
    expect(field(bearer.json, 'full_name')).toBe(`${OWNER}/${REPO}`)
    const recorded = forge.requests.slice(before)
    expect(recorded.map(r => r.headers.authorization)).toEqual([
      undefined,
      'token nope',
      `Token ${TOKEN}`,
      ...(kind === 'forgejo' ? [undefined] : []),
      `Bearer ${TOKEN}`
    ])
    expect(recorded[0].path).toBe(`${kind === 'github' ? '' : '/api/v1'}${repoPath}`)
  })

  test('creating a pull request, a duplicate and one for an unpushed branch', async () => {
    const sha = await pushBranch('update-a')
    const created = await createPull('update-a')
    expect(created.status).toBe(201)
    const number = field(created.json, 'number')
    expect(typeof number).toBe('number')
    expect(field(created.json, 'state')).toBe('open')
    expect(field(created.json, 'head', 'ref')).toBe('update-a')
    expect(field(created.json, 'head', 'sha')).toBe(sha)
    expect(field(created.json, 'base', 'ref')).toBe('main')
    expect(field(created.json, 'head', 'repo', 'full_name')).toBe(`${OWNER}/${REPO}`)
    expect(field(created.json, 'html_url')).toBe(
      `${forge.serverUrl}/${OWNER}/${REPO}/${kind === 'github' ? 'pull' : 'pulls'}/${String(number)}`
    )
    const pull = forge.pulls.find(p => p.number === number)
    expect(pull).toMatchObject({
      title: 'Update update-a',
      body: 'report',
      state: 'open',
      merged: false,
      headSha: sha
    })

    const dup = await createPull('update-a')
    if (kind === 'github') {
      expect(dup.status).toBe(422)
      expect(field(dup.json, 'message')).toBe('Validation Failed')
      expect(field(dup.json, 'errors', 0)).toEqual({
        resource: 'PullRequest',
        code: 'custom',
        message: `A pull request already exists for ${OWNER}:update-a.`
      })
    } else {
      expect(dup.status).toBe(409)
      const message = String(field(dup.json, 'message'))
      expect(message).toMatch(/^pull request already exists for these targets \[id: \d+, issue_id: \d+, /)
      expect(message).toContain('head_branch: update-a, base_branch: main]')
      expect(/issue_id: (\d+)/.exec(message)?.[1]).toBe(String(number))
    }

    const ghost = await createPull('never-pushed')
    if (kind === 'github') {
      expect(ghost.status).toBe(422)
      expect(field(ghost.json, 'errors', 0)).toEqual({
        resource: 'PullRequest',
        field: 'head',
        code: 'invalid'
      })
    } else {
      expect(ghost.status).toBe(404)
      expect(field(ghost.json, 'errors', 0)).toBe(
        `could not find 'never-pushed' to be a commit, branch or tag in the head repository ${OWNER}/${REPO}`
      )
    }

    // A new push moves an open pull request's head.
    const moved = await pushBranch('update-a', 'second.txt')
    expect(forge.pulls.find(p => p.number === number)?.headSha).toBe(moved)

    const edited = await call(forge, 'PATCH', `${repoPath}/pulls/${String(number)}`, {
      title: 'Renamed',
      body: 'new'
    })
    expect(edited.status).toBe(kind === 'github' ? 200 : 201)
    expect(field(edited.json, 'title')).toBe('Renamed')
    expect(forge.pulls.find(p => p.number === number)?.body).toBe('new')
  })

  test('a branch without new commits', async () => {
    await gitNet(work, 'fetch', '-q', authedUrl(), 'main')
    await gitNet(work, 'push', '-q', '--force', authedUrl(), 'FETCH_HEAD:refs/heads/no-change')
    const res = await createPull('no-change')
    if (kind === 'github') {
      expect(res.status).toBe(422)
      expect(field(res.json, 'errors', 0, 'message')).toBe('No commits between main and no-change')
    } else {
      // Forgejo accepts an empty pull request.
      expect(res.status).toBe(201)
      forge.closePull(Number(field(res.json, 'number')))
    }
  })

  test('list filters and pagination', async () => {
    await pushBranch('list-1')
    await pushBranch('list-2')
    const one = Number(field((await createPull('list-1')).json, 'number'))
    const two = Number(field((await createPull('list-2')).json, 'number'))
    forge.closePull(one)

    const open = await call(forge, 'GET', `${repoPath}/pulls?state=open&per_page=100&limit=50`)
    const openNumbers = list(open.json).map(p => field(p, 'number'))
    expect(openNumbers).toContain(two)
    expect(openNumbers).not.toContain(one)

    const closed = await call(forge, 'GET', `${repoPath}/pulls?state=closed`)
    expect(list(closed.json).map(p => field(p, 'number'))).toContain(one)

    const byHead = await call(forge, 'GET', `${repoPath}/pulls?state=all&head=${OWNER}:list-2`)
    if (kind === 'github') {
      expect(list(byHead.json).map(p => field(p, 'number'))).toEqual([two])
      const bare = await call(forge, 'GET', `${repoPath}/pulls?state=all&head=list-2`)
      // Without `owner:` the filter is ignored.
      expect(list(bare.json).length).toBe(forge.pulls.length)
      const otherBase = await call(forge, 'GET', `${repoPath}/pulls?state=all&base=release`)
      expect(list(otherBase.json)).toEqual([])
    } else {
      // Forgejo ignores `head` entirely.
      expect(list(byHead.json).length).toBe(forge.pulls.length)
      const all = await call(forge, 'GET', `${repoPath}/pulls`)
      expect(list(all.json).length).toBe(forge.pulls.length)
    }

    const sizeParam = kind === 'github' ? 'per_page' : 'limit'
    const page1 = await call(forge, 'GET', `${repoPath}/pulls?state=all&${sizeParam}=1`)
    expect(list(page1.json).length).toBe(1)
    const link = page1.headers.get('link') ?? ''
    expect(link).toMatch(/rel="next"/)
    if (kind === 'forgejo') expect(page1.headers.get('x-total-count')).toBe(String(forge.pulls.length))
    const next = /<([^>]+)>; rel="next"/.exec(link)?.[1] ?? ''
    const page2 = await call(forge, 'GET', '', undefined, `token ${TOKEN}`, next)
    expect(page2.status).toBe(200)
    expect(list(page2.json).length).toBe(1)
    expect(field(list(page2.json)[0], 'number')).not.toBe(field(list(page1.json)[0], 'number'))
    forge.closePull(two)
  })

  test('mergePull makes a real merge commit and the update branch can be reused', async () => {
    const headSha = await pushBranch('flake-update')
    const first = Number(field((await createPull('flake-update')).json, 'number'))
    forge.mergePull(first)
    git(bare, 'merge-base', '--is-ancestor', headSha, 'refs/heads/main')
    expect(git(bare, 'rev-list', '--parents', '-n', '1', 'refs/heads/main').split(' ')).toHaveLength(3)
    const merged = forge.pulls.find(p => p.number === first)
    expect(merged).toMatchObject({ state: 'closed', merged: true, headSha })
    const got = await call(forge, 'GET', `${repoPath}/pulls/${first}`)
    expect(field(got.json, 'merged')).toBe(true)
    expect(field(got.json, 'merge_commit_sha')).toBe(git(bare, 'rev-parse', 'refs/heads/main'))

    await pushBranch('flake-update', 'round-two.txt')
    const second = await createPull('flake-update')
    expect(second.status).toBe(201)
    const secondNumber = Number(field(second.json, 'number'))
    expect(secondNumber).toBeGreaterThan(first)

    if (kind === 'forgejo') {
      const byPair = await call(forge, 'GET', `${repoPath}/pulls/main/flake-update`)
      expect(byPair.status).toBe(200)
      expect(field(byPair.json, 'number')).toBe(first)
      expect(field(byPair.json, 'merged')).toBe(true)
      const withOwner = await call(forge, 'GET', `${repoPath}/pulls/main/${OWNER}:flake-update`)
      expect(field(withOwner.json, 'number')).toBe(first)
      const none = await call(forge, 'GET', `${repoPath}/pulls/main/nothing-here`)
      expect(none.status).toBe(404)
    }
    forge.closePull(secondNumber)
  })

  test('labels', async () => {
    await pushBranch('labelled')
    if (kind === 'forgejo') {
      const page = await call(forge, 'GET', `${repoPath}/labels?limit=2&page=1`)
      expect(page.headers.get('x-total-count')).toBe('3')
      expect(list(page.json).map(l => field(l, 'name'))).toEqual(['dependencies', 'automerge'])
      const page2 = await call(forge, 'GET', `${repoPath}/labels?limit=2&page=2`)
      expect(list(page2.json).map(l => field(l, 'name'))).toEqual(['nixos'])
      const ids = forge.labels.filter(l => l.name !== 'automerge').map(l => l.id)
      const res = await createPull('labelled', { labels: [...ids, 9999], assignees: [OWNER] })
      expect(res.status).toBe(201)
      // Unknown IDs are dropped, as Forgejo does.
      expect(list(field(res.json, 'labels')).map(l => field(l, 'name'))).toEqual(['dependencies', 'nixos'])
      const n = Number(field(res.json, 'number'))
      const added = await call(forge, 'POST', `${repoPath}/issues/${n}/labels`, { labels: ['automerge'] })
      expect(added.status).toBe(200)
      expect(forge.pulls.find(p => p.number === n)?.labels).toEqual(['dependencies', 'nixos', 'automerge'])
      forge.closePull(n)
    } else {
      const res = await createPull('labelled')
      const n = Number(field(res.json, 'number'))
      const added = await call(forge, 'POST', `${repoPath}/issues/${n}/labels`, {
        labels: ['dependencies', 'fresh']
      })
      expect(added.status).toBe(200)
      expect(list(added.json).map(l => field(l, 'name'))).toEqual(['dependencies', 'fresh'])
      expect(forge.labels.map(l => l.name)).toContain('fresh')
      expect(forge.pulls.find(p => p.number === n)?.labels).toEqual(['dependencies', 'fresh'])
      const got = await call(forge, 'GET', `${repoPath}/pulls/${n}`)
      expect(list(field(got.json, 'labels')).map(l => field(l, 'name'))).toEqual(['dependencies', 'fresh'])
      forge.closePull(n)
    }
  })

  test('auto-merge', async () => {
    await pushBranch('auto')
    const res = await createPull('auto')
    const n = Number(field(res.json, 'number'))
    if (kind === 'forgejo') {
      const body = { Do: 'merge', merge_when_checks_succeed: true }
      const a = await call(forge, 'POST', `${repoPath}/pulls/${n}/merge`, body)
      const b = await call(forge, 'POST', `${repoPath}/pulls/${n}/merge`, body)
      expect([a.status, b.status]).toEqual([405, 405])
      expect(field(a.json, 'message')).toBe('Please try again later')
      const c = await call(forge, 'POST', `${repoPath}/pulls/${n}/merge`, body)
      expect(c.status).toBe(201)
      expect(forge.pulls.find(p => p.number === n)).toMatchObject({
        autoMerge: true,
        merged: false,
        state: 'open'
      })
      const d = await call(forge, 'POST', `${repoPath}/pulls/${n}/merge`, body)
      expect(d.status).toBe(409)
      expect(String(field(d.json, 'message'))).toMatch(
        /^pull request is already scheduled to auto merge when checks succeed \[pull_id: \d+\]$/
      )
      const graphql = await call(
        forge,
        'POST',
        '/graphql',
        { query: 'query { viewer { login } }' },
        undefined,
        forge.serverUrl
      )
      expect(graphql.status).toBe(404)
      const gitApi = await call(forge, 'POST', `${repoPath}/git/refs`, { ref: 'refs/heads/x', sha: 'abc' })
      expect(gitApi.status).toBe(405)
    } else {
      const nodeId = String(field(res.json, 'node_id'))
      const mutation = `mutation($pullRequestId: ID!) {
  enablePullRequestAutoMerge(input: { pullRequestId: $pullRequestId, mergeMethod: MERGE }) {
    pullRequest { autoMergeRequest { enabledAt } }
  }
}`
      const ok = await call(forge, 'POST', '/graphql', {
        query: mutation,
        variables: { pullRequestId: nodeId }
      })
      expect(ok.status).toBe(200)
      expect(field(ok.json, 'errors')).toBeUndefined()
      expect(field(ok.json, 'data', 'enablePullRequestAutoMerge', 'pullRequest', 'number')).toBe(n)
      expect(forge.pulls.find(p => p.number === n)?.autoMerge).toBe(true)
      expect(
        field((await call(forge, 'GET', `${repoPath}/pulls/${n}`)).json, 'auto_merge', 'merge_method')
      ).toBe('merge')

      const strict = await startForge({
        kind,
        bareRepo: bare,
        owner: OWNER,
        repo: REPO,
        token: TOKEN,
        autoMergeAllowed: false
      })
      try {
        const pr = await call(strict, 'POST', `${repoPath}/pulls`, { title: 't', head: 'auto', base: 'main' })
        const refused = await call(strict, 'POST', '/graphql', {
          query: mutation,
          variables: { pullRequestId: field(pr.json, 'node_id') }
        })
        expect(refused.status).toBe(200)
        expect(field(refused.json, 'errors', 0, 'type')).toBe('UNPROCESSABLE')
        expect(field(refused.json, 'errors', 0, 'message')).toBe(
          'Auto merge is not allowed for this repository'
        )
        expect(field(refused.json, 'errors', 0, 'path')).toEqual(['enablePullRequestAutoMerge'])
      } finally {
        await strict.close()
      }
    }
    forge.closePull(n)
  })

  test('failNext faults: status, reset, delay, raw body, then normal service', async () => {
    const pullsPath = /\/pulls$/
    forge.failNext({ method: 'GET', path: pullsPath }, [
      { status: 500, body: { message: 'boom' } },
      { reset: true },
      { delayMs: 300 },
      { status: 502, rawBody: '<html><body>Bad Gateway</body></html>' },
      { status: 429, body: { message: 'slow down' }, headers: { 'Retry-After': '1' } }
    ])
    const before = forge.requests.length

    const a = await call(forge, 'GET', `${repoPath}/pulls`)
    expect(a.status).toBe(500)
    expect(a.json).toEqual({ message: 'boom' })

    await expect(call(forge, 'GET', `${repoPath}/pulls`)).rejects.toThrow()

    const start = Date.now()
    const c = await call(forge, 'GET', `${repoPath}/pulls`)
    expect(Date.now() - start).toBeGreaterThanOrEqual(280)
    expect(c.status).toBe(200)

    const d = await call(forge, 'GET', `${repoPath}/pulls`)
    expect(d.status).toBe(502)
    expect(d.text).toContain('Bad Gateway')

    const e = await call(forge, 'GET', `${repoPath}/pulls`)
    expect(e.status).toBe(429)
    expect(e.headers.get('retry-after')).toBe('1')

    // A fault does not leak onto other routes, and the queue empties.
    expect((await call(forge, 'GET', repoPath)).status).toBe(200)
    expect((await call(forge, 'GET', `${repoPath}/pulls`)).status).toBe(200)
    expect(forge.requests.length - before).toBe(7)
  })

  test('unknown routes answer 404 JSON', async () => {
    const res = await call(forge, 'GET', `${repoPath}/nothing`)
    expect(res.status).toBe(404)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    expect(typeof field(res.json, 'message')).toBe('string')
    const missing = await call(forge, 'GET', `${repoPath}/pulls/9999`)
    expect(missing.status).toBe(404)
  })
})

/** A forge of its own over a bare repository with main and one more branch, for one test. */
async function withOwnForge(
  options: Omit<ForgeOptions, 'bareRepo' | 'owner' | 'repo' | 'token'>,
  fn: (forge: TestForge) => Promise<void>
): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'forge-own-'))
  const bare = path.join(tmp, `${REPO}.git`)
  git(tmp, 'init', '-q', '--bare', '-b', 'main', bare)
  const work = path.join(tmp, 'work')
  git(tmp, 'init', '-q', '-b', 'main', work)
  fs.writeFileSync(path.join(work, 'a'), 'a\n')
  git(work, 'add', 'a')
  git(work, 'commit', '-q', '-m', 'a')
  git(work, 'push', '-q', bare, 'main')
  git(work, 'checkout', '-q', '-b', 'topic')
  fs.writeFileSync(path.join(work, 'b'), 'b\n')
  git(work, 'add', 'b')
  git(work, 'commit', '-q', '-m', 'b')
  git(work, 'push', '-q', bare, 'topic')
  const forge = await startForge({ ...options, bareRepo: bare, owner: OWNER, repo: REPO, token: TOKEN })
  try {
    await fn(forge)
  } finally {
    await forge.close()
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

describe('the Forgejo double as Forgejo answers', () => {
  const repoPath = `/repos/${OWNER}/${REPO}`
  const open = (forge: TestForge, title = 'Update'): Promise<ApiResponse> =>
    call(forge, 'POST', `${repoPath}/pulls`, { head: 'topic', base: 'main', title })

  test('token scopes per route group: labels are issue scope, pulls repository scope, GET read and the rest write', async () => {
    await withOwnForge({ kind: 'forgejo', tokenScopes: ['write:repository', 'read:issue'] }, async forge => {
      expect((await open(forge)).status).toBe(201)
      expect((await call(forge, 'GET', `${repoPath}/labels`)).status).toBe(200)
      const add = await call(forge, 'POST', `${repoPath}/issues/1/labels`, { labels: [1] })
      expect(add.status).toBe(403)
      expect(field(add.json, 'message')).toBe(
        'token does not have at least one of required scope(s): [write:issue]'
      )
      const org = await call(forge, 'GET', `/orgs/${OWNER}/labels`)
      expect(field(org.json, 'message')).toBe(
        'token does not have at least one of required scope(s): [read:organization]'
      )
    })
    await withOwnForge({ kind: 'forgejo', tokenScopes: ['write:issue'] }, async forge => {
      const pulls = await call(forge, 'GET', `${repoPath}/pulls`)
      expect([pulls.status, field(pulls.json, 'message')]).toEqual([
        403,
        'token does not have at least one of required scope(s): [read:repository]'
      ])
      // Commit statuses are in the repository group too.
      const status = await call(forge, 'POST', `${repoPath}/statuses/${'0'.repeat(40)}`, { state: 'success' })
      expect(field(status.json, 'message')).toBe(
        'token does not have at least one of required scope(s): [write:repository]'
      )
    })
  })

  test('organisation labels: listed apart, accepted by the add endpoint; a user owner answers 404', async () => {
    await withOwnForge({ kind: 'forgejo', labels: ['nix'], orgLabels: ['dependencies'] }, async forge => {
      await open(forge)
      const org = await call(forge, 'GET', `/orgs/${OWNER}/labels`)
      expect(list(org.json).map(l => field(l, 'name'))).toEqual(['dependencies'])
      const id = field(list(org.json)[0], 'id')
      expect((await call(forge, 'POST', `${repoPath}/issues/1/labels`, { labels: [id, 1] })).status).toBe(200)
      expect(forge.pulls[0].labels.sort()).toEqual(['dependencies', 'nix'])
    })
    await withOwnForge({ kind: 'forgejo' }, async forge => {
      const user = await call(forge, 'GET', `/orgs/${OWNER}/labels`)
      expect(user.status).toBe(404)
      expect(field(user.json, 'message')).toBe('GetOrgByName')
    })
  })

  test('scheduling accepts a forbidden style with 201; the merge then fails in the log only', async () => {
    await withOwnForge({ kind: 'forgejo', mergeStyles: ['squash'] }, async forge => {
      await open(forge)
      const r = await call(forge, 'POST', `${repoPath}/pulls/1/merge`, {
        Do: 'merge',
        merge_when_checks_succeed: true
      })
      expect(r.status).toBe(201)
      expect(forge.runAutoMerge(1)).toBe(false)
      expect(forge.pulls[0].merged).toBe(false)
      expect(forge.serverLog).toEqual([
        'pull_service.Merge: merge strategy is not allowed or is invalid [repo_id: 7, strategy: merge]'
      ])
      // Merging at once checks the style.
      const now = await call(forge, 'POST', `${repoPath}/pulls/1/merge`, { Do: 'merge' })
      expect(now.status).toBe(405)
      expect(field(now.json, 'message')).toBe('merge is not an allowed merge style for this repository')
      const repo = await call(forge, 'GET', repoPath)
      expect(repo.json).toMatchObject({
        allow_merge_commits: false,
        allow_squash_merge: true,
        allow_fast_forward_only_merge: false,
        default_merge_style: 'merge'
      })
    })
  })

  test('the merge endpoint refuses with 405 in CheckPullMergeable order', async () => {
    await withOwnForge({ kind: 'forgejo' }, async forge => {
      await open(forge, 'WIP: update')
      const wip = await call(forge, 'POST', `${repoPath}/pulls/1/merge`, {
        Do: 'merge',
        merge_when_checks_succeed: true
      })
      expect([wip.status, field(wip.json, 'message')]).toEqual([405, 'Work in progress PRs cannot be merged'])
    })
    await withOwnForge({ kind: 'forgejo', mergeRefusal: 'User not allowed to merge PR' }, async forge => {
      await open(forge, 'WIP: update')
      const denied = await call(forge, 'POST', `${repoPath}/pulls/1/merge`, { Do: 'merge' })
      expect([denied.status, field(denied.json, 'message')]).toEqual([405, 'User not allowed to merge PR'])
    })
  })

  test('the automatic token cannot open pull requests; a failed pull request is listed as null', async () => {
    await withOwnForge({ kind: 'forgejo', automaticToken: true }, async forge => {
      const r = await open(forge)
      expect(r.status).toBe(404)
      expect(r.json).toEqual({
        message: "Can't read pulls or can't read UnitTypeCode",
        url: `${forge.serverUrl}/api/swagger`,
        errors: null
      })
    })
    await withOwnForge({ kind: 'forgejo' }, async forge => {
      await open(forge)
      forge.failToLoad(1)
      expect((await call(forge, 'GET', `${repoPath}/pulls`)).json).toEqual([null])
    })
  })
})

describe('the GitHub double as GitHub answers', () => {
  const mutation =
    'mutation($id: ID!, $method: PullRequestMergeMethod!) { enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: $method}) { pullRequest { number } } }'
  const enable = async (forge: TestForge, method: string): Promise<unknown> => {
    const created = await call(forge, 'POST', `/repos/${OWNER}/${REPO}/pulls`, {
      head: 'topic',
      base: 'main',
      title: 't'
    })
    const id = field(created.json, 'node_id')
    const r = await call(
      forge,
      'POST',
      '/graphql',
      { query: mutation, variables: { id, method } },
      undefined,
      forge.serverUrl
    )
    return r.json
  }

  test('mergeMethod is checked against the allowed methods; the allowed one is recorded', async () => {
    await withOwnForge({ kind: 'github', mergeStyles: ['squash'] }, async forge => {
      expect(field(await enable(forge, 'MERGE'), 'errors', 0, 'message')).toBe(
        'Merge method merge commits are not allowed on this repository'
      )
      forge.closePull(1)
      expect(field(await enable(forge, 'SQUASH'), 'errors')).toBeUndefined()
      expect(forge.pulls[1]).toMatchObject({ autoMerge: true, autoMergeMethod: 'squash' })
      const repo = await call(forge, 'GET', `/repos/${OWNER}/${REPO}`)
      expect(repo.json).toMatchObject({
        allow_merge_commit: false,
        allow_squash_merge: true,
        allow_rebase_merge: false
      })
    })
  })

  test('no branch protection, no required check: the refusals GitHub sends', async () => {
    await withOwnForge({ kind: 'github', branchProtection: false }, async forge => {
      expect(field(await enable(forge, 'MERGE'), 'errors', 0, 'message')).toBe(
        'Protected branch rules not configured for this branch'
      )
    })
    await withOwnForge({ kind: 'github', requiredChecks: false }, async forge => {
      expect(field(await enable(forge, 'MERGE'), 'errors', 0, 'message')).toBe(
        'Pull request Pull request is in clean status'
      )
    })
    await withOwnForge({ kind: 'github', hideMergeSettings: true }, async forge => {
      const repo = await call(forge, 'GET', `/repos/${OWNER}/${REPO}`)
      expect(Object.keys(repo.json as object).filter(k => k.startsWith('allow_'))).toEqual([])
    })
  })
})
