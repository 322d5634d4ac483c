import { execFileSync, spawnSync } from 'child_process'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { cleanup } from '../src/cleanup'
import { Git } from '../src/git/git'
import { PublishResult, publish } from '../src/pipeline/publish'
import { makeForge } from '../src/forge/connect'
import { MemoryLog } from '../src/log/log'
import { runnerLog } from '../src/log/runner'
import { Settings, getSettings } from '../src/settings'
import { ActionRun, everything, runAction } from './fixtures/action'
import { checkoutOnForge, forgeEnv, syncCheckout } from './fixtures/checkout'
import { Fleet, PackageSet, createFleet, examplePackageSets, git, uniquePackageSet } from '../testkit/fleet'
import { ForgeKind, ForgeOptions, TestForge } from '../testkit/forge/server'

const TOKEN = 'tok_9f3b2c7d1e5a4b6c8d0e2f4a6b8c0d1e'
const OWNER = 'infra'
const REPO = 'fleet'

function versions(base: PackageSet, openssl: string, salt: string): PackageSet {
  return uniquePackageSet(
    {
      ...base,
      failing: [],
      packages: base.packages.map(p => (p.name === 'openssl' ? { ...p, version: openssl } : p))
    },
    salt
  )
}

/** A bare repository served by the test forge, a fleet pushed to it, and a checkout as actions/checkout leaves it. */
class Setup {
  fleet: Fleet
  bare: string
  checkout: string
  forge!: TestForge
  private salt: string
  private base: PackageSet

  constructor(
    readonly kind: ForgeKind,
    private readonly forgeOptions: Partial<ForgeOptions> = {}
  ) {
    this.salt = `publish-${kind}-${process.pid}-${Date.now()}`
    this.base = examplePackageSets().before
    this.fleet = createFleet(versions(this.base, '3.0.13', this.salt), [
      { name: 'web', packages: ['curl'], services: ['nginx'] },
      { name: 'db', packages: ['htop', 'curl'] }
    ])
    this.bare = path.join(this.fleet.root, 'remote', `${REPO}.git`)
    this.checkout = path.join(this.fleet.root, 'checkout')
  }

  async start(): Promise<void> {
    this.forge = (
      await checkoutOnForge(this.fleet, {
        kind: this.kind,
        owner: OWNER,
        repo: REPO,
        token: TOKEN,
        labels: ['dependencies', 'nix'],
        ...this.forgeOptions
      })
    ).forge
  }

  bump(openssl: string): void {
    this.fleet.bump(versions(this.base, openssl, this.salt), `openssl ${openssl}`)
  }

  /** Brings the checkout to the remote's main, as a new workflow run would check it out. */
  sync(): void {
    syncCheckout(this)
  }

  env(): Record<string, string> {
    return forgeEnv(this.forge, { owner: OWNER, repo: REPO, kind: this.kind }, '42')
  }

  run(inputs: Record<string, string> = {}): Promise<ActionRun> {
    return runAction(
      this.checkout,
      { token: TOKEN, 'base-branch': 'main', 'pr-labels': 'dependencies', ...inputs },
      this.env()
    )
  }

  bareGit(args: string[]): string {
    return execFileSync('git', ['--git-dir', this.bare, ...args], { encoding: 'utf8' }).trim()
  }

  branchSha(branch = 'auto/flake-update'): string | undefined {
    try {
      return this.bareGit(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`])
    } catch {
      return undefined
    }
  }

  async stop(): Promise<void> {
    await this.forge.close()
    this.fleet.remove()
  }
}

/** No secret in anything the action let out. */
function expectNoSecret(r: ActionRun, secrets: string[]): void {
  for (const s of secrets) expect(everything(r)).not.toContain(s)
}

describe.each<ForgeKind>(['forgejo', 'github'])('publishing on %s', kind => {
  const s = new Setup(kind)
  beforeAll(() => s.start())
  afterAll(() => s.stop())

  test('first run creates the branch and the pull request', async () => {
    s.bump('3.0.14')
    const r = await s.run()
    expect(r.exitCode).toBe(0)
    expect(r.outputs['pr-operation']).toBe('created')
    expect(r.outputs['pr-number']).toBe('1')
    expect(r.outputs.branch).toBe('auto/flake-update')
    const sha = s.branchSha()
    expect(r.outputs.commit).toBe(sha)
    expect(r.outputs['pr-url']).toMatch(/\/pulls?\/1$/)
    // Only flake.lock, on top of main, with the inputs in the message.
    expect(s.bareGit(['rev-parse', `${sha}^`])).toBe(s.bareGit(['rev-parse', 'main']))
    expect(s.bareGit(['diff', '--name-only', 'main', sha as string])).toBe('flake.lock')
    const message = s.bareGit(['log', '-1', '--format=%B', sha as string])
    expect(message).toMatch(
      /^chore: update flake inputs \d{4}-\d{2}-\d{2}\n\nUpdated inputs:\n- pkgs: [0-9a-f]{12} → [0-9a-f]{12}/
    )
    expect(message).toContain('Update-Tool: nixos-fleet-update')
    expect(s.bareGit(['log', '-1', '--format=%an <%ae>', sha as string])).toBe(
      'nixos-fleet-update <nixos-fleet-update@users.noreply.localhost>'
    )
    expect(s.forge.pulls).toHaveLength(1)
    const pull = s.forge.pulls[0]
    expect(pull).toMatchObject({
      number: 1,
      state: 'open',
      head: 'auto/flake-update',
      base: 'main',
      labels: ['dependencies']
    })
    expect(pull.body).toContain('| web | ✅ updated |')
    expect(pull.body).toContain('openssl 3.0.13 → 3.0.14 on all 2 hosts')
    expect(pull.title).toMatch(/^chore: update flake inputs \d{4}-\d{2}-\d{2}$/)
    // The base branch was not written, and the checkout's own files are as they were besides flake.lock.
    expect(s.bareGit(['rev-parse', 'main'])).toBe(git(s.checkout, ['rev-parse', 'HEAD']).trim())
    expectNoSecret(r, [TOKEN, Buffer.from(`x-access-token:${TOKEN}`).toString('base64')])
    for (const req of s.forge.requests) expect(req.path).not.toContain(TOKEN)
  })

  test('a second bump updates the same pull request', async () => {
    s.sync()
    const first = s.branchSha()
    s.bump('3.0.15')
    const r = await s.run()
    expect(r.exitCode).toBe(0)
    expect(r.outputs['pr-operation']).toBe('updated')
    expect(r.outputs['pr-number']).toBe('1')
    expect(s.forge.pulls).toHaveLength(1)
    expect(s.forge.pulls[0].body).toContain('3.0.13 → 3.0.15')
    expect(s.branchSha()).not.toBe(first)
  })

  test('the same lock again: no push, the pull request stays as it is', async () => {
    s.sync()
    const before = s.branchSha()
    const requests = s.forge.requests.length
    const r = await s.run()
    expect(r.exitCode).toBe(0)
    expect(r.outputs.changed).toBe('true')
    expect(r.outputs['pr-operation']).toBe('unchanged')
    expect(s.branchSha()).toBe(before)
    expect(s.forge.requests.slice(requests).filter(q => q.method !== 'GET')).toEqual([])
  })

  test('after the merge the next bump opens a new pull request, and the one after updates it', async () => {
    s.forge.mergePull(1)
    const merged = { ...s.forge.pulls[0] }
    s.sync()
    s.bump('3.0.16')
    const r = await s.run()
    expect(r.exitCode).toBe(0)
    expect(r.outputs['pr-operation']).toBe('created')
    expect(r.outputs['pr-number']).toBe('2')
    expect(s.bareGit(['rev-parse', `${s.branchSha()}^`])).toBe(s.bareGit(['rev-parse', 'main']))
    s.bump('3.0.17')
    s.sync()
    const r2 = await s.run()
    expect(r2.outputs['pr-operation']).toBe('updated')
    expect(r2.outputs['pr-number']).toBe('2')
    // The merged pull request was never touched again.
    expect(s.forge.pulls[0]).toEqual(merged)
    expect(s.forge.requests.filter(q => q.method === 'PATCH' && /\/pulls\/1$/.test(q.path))).toHaveLength(1)
    expect(s.forge.pulls.filter(p => p.state === 'open')).toHaveLength(1)
  })

  test('no new revision: nothing is pushed and the forge is not called', async () => {
    s.forge.mergePull(2)
    s.sync()
    // Reading the fleet state (the base branch's commits and their statuses) is the only call left.
    const publishing = (): number =>
      s.forge.requests.filter(
        q => !(q.method === 'GET' && /\/commits(\/[0-9a-f]{40}\/statuses)?$/.test(q.path))
      ).length
    const requests = publishing()
    const sha = s.branchSha()
    const r = await s.run()
    expect(r.exitCode).toBe(0)
    expect(r.outputs.changed).toBe('false')
    expect(r.outputs['pr-operation']).toBe('none')
    expect(publishing()).toBe(requests)
    expect(s.branchSha()).toBe(sha)
  })

  test("a branch holding someone else's commit is not overwritten", async () => {
    // Someone pushes a commit of their own onto the update branch (now at main after the merge).
    const other = path.join(s.fleet.root, 'other-clone')
    execFileSync('git', ['clone', '-q', s.bare, other], { stdio: 'pipe' })
    git(other, ['checkout', '-q', '-b', 'auto/flake-update'])
    fs.writeFileSync(path.join(other, 'NOTES'), 'manual fix\n')
    git(other, ['add', 'NOTES'])
    git(other, [
      '-c',
      'user.name=Alice',
      '-c',
      'user.email=alice@example.org',
      'commit',
      '-qm',
      'Pin a host by hand'
    ])
    git(other, ['push', '-q', '-f', 'origin', 'auto/flake-update'])
    const foreign = git(other, ['rev-parse', 'HEAD']).trim()
    s.bump('3.0.18')
    const r = await s.run()
    expect(r.exitCode).toBe(1)
    expect(r.log).toContain(
      "Branch 'auto/flake-update' holds commits this action did not make; it is not overwritten"
    )
    expect(r.log).toContain(`${foreign.slice(0, 12)} Alice <alice@example.org>: Pin a host by hand`)
    expect(s.branchSha()).toBe(foreign)
    // Delete it again for the tests that follow.
    git(other, ['push', '-q', 'origin', ':auto/flake-update'])
  })

  test('a server error is retried; a wrong token gives a clear error and leaks nothing', async () => {
    s.sync()
    s.bump('3.0.19')
    s.forge.failNext({ method: 'GET', path: /\/pulls$/ }, [
      { status: 500, body: { message: 'internal error' } }
    ])
    const seen = s.forge.requests.length
    const r = await s.run({ branch: 'auto/retry' })
    expect(r.exitCode).toBe(0)
    expect(r.outputs['pr-operation']).toBe('created')
    const lists = s.forge.requests.slice(seen).filter(q => q.method === 'GET' && /\/pulls$/.test(q.path))
    expect(lists.length).toBeGreaterThanOrEqual(2)

    s.sync()
    const bad = await s.run({ branch: 'auto/badtoken', token: 'wrong-token-123456' })
    expect(bad.exitCode).toBe(1)
    expect(bad.log).toMatch(
      /::error::Finding the open pull request failed: GET \/repos\/infra\/fleet\/pulls\?[^ ]* answered 401/
    )
    expectNoSecret(bad, ['wrong-token-123456', TOKEN])
  })

  test('signed commits verify with an allowed-signers file; the key is gone after the step and post', async () => {
    const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-key-'))
    const key = path.join(keyDir, 'id')
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bot', '-f', key])
    const privateKey = fs.readFileSync(key, 'utf8')
    const allowed = path.join(keyDir, 'allowed')
    fs.writeFileSync(
      allowed,
      `nixos-fleet-update@users.noreply.localhost ${fs.readFileSync(`${key}.pub`, 'utf8')}`
    )
    s.sync()
    s.bump('3.0.20')
    // Pasted through a web form: CRLF line endings, which OpenSSH cannot read as they are.
    const r = await s.run({ branch: 'auto/signed', 'signing-key': privateKey.replace(/\n/g, '\r\n') })
    expect(r.exitCode).toBe(0)
    const sha = s.branchSha('auto/signed') as string
    const verify = spawnSync(
      'git',
      ['--git-dir', s.bare, '-c', `gpg.ssh.allowedSignersFile=${allowed}`, 'verify-commit', '--raw', sha],
      { encoding: 'utf8' }
    )
    // The signature is good, by the allowed principal, with the very key that was given.
    const fingerprint = execFileSync('ssh-keygen', ['-l', '-f', `${key}.pub`], { encoding: 'utf8' }).split(
      ' '
    )[1]
    expect(verify.status).toBe(0)
    expect(verify.stderr).toContain(
      `Good "git" signature for nixos-fleet-update@users.noreply.localhost with ED25519 key ${fingerprint}`
    )
    expectNoSecret(
      r,
      privateKey.split('\n').filter(l => l.length > 20)
    )
    // The key directory is gone once the main step ended; the post step removes the rest.
    const leftovers = (): string[] =>
      fs.readdirSync(r.runnerTemp).filter(n => n.startsWith('nixos-fleet-update-'))
    expect(leftovers().filter(n => n.startsWith('nixos-fleet-update-key-'))).toEqual([])
    expect(leftovers()).toHaveLength(1)
    process.env['STATE_cleanup-dirs'] = r.state['cleanup-dirs']
    try {
      cleanup(runnerLog())
    } finally {
      delete process.env['STATE_cleanup-dirs']
    }
    expect(leftovers()).toEqual([])
    // A commit without a signature does not pass the same check.
    expect(() =>
      execFileSync(
        'git',
        ['--git-dir', s.bare, '-c', `gpg.ssh.allowedSignersFile=${allowed}`, 'verify-commit', 'main'],
        {
          stdio: 'pipe'
        }
      )
    ).toThrow()
    fs.rmSync(keyDir, { recursive: true, force: true })
  })

  test('without checkout credentials the token is used for the push, and never stored', async () => {
    s.sync()
    s.bump('3.0.21')
    const key = `http.${new URL(s.forge.serverUrl).origin}/.extraheader`
    git(s.checkout, ['config', '--unset-all', key])
    try {
      const r = await s.run({ branch: 'auto/token-push' })
      expect(r.exitCode).toBe(0)
      expect(s.branchSha('auto/token-push')).toBe(r.outputs.commit)
      expect(fs.readFileSync(path.join(s.checkout, '.git', 'config'), 'utf8')).not.toContain(TOKEN)
      expectNoSecret(r, [TOKEN, Buffer.from(`x-access-token:${TOKEN}`).toString('base64')])
      // A wrong token cannot push: git's refusal is reported, the branch does not appear.
      s.sync()
      s.bump('3.0.22')
      const bad = await s.run({ branch: 'auto/token-push-bad', token: 'not-the-token-0000' })
      expect(bad.exitCode).toBe(1)
      // A token the remote refuses is found before anything is built.
      expect(bad.log).toContain(
        '::error::Publishing is not possible, so nothing was built:%0A- git ls-remote failed'
      )
      expect(s.branchSha('auto/token-push-bad')).toBeUndefined()
      expectNoSecret(bad, ['not-the-token-0000'])
    } finally {
      git(s.checkout, [
        'config',
        key,
        `AUTHORIZATION: basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`
      ])
    }
  })

  test('a pull request opened by a concurrent run is found through the create answer and updated', async () => {
    s.sync()
    s.bump('3.0.23')
    // The other run's pull request exists, but this run's search does not see it yet.
    const first = await s.run({ branch: 'auto/race' })
    expect(first.outputs['pr-operation']).toBe('created')
    const number = first.outputs['pr-number']
    s.sync()
    s.bump('3.0.24')
    s.forge.failNext({ method: 'GET', path: /\/pulls$/ }, [{ status: 200, body: [] }])
    const r = await s.run({ branch: 'auto/race' })
    expect(r.exitCode).toBe(0)
    expect(r.outputs['pr-operation']).toBe('updated')
    expect(r.outputs['pr-number']).toBe(number)
    expect(s.forge.pulls.filter(p => p.head === 'auto/race')).toHaveLength(1)
    expect(s.forge.pulls.find(p => String(p.number) === number)?.body).toContain('3.0.24')
  })

  test('a refused pull request creation names the operation and, on 404, the compare URL', async () => {
    s.sync()
    s.bump('3.0.25')
    s.forge.failNext({ method: 'POST', path: /\/pulls$/ }, [{ status: 404, body: { message: 'Not Found' } }])
    const r = await s.run({ branch: 'auto/refused' })
    expect(r.exitCode).toBe(1)
    expect(r.log).toMatch(
      /::error::Creating the pull request failed: POST \/repos\/infra\/fleet\/pulls answered 404: Not Found/
    )
    // The branch was pushed before the refusal and stays usable; the outputs name it.
    expect(s.branchSha('auto/refused')).toMatch(/^[0-9a-f]{40}$/)
    expect(r.outputs.commit).toBe(s.branchSha('auto/refused'))
    expect(r.outputs.branch).toBe('auto/refused')
    if (kind === 'forgejo') {
      expect(r.log).toContain('use a bot account')
      expect(r.log).toContain(`${s.forge.serverUrl}/infra/fleet/compare/main...auto/refused`)
    }
    expectNoSecret(r, [TOKEN])
  })
})

describe('checkouts as CI leaves them, and two runs at once', () => {
  const s = new Setup('forgejo')
  beforeAll(() => s.start())
  afterAll(() => s.stop())

  test('a detached HEAD checkout publishes the same way', async () => {
    s.sync()
    git(s.checkout, ['checkout', '-q', '--detach', 'HEAD'])
    s.bump('3.1.0')
    // A dated branch, as the hand-written workflow used: {date} is the UTC date.
    const r = await s.run({ branch: 'auto/detached-{date}' })
    expect(r.exitCode).toBe(0)
    expect(r.outputs['pr-operation']).toBe('created')
    expect(r.outputs.branch).toBe(`auto/detached-${new Date().toISOString().slice(0, 10)}`)
    expect(s.bareGit(['rev-parse', `${s.branchSha(r.outputs.branch)}^`])).toBe(
      s.bareGit(['rev-parse', 'main'])
    )
    git(s.checkout, ['checkout', '-q', 'main'])
  })

  test('a shallow clone (fetch-depth 1) publishes', async () => {
    const shallow = path.join(s.fleet.root, 'shallow')
    execFileSync('git', ['clone', '-q', '--depth', '1', `file://${s.bare}`, shallow], { stdio: 'pipe' })
    git(shallow, ['remote', 'set-url', 'origin', s.forge.gitUrl])
    git(shallow, [
      'config',
      `http.${new URL(s.forge.serverUrl).origin}/.extraheader`,
      `AUTHORIZATION: basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`
    ])
    expect(git(shallow, ['rev-parse', '--is-shallow-repository']).trim()).toBe('true')
    s.bump('3.1.1')
    const r = await runAction(
      shallow,
      { token: TOKEN, 'base-branch': 'main', branch: 'auto/shallow' },
      s.env()
    )
    expect(r.exitCode).toBe(0)
    expect(r.outputs['pr-operation']).toBe('created')
    expect(s.bareGit(['diff', '--name-only', 'main', s.branchSha('auto/shallow') as string])).toBe(
      'flake.lock'
    )
  })

  test('two runs at once on one branch: one pull request, no lost commit, a clear message for the loser', async () => {
    s.sync()
    s.bump('3.1.2')
    const second = path.join(s.fleet.root, 'second')
    execFileSync('git', ['clone', '-q', s.bare, second], { stdio: 'pipe' })
    git(second, ['remote', 'set-url', 'origin', s.forge.gitUrl])
    git(second, [
      'config',
      `http.${new URL(s.forge.serverUrl).origin}/.extraheader`,
      `AUTHORIZATION: basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`
    ])
    // Both runs share this process, so they cannot run through runAction (one environment) at once: each
    // calls the publishing step itself, with settings read from its own inputs.
    const settings = (dir: string): Settings => {
      const saved = { ...process.env }
      Object.assign(process.env, {
        GITHUB_WORKSPACE: dir,
        'INPUT_BASE-BRANCH': 'main',
        INPUT_BRANCH: 'auto/race2',
        INPUT_TOKEN: TOKEN,
        INPUT_FORGE: 'forgejo'
      })
      try {
        return getSettings({ env: process.env, log: new MemoryLog(), now: new Date() })
      } finally {
        for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
      }
    }
    const lock = (dir: string): string => {
      execFileSync('nix', ['flake', 'update'], { cwd: dir, stdio: 'pipe' })
      return fs.readFileSync(path.join(dir, 'flake.lock'), 'utf8')
    }
    const forge = makeForge(settings(s.checkout), s.env(), new MemoryLog())
    const scratchDirs: string[] = []
    const scratch = (): string => {
      scratchDirs.push(fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-scratch-')))
      return scratchDirs[scratchDirs.length - 1]
    }
    const results = await Promise.allSettled(
      [s.checkout, second].map(async dir =>
        publish(await Git.create(dir), forge, {
          settings: settings(dir),
          locks: [{ flakeDir: dir, newLock: lock(dir), changes: [] }],
          log: new MemoryLog(),
          body: `report from ${dir}`,
          scratchDir: scratch()
        })
      )
    )
    for (const dir of scratchDirs) fs.rmSync(dir, { recursive: true, force: true })
    const ok = results.filter((r): r is PromiseFulfilledResult<PublishResult> => r.status === 'fulfilled')
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    expect(ok.length).toBeGreaterThanOrEqual(1)
    for (const f of failed)
      expect(String(f.reason)).toMatch(/the branch changed on the remote since it was fetched; run again/)
    expect(s.forge.pulls.filter(p => p.head === 'auto/race2' && p.state === 'open')).toHaveLength(1)
    // The branch holds the commit of a run that reported success.
    expect(ok.map(r => r.value.commit)).toContain(s.branchSha('auto/race2'))
  })

  test('a commit without flake.lock gets a pull request that creates it', async () => {
    s.sync()
    git(s.checkout, ['rm', '-q', 'flake.lock'])
    git(s.checkout, ['commit', '-qm', 'Drop the lock file'])
    git(s.checkout, ['push', '-q', s.bare, 'HEAD:main'])
    const r = await s.run({ branch: 'auto/created' })
    expect(r.exitCode).toBe(0)
    expect(r.outputs.changed).toBe('true')
    expect(r.outputs['pr-operation']).toBe('created')
    const sha = s.branchSha('auto/created') as string
    expect(s.bareGit(['diff', '--name-status', 'main', sha])).toBe('A\tflake.lock')
    const message = s.bareGit(['log', '-1', '--format=%B', sha])
    expect(message).toMatch(
      /\n\nLock file created; locked inputs:\n- pkgs \(new\): [0-9a-f]{12} \(\d{4}-\d\d-\d\d\)\n/
    )
    const pull = s.forge.pulls.find(p => p.head === 'auto/created')
    expect(pull?.body).toContain('lock file created (1 input locked)')
    expect(pull?.body).toMatch(/\| pkgs \| – \| `[0-9a-f]{12}` \| [^|]+ \| \(new\) \|/)
  })
})

describe.each<ForgeKind>(['forgejo', 'github'])('%s as it really answers', kind => {
  const s = new Setup(kind, { mergeStyles: ['squash'], defaultMergeStyle: 'merge' })
  beforeAll(() => s.start())
  afterAll(() => s.stop())

  test('auto-merge with merge-method auto on a squash-only repository: scheduled as squash, and it merges', async () => {
    s.bump('4.0.1')
    const r = await s.run({ branch: 'auto/squash', 'auto-merge': 'true' })
    expect(r.exitCode).toBe(0)
    expect(r.log).toContain(`Auto-merge requested for #${r.outputs['pr-number']} (squash)`)
    const pull = s.forge.pulls.find(p => String(p.number) === r.outputs['pr-number'])
    expect(pull).toMatchObject({ autoMerge: true, autoMergeMethod: 'squash' })
    expect(s.forge.runAutoMerge(Number(r.outputs['pr-number']))).toBe(true)
    expect(s.forge.serverLog).toEqual([])
  })

  test('a merge method the repository forbids fails the step naming the allowed ones; the pull request stands', async () => {
    s.sync()
    s.bump('4.0.2')
    const r = await s.run({ branch: 'auto/forbidden', 'auto-merge': 'true', 'merge-method': 'merge' })
    expect(r.exitCode).toBe(1)
    expect(r.log).toContain(
      "::error::Input 'merge-method' is merge, which infra/fleet does not allow; it allows: squash (or use auto)"
    )
    expect(r.outputs['pr-operation']).toBe('created')
    expect(r.outputs.commit).toBe(s.branchSha('auto/forbidden'))
    const pull = s.forge.pulls.find(p => String(p.number) === r.outputs['pr-number'])
    expect(pull).toMatchObject({ state: 'open', autoMerge: false })
  })

  test('a create whose answer was lost counts as created and gets its labels', async () => {
    s.sync()
    s.bump('4.0.3')
    s.forge.failNext({ method: 'POST', path: /\/pulls$/ }, [{ resetAfter: true }])
    const r = await s.run({ branch: 'auto/lost-answer' })
    expect(r.exitCode).toBe(0)
    expect(r.outputs['pr-operation']).toBe('created')
    const pulls = s.forge.pulls.filter(p => p.head === 'auto/lost-answer')
    expect(pulls).toHaveLength(1)
    expect(pulls[0].labels).toEqual(['dependencies'])
  })

  test('labels: added again when the run pushes an update, not when it changes nothing', async () => {
    s.sync()
    s.bump('4.0.4')
    const first = await s.run({ branch: 'auto/labels' })
    expect(first.outputs['pr-operation']).toBe('created')
    const pull = s.forge.pulls.find(p => p.head === 'auto/labels') as NonNullable<TestForge['pulls'][0]>
    expect(pull.labels).toEqual(['dependencies'])
    // Someone removes the label on purpose; a run with nothing new leaves it removed.
    pull.labels = []
    s.sync()
    const same = await s.run({ branch: 'auto/labels' })
    expect(same.outputs['pr-operation']).toBe('unchanged')
    expect(pull.labels).toEqual([])
    // The next update is a new proposal: the configured labels are back, the others untouched.
    pull.labels = ['nix']
    s.sync()
    s.bump('4.0.5')
    const next = await s.run({ branch: 'auto/labels' })
    expect(next.outputs['pr-operation']).toBe('updated')
    expect(pull.labels.sort()).toEqual(['dependencies', 'nix'])
  })
})

describe.each<ForgeKind>(['forgejo', 'github'])('reviewers and assignees on %s', kind => {
  const s = new Setup(kind, { collaborators: ['alice', 'bob'], otherUsers: ['mallory'] })
  beforeAll(() => s.start())
  afterAll(() => s.stop())

  test('the names the forge takes are requested and assigned; each refused one is a warning naming it', async () => {
    s.bump('4.2.0')
    const r = await s.run({
      branch: 'auto/people',
      'pr-reviewers': 'alice, mallory @nobody infra',
      'pr-assignees': 'Bob mallory nobody'
    })
    expect(r.exitCode).toBe(0)
    expect(r.outputs['pr-operation']).toBe('created')
    const pull = s.forge.pulls.find(p => p.head === 'auto/people') as NonNullable<TestForge['pulls'][0]>
    expect(pull.reviewers).toEqual(['alice'])
    expect(pull.assignees).toEqual(['bob'])
    const n = pull.number
    const warnings = r.log.split('\n').filter(l => l.startsWith('::warning::'))
    for (const name of ['mallory', 'nobody', 'infra'])
      expect(
        warnings.some(w => w.startsWith(`::warning::Review not requested from '${name}' on #${n}: `))
      ).toBe(true)
    for (const name of ['mallory', 'nobody'])
      expect(warnings.some(w => w.startsWith(`::warning::'${name}' not assigned on #${n}: `))).toBe(true)
    expect(warnings.filter(w => /alice|bob/i.test(w))).toEqual([])
  })

  test('an update that pushes adds them again and keeps assignees someone else added', async () => {
    const pull = s.forge.pulls.find(p => p.head === 'auto/people') as NonNullable<TestForge['pulls'][0]>
    pull.assignees = ['alice']
    pull.reviewers = []
    s.sync()
    const same = await s.run({ branch: 'auto/people', 'pr-reviewers': 'alice', 'pr-assignees': 'bob' })
    expect(same.outputs['pr-operation']).toBe('unchanged')
    expect(pull.reviewers).toEqual([])
    s.sync()
    s.bump('4.2.1')
    const next = await s.run({ branch: 'auto/people', 'pr-reviewers': 'alice', 'pr-assignees': 'bob' })
    expect(next.outputs['pr-operation']).toBe('updated')
    expect(pull.reviewers).toEqual(['alice'])
    expect(pull.assignees).toEqual(['alice', 'bob'])
    expect(next.log).not.toContain('::warning::')
  })
})

describe('GitHub: commit-via-api', () => {
  const s = new Setup('github')
  beforeAll(() => s.start())
  afterAll(() => s.stop())
  const api = { branch: 'auto/api', 'commit-via-api': 'true' }
  const scratchBranches = (): string =>
    s.bareGit(['for-each-ref', '--format=%(refname)', 'refs/heads/nixos-fleet-update'])

  test('GitHub makes the commit (createCommitOnBranch on a branch of its own at the base), the update branch gets it by a leased push', async () => {
    s.bump('4.3.0')
    const main = s.bareGit(['rev-parse', 'main'])
    const r = await s.run(api)
    expect(r.exitCode).toBe(0)
    expect(r.outputs['pr-operation']).toBe('created')
    const sha = s.branchSha('auto/api') as string
    expect(r.outputs.commit).toBe(sha)
    expect(s.bareGit(['log', '-1', '--format=%P|%an|%cn <%ce>', sha])).toBe(
      `${main}|infra|GitHub <noreply@github.com>`
    )
    expect(s.bareGit(['diff', '--name-only', main, sha])).toBe('flake.lock')
    const message = s.bareGit(['log', '-1', '--format=%B', sha])
    expect(message).toMatch(/^chore: update flake inputs \d{4}-\d{2}-\d{2}\n\nUpdated inputs:\n- pkgs: /)
    expect(message).toContain('Update-Tool: nixos-fleet-update')
    const gql = s.forge.requests.filter(q => q.path === '/graphql')
    expect(gql).toHaveLength(1)
    const input = (gql[0].body as { variables: { input: Record<string, unknown> } }).variables.input
    expect(input).toMatchObject({ expectedHeadOid: main, branch: { repositoryNameWithOwner: 'infra/fleet' } })
    const additions = (input.fileChanges as { additions: { path: string; contents: string }[] }).additions
    expect(additions.map(a => a.path)).toEqual(['flake.lock'])
    expect(Buffer.from(additions[0].contents, 'base64').toString()).toBe(
      s.bareGit(['show', `${sha}:flake.lock`]) + '\n'
    )
    expect(scratchBranches()).toBe('')
  })

  test('the next update replaces the commit: still one commit on the base, made by GitHub', async () => {
    s.sync()
    const before = s.branchSha('auto/api')
    s.bump('4.3.1')
    const r = await s.run(api)
    expect(r.exitCode).toBe(0)
    expect(r.outputs['pr-operation']).toBe('updated')
    const sha = s.branchSha('auto/api') as string
    expect(sha).not.toBe(before)
    expect(s.bareGit(['log', '-1', '--format=%P|%cn', sha])).toBe(
      `${s.bareGit(['rev-parse', 'main'])}|GitHub`
    )
    expect(scratchBranches()).toBe('')
  })

  test("a branch holding someone else's commit is not overwritten, and GitHub is not asked to commit", async () => {
    const other = path.join(s.fleet.root, 'api-clone')
    execFileSync('git', ['clone', '-q', '-b', 'auto/api', s.bare, other], { stdio: 'pipe' })
    fs.writeFileSync(path.join(other, 'NOTES'), 'manual fix\n')
    git(other, ['add', 'NOTES'])
    git(other, ['-c', 'user.name=Alice', '-c', 'user.email=alice@example.org', 'commit', '-qm', 'By hand'])
    git(other, ['push', '-q', 'origin', 'auto/api'])
    const foreign = git(other, ['rev-parse', 'HEAD']).trim()
    const graphql = s.forge.requests.filter(q => q.path === '/graphql').length
    s.sync()
    s.bump('4.3.2')
    const r = await s.run(api)
    expect(r.exitCode).toBe(1)
    expect(r.log).toContain("Branch 'auto/api' holds commits this action did not make; it is not overwritten")
    expect(s.branchSha('auto/api')).toBe(foreign)
    expect(s.forge.requests.filter(q => q.path === '/graphql')).toHaveLength(graphql)
    expect(scratchBranches()).toBe('')
  })
})

describe('OpenPGP signing-key with a passphrase', () => {
  const s = new Setup('forgejo')
  let keyHome: string
  let armored: string
  const passphrase = 'tr0ub4dor&3 staple'
  beforeAll(async () => {
    await s.start()
    keyHome = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-pgp-'))
    const gpg = (args: string[], input?: string): string =>
      execFileSync('gpg', ['--homedir', keyHome, '--batch', '--pinentry-mode', 'loopback', ...args], {
        encoding: 'utf8',
        input,
        stdio: ['pipe', 'pipe', 'pipe']
      })
    gpg(
      ['--passphrase-fd', '0', '--quick-gen-key', 'Fleet Bot <bot@example.org>', 'ed25519', 'sign', 'never'],
      passphrase
    )
    armored = gpg(['--passphrase-fd', '0', '--armor', '--export-secret-keys', 'bot@example.org'], passphrase)
  })
  afterAll(async () => {
    execFileSync('gpgconf', ['--homedir', keyHome, '--kill', 'gpg-agent'])
    fs.rmSync(keyHome, { recursive: true, force: true })
    await s.stop()
  })

  test('a wrong passphrase fails before anything is built, naming the input', async () => {
    s.bump('4.4.0')
    const r = await s.run({ branch: 'auto/pgp', 'signing-key': armored, 'signing-key-passphrase': 'wrong' })
    expect(r.exitCode).not.toBe(0)
    expect(r.log).toContain(
      "Input 'signing-key': the key does not sign with the passphrase of 'signing-key-passphrase'"
    )
    expect(r.log).toContain('Publishing is not possible, so nothing was built')
    expect(s.branchSha('auto/pgp')).toBeUndefined()
    expectNoSecret(r, [passphrase])
  })

  test('the commit is signed with gpg and verifies; the passphrase and the key stay out of the log', async () => {
    s.sync()
    const r = await s.run({
      branch: 'auto/pgp',
      'signing-key': armored,
      'signing-key-passphrase': passphrase
    })
    expect(r.exitCode).toBe(0)
    const sha = s.branchSha('auto/pgp') as string
    const status = execFileSync('git', ['--git-dir', s.bare, 'log', '-1', '--format=%G?', sha], {
      env: { ...process.env, GNUPGHOME: keyHome },
      encoding: 'utf8'
    }).trim()
    expect(['G', 'U']).toContain(status)
    expectNoSecret(r, [passphrase, ...armored.split('\n').filter(l => l.length > 40)])
    // The keyring lived in the work directory and is gone with the step.
    for (const d of fs.readdirSync(r.runnerTemp)) {
      expect(fs.existsSync(path.join(r.runnerTemp, d, 'gnupg'))).toBe(false)
    }
  })
})

describe('Forgejo token with the repository scope only', () => {
  const s = new Setup('forgejo', { tokenScopes: ['write:repository'] })
  beforeAll(() => s.start())
  afterAll(() => s.stop())

  test('the pull request is created; the labels give a warning naming the missing scope', async () => {
    s.bump('4.1.0')
    const r = await s.run()
    expect(r.exitCode).toBe(0)
    expect(r.outputs['pr-operation']).toBe('created')
    expect(s.forge.pulls).toHaveLength(1)
    expect(s.forge.pulls[0].labels).toEqual([])
    expect(r.log).toMatch(
      /::warning::Labels not added to #1: Listing labels failed: GET \/repos\/infra\/fleet\/labels\?\S+ answered 403: token does not have at least one of required scope\(s\): \[read:issue\]\. Forgejo keeps labels under the token scope write:issue/
    )
  })

  test('assignees need the issue scope too: a warning, and the run goes on', async () => {
    s.sync()
    s.bump('4.1.1')
    const r = await s.run({ branch: 'auto/assign', 'pr-assignees': 'infra' })
    expect(r.exitCode).toBe(0)
    expect(r.outputs['pr-operation']).toBe('created')
    expect(r.log).toMatch(
      /::warning::Not assigned to infra on #\d+: Reading the assignees failed: GET \/repos\/infra\/fleet\/issues\/\d+ answered 403: token does not have at least one of required scope\(s\): \[read:issue\]\. Forgejo keeps assignees under the token scope write:issue/
    )
  })
})
