import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as path from 'path'
import { Nix } from '../src/nix/nix'
import { diffHosts } from '../src/pipeline/diff'
import { nvdText } from '../src/report/nvd'

// The cases of fixtures/nvd-cases.nix, built with the Nix in use and diffed by the action's own store query, against
// nvd's text recorded for the very same store paths (nvd itself is not available here; see nvd.unit.test.ts).
const FIXTURE = path.join(__dirname, 'fixtures/nvd-cases.nix')
const recorded = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures/nvd-recorded.json'), 'utf8')) as {
  cases: Record<string, { before: string; after: string; nvd: string }>
}
// Where nvd's version order departs from builtins.compareVersions, the text follows Nix (see nvd.unit.test.ts).
const SAME_AS_NVD = Object.keys(recorded.cases).filter(c => c !== 'departures')

describe('per-host text on real store paths, against recorded nvd output', () => {
  let built: Map<string, { before: string; after: string }>

  beforeAll(() => {
    const names = Object.keys(recorded.cases)
    const out = execFileSync(
      'nix-build',
      ['--no-out-link', FIXTURE, ...names.flatMap(c => ['-A', `${c}.before`, '-A', `${c}.after`])],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }
    )
    const roots = out.trim().split('\n')
    built = new Map(names.map((c, i) => [c, { before: roots[2 * i], after: roots[2 * i + 1] }]))
  })

  test('this Nix builds the store paths nvd was recorded on', () => {
    for (const [c, r] of Object.entries(recorded.cases)) {
      expect({ case: c, ...built.get(c) }).toEqual({ case: c, before: r.before, after: r.after })
    }
  })

  test('every case diffed from one store query gives nvd text', async () => {
    const nix = await Nix.create()
    const diffs = await diffHosts(
      nix,
      SAME_AS_NVD.map(c => ({ host: c, ...(built.get(c) as { before: string; after: string }) }))
    )
    const ours = diffs.map(d => {
      const { before, after } = recorded.cases[d.host]
      return { case: d.host, text: nvdText(d.diff, before, after) }
    })
    expect(ours).toEqual(SAME_AS_NVD.map(c => ({ case: c, text: recorded.cases[c].nvd.replace(/\n$/, '') })))
  })
})
