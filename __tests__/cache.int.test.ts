import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { ActionRun, everything } from './fixtures/action'
import { describeUnless } from './fixtures/skip'
import {
  CACHE_HOSTS,
  CacheFleet,
  KeyPair,
  TOKEN,
  afterSystems,
  reportOf,
  cacheContents,
  closure,
  compileAction,
  emptyStoreUnavailable,
  generateKey,
  groupLog,
  runOnEmptyStore,
  verifiedBy
} from './fixtures/cache'
import { freePort } from './fixtures/remote/builder'

describe('push-to a file:// binary cache', () => {
  const s = new CacheFleet('file')
  let dir: string
  let cache: string
  let key: KeyPair
  let first: ActionRun

  beforeAll(async () => {
    await s.start()
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-cache-'))
    cache = path.join(dir, 'cache')
    key = generateKey(dir, 'fleet-cache-1')
    s.bump(1)
    first = await s.run({
      'push-to': `file://${cache}`,
      'push-signing-key': key.secret,
      'fail-on-regression': 'false'
    })
  })
  afterAll(async () => {
    await s.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  test("every built host's new closure is in the cache, signed by the key, and the pull request says so", () => {
    expect(first.exitCode).toBe(0)
    expect(first.outputs['push-status']).toBe('pushed')
    const systems = afterSystems(first)
    // db fails after the update: only web and mail are pushed.
    expect(systems).toHaveLength(2)
    expect(reportOf(first).push?.hosts).toEqual(['mail', 'web'])
    const wanted = closure(systems)
    const inCache = cacheContents(cache)
    expect([...inCache.keys()].sort()).toEqual([...wanted].sort())
    // Paths that other tests signed in the local store keep those signatures too.
    for (const sigs of inCache.values()) expect(sigs).toContain('fleet-cache-1')
    // Nix itself checks the signatures and the NAR hashes of the whole closures against the public key ...
    expect(verifiedBy(`file://${cache}`, key.publicKey, systems)).toEqual({ ok: true, stderr: '' })
    // ... and a key that did not sign them does not verify them.
    const other = generateKey(dir, 'someone-else-1')
    const refused = verifiedBy(`file://${cache}`, other.publicKey, systems)
    expect(refused.ok).toBe(false)
    expect(refused.stderr).toContain('is untrusted')

    // What was sent: every path (the cache was empty), with the NAR sizes Nix reports for them.
    expect(Number(first.outputs['pushed-paths'])).toBe(wanted.length)
    const narSizes = JSON.parse(
      execFileSync('nix', ['path-info', '--json', ...wanted], { encoding: 'utf8' })
    ) as { narSize: number }[] | Record<string, { narSize: number }>
    const total = Object.values(narSizes).reduce((sum, i) => sum + i.narSize, 0)
    expect(Number(first.outputs['pushed-bytes'])).toBe(total)
    expect(first.summary).toContain(
      `The new systems of 2 hosts are in the binary cache \`file://${cache}\` (${wanted.length} new paths,`
    )
    // The pull request body names the cache without the counts, which change from run to run.
    expect(s.forge.pulls).toHaveLength(1)
    expect(s.forge.pulls[0].body).toContain(
      `The new systems of 2 hosts are in the binary cache \`file://${cache}\`.`
    )
  })

  test('the signing key never reaches the log, the outputs or the reports, and its file is gone', () => {
    expect(
      everything(
        first,
        s.forge.pulls.map(p => p.body)
      )
    ).not.toContain(key.secret)
    expect(
      everything(
        first,
        s.forge.pulls.map(p => p.body)
      )
    ).not.toContain(key.secret.split(':')[1])
    const keyDirs = first.state['cleanup-dirs'].split('\n').filter(d => d.includes('-key-'))
    expect(keyDirs).toHaveLength(1)
    expect(fs.existsSync(keyDirs[0])).toBe(false)
  })

  test('a second run over the same update sends nothing new', async () => {
    s.sync()
    const narinfos = fs
      .readdirSync(cache)
      .filter(f => f.endsWith('.narinfo'))
      .sort()
    const r = await s.run({
      'push-to': `file://${cache}`,
      'push-signing-key': key.secret,
      'fail-on-regression': 'false'
    })
    expect(r.exitCode).toBe(0)
    expect(r.outputs['push-status']).toBe('pushed')
    expect(r.outputs['pushed-paths']).toBe('0')
    expect(r.outputs['pushed-bytes']).toBe('0')
    expect(reportOf(r).push?.closurePaths).toBe(narinfos.length)
    expect(
      fs
        .readdirSync(cache)
        .filter(f => f.endsWith('.narinfo'))
        .sort()
    ).toEqual(narinfos)
    expect(r.outputs['pr-operation']).toBe('unchanged')
  })

  test('a dry run pushes nothing', async () => {
    // A fresh checkout: the run before left its new flake.lock in the work tree.
    s.sync()
    const r = await s.run({
      'push-to': `file://${cache}`,
      'push-signing-key': key.secret,
      'dry-run': 'true',
      'fail-on-regression': 'false'
    })
    expect(r.exitCode).toBe(0)
    expect(r.outputs['push-status']).toBe('')
    expect(reportOf(r).push).toBeUndefined()
    expect(r.log).not.toContain('::group::Push to the binary cache')
    // Nor is the signing key written anywhere.
    expect(r.state['cleanup-dirs'] ?? '').not.toContain('-key-')
  })
})

describe('a push that fails', () => {
  const s = new CacheFleet('faults')
  let dir: string
  let key: KeyPair
  let update = 0

  beforeAll(async () => {
    await s.start()
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-cache-faults-'))
    key = generateKey(dir, 'fleet-cache-1')
  })
  afterAll(async () => {
    await s.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  /** A fresh update each time, so that every run has new systems to push. */
  async function runUpdate(
    inputs: Record<string, string>,
    env: Record<string, string> = {}
  ): Promise<ActionRun> {
    s.sync()
    update = update === 1 ? 2 : 1
    s.bump(update)
    return s.run({ 'push-signing-key': key.secret, 'fail-on-regression': 'false', ...inputs }, env)
  }

  test('an unreachable cache: the builds do without it, the pull request is opened, the report says why', async () => {
    const port = await freePort()
    // Nix 2.8 takes no port in an ssh store URL: it comes from NIX_SSHOPTS (or ~/.ssh/config).
    const url = 'ssh-ng://deploy@127.0.0.1'
    const pulls = s.forge.pulls.length
    const r = await runUpdate(
      { 'push-to': url },
      {
        NIX_SSHOPTS: `-p ${port} -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5`
      }
    )
    expect(r.exitCode).toBe(0)
    expect(r.log).toContain(`::warning::The builds do not fetch from ${url}: it cannot be opened`)
    expect(reportOf(r).hosts.find(h => h.host === 'web')?.after?.status).toBe('built')
    expect(r.outputs['push-status']).toBe('failed')
    expect(r.log).toContain(`::warning::Pushing the new systems to ${url} failed`)
    expect(reportOf(r).push?.error).toMatch(/Connection refused|cannot connect|connect to host/)
    expect(r.outputs['pr-operation']).toMatch(/created|updated/)
    expect(s.forge.pulls.length).toBeGreaterThanOrEqual(Math.max(pulls, 1))
    const body = s.forge.pulls[s.forge.pulls.length - 1].body
    expect(body).toContain(`**Pushing the new systems to the binary cache \`${url}\` failed**`)
    expect(r.summary).toContain('Connection refused')
  })

  test('credentials in the cache URL are never printed', async () => {
    const port = await freePort()
    const password = 'pw-7f3e9c1d5b'
    const url = `https://ci:${password}@127.0.0.1:${port}/cache`
    const r = await runUpdate({ 'push-to': url }, {})
    expect(r.exitCode).toBe(0)
    expect(r.outputs['push-status']).toBe('failed')
    expect(r.log).toContain(`::add-mask::${password}`)
    expect(
      everything(
        r,
        s.forge.pulls.map(p => p.body)
      )
    ).not.toContain(password)
    expect(reportOf(r).push?.to).toBe(`https://***@127.0.0.1:${port}/cache`)
  })

  test('a read-only cache directory: the push fails, the run does not', async () => {
    const cache = path.join(dir, 'read-only')
    // The cache exists (opening it makes its nix-cache-info), but can no longer be written to.
    execFileSync('nix', ['store', 'ping', '--store', `file://${cache}`], { stdio: 'pipe' })
    const readOnly = makeReadOnly(cache)
    try {
      const r = await runUpdate({ 'push-to': `file://${cache}` })
      expect(r.exitCode).toBe(0)
      expect(r.outputs['push-status']).toBe('failed')
      expect(reportOf(r).push?.error).toMatch(/Read-only file system|Permission denied/)
      expect(r.outputs['pr-operation']).toMatch(/created|updated/)
    } finally {
      readOnly()
    }
  })

  test('with push-required, a failed push fails the step and opens no pull request; the report is written', async () => {
    const port = await freePort()
    const pullsBefore = JSON.stringify(s.forge.pulls.map(p => p.body))
    const r = await runUpdate(
      { 'push-to': 'ssh-ng://127.0.0.1', 'push-required': 'true' },
      { NIX_SSHOPTS: `-p ${port} -o BatchMode=yes -o ConnectTimeout=5` }
    )
    expect(r.exitCode).toBe(1)
    expect(r.log).toContain("failed and 'push-required' is true, so no pull request is opened")
    expect(r.outputs['push-status']).toBe('failed')
    expect(r.outputs['pr-operation']).toBe('none')
    expect(r.summary).toContain('**Pushing the new systems to the binary cache')
    expect(JSON.stringify(s.forge.pulls.map(p => p.body))).toBe(pullsBefore)
  })

  test.each([
    [
      "a public key that is not the signing key's",
      () => ({ 'push-public-key': generateKey(dir, 'other-1').publicKey }),
      "Input 'push-public-key'"
    ],
    [
      'a damaged signing key',
      () => ({ 'push-signing-key': damaged(key.secret) }),
      "Input 'push-signing-key' is damaged"
    ],
    [
      'a public key as the signing key',
      () => ({ 'push-signing-key': key.publicKey }),
      'is this the public key?'
    ]
  ])('a wrong key (%s) stops the run before anything is built', async (_label, inputs, message) => {
    const r = await s.run({ 'push-to': `file://${dir}/never`, 'push-signing-key': key.secret, ...inputs() })
    expect(r.exitCode).toBe(1)
    expect(r.log).toContain(message)
    expect(r.log).not.toContain('::group::Build before the update')
    expect(fs.existsSync(path.join(dir, 'never'))).toBe(false)
  })
})

/** Makes a directory read-only for everyone, root included (a read-only bind mount); returns the undo. */
function makeReadOnly(dir: string): () => void {
  if (process.getuid?.() !== 0) {
    const chmod = (mode: number): void => {
      for (const f of [dir, ...fs.readdirSync(dir).map(f => path.join(dir, f))])
        if (fs.statSync(f).isDirectory()) fs.chmodSync(f, mode)
    }
    chmod(0o555)
    return () => chmod(0o755)
  }
  execFileSync('mount', ['--bind', dir, dir])
  execFileSync('mount', ['-o', 'remount,bind,ro', dir])
  return () => execFileSync('umount', [dir])
}

// Hosts that all build, so that yesterday's run cached every one of today's "before" systems.
const BUILDING_HOSTS = CACHE_HOSTS.filter(h => h.name !== 'db')

describeUnless(emptyStoreUnavailable())(
  'an ephemeral runner: an empty store and the cache of the day before',
  () => {
    const s = new CacheFleet('ephemeral', BUILDING_HOSTS)
    let dir: string
    let cache: string
    let key: KeyPair
    let entry: string
    let today: string[]

    beforeAll(async () => {
      await s.start()
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-ephemeral-cache-'))
      cache = path.join(dir, 'cache')
      key = generateKey(dir, 'fleet-cache-1')
      entry = compileAction(path.join(dir, 'js'))
      // Yesterday: the update to package set 1 is built here, pushed and merged.
      s.bump(1)
      const yesterday = await s.run({ 'push-to': `file://${cache}`, 'push-signing-key': key.secret })
      expect(yesterday.outputs['push-status']).toBe('pushed')
      today = afterSystems(yesterday)
      expect(today).toHaveLength(2)
      s.merge()
      // Today: the next update, on a runner whose store is empty.
      s.bump(2)
    })
    afterAll(async () => {
      await s.stop()
      fs.rmSync(dir, { recursive: true, force: true })
    })

    function runEphemeral(inputs: Record<string, string>): Promise<ActionRun> {
      return runOnEmptyStore(entry, s.checkout, { token: TOKEN, 'dry-run': 'true', ...inputs }, s.env())
    }

    test('the "before" phase fetches every system from the cache and builds nothing', async () => {
      const r = await runEphemeral({ 'push-to': `file://${cache}`, 'push-signing-key': key.secret })
      expect(r.exitCode).toBe(0)
      const report = reportOf(r)
      // Today's "before" systems are yesterday's new ones.
      expect(report.hosts.map(h => h.before?.status)).toEqual(['built', 'built'])
      expect(report.hosts.map(h => h.before?.outPath).sort()).toEqual([...today].sort())
      const before = groupLog(r.log, 'Build before the update')
      expect(before).toContain(`copying path '${today[0]}' from 'file://${cache}'`)
      expect(before).not.toMatch(/^building '/m)
      // The update then builds only what changed.
      const after = groupLog(r.log, 'Build after the update')
      expect(after).toMatch(/^building '.*-htop-3\.4\.0\.drv'/m)
      expect(after).not.toMatch(/^building '.*-openssl-/m)
      expect(r.outputs.changed).toBe('true')
    })

    test('without the cache, the same runner builds the "before" systems', async () => {
      const r = await runEphemeral({})
      expect(r.exitCode).toBe(0)
      const before = groupLog(r.log, 'Build before the update')
      expect(before).toMatch(/^building '.*-system-.*\.drv'/m)
      expect(before).not.toContain('copying path')
    })

    test('paths signed by a key the run does not trust are not used: the systems are built', async () => {
      const other = generateKey(dir, 'rotated-2')
      const r = await runEphemeral({ 'push-to': `file://${cache}`, 'push-signing-key': other.secret })
      expect(r.exitCode).toBe(0)
      const before = groupLog(r.log, 'Build before the update')
      expect(before).toMatch(/^building '.*-system-.*\.drv'/m)
      expect(before).not.toMatch(/^copying path /m)
      expect(before).toContain(
        `from 'file://${cache}' is not signed by any of the keys in 'trusted-public-keys'`
      )
      expect(r.log).toContain('::warning::')
    })
  }
)

/** The key with one bit of its secret half flipped: the right length and shape, but no longer a key pair. */
function damaged(secret: string): string {
  const [name, data] = secret.split(':')
  const bytes = Buffer.from(data, 'base64')
  bytes[0] ^= 1
  return `${name}:${bytes.toString('base64')}`
}
