import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { ActionRun, runAction } from './fixtures/action'
import { checkoutOnForge, forgeEnv, syncCheckout } from './fixtures/checkout'
import { cacheContents, closure, generateKey } from './fixtures/cache'
import { REVIEW_CONTEXT, REVIEW_MARKER } from '../src/modes/review'
import {
  Fleet,
  HostSpec,
  createFleet,
  examplePackageSets,
  fleetFlake,
  git,
  uniquePackageSet
} from '../testkit/fleet'
import { ForgeKind, TestForge, startForge } from '../testkit/forge/server'

const OWNER = 'infra'
const REPO = 'fleet'
const TOKEN = 'tok_review_3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c1e'

const HOSTS: HostSpec[] = [
  { name: 'web', packages: ['curl', 'htop'], services: ['nginx'] },
  { name: 'db', packages: ['htop', 'rsync'], services: ['postgresql'] },
  { name: 'mail', packages: ['curl'], services: ['postfix'] }
]

/** A host whose system evaluates and fails to build (its builder exits 1). */
function broken(name: string, salt: string): HostSpec {
  return {
    name,
    expr: `{ config.system.build.toplevel = builtins.derivation { name = "nixos-system-${name}-broken"; system = "x86_64-linux"; builder = "/bin/sh"; salt = "${salt}"; args = [ "-c" "echo the schema check of ${name} fails >&2; exit 1" ]; }; }`
  }
}

interface Setup {
  fleet: Fleet
  bare: string
  checkout: string
  forge: TestForge
  salt: string
}

/** Commits `hosts` as the fleet's flake.nix on `branch` (from main, or the branch's tip) and pushes it. */
function pushBranch(s: Setup, branch: string, hosts: HostSpec[], message: string): string {
  const dir = s.fleet.fleetDir
  const exists = git(dir, ['branch', '--list', branch]).trim() !== ''
  git(dir, ['checkout', '-q', ...(exists ? [branch] : ['-b', branch, 'main'])])
  fs.writeFileSync(path.join(dir, 'flake.nix'), fleetFlake(s.fleet.pkgsDir, hosts))
  git(dir, ['commit', '-qam', message])
  const sha = git(dir, ['rev-parse', 'HEAD']).trim()
  git(dir, ['push', '-q', '-f', s.bare, `HEAD:refs/heads/${branch}`])
  git(dir, ['checkout', '-q', 'main'])
  return sha
}

/** The pull_request event's payload, as both forges write it; `fork` names another head repository. */
function pullEvent(
  dir: string,
  pull: { number: number; base: string; head: string; branch: string },
  fork = false
): Record<string, string> {
  const file = path.join(dir, `event-${pull.number}-${pull.head.slice(0, 8)}.json`)
  const repo = { full_name: `${OWNER}/${REPO}`, default_branch: 'main' }
  fs.writeFileSync(
    file,
    JSON.stringify({
      action: 'synchronize',
      number: pull.number,
      pull_request: {
        number: pull.number,
        base: { ref: 'main', sha: pull.base, repo },
        head: {
          ref: pull.branch,
          sha: pull.head,
          repo: fork ? { full_name: `contributor/${REPO}`, default_branch: 'main' } : repo
        }
      },
      repository: repo
    })
  )
  return { GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: file }
}

function reviewComments(forge: TestForge, pull: number): { id: number; body: string }[] {
  return forge.comments.filter(c => c.issue === pull && c.body.includes(REVIEW_MARKER))
}

function reviewStatuses(forge: TestForge, sha: string): string[] {
  return forge.statuses.statuses.filter(s => s.sha === sha && s.context === REVIEW_CONTEXT).map(s => s.state)
}

describe.each(['github', 'forgejo'] as ForgeKind[])('review mode on %s', kind => {
  let s: Setup
  let dir: string
  let base: string
  let env: Record<string, string>

  beforeAll(async () => {
    const salt = `review-${kind}-${process.pid}-${Date.now()}`
    const fleet = createFleet(uniquePackageSet(examplePackageSets().before, salt), HOSTS)
    const c = await checkoutOnForge(fleet, { kind, owner: OWNER, repo: REPO, token: TOKEN })
    s = { fleet, bare: c.bare, checkout: c.checkout, forge: c.forge, salt }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-review-'))
    base = git(fleet.fleetDir, ['rev-parse', 'HEAD']).trim()
    env = forgeEnv(s.forge, { owner: OWNER, repo: REPO, kind }, '7')
  })
  afterAll(async () => {
    await s.forge.close()
    s.fleet.remove()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  function review(
    pull: { number: number; head: string; branch: string },
    extra: Record<string, string> = {}
  ) {
    return runAction(
      s.checkout,
      { token: TOKEN, 'base-branch': 'main' },
      { ...env, ...pullEvent(dir, { ...pull, base }), ...extra }
    )
  }

  let changeWeb: { number: number; branch: string; head: string }
  let first: ActionRun

  test('a pull request that changes one host lists only that host, in one comment, with a success status', async () => {
    const branch = 'web-rsync'
    const head = pushBranch(
      s,
      branch,
      HOSTS.map(h => (h.name === 'web' ? { ...h, packages: ['curl', 'htop', 'rsync'] } : h)),
      'web: add rsync'
    )
    const pull = s.forge.openPull(branch, 'main', 'web: add rsync')
    changeWeb = { number: pull.number, branch, head }
    first = await review(changeWeb)
    expect(first.exitCode).toBe(0)
    expect(first.log).toContain('Mode: review (chosen from the event pull_request)')
    expect(JSON.parse(first.outputs.hosts)).toEqual(['web'])
    expect(first.outputs.changed).toBe('true')
    expect(first.outputs['regressed-hosts']).toBe('[]')
    const comments = reviewComments(s.forge, pull.number)
    expect(comments).toHaveLength(1)
    const body = comments[0].body
    expect(body.startsWith(`${REVIEW_MARKER}\n## NixOS fleet review: 1 host changed`)).toBe(true)
    expect(body).toContain('2 unchanged (same system derivation, not built)')
    expect(body).toContain('| web | ✅ updated | 0 | 0 | 1 | 0 |')
    expect(body).toContain('rsync')
    expect(body).not.toMatch(/\| (db|mail) \|/)
    expect(first.outputs['comment-url']).toMatch(
      new RegExp(`/${OWNER}/${REPO}/pulls?/${pull.number}#issuecomment-${comments[0].id}$`)
    )
    // The job summary has the report too, with the phase timings the comment leaves out.
    expect(first.summary).toContain('## NixOS fleet review: 1 host changed')
    expect(reviewStatuses(s.forge, head)).toEqual(['success'])
    // The hosts whose derivation did not change were evaluated, never built: their systems are not in the report.
    const json = JSON.parse(fs.readFileSync(first.outputs['report-json'], 'utf8')) as {
      hosts: { host: string }[]
      review: { unchanged: number }
    }
    expect(json.hosts.map(h => h.host)).toEqual(['web'])
    expect(json.review.unchanged).toBe(2)
    // The worktrees are gone.
    expect(git(s.checkout, ['worktree', 'list']).trim().split('\n')).toHaveLength(1)
  })

  test('a second push edits the same comment in place', async () => {
    const head = pushBranch(
      s,
      changeWeb.branch,
      HOSTS.map(h => (h.name === 'web' ? { ...h, packages: ['curl', 'htop', 'rsync', 'swww'] } : h)),
      'web: add swww'
    )
    const before = reviewComments(s.forge, changeWeb.number).map(c => ({ ...c }))
    const r = await review({ ...changeWeb, head })
    expect(r.exitCode).toBe(0)
    const after = reviewComments(s.forge, changeWeb.number)
    expect(after).toHaveLength(1)
    expect(after[0].id).toBe(before[0].id)
    expect(after[0].body).toContain('swww')
    expect(after[0].body).not.toBe(before[0].body)
    expect(r.outputs['comment-url']).toBe(first.outputs['comment-url'])
    expect(r.log).toContain('Review comment updated')
    const edits = s.forge.requests.filter(q => q.method === 'PATCH' && q.path.includes('/issues/comments/'))
    expect(edits).toHaveLength(1)
    expect(reviewStatuses(s.forge, head)).toEqual(['success'])
  })

  test('a pull request that breaks a host sets the failure status and fails the step', async () => {
    const branch = 'db-broken'
    const head = pushBranch(
      s,
      branch,
      HOSTS.map(h => (h.name === 'db' ? broken('db', s.salt) : h)),
      'db: new schema check'
    )
    const pull = s.forge.openPull(branch, 'main', 'db: new schema check')
    const r = await review({ number: pull.number, head, branch })
    expect(r.exitCode).toBe(1)
    expect(r.outputs['regressed-hosts']).toBe('["db"]')
    expect(r.log).toContain('Hosts that build at the base fail at the head: db')
    expect(reviewStatuses(s.forge, head)).toEqual(['failure'])
    const comments = reviewComments(s.forge, pull.number)
    expect(comments).toHaveLength(1)
    expect(comments[0].body).toContain('| db | ❌ regressed |')
    expect(comments[0].body).toContain('build failed at the head')
    expect(comments[0].body).toContain('the schema check of db fails')
  })

  test('a push to main with push-to fills the binary cache and opens nothing', async () => {
    const cache = path.join(dir, 'cache')
    const key = generateKey(dir, 'fleet-review-1')
    syncCheckout({ bare: s.bare, checkout: s.checkout })
    const event = path.join(dir, 'push.json')
    fs.writeFileSync(
      event,
      JSON.stringify({
        ref: 'refs/heads/main',
        before: '0'.repeat(40),
        after: base,
        repository: { full_name: `${OWNER}/${REPO}`, default_branch: 'main' }
      })
    )
    const pulls = s.forge.pulls.length
    const comments = s.forge.comments.length
    const branches = git(s.bare, ['branch', '--list']).trim()
    const requests = s.forge.requests.length
    const r = await runAction(
      s.checkout,
      { token: TOKEN, 'base-branch': 'main', 'push-to': `file://${cache}`, 'push-signing-key': key.secret },
      { ...env, GITHUB_EVENT_NAME: 'push', GITHUB_EVENT_PATH: event }
    )
    expect(r.exitCode).toBe(0)
    expect(r.log).toContain('Mode: cache (chosen from the event push)')
    expect(r.outputs['push-status']).toBe('pushed')
    const json = JSON.parse(fs.readFileSync(r.outputs['report-json'], 'utf8')) as {
      hosts: { host: string; after?: { status: string; outPath?: string } }[]
    }
    const systems = json.hosts.map(h => h.after?.outPath as string)
    expect(json.hosts.map(h => h.after?.status)).toEqual(['built', 'built', 'built'])
    expect([...cacheContents(cache).keys()].sort()).toEqual(closure(systems).sort())
    expect(r.summary).toContain(`## NixOS fleet cache: 3 of 3 hosts built at \`${base.slice(0, 12)}\``)
    // Nothing opened, commented, pushed or asked of the forge's API.
    expect(s.forge.pulls.length).toBe(pulls)
    expect(s.forge.comments.length).toBe(comments)
    expect(git(s.bare, ['branch', '--list']).trim()).toBe(branches)
    expect(s.forge.requests.slice(requests).filter(q => q.method !== 'GET')).toEqual([])
  })

  test('a pull request from a fork: built, summarised, said once that it could not write, not failed', async () => {
    // The same repository served by a forge whose token is the fork run's read-only workflow token.
    const fork = await startForge({
      kind,
      owner: OWNER,
      repo: REPO,
      token: TOKEN,
      bareRepo: s.bare,
      forkPullRequestToken: true,
      ...(kind === 'forgejo' ? { automaticToken: true } : {})
    })
    try {
      const branch = 'mail-from-fork'
      const head = pushBranch(
        s,
        branch,
        HOSTS.map(h => (h.name === 'mail' ? { ...h, packages: ['curl', 'htop'] } : h)),
        'mail: add htop'
      )
      const pull = fork.openPull(branch, 'main', 'mail: add htop')
      const r = await runAction(
        s.checkout,
        { token: TOKEN, 'base-branch': 'main' },
        {
          ...forgeEnv(fork, { owner: OWNER, repo: REPO, kind }, '8'),
          ...pullEvent(dir, { number: pull.number, base, head, branch }, true)
        }
      )
      expect(r.exitCode).toBe(0)
      expect(JSON.parse(r.outputs.hosts)).toEqual(['mail'])
      expect(r.summary).toContain('## NixOS fleet review: 1 host changed')
      expect(r.summary).toContain('| mail | ✅ updated |')
      expect(reviewStatuses(fork, head)).toEqual([])
      const said = r.log.split('\n').filter(l => l.includes('pull requests from forks get a read-only token'))
      expect(said).toHaveLength(1)
      expect(r.log).not.toContain('::error::')
      if (kind === 'github') {
        // GitHub's read-only token may neither comment nor set a status.
        expect(reviewComments(fork, pull.number)).toHaveLength(0)
        expect(r.outputs['comment-url']).toBe('')
        expect(said[0]).toContain(
          `Could not comment or set the commit status on pull request #${pull.number}`
        )
      } else {
        // Forgejo's read-only task token may comment (CreateIssueComment only checks read access), not set a status.
        expect(reviewComments(fork, pull.number)).toHaveLength(1)
        expect(said[0]).toContain(`Could not set the commit status on pull request #${pull.number}`)
      }
    } finally {
      await fork.close()
    }
  })

  test('a token that may only read: summary written, no comment, no status, said once, not failed', async () => {
    // GitHub: a workflow with `permissions: read-all`; Forgejo: a token with read scopes only.
    const readOnly = await startForge({
      kind,
      owner: OWNER,
      repo: REPO,
      token: TOKEN,
      bareRepo: s.bare,
      ...(kind === 'forgejo'
        ? { tokenScopes: ['read:repository', 'read:issue'] }
        : { forkPullRequestToken: true })
    })
    try {
      const pull = readOnly.openPull(changeWeb.branch, 'main', 'web: add rsync and swww')
      const head = git(s.bare, ['rev-parse', `refs/heads/${changeWeb.branch}`]).trim()
      const r = await runAction(
        s.checkout,
        { token: TOKEN, 'base-branch': 'main' },
        {
          ...forgeEnv(readOnly, { owner: OWNER, repo: REPO, kind }, '9'),
          ...pullEvent(dir, { number: pull.number, base, head, branch: changeWeb.branch })
        }
      )
      expect(r.exitCode).toBe(0)
      expect(r.summary).toContain('| web | ✅ updated |')
      expect(readOnly.comments).toHaveLength(0)
      expect(reviewStatuses(readOnly, head)).toEqual([])
      expect(r.outputs['comment-url']).toBe('')
      const said = r.log.split('\n').filter(l => l.includes('the token may not write to this repository'))
      expect(said).toHaveLength(1)
      expect(said[0]).toContain(`Could not comment or set the commit status on pull request #${pull.number}`)
    } finally {
      await readOnly.close()
    }
  })
})
