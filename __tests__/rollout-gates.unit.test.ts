import { BranchCommit, CommitStatus } from '../src/forge/fleet-state'
import { parseMode } from '../src/modes/mode'
import { rolloutLines } from '../src/report/rollout'
import { HostWave, RolloutPlan, formatSoak, gateContext, planRollout } from '../src/rollout/gates'
import { parseRolloutSettings } from '../src/rollout/settings'
import { readWave } from '../src/rollout/waves'

const NOW = new Date('2026-12-04T12:00:00Z')
const H = 3600000
const sha = (c: string): string => c.repeat(40)
const ago = (ms: number): string => new Date(NOW.getTime() - ms).toISOString()

// c1 ← c2 ← c3 (newest), one commit a day.
const C1 = sha('1')
const C2 = sha('2')
const C3 = sha('3')
const LINEAR: BranchCommit[] = [
  { sha: C3, date: ago(24 * H), parents: [C2] },
  { sha: C2, date: ago(48 * H), parents: [C1] },
  { sha: C1, date: ago(72 * H), parents: [] }
]

const HOSTS: HostWave[] = [
  { host: 'a', wave: 0 },
  { host: 'b', wave: 0 },
  { host: 'm', wave: 1 },
  { host: 'z', wave: 2 }
]
// Waves 0 and 1 only, where wave 2 would only repeat what the case shows.
const TWO_WAVES = HOSTS.slice(0, 3)

const ok = (host: string, commit: string, hoursAgo: number): CommitStatus => ({
  sha: commit,
  context: `nixos-upgrade/${host}`,
  state: 'success',
  description: `running ${commit.slice(0, 7)}`,
  at: ago(hoursAgo * H)
})
const failed = (host: string, commit: string, hoursAgo: number, why = 'ping failed'): CommitStatus => ({
  sha: commit,
  context: `nixos-upgrade/${host}`,
  state: 'failure',
  description: `rolled back from ${commit.slice(0, 7)}: ${why}`,
  at: ago(hoursAgo * H)
})
const gate = (wave: number, commit: string, hoursAgo: number, state = 'success'): CommitStatus => ({
  sha: commit,
  context: gateContext(wave),
  state,
  description: 'gate',
  at: ago(hoursAgo * H)
})

interface Case {
  name: string
  statuses: CommitStatus[]
  hosts?: HostWave[]
  commits?: BranchCommit[]
  requireAll?: boolean
  soakHours?: number
  /** Gates after the run: wave → commit. */
  gates: Record<number, string>
  /** What is posted, as `context state sha`. */
  post: string[]
  halted?: { wave: number; commit: string; hosts: string[] }
}

const p = (wave: number, state: string, commit: string): string => `${gateContext(wave)} ${state} ${commit}`

const CASES: Case[] = [
  { name: 'nothing reported: no gate', statuses: [], gates: {}, post: [] },
  {
    name: 'wave 0 done and soaked: wave 1 gets the tip, wave 2 what wave 1 ran',
    hosts: HOSTS,
    statuses: [ok('a', C3, 7), ok('b', C3, 8), ok('m', C1, 50)],
    gates: { 1: C3, 2: C1 },
    post: [p(1, 'success', C3), p(2, 'success', C1)]
  },
  {
    name: 'a wave whose hosts never reported does not hold back the wave above it',
    hosts: HOSTS,
    statuses: [ok('a', C3, 7), ok('b', C3, 8)],
    gates: { 1: C3, 2: C3 },
    post: [p(1, 'success', C3), p(2, 'success', C3)]
  },
  {
    name: 'waves advance one behind the other: wave 2 gets what wave 1 ran',
    hosts: HOSTS,
    statuses: [ok('a', C3, 7), ok('b', C3, 7), ok('m', C2, 10), ok('z', C1, 40)],
    gates: { 1: C3, 2: C2 },
    post: [p(1, 'success', C3), p(2, 'success', C2)]
  },
  {
    name: 'soak: reports younger than the soak give no gate; the soaked older commit does',
    statuses: [ok('a', C2, 10), ok('b', C2, 9), ok('a', C3, 1), ok('b', C3, 2), ok('m', C1, 60)],
    gates: { 1: C2 },
    post: [p(1, 'success', C2)]
  },
  {
    name: 'soak counts from the last host to arrive',
    statuses: [ok('a', C3, 30), ok('b', C3, 5), ok('m', C1, 60)],
    gates: {},
    post: []
  },
  {
    name: 'soak 0: the gate follows the reports at once',
    soakHours: 0,
    statuses: [ok('a', C3, 0.01), ok('b', C3, 0.01)],
    gates: { 1: C3 },
    post: [p(1, 'success', C3)]
  },
  {
    name: 'descendant rule: a success on a later commit counts for the earlier one',
    statuses: [ok('a', C3, 7), ok('b', C2, 20), ok('m', C1, 60)],
    gates: { 1: C2 },
    post: [p(1, 'success', C2)]
  },
  {
    name: 'a wave-0 failure halts wave 1 at that commit and after it; the commit before still gets its gate',
    statuses: [ok('a', C1, 60), ok('b', C1, 60), failed('a', C2, 30), ok('b', C3, 10)],
    gates: { 1: C1 },
    post: [p(1, 'success', C1)],
    halted: { wave: 0, commit: C2, hosts: ['a'] }
  },
  {
    name: 'a failure on a later commit does not halt the commits before it',
    statuses: [ok('a', C2, 30), ok('b', C2, 30), failed('a', C3, 3)],
    gates: { 1: C2 },
    post: [p(1, 'success', C2)],
    halted: { wave: 0, commit: C3, hosts: ['a'] }
  },
  {
    name: 'a later success of the failed host on that commit or after it lifts the halt',
    statuses: [failed('a', C2, 30), ok('a', C3, 10), ok('b', C3, 10)],
    gates: { 1: C3 },
    post: [p(1, 'success', C3)]
  },
  {
    name: 'a wave-1 failure halts wave 2, not wave 1',
    hosts: HOSTS,
    statuses: [ok('a', C3, 10), ok('b', C3, 10), ok('m', C1, 60), failed('m', C2, 20)],
    gates: { 1: C3, 2: C1 },
    post: [p(1, 'success', C3), p(2, 'success', C1)],
    halted: { wave: 1, commit: C2, hosts: ['m'] }
  },
  {
    name: 'a host that never reported does not block, and is listed',
    statuses: [ok('a', C3, 10)],
    gates: { 1: C3 },
    post: [p(1, 'success', C3)]
  },
  {
    name: 'rollout-require-all: a host that never reported blocks',
    requireAll: true,
    statuses: [ok('a', C3, 10)],
    gates: {},
    post: []
  },
  {
    name: 'idempotent: a gate already there is not posted again',
    statuses: [ok('a', C3, 10), ok('b', C3, 10), gate(1, C3, 2)],
    gates: { 1: C3 },
    post: []
  },
  {
    name: 'a gate on a later commit stands: the earlier one is not posted',
    statuses: [ok('a', C2, 10), ok('b', C2, 10), ok('a', C3, 1), ok('b', C3, 1), gate(1, C3, 0.5)],
    gates: { 1: C3 },
    post: []
  },
  {
    name: 'a gate on a commit that a failure now halts is withdrawn, and the last good commit gated',
    statuses: [ok('a', C2, 20), ok('b', C2, 20), ok('b', C3, 10), gate(1, C3, 3), failed('a', C3, 1)],
    gates: { 1: C2 },
    post: [p(1, 'failure', C3), p(1, 'success', C2)],
    halted: { wave: 0, commit: C3, hosts: ['a'] }
  },
  {
    name: 'a withdrawn gate posted again later is a gate again',
    statuses: [ok('a', C3, 10), ok('b', C3, 10), gate(1, C3, 5), gate(1, C3, 4, 'failure'), gate(1, C3, 3)],
    gates: { 1: C3 },
    post: []
  },
  {
    name: 'no host in the waves below: the wave gets the newest commit',
    hosts: [{ host: 'm', wave: 1 }],
    statuses: [],
    gates: { 1: C3 },
    post: [p(1, 'success', C3)]
  },
  {
    name: 'a host whose wave did not evaluate counts as wave 0',
    hosts: [
      { host: 'a', wave: 0, error: 'boom' },
      { host: 'm', wave: 1 }
    ],
    statuses: [ok('a', C2, 10)],
    gates: { 1: C2 },
    post: [p(1, 'success', C2)]
  },
  {
    name: 'ancestry from parents: a merge does not make one side a descendant of the other',
    // m merges x (first parent) and y; y is newer than x but not its descendant.
    commits: [
      { sha: sha('e'), date: ago(2 * H), parents: [sha('c'), sha('d')] },
      { sha: sha('d'), date: ago(10 * H), parents: [sha('b')] },
      { sha: sha('c'), date: ago(20 * H), parents: [sha('b')] },
      { sha: sha('b'), date: ago(30 * H), parents: [] }
    ],
    hosts: [
      { host: 'a', wave: 0 },
      { host: 'm', wave: 1 }
    ],
    statuses: [ok('a', sha('c'), 8)],
    gates: { 1: sha('c') },
    post: [p(1, 'success', sha('c'))]
  },
  {
    name: 'without parents the list is taken as linear',
    commits: LINEAR.map(c => ({ sha: c.sha, date: c.date })),
    statuses: [ok('a', C3, 7), ok('b', C2, 20)],
    gates: { 1: C2 },
    post: [p(1, 'success', C2)]
  }
]

describe('planRollout', () => {
  test.each(CASES)('$name', c => {
    const plan = planRollout({
      commits: c.commits ?? LINEAR,
      statuses: c.statuses,
      hosts: c.hosts ?? TWO_WAVES,
      soakMs: (c.soakHours ?? 6) * H,
      requireAll: c.requireAll ?? false,
      now: NOW
    })
    expect(Object.fromEntries(plan.gates.map(g => [g.wave, g.commit]))).toEqual(c.gates)
    expect(plan.post.map(x => `${x.context} ${x.state} ${x.commit}`)).toEqual(c.post)
    if (c.halted) expect(plan.halted).toMatchObject(c.halted)
    else expect(plan.halted).toBeUndefined()
    for (const x of plan.post) expect(x.description.length).toBeLessThanOrEqual(140)
  })

  test('the waves as the report shows them', () => {
    const plan = planRollout({
      commits: LINEAR,
      statuses: [ok('a', C3, 7), failed('b', C3, 3), ok('m', C2, 10), gate(1, C2, 12)],
      hosts: [...HOSTS, { host: 'n', wave: 1 }],
      soakMs: 6 * H,
      requireAll: false,
      now: NOW
    })
    expect(plan.halted).toMatchObject({ wave: 0, commit: C3, hosts: ['b'] })
    expect(plan.halted?.reason).toBe(`b: rolled back from ${C3.slice(0, 7)}: ping failed`)
    expect(plan.waves).toEqual([
      {
        wave: 0,
        hosts: ['a', 'b'],
        target: C3,
        since: LINEAR[0].date,
        done: ['a'],
        failed: ['b'],
        waiting: [],
        neverReported: [],
        note: undefined
      },
      {
        wave: 1,
        hosts: ['m', 'n'],
        target: C2,
        since: ago(12 * H),
        done: ['m'],
        failed: [],
        waiting: [],
        neverReported: ['n'],
        note: `${C3.slice(0, 7)} (newest): halted: b failed`
      },
      {
        wave: 2,
        hosts: ['z'],
        target: undefined,
        since: undefined,
        done: [],
        failed: [],
        waiting: [],
        neverReported: ['z'],
        note: `${C3.slice(0, 7)} (newest): halted: b failed`
      }
    ])
    const text = rolloutLines(plan, {
      base: 'main',
      soakMs: 6 * H,
      requireAll: false,
      posted: plan.post
    }).join('\n')
    expect(text).toContain('### Rollout')
    expect(text).toContain(`**Halted** at \`${C3.slice(0, 7)}\` by wave 0: b: rolled back from`)
    expect(text).toContain(`| 1 | \`${C2.slice(0, 7)}\` | 2026-12-04 00:00 UTC | m | — | — | n |`)
    expect(text).toContain('| 2 | nothing gated yet |')
  })

  test("a gate's description says which waves ran it, since when, and the soak", () => {
    const plan = planRollout({
      commits: LINEAR,
      statuses: [ok('a', C3, 7), ok('b', C3, 8), ok('m', C3, 6.5)],
      hosts: HOSTS,
      soakMs: 6 * H,
      requireAll: false,
      now: NOW
    })
    expect(plan.post.map(x => x.description)).toEqual([
      'wave 0: 2 hosts on it or later since 2026-12-04 05:00 UTC (soak 6h)',
      'waves 0-1: 3 hosts on it or later since 2026-12-04 05:30 UTC (soak 6h)'
    ])
  })

  test('a new gate names the gate its wave keeps should it not be posted', () => {
    const plan = planRollout({
      commits: LINEAR,
      statuses: [
        ok('a', C3, 7),
        ok('b', C3, 7),
        gate(1, C1, 30),
        gate(1, C2, 20),
        failed('a', C2, 19),
        ok('a', C3, 7)
      ],
      hosts: TWO_WAVES,
      soakMs: 6 * H,
      requireAll: false,
      now: NOW
    })
    // The failure on c2 was lifted by a's success on c3: c2's gate stands, c3 is gated on top of it.
    expect(plan.gates).toEqual([{ wave: 1, commit: C3, posted: true, previous: C2 }])
  })

  test('a soaking commit is named with the time it will be gated', () => {
    const plan = planRollout({
      commits: LINEAR,
      statuses: [ok('a', C3, 1), ok('b', C3, 2)],
      hosts: HOSTS,
      soakMs: 6 * H,
      requireAll: false,
      now: NOW
    })
    expect(plan.waves[1].note).toBe(`${C3.slice(0, 7)} (newest): soaking until 2026-12-04 17:00 UTC`)
  })
})

describe('inputs', () => {
  test.each([
    ['', undefined],
    ['update', 'update'],
    ['Rollout', 'rollout']
  ])('mode %j', (raw, mode) => expect(parseMode(raw)).toBe(mode))
  test('an unknown mode names the input and the modes', () =>
    expect(() => parseMode('deploy')).toThrow(
      `Input 'mode' must be update, review, cache, rollout or empty (chosen from the event), got "deploy"`
    ))

  test.each([
    ['', 6 * H],
    ['90m', 90 * 60000],
    ['1d12h', 36 * H],
    ['0', 0],
    ['0h', 0]
  ])('rollout-soak %j', (soak, ms) =>
    expect(parseRolloutSettings({ soak, requireAll: '' })).toEqual({ soakMs: ms, requireAll: false })
  )
  test.each(['6 hours', '-1h', '1.5h'])('rollout-soak %j is an error naming the input', soak =>
    expect(() => parseRolloutSettings({ soak, requireAll: '' })).toThrow(/^Input 'rollout-soak' must be/)
  )
  test('rollout-require-all', () => {
    expect(parseRolloutSettings({ soak: '', requireAll: 'TRUE' }).requireAll).toBe(true)
    expect(() => parseRolloutSettings({ soak: '', requireAll: 'yes' })).toThrow(
      `Input 'rollout-require-all' must be true or false, got "yes"`
    )
  })

  test.each([
    [2, { wave: 2 }],
    [0, { wave: 0 }],
    [
      -1,
      { error: 'config.services.fleet-auto-upgrade.rollout.wave is -1, not a whole number of at least 0' }
    ],
    [
      { type: 'string' },
      { error: 'config.services.fleet-auto-upgrade.rollout.wave is a string, not a whole number' }
    ]
  ])('wave value %j', (value, result) => expect(readWave(value)).toEqual(result))

  test.each([
    [6 * H, '6h'],
    [36 * H, '1d12h'],
    [90 * 60000, '1h30m'],
    [0, '0m']
  ])('formatSoak %j', (ms, text) => expect(formatSoak(ms)).toBe(text))
})

// Keeps the type in use for readers of the test: a plan is what the report and the outputs are made from.
export type { RolloutPlan }
