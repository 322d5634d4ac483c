import { parseAttributionSettings } from '../src/attribution-settings'
import { MemoryLog } from '../src/log/log'
import { attributeRegressions, changedTopInputs, culpritInputs } from '../src/pipeline/attribute'
import { bisectCommits } from '../src/pipeline/bisect'

/** A host breaks when every input of one of its rules is at its new revision (i.e. not held back). */
type Rules = Record<string, string[][]>

function builder(rules: Rules): {
  calls: string[][]
  tryBuild: (held: string[], hosts: string[]) => Promise<Set<string>>
} {
  const calls: string[][] = []
  return {
    calls,
    tryBuild: (held, hosts) => {
      calls.push([...held])
      return Promise.resolve(
        new Set(hosts.filter(h => !(rules[h] ?? []).some(rule => rule.every(i => !held.includes(i)))))
      )
    }
  }
}

describe('attributeRegressions', () => {
  const candidates = ['nixpkgs', 'tools', 'extra']

  test.each<[string, Rules, Record<string, [string, string[]]>, number]>([
    ['one input breaks one host', { db: [['tools']] }, { db: ['single', ['tools']] }, 3],
    [
      'two hosts, two inputs',
      { db: [['tools']], web: [['nixpkgs']] },
      { db: ['single', ['tools']], web: ['single', ['nixpkgs']] },
      3
    ],
    ['two inputs together', { db: [['tools', 'extra']] }, { db: ['together', ['tools', 'extra']] }, 3],
    // Holding back one never helps: all but one, in turn, shows which break it alone.
    ['two inputs, each on its own', { db: [['tools'], ['extra']] }, { db: ['each', ['tools', 'extra']] }, 6],
    [
      'any two of three',
      {
        db: [
          ['nixpkgs', 'tools'],
          ['tools', 'extra'],
          ['nixpkgs', 'extra']
        ]
      },
      { db: ['unexplained', ['nixpkgs', 'tools', 'extra']] },
      6
    ]
  ])('%s', async (_name, rules, expected, builds) => {
    const b = builder(rules)
    const a = await attributeRegressions({
      regressed: Object.keys(expected),
      candidates,
      maxBuilds: 10,
      tryBuild: b.tryBuild,
      log: new MemoryLog()
    })
    expect(Object.fromEntries(a.hosts.map(h => [h.host, [h.kind, h.culprits]]))).toEqual(expected)
    expect(a.builds).toHaveLength(builds)
    expect(b.calls).toHaveLength(builds)
    expect(a.boundReached).toBe(false)
  })

  test('two candidates: all but one is the other held back, so it is not built again', async () => {
    const b = builder({ db: [['a'], ['b']] })
    const a = await attributeRegressions({
      regressed: ['db'],
      candidates: ['a', 'b'],
      maxBuilds: 10,
      tryBuild: b.tryBuild,
      log: new MemoryLog()
    })
    expect(a.hosts).toEqual([{ host: 'db', kind: 'each', culprits: ['a', 'b'] }])
    expect(b.calls).toEqual([['a'], ['b']])
  })

  test('one changed input is named without a build', async () => {
    const b = builder({})
    const a = await attributeRegressions({
      regressed: ['db', 'web'],
      candidates: ['nixpkgs'],
      maxBuilds: 10,
      tryBuild: b.tryBuild,
      log: new MemoryLog()
    })
    expect(a.hosts.map(h => [h.host, h.kind, h.culprits])).toEqual([
      ['db', 'single', ['nixpkgs']],
      ['web', 'single', ['nixpkgs']]
    ])
    expect(b.calls).toEqual([])
  })

  test('the bound stops the search; hosts left are unknown and hold nothing back', async () => {
    const b = builder({ db: [['extra']] })
    const log = new MemoryLog()
    const a = await attributeRegressions({
      regressed: ['db'],
      candidates,
      maxBuilds: 2,
      tryBuild: b.tryBuild,
      log
    })
    expect(b.calls).toEqual([['nixpkgs'], ['tools']])
    expect(a.boundReached).toBe(true)
    expect(a.hosts[0].kind).toBe('unknown')
    expect(culpritInputs({ candidates, hosts: a.hosts.filter(h => h.kind !== 'unknown') })).toEqual([])
    expect(log.lines.join('\n')).toContain('bound of 2 builds')
  })

  test('nested changes count for their top-level input', () => {
    expect(changedTopInputs([{ input: 'hm' }, { input: 'hm/nixpkgs' }, { input: 'nixpkgs' }])).toEqual([
      'hm',
      'nixpkgs'
    ])
  })
})

describe('bisectCommits', () => {
  const commits = Array.from({ length: 20 }, (_, i) => ({
    rev: `c${String(i + 1).padStart(2, '0')}`,
    subject: `commit ${i + 1}`
  }))
  const firstBad = 13
  const tryRev = (rev: string): Promise<boolean> => Promise.resolve(Number(rev.slice(1)) < firstBad)

  test('finds the first bad commit in ceil(log2(20)) builds', async () => {
    const r = await bisectCommits({
      input: 'tools',
      hosts: ['db'],
      oldRev: 'c00',
      commits,
      maxBuilds: 8,
      tryRev,
      log: new MemoryLog()
    })
    expect(r.firstBad).toEqual({ rev: 'c13', subject: 'commit 13' })
    expect(r.steps.length).toBeLessThanOrEqual(5)
  })

  test('says what range it narrowed to when the bound is too small', async () => {
    const r = await bisectCommits({
      input: 'tools',
      hosts: ['db'],
      oldRev: 'c00',
      commits,
      maxBuilds: 2,
      tryRev,
      log: new MemoryLog()
    })
    expect(r.firstBad).toBeUndefined()
    expect(r.steps.map(s => [s.rev, s.built])).toEqual([
      ['c10', true],
      ['c15', false]
    ])
    expect([r.good, r.bad, r.remaining]).toEqual(['c10', 'c15', 5])
  })
})

describe('parseAttributionSettings', () => {
  const ok = {
    'attribution-max-builds': '10',
    'hold-back': 'regressing',
    bisect: 'false',
    'bisect-max-builds': '8'
  }
  test('defaults and values', () => {
    expect(parseAttributionSettings(ok)).toEqual({
      maxBuilds: 10,
      holdBack: 'regressing',
      bisect: false,
      bisectMaxBuilds: 8
    })
    expect(
      parseAttributionSettings({ ...ok, 'attribution-max-builds': '0', 'hold-back': 'none', bisect: 'True' })
    ).toMatchObject({ maxBuilds: 0, holdBack: 'none', bisect: true })
  })
  test.each([
    [{ 'hold-back': 'all' }, "Input 'hold-back' must be none or regressing"],
    [{ bisect: 'yes' }, "Input 'bisect' must be true or false"],
    [
      { 'attribution-max-builds': '-1' },
      "Input 'attribution-max-builds' must be a whole number of at least 0"
    ],
    [{ 'bisect-max-builds': '0' }, "Input 'bisect-max-builds' must be a whole number of at least 1"]
  ])('%j is refused', (bad, message) => {
    expect(() => parseAttributionSettings({ ...ok, ...bad })).toThrow(message)
  })
})
