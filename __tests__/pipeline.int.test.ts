import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { MiB } from '../src/memory'
import { EvalPoolOptions, evaluateToplevels } from '../src/nix/evalpool'
import { splitPackageName, storePathName } from '../src/nix/names'
import { Nix } from '../src/nix/nix'
import { MemoryLog } from '../src/log/log'
import { buildHosts } from '../src/pipeline/build'
import { discover } from '../src/pipeline/discover'
import { diffHosts } from '../src/pipeline/diff'
import { updateLock } from '../src/pipeline/update'
import { CountingNix, countingNix, withCountingPath } from './fixtures/counting'
import { Fleet, HostSpec, createFleet, examplePackageSets, uniquePackageSet } from '../testkit/fleet'

/** Two processes at once, memory to spare: the tests below choose the chunk size. */
const POOL: EvalPoolOptions = { budget: 4096 * MiB, workers: 2 }

function hosts(n: number): HostSpec[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `host${String(i).padStart(2, '0')}`,
    packages: ['curl', i % 2 ? 'htop' : 'rsync'],
    services: ['nginx']
  }))
}

describe('step functions on real Nix', () => {
  let nix: Nix
  let fleet: Fleet
  let roots: string
  // Every Nix process the steps start, counted by wrappers on PATH.
  let counter: CountingNix
  const buildLog = new MemoryLog()

  beforeAll(async () => {
    counter = countingNix()
    nix = await withCountingPath(counter, () => Nix.create([], buildLog))
    const { before } = examplePackageSets()
    fleet = createFleet(uniquePackageSet(before, `steps-${process.pid}-${Date.now()}`), [
      ...hosts(3),
      { name: 'iso-minimal', packages: ['bash'] },
      { name: 'broken', expr: 'throw "broken on purpose"' }
    ])
    roots = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-roots-'))
  })
  afterAll(() => {
    fleet.remove()
    counter.remove()
    fs.rmSync(roots, { recursive: true, force: true })
  })

  test('discover lists nixosConfigurations and applies the filters', async () => {
    const d = await discover(nix, fleet.fleetDir, [], /^(?:.*-minimal)$/, '.*-minimal')
    expect(d.all.sort()).toEqual(['broken', 'host00', 'host01', 'host02', 'iso-minimal'])
    expect(d.hosts).toEqual(['broken', 'host00', 'host01', 'host02'])
    expect(d.excluded).toEqual(['iso-minimal'])
  })

  test('buildHosts builds in one process, attributes results per host and keeps GC roots', async () => {
    const start = counter.count()
    buildLog.lines.splice(0)
    const r = await buildHosts(nix, fleet.fleetDir, ['broken', 'host00', 'host01'], path.join(roots, 'a'), {
      ...POOL,
      chunkSize: 3
    })
    // The build's output goes to the log as it comes.
    const log = buildLog.lines.join('')
    // One evaluation, one store validity query, one build that registers its roots, plus the lone evaluation
    // of the broken host.
    expect(counter.count() - start).toBe(4)
    expect(log).toContain('building')
    expect(log).not.toContain("you did not specify '--add-root'")
    expect(r.cached).toBe(false)
    expect(r.hosts.get('broken')?.status).toBe('eval-failed')
    expect(r.hosts.get('broken')?.error).toContain('broken on purpose')
    for (const h of ['host00', 'host01']) {
      const b = r.hosts.get(h)
      expect(b?.status).toBe('built')
      expect(fs.existsSync(b?.outPath as string)).toBe(true)
    }
    const links = fs.readdirSync(path.join(roots, 'a')).map(l => fs.readlinkSync(path.join(roots, 'a', l)))
    expect(links.sort()).toEqual([r.hosts.get('host00')?.outPath, r.hosts.get('host01')?.outPath].sort())

    // Everything is in the store now: the second time builds nothing.
    const again = await buildHosts(nix, fleet.fleetDir, ['host00', 'host01'], path.join(roots, 'b'))
    expect(again.cached).toBe(true)
    expect(again.exitCode).toBeUndefined()
  })

  test('an output left on disk by an interrupted build is built again, not taken as built', async () => {
    const { before } = examplePackageSets()
    const own = createFleet(uniquePackageSet(before, `invalid-${process.pid}-${Date.now()}`), hosts(1))
    try {
      const evaluated = (await evaluateToplevels(nix, own.fleetDir, ['host00'], POOL)).results.get('host00')
      if (!evaluated || 'error' in evaluated) throw new Error('host00 did not evaluate')
      // What a build killed after creating $out leaves: the directory, unregistered in the store's database.
      fs.mkdirSync(evaluated.outPath)
      fs.writeFileSync(path.join(evaluated.outPath, 'partial'), '')
      const valid = (): boolean => {
        try {
          execFileSync('nix-store', ['--check-validity', evaluated.outPath], { stdio: 'pipe' })
          return true
        } catch {
          return false
        }
      }
      expect(valid()).toBe(false)

      const r = await buildHosts(nix, own.fleetDir, ['host00'], path.join(roots, 'invalid'))
      expect(r.cached).toBe(false)
      expect(r.exitCode).toBe(0)
      expect(r.hosts.get('host00')?.status).toBe('built')
      expect(valid()).toBe(true)
      expect(fs.existsSync(path.join(evaluated.outPath, 'partial'))).toBe(false)
      expect(fs.readdirSync(path.join(roots, 'invalid'))).toHaveLength(1)
    } finally {
      own.remove()
    }
  })

  test('update and diff: one store query for every host', async () => {
    const { after } = examplePackageSets()
    const before = await buildHosts(
      nix,
      fleet.fleetDir,
      ['host00', 'host01', 'host02'],
      path.join(roots, 'c')
    )
    fleet.bump(uniquePackageSet({ ...after, failing: [] }, `steps-b-${process.pid}-${Date.now()}`))
    const update = await updateLock(nix, fleet.fleetDir, [], fleet.lock())
    expect(update.changed).toBe(true)
    expect(update.updatedInputs).toEqual(['pkgs'])
    const afterBuild = await buildHosts(
      nix,
      fleet.fleetDir,
      ['host00', 'host01', 'host02'],
      path.join(roots, 'd')
    )
    const pairs = ['host00', 'host01', 'host02'].map(host => ({
      host,
      before: before.hosts.get(host)?.outPath as string,
      after: afterBuild.hosts.get(host)?.outPath as string
    }))
    const start = counter.count()
    const diffs = await diffHosts(nix, pairs)
    expect(counter.count() - start).toBe(1)
    expect(diffs).toHaveLength(3)
    const curl = diffs[0].diff.changed.find(c => c.name === 'curl')
    expect(curl).toMatchObject({ kind: 'upgrade', before: ['8.7.1'], after: ['8.8.0'], selection: '*' })
    expect(diffs.every(d => d.reboot.includes('kernel'))).toBe(true)
    // The lock in the checkout is the new one; updating again finds nothing new.
    const again = await updateLock(nix, fleet.fleetDir, [], fleet.lock())
    expect(again.changed).toBe(false)
  })

  test('store path names split as builtins.parseDrvName does where the version starts with a digit', () => {
    const names = [
      'openssl-3.0.14',
      'linux-6.6.31-modules',
      'nixos-system-host00-24.05',
      'system-path',
      'initrd-linux-6.6.31',
      'python3.11-requests-2.31.0',
      'hello-.5',
      'foo-bar-1a',
      'xorg-server-21.1.13',
      'glibc-2.39-52',
      'bash-5.2p26',
      'a-b-c',
      'unit--.slice',
      'firmware-_x'
    ]
    const out = execFileSync(
      'nix-instantiate',
      [
        '--eval',
        '--strict',
        '--json',
        '--expr',
        `map builtins.parseDrvName (builtins.fromJSON ''${JSON.stringify(names)}'')`
      ],
      { encoding: 'utf8' }
    )
    const expected = JSON.parse(out) as { name: string; version: string }[]
    // nvd's rule: only a dash followed by a digit starts the version; after any other dash the name goes on.
    const nvdRule = expected.map((e, i) =>
      e.version === '' || /^[0-9]/.test(e.version) ? e : { name: names[i], version: '' }
    )
    // hello-.5, unit--.slice and firmware-_x are where the two rules part.
    expect(expected.filter(e => e.version !== '' && !/^[0-9]/.test(e.version))).toHaveLength(3)
    expect(names.map(n => splitPackageName(n))).toEqual(nvdRule)
    expect(storePathName('/nix/store/0123456789abcdfghijklmnpqrsvwxyz-openssl-3.0.14')).toBe('openssl-3.0.14')
  })
})

describe('process count does not grow with the fleet', () => {
  test('2 and 8 hosts take hosts/chunk evaluations, one build and one root registration', async () => {
    const counter = countingNix()
    const nix = await withCountingPath(counter, () => Nix.create())
    const { before } = examplePackageSets()
    const counts: number[] = []
    for (const n of [2, 8]) {
      const fleet = createFleet(uniquePackageSet(before, `count-${n}-${process.pid}-${Date.now()}`), hosts(n))
      const roots = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-roots-'))
      try {
        const start = counter.count()
        const r = await buildHosts(
          nix,
          fleet.fleetDir,
          hosts(n).map(h => h.name),
          roots,
          { ...POOL, chunkSize: 4 }
        )
        expect([...r.hosts.values()].every(h => h.status === 'built')).toBe(true)
        counts.push(counter.count() - start)
      } finally {
        fleet.remove()
        fs.rmSync(roots, { recursive: true, force: true })
      }
    }
    counter.remove()
    // Evaluations (hosts / chunk size), then the store validity query and the build, which registers the GC roots.
    expect(counts).toEqual([1 + 2, 2 + 2])
  })
})
