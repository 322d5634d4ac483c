import * as fs from 'fs'
import * as path from 'path'
import { MiB } from '../src/memory'
import { CHUNK_TARGET, PROBE_HOSTS, evaluateToplevels, overBudgetMessage } from '../src/nix/evalpool'
import { Nix } from '../src/nix/nix'
import { buildHosts } from '../src/pipeline/build'
import { Fleet, HostSpec, createFleet, examplePackageSets, uniquePackageSet } from '../testkit/fleet'

function small(name: string): HostSpec {
  return { name, packages: ['curl'], services: ['nginx'] }
}

/** Pids of running `nix eval` processes whose command line names every one of `texts`. */
function nixEvals(...texts: string[]): number[] {
  const out: number[] = []
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
      if (
        path.basename(argv[0]) === 'nix' &&
        argv.includes('eval') &&
        texts.every(t => argv.some(a => a.includes(t)))
      ) {
        out.push(Number(entry))
      }
    } catch {
      // the process ended
    }
  }
  return out
}

describe('evaluation pool on real Nix', () => {
  let nix: Nix
  let fleet: Fleet

  beforeAll(async () => {
    nix = await Nix.create()
    const { before } = examplePackageSets()
    fleet = createFleet(uniquePackageSet(before, `evalpool-${process.pid}-${Date.now()}`), [
      ...['a1', 'a2', 'a3'].map(small),
      // Evaluates for a while and keeps a large set alive: a chunk holding it is still running when it is killed.
      { ...small('slow'), heavy: 200000 },
      // Needs several hundred MB to evaluate: more than the budget below allows.
      { ...small('hog'), heavy: 1500000 },
      { name: 'broken', expr: 'throw "broken on purpose"' }
    ])
  })
  afterAll(() => fleet.remove())

  test('a worker killed mid-chunk costs only a retry of its hosts, in smaller chunks', async () => {
    const hosts = ['a1', 'slow', 'a2', 'a3']
    const evaluation = evaluateToplevels(nix, fleet.fleetDir, hosts, {
      budget: 8192 * MiB,
      workers: 1,
      chunkSize: 4
    })
    // Kill the first chunk's process as soon as it shows up, as the kernel's OOM killer or a stray signal would.
    let killed: number | undefined
    for (let i = 0; i < 600 && killed === undefined; i++) {
      // This fleet's chunk only: its directory is in the command line, other processes here are not ours.
      const pids = nixEvals(fleet.fleetDir, 'tryEval')
      if (pids.length > 0) {
        killed = pids[0]
        process.kill(killed, 'SIGKILL')
      } else await new Promise(r => setTimeout(r, 10))
    }
    expect(killed).toBeDefined()
    const r = await evaluation

    // 128 + SIGKILL's number: killed while it ran, not by the pool's memory limit.
    expect(r.processes[0]).toMatchObject({ hosts, exitCode: 137, overLimit: false })
    // Every host evaluated all the same, and later processes had fewer hosts than the killed one.
    for (const host of hosts) {
      expect((r.results.get(host) as { drvPath?: string } | undefined)?.drvPath).toMatch(/\.drv$/)
    }
    expect(r.processes.slice(1).every(p => p.hosts.length < hosts.length && p.exitCode === 0)).toBe(true)
    expect(
      r.processes
        .slice(1)
        .flatMap(p => p.hosts)
        .sort()
    ).toEqual([...hosts].sort())
  })

  test('a host that needs more than the budget fails with that reason; the others build', async () => {
    const budget = 320 * MiB
    const r = await buildHosts(
      nix,
      fleet.fleetDir,
      ['a1', 'a2', 'a3', 'broken', 'hog'],
      path.join(fleet.root, 'roots'),
      // One host per process: an ordinary host's evaluation fits a worker's share whatever the chunk rule
      // would choose on a busy machine, so only the hog can go over it.
      { budget, workers: 2, chunkSize: 1 }
    )
    expect(r.hosts.get('hog')).toMatchObject({
      status: 'eval-failed',
      error: overBudgetMessage(budget)
    })
    expect(overBudgetMessage(budget)).toBe('evaluation exceeded the memory budget of 320 MiB')
    expect(r.hosts.get('broken')).toMatchObject({ status: 'eval-failed' })
    expect(r.hosts.get('broken')?.error).toContain('broken on purpose')
    for (const h of ['a1', 'a2', 'a3']) expect(r.hosts.get(h)?.status).toBe('built')

    const hog = r.evaluation.processes.filter(p => p.hosts.includes('hog'))
    // Killed under a worker's share, then once more alone with the whole budget.
    expect(hog.every(p => p.overLimit)).toBe(true)
    expect(hog.at(-1)).toMatchObject({ hosts: ['hog'], limit: budget })
    expect(hog.some(p => p.limit === budget / 2)).toBe(true)
    // The other hosts' processes stayed within their share.
    const others = r.evaluation.processes.filter(p => !p.hosts.includes('hog'))
    // A process that ends before the first memory sample (quick on a warm evaluation cache) has a peak of 0; the
    // hog's kills above show that the watch samples.
    expect(
      others
        .filter(p => p.overLimit || p.peakRss > p.limit)
        .map(p => ({ hosts: p.hosts, peakRss: p.peakRss, limit: p.limit, exitCode: p.exitCode }))
    ).toEqual([])
    // Each process's stderr is kept with its hosts, for whoever reads the warnings.
    const alone = r.evaluation.processes.find(p => p.hosts.length === 1 && p.hosts[0] === 'broken')
    expect(alone?.stderr).toContain('broken on purpose')
  })
})

describe('evaluation plan on real Nix: what the probe measures picks one process or the pool', () => {
  let nix: Nix
  let fleet: Fleet
  const light = Array.from({ length: 10 }, (_, i) => `light${i}`)
  // Each keeps about 60 MB alive in a process (as the benchmark's eval-heavy hosts), a NixOS host far more.
  const heavy = Array.from({ length: 10 }, (_, i) => `heavy${i}`)

  beforeAll(async () => {
    nix = await Nix.create()
    const { before } = examplePackageSets()
    fleet = createFleet(uniquePackageSet(before, `evalplan-${process.pid}-${Date.now()}`), [
      ...light.map(small),
      ...heavy.map(name => ({ ...small(name), heavy: 100000 }))
    ])
  })
  afterAll(() => fleet.remove())

  const drvPaths = (r: { results: Map<string, unknown> }, hosts: string[]): string[] =>
    hosts.map(h => (r.results.get(h) as { drvPath?: string } | undefined)?.drvPath ?? 'missing')

  test('a light fleet: after the probe, one process evaluates every other host', async () => {
    const r = await evaluateToplevels(nix, fleet.fleetDir, light, { budget: 4096 * MiB, workers: 2 })
    expect(r.plan).toBe('single')
    // The probe (one host, then PROBE_HOSTS), then the rest in one process: three starts of Nix, not the pool's seven.
    expect(r.processes.map(p => p.hosts.length).sort((a, b) => a - b)).toEqual([1, PROBE_HOSTS, 7])
    expect(r.processes.find(p => p.hosts.length === 7)?.hosts).toEqual(light.slice(1 + PROBE_HOSTS))
    expect(r.processes.every(p => p.exitCode === 0 && p.peakRss < CHUNK_TARGET)).toBe(true)
    for (const d of drvPaths(r, light)) expect(d).toMatch(/\.drv$/)
  })

  test('a heavy fleet goes to the pool, whose chunks grow while the budget has room', async () => {
    const budget = 2048 * MiB
    const r = await evaluateToplevels(nix, fleet.fleetDir, heavy, { budget, workers: 2 })
    expect(r.plan).toBe('pool')
    const sizes = r.processes.map(p => p.hosts.length)
    // Past the probe, a chunk larger than the probe's: grown from its measured memory, under 512 MiB predicted
    // (half of a worker's 1024 MiB), where a 256 MiB target stopped at three hosts.
    expect(Math.max(...sizes)).toBeGreaterThan(3)
    expect(r.processes.every(p => p.exitCode === 0 && !p.overLimit && p.peakRss <= budget / 2)).toBe(true)
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(heavy.length)
    for (const d of drvPaths(r, heavy)) expect(d).toMatch(/\.drv$/)
  })

  test('the evaluation after the update starts where the one before ended: no probe', async () => {
    const first = await evaluateToplevels(nix, fleet.fleetDir, light, { budget: 4096 * MiB, workers: 2 })
    expect(first.probe?.map(p => p.hosts).sort()).toEqual([1, PROBE_HOSTS])
    expect(first.next).toEqual({ plan: 'single' })
    const again = await evaluateToplevels(nix, fleet.fleetDir, light, {
      budget: 4096 * MiB,
      workers: 2,
      start: first.next
    })
    // One start of Nix for the whole fleet, and the same derivations.
    expect(again.processes.map(p => p.hosts)).toEqual([light])
    expect(again.probe).toBeUndefined()
    expect(again.plan).toBe('single')
    expect(drvPaths(again, light)).toEqual(drvPaths(first, light))

    const budget = 2048 * MiB
    const pooled = await evaluateToplevels(nix, fleet.fleetDir, heavy, { budget, workers: 2 })
    expect(pooled.next?.plan).toBe('pool')
    const grown = pooled.next?.plan === 'pool' ? pooled.next.chunkSize : 0
    expect(grown).toBeGreaterThan(PROBE_HOSTS)
    const resumed = await evaluateToplevels(nix, fleet.fleetDir, heavy, {
      budget,
      workers: 2,
      start: pooled.next
    })
    // No one- and two-host probe first: the first chunk has the grown size (or an equal share per worker), and
    // the later ones shrink toward the end so that both workers stay busy.
    const sizes = resumed.processes.map(p => p.hosts.length)
    expect(Math.max(...sizes)).toBe(Math.min(grown, Math.ceil(heavy.length / 2)))
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(heavy.length)
    expect(resumed.probe).toBeUndefined()
    expect(resumed.processes.every(p => !p.overLimit && p.peakRss <= budget / 2)).toBe(true)
    expect(drvPaths(resumed, heavy)).toEqual(drvPaths(pooled, heavy))
  })

  test("a chunk size the user chose wins over an earlier evaluation's plan", async () => {
    const r = await evaluateToplevels(nix, fleet.fleetDir, light, {
      budget: 4096 * MiB,
      workers: 2,
      chunkSize: 4,
      start: { plan: 'single' }
    })
    expect(r.processes.map(p => p.hosts.length).sort()).toEqual([2, 4, 4])
    expect(r.plan).toBeUndefined()
  })

  test('a budget with little room keeps the heavy chunks small, every process under its share', async () => {
    const budget = 700 * MiB
    const r = await evaluateToplevels(nix, fleet.fleetDir, heavy, { budget, workers: 2 })
    expect(r.plan).toBe('pool')
    const limit = Math.floor(budget / 2)
    // Half of a 350 MiB share holds no more hosts than the probe's two.
    expect(Math.max(...r.processes.map(p => p.hosts.length))).toBeLessThanOrEqual(PROBE_HOSTS)
    expect(r.processes.every(p => p.limit === limit && !p.overLimit && p.peakRss <= limit)).toBe(true)
    for (const d of drvPaths(r, heavy)) expect(d).toMatch(/\.drv$/)
  })
})
