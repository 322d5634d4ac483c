import { ClosureDiff, PackageChange } from '../src/nix/diff'
import { HostBuild } from '../src/pipeline/build'
import { hostList, renderReport } from '../src/report/markdown'
import { HostReport, warningChanges } from '../src/report/model'
import { fleetReport } from './fixtures/report'

const WJ = '\u2060'
const SYSTEM = '/nix/store/4a5d3gdrz331ilmr9scnhn6d6dfx360w-nixos-system'
const built = (host: string, side: string, warnings: string[] = []): HostBuild => ({
  host,
  status: 'built',
  drvPath: `${SYSTEM}-${host}-${side}.drv`,
  outPath: `${SYSTEM}-${host}-${side}`,
  warnings
})
const change = (
  name: string,
  kind: PackageChange['kind'],
  before: string[],
  after: string[]
): PackageChange => ({ name, kind, before, after, selection: '*', bytesBefore: 0, bytesAfter: 0 })

function diffOf(changed: PackageChange[]): ClosureDiff {
  return {
    changed,
    renamed: [],
    selectionChanged: [],
    added: [],
    removed: [],
    pathsBefore: 10,
    pathsAfter: 10,
    pathsAdded: changed.length,
    pathsRemoved: changed.length,
    bytesBefore: 1000,
    bytesAfter: 1000
  }
}

function host(name: string, changes: PackageChange[], warnings: [string[], string[]] = [[], []]): HostReport {
  return {
    host: name,
    status: 'updated',
    before: built(name, 'before', warnings[0]),
    after: built(name, 'after', warnings[1]),
    diff: diffOf(changes),
    reboot: []
  }
}

const section = (md: string, title: string): string[] => {
  const lines = md.split('\n')
  const start = lines.indexOf(title)
  expect(start).toBeGreaterThanOrEqual(0)
  const end = lines.findIndex((l, i) => i > start && /^#{1,3} /.test(l))
  return lines.slice(start + 1, end < 0 ? undefined : end).filter(l => l !== '')
}

describe('hosts named in shared changes', () => {
  test.each([
    [['web', 'mail', 'laptop'], 5, 'on 3 of 5 hosts (web, mail, laptop)'],
    [['a', 'b', 'c', 'd', 'e'], 5, 'on all 5 hosts'],
    [['solo'], 1, 'on 1 of 1 host (solo)'],
    [['@admins', 'a|b'], 3, `on 2 of 3 hosts (@${WJ}admins, a&#124;b)`],
    [
      Array.from({ length: 14 }, (_, i) => `h${i}`),
      20,
      'on 14 of 20 hosts (h0, h1, h2, h3, h4, h5, h6, h7, h8, h9, h10, h11, 2 more)'
    ]
  ])('%j of %i', (hosts, total, text) => {
    expect(hostList(hosts, total)).toBe(text)
  })

  test('the denominator counts every host, compared or not; downgrades are marked', () => {
    const ssl = change('openssl', 'upgrade', ['3.0.13'], ['3.0.14'])
    const htop = change('htop', 'downgrade', ['3.3.0'], ['3.2.2'])
    const failing: HostReport = { host: 'db', status: 'failing', reboot: [] }
    const md = renderReport(
      fleetReport([host('web', [ssl, htop]), host('mail', [ssl]), host('laptop', [ssl, htop]), failing])
    )
    expect(section(md, '### Changes on several hosts')).toEqual([
      '- openssl 3.0.13 → 3.0.14 on 3 of 4 hosts (web, mail, laptop)',
      '- ⬇️ downgrade: htop 3.3.0 → 3.2.2 on 2 of 4 hosts (web, laptop)'
    ])
  })
})

describe('evaluation warnings in the report', () => {
  const hosts = [
    host('web', [], [['old warning'], ['The option `x` was renamed.\nUse y.', 'shared']]),
    host('mail', [], [[], ['shared']]),
    host('db', [], [['@team ping'], []])
  ]
  const r = fleetReport(hosts, { warnings: warningChanges(hosts) })

  test('new ones once with their hosts, escaped; the count of gone ones', () => {
    expect(section(renderReport(r), '### New evaluation warnings (2)')).toEqual([
      '- shared — on 2 of 3 hosts (web, mail)',
      '- The option \\`x\\` was renamed. Use y. — on 1 of 3 hosts (web)',
      '_2 warnings printed before the update are gone after it._'
    ])
  })

  test('no section when nothing changed', () => {
    const quiet = [host('web', [], [['same'], ['same']])]
    expect(renderReport(fleetReport(quiet, { warnings: warningChanges(quiet) }))).not.toContain('warning')
  })
})
