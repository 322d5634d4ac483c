import { MiB } from '../src/memory'
import {
  CHUNK_TARGET,
  choosePlan,
  nextChunkSize,
  nextStart,
  overBudgetMessage,
  parseToplevels,
  poolOptions
} from '../src/nix/evalpool'

const GiB = 1024 * MiB

describe('poolOptions', () => {
  test.each([
    // settings, hosts, cores, MemAvailable → budget, workers, chunk size
    [{}, 50, 2, 24 * GiB, 12 * GiB, 2, undefined],
    [{}, 50, 16, 8 * GiB, 4 * GiB, 16, undefined],
    // One process per host at most.
    [{}, 1, 8, 24 * GiB, 12 * GiB, 1, undefined],
    // A small budget holds fewer processes than there are cores, and never none.
    [{ evalMemory: 600 }, 50, 8, 24 * GiB, 600 * MiB, 2, undefined],
    [{ evalMemory: 100 }, 50, 8, 24 * GiB, 100 * MiB, 1, undefined],
    [{}, 50, 4, 300 * MiB, 150 * MiB, 1, undefined],
    // What the user chose wins over the machine, within the budget.
    [{ evalWorkers: 6, evalChunkSize: 3 }, 50, 2, 24 * GiB, 12 * GiB, 6, 3],
    [{ evalWorkers: 6, evalMemory: 1024 }, 50, 2, 24 * GiB, GiB, 4, undefined],
    // The default budget is whole MiB.
    [{}, 10, 2, 1000 * MiB + 12345, 500 * MiB, 1, undefined]
  ])(
    '%j, %i hosts, %i cores, %i bytes',
    (settings, hosts, cores, memAvailable, budget, workers, chunkSize) => {
      expect(poolOptions(settings, hosts, { cores, memAvailable })).toEqual({ budget, workers, chunkSize })
    }
  )
})

describe('nextChunkSize', () => {
  test.each([
    // Measured on the eval-heavy fixture (Nix 2.8): 1 host 113 MB, 2 hosts 174 MB, 3 hosts 229 MB.
    [1, 113e6, CHUNK_TARGET, 2],
    [2, 174e6, CHUNK_TARGET, 3],
    [3, 229e6, CHUNK_TARGET, 3],
    // At most twice the last size, at least one host.
    [1, 10e6, CHUNK_TARGET, 2],
    [4, 40e6, CHUNK_TARGET, 8],
    [1, 3000e6, CHUNK_TARGET, 1],
    [8, 1000e6, 500e6, 4],
    // Nothing measured (no /proc): grow as fast as allowed.
    [5, 0, CHUNK_TARGET, 10]
  ])('%i hosts at %d bytes, target %d → %i', (hosts, peak, target, size) => {
    expect(nextChunkSize(hosts, peak, target)).toBe(size)
  })
})

describe('choosePlan', () => {
  const MB = 1e6
  test.each([
    // Measured on the light benchmark fleet (Nix 2.8): 33 MB with one host and with two; 55 MB with 40.
    [[1, 33 * MB, 2, 33 * MB], 197, 'single'],
    // A difference within what two processes of the same work differ by (PROBE_NOISE) counts as none: measured
    // on that fleet, one host at 24 MiB and two at 31 MiB; another time one at 48 MiB and two at 24 MiB.
    [[1, 33 * MB, 2, 33.6 * MB], 1000, 'single'],
    [[1, 24 * MiB, 2, 31 * MiB], 48, 'single'],
    [[1, 48 * MiB, 2, 24 * MiB], 8, 'single'],
    // Above it, the rest counts: 30 MiB more for one host, 14 past the noise; 18 hosts left: 354 MiB.
    [[1, 100 * MiB, 2, 130 * MiB], 18, 'pool'],
    [[1, 100 * MiB, 2, 130 * MiB], 8, 'single'],
    // The eval-heavy fleet: 116 MB, 177 MB; five hosts in one process are already past the target.
    [[1, 116 * MB, 2, 177 * MB], 37, 'pool'],
    [[1, 116 * MB, 2, 177 * MB], 2, 'single'],
    // The two probe processes may end in either order.
    [[2, 177 * MB, 1, 116 * MB], 37, 'pool'],
    // Ended before the first sample: as light as a Nix process gets.
    [[1, 0, 2, 0], 500, 'single'],
    // Only the larger one measured: all of its memory counted as its hosts'.
    [[1, 0, 2, 100 * MB], 10, 'pool'],
    [[1, 0, 2, 40 * MB], 10, 'single'],
    // Only the smaller one measured (the larger ended before a sample, measured on the light fixture, Nix 2.8):
    // its 48 MiB is Nix's start and the inputs' fetch, not what one host adds.
    [[1, 48 * MiB, 2, 0], 7, 'single'],
    [[2, 0, 1, 48 * MiB], 7, 'single'],
    [[1, 300 * MiB, 2, 0], 7, 'pool']
  ])('%j, %i hosts left → %s', (probe, remaining, plan) => {
    const [h1, p1, h2, p2] = probe
    expect(
      choosePlan(
        [
          { hosts: h1, peak: p1 },
          { hosts: h2, peak: p2 }
        ],
        remaining,
        CHUNK_TARGET
      )
    ).toBe(plan)
  })
})

describe('nextStart: where the evaluation after the update starts', () => {
  const proc = (hosts: number, peakMiB: number, extra: { overLimit?: boolean; exitCode?: number } = {}) => ({
    hosts: Array.from({ length: hosts }, (_, i) => `h${i}`),
    peakRss: peakMiB * MiB,
    overLimit: extra.overLimit ?? false,
    exitCode: extra.exitCode ?? 0
  })
  const sizes = { threshold: CHUNK_TARGET, target: 2048 * MiB, current: 1 }

  test('the light plan again when the one process stayed under the threshold', () => {
    expect(nextStart('single', [proc(1, 44), proc(2, 44), proc(197, 161)], sizes)).toEqual({ plan: 'single' })
  })

  test('the pool when the one process went past the threshold, at the size its memory per host allows', () => {
    // 300 MiB for 100 hosts: 3 MiB each counted, 682 fit under 2048 MiB; at most twice the measured chunk.
    expect(nextStart('single', [proc(1, 40), proc(2, 41), proc(100, 300)], sizes)).toEqual({
      plan: 'pool',
      chunkSize: 200
    })
  })

  test('the pool starts where it started past the probe; a death keeps the size its retries came down to', () => {
    const measured = [proc(1, 111), proc(2, 169), proc(8, 478), proc(2, 170)]
    expect(nextStart('pool', measured, { ...sizes, current: 2, poolStart: 4 })).toEqual({
      plan: 'pool',
      chunkSize: 4
    })
    expect(
      nextStart('pool', [proc(8, 478), proc(4, 0, { exitCode: 137 })], { ...sizes, current: 2 })
    ).toEqual({
      plan: 'pool',
      chunkSize: 2
    })
    expect(
      nextStart('single', [proc(40, 900, { overLimit: true }), proc(20, 450)], { ...sizes, current: 20 })
    ).toEqual({ plan: 'pool', chunkSize: 20 })
  })
})

describe('parseToplevels', () => {
  const drv = '/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-web-24.05.drv'
  const out = '/nix/store/0123456789abcdfghijklmnpqrsvwxy0-nixos-system-web-24.05'
  test('a chunk: each host, null for one that tryEval caught', () => {
    const r = parseToplevels(JSON.stringify({ web: { drv, out }, db: null }), ['web', 'db', 'missing'])
    expect(r).toEqual(
      new Map([
        ['web', { drvPath: drv, outPath: out }],
        ['db', null],
        ['missing', null]
      ])
    )
  })
  test('a host alone', () => {
    expect(parseToplevels(JSON.stringify({ drv, out }), ['web'])).toEqual(
      new Map([['web', { drvPath: drv, outPath: out }]])
    )
  })
  test.each([
    ['', ['web', 'db']],
    ['{"web": {"drv": "/nix/store/x.drv"', ['web', 'db']],
    ['null', ['web', 'db']],
    ['"text"', ['web']],
    ['{"drv": 1, "out": "x"}', ['web']]
  ])('output cut short or of another shape: %j', (stdout, chunk) => {
    expect(parseToplevels(stdout, chunk)).toBeUndefined()
  })
  test('a wrong-shaped host entry counts as not evaluated', () => {
    expect(parseToplevels('{"web": {"drv": 3}, "db": "x"}', ['web', 'db'])).toEqual(
      new Map([
        ['web', null],
        ['db', null]
      ])
    )
  })
})

test('the over-budget message names the budget in MiB', () => {
  expect(overBudgetMessage(4096 * MiB)).toBe('evaluation exceeded the memory budget of 4096 MiB')
})
