import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { Nix } from '../src/nix/nix'
import { ActionRun, runAction } from './fixtures/action'
import { cacheContents, generateKey } from './fixtures/cache'
import { Fleet, PackageSet, createFleet, examplePackageSets, git, uniquePackageSet } from '../testkit/fleet'

interface Report {
  configurations?: string
  hosts: {
    host: string
    status: string
    reboot: string[]
    units?: unknown
    diff?: unknown
    before?: { status: string; system?: string; outPath?: string }
    after?: { status: string; system?: string; outPath?: string }
  }[]
}

function readReport(file: string): Report {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Report
}

/** Whether a store path is valid (built or fetched) in the local store. */
function valid(storePath: string): boolean {
  try {
    execFileSync('nix-store', ['--check-validity', storePath], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

// The fixture's systems stand in for an activation package and a nix-darwin system: what the action does with
// an entry depends on the attribute it builds and the platform of its derivation, not on what is inside.
const system = (name: string, packages: string[]): string =>
  `(mk { hostName = ${JSON.stringify(name)}; packages = [ ${packages.map(p => JSON.stringify(p)).join(' ')} ]; services = [ "nginx" ]; }).config.system.build.toplevel`

/** A nix-darwin entry whose system derivation is for Apple silicon: nothing on a Linux machine can build it. */
const appleSilicon = (name: string, salt = ''): string =>
  `{ system = builtins.derivation { name = ${JSON.stringify(name)}; system = "aarch64-darwin"; builder = "/bin/sh"; args = [ "-c" "echo never built" ]; salt = ${JSON.stringify(salt)}; }; }`

/** Every home-manager entry built and diffed on both sides, with nothing of NixOS's reboot and units. */
function expectHomesUpdated(r: ActionRun, hosts: string[]): void {
  expect(r.exitCode).toBe(0)
  expect(JSON.parse(r.outputs.hosts)).toEqual(hosts)
  expect(JSON.parse(r.outputs['failed-hosts'])).toEqual([])
  // The same systems as NixOS entries need a reboot (the package set bumps the kernel): not a home's business.
  expect(JSON.parse(r.outputs['reboot-hosts'])).toEqual([])
  const report = readReport(r.outputs['report-json'])
  expect(report.configurations).toBe('homeConfigurations')
  for (const h of report.hosts) {
    expect(h.status).toBe('updated')
    expect(h.diff).toBeDefined()
    expect(h.units).toBeUndefined()
    expect(h.reboot).toEqual([])
    expect(valid(h.after?.outPath as string)).toBe(true)
  }
}

describe('homeConfigurations and darwinConfigurations (real Nix, real git)', () => {
  let sets: { before: PackageSet; after: PackageSet }
  const fleets: Fleet[] = []

  beforeAll(() => {
    const salt = `configurations-${process.pid}-${Date.now()}`
    const ex = examplePackageSets()
    sets = { before: uniquePackageSet(ex.before, salt), after: uniquePackageSet(ex.after, salt) }
  })
  afterAll(() => {
    for (const f of fleets) f.remove()
  })

  test("homeConfigurations: each entry's activationPackage is built and diffed, without NixOS's reboot and units", async () => {
    const fleet = createFleet(
      sets.before,
      [
        { name: 'alice@laptop', expr: `{ activationPackage = ${system('alice', ['curl', 'htop'])}; }` },
        { name: 'bob', expr: `{ activationPackage = ${system('bob', ['curl'])}; }` }
      ],
      { output: 'homeConfigurations' }
    )
    fleets.push(fleet)
    fleet.bump(sets.after)
    const r = await runAction(fleet.fleetDir, { 'dry-run': 'true', configurations: 'homeConfigurations' })

    expectHomesUpdated(r, ['alice@laptop', 'bob'])
    const md = r.outputs.report
    expect(md).toMatch(/^## Home Manager configurations update: 2 hosts \(dry run\)/m)
    expect(md).toContain('| bob | ✅ updated | 4 | 0 | 2 | 2 |')
    expect(md).toContain('curl 8.7.1 → 8.8.0 on all 2 hosts')
  })

  test('darwinConfigurations: a system for a platform without a builder here is evaluated and reported, never a failure', async () => {
    const fleet = createFleet(
      sets.before,
      [
        // nix-darwin's system derivation for Apple silicon: nothing on this Linux machine can build it.
        { name: 'mac-arm', expr: appleSilicon('darwin-system-mac-arm', sets.before.salt) },
        // An entry whose system is this machine's: built as any other.
        { name: 'mac-local', expr: `{ system = ${system('mac-local', ['curl'])}; }` },
        {
          name: 'mac-broken',
          expr: '{ system = throw "mac-broken: the option homebrew.casks is undefined"; }'
        }
      ],
      { output: 'darwinConfigurations' }
    )
    fleets.push(fleet)
    fleet.bump(sets.after)
    const r = await runAction(fleet.fleetDir, { 'dry-run': 'true', configurations: 'darwinConfigurations' })

    expect(r.log).toContain('mac-arm: evaluated only, no builder here for aarch64-darwin')
    expect(r.exitCode).toBe(0)
    expect(JSON.parse(r.outputs.hosts)).toEqual(['mac-arm', 'mac-broken', 'mac-local'])
    expect(JSON.parse(r.outputs['failed-hosts'])).toEqual(['mac-broken'])
    expect(JSON.parse(r.outputs['regressed-hosts'])).toEqual([])
    const report = readReport(r.outputs['report-json'])
    const byHost = new Map(report.hosts.map(h => [h.host, h]))
    const arm = byHost.get('mac-arm')
    expect(arm?.status).toBe('not-buildable')
    expect(arm?.before).toMatchObject({ status: 'not-buildable', system: 'aarch64-darwin' })
    expect(arm?.after).toMatchObject({ status: 'not-buildable', system: 'aarch64-darwin' })
    // Evaluated (its out path is known), never built.
    expect(arm?.after?.outPath).toMatch(/-darwin-system-mac-arm$/)
    expect(valid(arm?.after?.outPath as string)).toBe(false)
    expect(byHost.get('mac-local')?.status).toBe('updated')
    expect(valid(byHost.get('mac-local')?.after?.outPath as string)).toBe(true)
    expect(byHost.get('mac-broken')?.status).toBe('failing')

    const md = r.outputs.report
    expect(md).toMatch(/^## nix-darwin fleet update: 3 hosts \(dry run\)/m)
    expect(md).toContain('| mac-arm | 🚫 not buildable here (aarch64-darwin) | – | – | – | – | – | – |')
    expect(md).toContain('1 not buildable here')
    expect(md).toContain('nix build .#darwinConfigurations.mac-broken.system')
    expect(md).not.toMatch(/mac-arm[^\n]*(failed|regressed)/)
  })

  test("review mode on homeConfigurations: both commits' entries are built and diffed as homes", async () => {
    const fleet = createFleet(
      sets.before,
      [
        {
          name: 'alice@laptop',
          expr: `{ activationPackage = ${system('alice-review', ['curl', 'htop'])}; }`
        },
        { name: 'bob', expr: `{ activationPackage = ${system('bob-review', ['curl'])}; }` }
      ],
      { output: 'homeConfigurations' }
    )
    fleets.push(fleet)
    const base = git(fleet.fleetDir, ['rev-parse', 'HEAD']).trim()
    fleet.bump(sets.after)
    execFileSync('nix', ['flake', 'update'], { cwd: fleet.fleetDir, stdio: 'pipe' })
    git(fleet.fleetDir, ['commit', '-qam', 'flake.lock: update'])
    const head = git(fleet.fleetDir, ['rev-parse', 'HEAD']).trim()
    const r = await runAction(fleet.fleetDir, {
      mode: 'review',
      configurations: 'homeConfigurations',
      'review-base': base,
      'review-head': head
    })
    expectHomesUpdated(r, ['alice@laptop', 'bob'])
    expect(r.summary).toMatch(/^## Home Manager configurations review: 2 hosts changed$/m)
  })

  test('cache mode on darwinConfigurations: the buildable entry is built and pushed, the other reported, neither failed', async () => {
    const fleet = createFleet(
      sets.before,
      [
        { name: 'mac-arm', expr: appleSilicon('darwin-system-mac-arm-cache', sets.before.salt) },
        { name: 'mac-local', expr: `{ system = ${system('mac-local-cache', ['curl'])}; }` }
      ],
      { output: 'darwinConfigurations' }
    )
    fleets.push(fleet)
    const keys = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-configurations-'))
    try {
      const key = generateKey(keys, 'fleet-darwin-1')
      const cache = path.join(keys, 'cache')
      const r = await runAction(fleet.fleetDir, {
        mode: 'cache',
        configurations: 'darwinConfigurations',
        'push-to': `file://${cache}`,
        'push-signing-key': key.secret
      })
      expect(r.exitCode).toBe(0)
      expect(r.log).toContain('mac-arm: evaluated only, no builder here for aarch64-darwin')
      expect(JSON.parse(r.outputs.hosts)).toEqual(['mac-arm', 'mac-local'])
      expect(JSON.parse(r.outputs['failed-hosts'])).toEqual([])
      expect(r.outputs['push-status']).toBe('pushed')
      const report = readReport(r.outputs['report-json'])
      const local = report.hosts.find(h => h.host === 'mac-local')?.after?.outPath as string
      const arm = report.hosts.find(h => h.host === 'mac-arm')?.after
      expect(arm).toMatchObject({ status: 'not-buildable', system: 'aarch64-darwin' })
      const pushed = [...cacheContents(cache).keys()]
      expect(pushed).toContain(local)
      expect(pushed).not.toContain(arm?.outPath)
      expect(r.summary).toMatch(/^## nix-darwin fleet cache: 1 of 2 hosts built at `[0-9a-f]{12}`$/m)
      expect(r.summary).toContain('### Not buildable here (1)\n\n- mac-arm: aarch64-darwin')
      expect(r.summary).not.toContain('Failed hosts')
    } finally {
      fs.rmSync(keys, { recursive: true, force: true })
    }
  })

  test('a configurations value that is not an output kind fails before anything runs', async () => {
    const fleet = createFleet(sets.before, [{ name: 'web', packages: ['curl'] }])
    fleets.push(fleet)
    const r = await runAction(fleet.fleetDir, {
      'dry-run': 'true',
      configurations: 'homeManagerConfigurations'
    })
    expect(r.exitCode).toBe(1)
    expect(r.log).toContain(
      '::error::Input \'configurations\' must be one of nixosConfigurations, homeConfigurations, darwinConfigurations, got "homeManagerConfigurations"'
    )
  })

  test('mode rollout, which gates NixOS hosts by their reports, refuses another output before anything runs', async () => {
    const fleet = createFleet(sets.before, [{ name: 'web', packages: ['curl'] }])
    fleets.push(fleet)
    const r = await runAction(fleet.fleetDir, { mode: 'rollout', configurations: 'homeConfigurations' })
    expect(r.exitCode).toBe(1)
    expect(r.log).toContain(
      "::error::Input 'configurations' is homeConfigurations; mode rollout gates NixOS hosts, which report through the fleet-auto-upgrade module: it takes nixosConfigurations"
    )
  })

  test("the platforms come from this Nix's configuration, nix-args included", async () => {
    const here = await (await Nix.create()).platforms()
    expect(here?.system).toBe(process.arch === 'arm64' ? 'aarch64-linux' : 'x86_64-linux')
    const withBuilder = await (
      await Nix.create(['--option', 'builders', 'ssh://mac aarch64-darwin,x86_64-darwin - 2'])
    ).platforms()
    expect(withBuilder?.builders).toEqual(['aarch64-darwin', 'x86_64-darwin'])
    expect(withBuilder?.system).toBe(here?.system)
  })
})
