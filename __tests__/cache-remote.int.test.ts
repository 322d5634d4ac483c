import { execFileSync, spawnSync } from 'child_process'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { ActionRun } from './fixtures/action'
import { describeUnless } from './fixtures/skip'
import { CacheFleet, KeyPair, afterSystems, closure, generateKey, reportOf } from './fixtures/cache'
import {
  BUILDER_ALIAS,
  Builder,
  builderUnavailable,
  startBuilder,
  trixieRoot
} from './fixtures/remote/builder'

// The other side of the cache: a second, independent Nix (2.26, in the Debian trixie root that the remote-builder
// test uses, with a store of its own) reads what this Nix pushed. The root is shared: use it from one test run
// at a time.
const ROOT = trixieRoot()
const describeWithRoot = describeUnless(builderUnavailable(ROOT))

/** Runs a Nix command inside the root, as the test suite runs there: a clean environment, no substituters. */
function inRoot(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    'chroot',
    [
      ROOT,
      '/usr/bin/env',
      '-i',
      'HOME=/root',
      'PATH=/usr/bin:/bin',
      'NIX_CONFIG=experimental-features = nix-command flakes\nsubstituters =\nsandbox = false\nbuild-users-group =',
      ...args
    ],
    // The root's store outlives test runs and keeps growing: a listing of every path passes 1 MiB, spawnSync's default.
    { encoding: 'utf8', timeout: 120000, maxBuffer: 256 * 1024 * 1024 }
  )
  const failure = r.error ? `${r.error.message}\n` : r.signal ? `killed by ${r.signal}\n` : ''
  return { status: r.status, stdout: r.stdout, stderr: failure + r.stderr }
}

function validInRoot(storePath: string): boolean {
  return inRoot(['nix-store', '--check-validity', storePath]).status === 0
}

/** `nix-store --realise` of an out path in the root from a binary cache alone: nothing may be built. */
function substituteInRoot(storePath: string, cacheUrl: string, publicKey: string): ReturnType<typeof inRoot> {
  return inRoot([
    'nix-store',
    '--realise',
    storePath,
    '--max-jobs',
    '0',
    '--option',
    'substituters',
    cacheUrl,
    '--option',
    'trusted-public-keys',
    publicKey,
    '--option',
    'require-sigs',
    'true'
  ])
}

/** Every valid path in the root's store. */
function validPathsInRoot(): Set<string> {
  const r = inRoot(['nix', 'path-info', '--all'])
  if (r.status !== 0) throw new Error(`nix path-info --all in the root failed: ${r.stderr}`)
  return new Set(r.stdout.split('\n').filter(Boolean))
}

/** Signature key names of a path in the root's store. */
function signersInRoot(storePath: string): string[] {
  const r = inRoot(['nix', 'path-info', '--sigs', storePath])
  if (r.status !== 0) throw new Error(`nix path-info in the root failed: ${r.stderr}`)
  return [...r.stdout.matchAll(/\s([^\s:]+):[A-Za-z0-9+/]+={0,2}/g)].map(m => m[1])
}

describeWithRoot('a host with another Nix fetches the new systems from the cache', () => {
  const s = new CacheFleet('host-side')
  let keys: string
  let key: KeyPair
  /** The cache directory as the root sees it; on this side it is ROOT + cacheInRoot. */
  let cacheInRoot: string
  let run: ActionRun

  beforeAll(async () => {
    await s.start()
    keys = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-cache-keys-'))
    key = generateKey(keys, 'fleet-cache-1')
    cacheInRoot = fs.mkdtempSync(path.join(ROOT, 'tmp', 'nfu-cache-')).slice(ROOT.length)
    s.bump(1)
    run = await s.run({
      'push-to': `file://${ROOT}${cacheInRoot}`,
      'push-signing-key': key.secret,
      'fail-on-regression': 'false'
    })
  })
  afterAll(async () => {
    await s.stop()
    fs.rmSync(keys, { recursive: true, force: true })
    if (cacheInRoot) fs.rmSync(path.join(ROOT, cacheInRoot), { recursive: true, force: true })
  })

  test('with require-sigs and only the derived public key trusted, Nix 2.26 substitutes a system, building nothing', () => {
    expect(run.outputs['push-status']).toBe('pushed')
    const [system] = afterSystems(run)
    expect(validInRoot(system)).toBe(false)
    const r = substituteInRoot(system, `file://${cacheInRoot}`, key.publicKey)
    expect({ status: r.status, stderr: r.stderr }).toMatchObject({ status: 0 })
    expect(r.stderr).toContain(`copying path '${system}' from 'file://${cacheInRoot}'`)
    expect(r.stderr).not.toMatch(/^building /m)
    expect(validInRoot(system)).toBe(true)
    expect(signersInRoot(system)).toEqual(['fleet-cache-1'])
    // The whole closure came along, each path signed.
    for (const p of closure([system])) expect(signersInRoot(p)).toEqual(['fleet-cache-1'])
  })

  test('trusting another key instead, it refuses the same cache', () => {
    const other = generateKey(keys, 'someone-else-1')
    const system = afterSystems(run)[1]
    const r = substituteInRoot(system, `file://${cacheInRoot}`, other.publicKey)
    expect(r.status).not.toBe(0)
    expect(r.stderr).toContain('not signed by any of the keys')
    expect(validInRoot(system)).toBe(false)
  })
})

describeWithRoot(
  'push-to an ssh-ng:// store: the root behind sshd, a daemon that trusts only the key',
  () => {
    const s = new CacheFleet('ssh-ng')
    let keys: string
    let key: KeyPair
    let builder: Builder | undefined
    let first: ActionRun
    /** What the root's store held before the push: paths that no salt changes (unit files) may be there. */
    let there: Set<string>

    beforeAll(async () => {
      keys = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-cache-keys-'))
      key = generateKey(keys, 'fleet-cache-1')
      // The client is not trusted, so the daemon accepts only paths signed by a key it trusts: this one.
      builder = await startBuilder(ROOT, {
        scheme: 'ssh-ng',
        command: `/usr/bin/nix-daemon --extra-experimental-features daemon-trust-override --stdio --force-untrusted --option require-sigs true --option trusted-public-keys ${key.publicKey}`
      })
      await s.start()
      s.bump(1)
      there = validPathsInRoot()
      first = await s.run(
        {
          'push-to': `ssh-ng://${BUILDER_ALIAS}`,
          'push-signing-key': key.secret,
          'fail-on-regression': 'false'
        },
        builder.env
      )
    })
    afterAll(async () => {
      await builder?.stop()
      await s.stop()
      fs.rmSync(keys, { recursive: true, force: true })
    })

    test("every built host's new closure is in the store, signed by the key", () => {
      expect(first.exitCode).toBe(0)
      expect(first.outputs['push-status']).toBe('pushed')
      const systems = afterSystems(first)
      expect(systems).toHaveLength(2)
      const wanted = closure(systems)
      const missing = wanted.filter(p => !there.has(p))
      expect(missing.length).toBeGreaterThan(10)
      expect(Number(first.outputs['pushed-paths'])).toBe(missing.length)
      expect(reportOf(first).push?.closurePaths).toBe(wanted.length)
      for (const p of wanted) {
        expect(validInRoot(p)).toBe(true)
        expect(signersInRoot(p)).toContain('fleet-cache-1')
      }
    })

    test('a second run sends nothing new', async () => {
      s.sync()
      const r = await s.run(
        {
          'push-to': `ssh-ng://${BUILDER_ALIAS}`,
          'push-signing-key': key.secret,
          'fail-on-regression': 'false'
        },
        builder?.env
      )
      expect(r.outputs['push-status']).toBe('pushed')
      expect(r.outputs['pushed-paths']).toBe('0')
    })

    test('unsigned, the same kind of path is refused by that store: the signing is what lets the push in', () => {
      const drv = path.join(keys, 'unsigned.nix')
      fs.writeFileSync(
        drv,
        `builtins.derivation { system = "x86_64-linux"; name = "unsigned-${process.pid}-${Date.now()}"; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; }`
      )
      const out = execFileSync('nix-build', ['--no-out-link', drv], {
        encoding: 'utf8',
        stdio: 'pipe'
      }).trim()
      const r = spawnSync(
        'nix',
        ['--extra-experimental-features', 'nix-command', 'copy', '--to', `ssh-ng://${BUILDER_ALIAS}`, out],
        { encoding: 'utf8', env: { ...process.env, ...builder?.env } }
      )
      expect(r.status).not.toBe(0)
      expect(r.stderr).toMatch(/lacks a signature by a trusted key|not signed/)
      expect(validInRoot(out)).toBe(false)
    })
  }
)
