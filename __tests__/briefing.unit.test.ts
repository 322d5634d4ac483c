import { ClosureDiff, PackageChange } from '../src/nix/closure-diff'
import { LockChange } from '../src/nix/lock'
import { UnitChanges } from '../src/nix/units'
import { HostBuild } from '../src/types'
import { hostList, renderReport } from '../src/report/markdown'
import { HostReport, warningChanges } from '../src/report/model'
import { codeSpan, nixLabel, reproduceCommands } from '../src/report/sections'
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

  test('many warnings in a report over the size limit: the first 20, and where the rest are', () => {
    const texts = Array.from({ length: 50 }, (_, i) => `warning ${i} ${'x'.repeat(400)}`)
    const many = [host('web', [], [[], texts])]
    const md = renderReport(fleetReport(many, { warnings: warningChanges(many) }), {
      limit: 15000,
      fullReport: 'the job summary'
    })
    expect(md.length).toBeLessThanOrEqual(15000)
    const lines = section(md, '### New evaluation warnings (50)')
    expect(lines).toHaveLength(21)
    expect(lines[20]).toBe('- … 30 more in the job summary')
  })

  test('no section when nothing changed', () => {
    const quiet = [host('web', [], [['same'], ['same']])]
    expect(renderReport(fleetReport(quiet, { warnings: warningChanges(quiet) }))).not.toContain('warning')
  })
})

describe('units in the report', () => {
  const units = (u: Partial<UnitChanges>): UnitChanges => ({
    restart: [],
    reload: [],
    start: [],
    stop: [],
    notRestarted: [],
    ...u
  })
  const web = { ...host('web', []), units: units({ restart: ['sshd.service'], reload: ['nginx.service'] }) }
  const mail = {
    ...host('mail', []),
    units: units({
      restart: ['sshd.service'],
      start: ['a.service'],
      stop: ['b.service'],
      notRestarted: ['c.service']
    })
  }
  const quiet = { ...host('db', []), units: units({}) }
  const md = renderReport(fleetReport([web, mail, quiet]))

  test('per host, every list; a host with nothing to do is left out', () => {
    expect(section(md, '### Services `switch` will restart, reload, start or stop')).toEqual([
      '- web: restart: sshd.service · reload: nginx.service',
      '- mail: restart: sshd.service · start: a.service · stop: b.service · changed, not restarted: c.service'
    ])
  })

  test('shared by several hosts: once, in the shared changes', () => {
    expect(section(md, '### Changes on several hosts')).toEqual([
      '- restart: sshd.service on 2 of 3 hosts (web, mail)'
    ])
  })
})

describe('flags at the top', () => {
  const sys = (name: string, release: [string, string], kernel: [string, string]): HostReport => ({
    ...host(name, []),
    release: { before: release[0], after: release[1] },
    kernel: { before: kernel[0], after: kernel[1] }
  })
  test('a NixOS release change and a kernel major/minor change, with hosts; a patch release is not flagged', () => {
    const md = renderReport(
      fleetReport([
        sys('web', ['24.05.20240612.cc54fb4', '24.11.20241201.aaaaaaa'], ['6.6.30', '6.12.1']),
        sys('mail', ['24.05.20240612.cc54fb4', '24.11.20241201.aaaaaaa'], ['6.6.30', '6.6.31']),
        sys('db', ['24.11.20241101.bbbbbbb', '24.11.20241201.aaaaaaa'], ['6.12.0', '6.12.1'])
      ])
    )
    const lines = md.split('\n')
    const hostsAt = lines.indexOf('### Hosts')
    const flags = lines.slice(0, hostsAt).filter(l => l.startsWith('> '))
    expect(flags).toEqual([
      '> **NixOS release 24.05 → 24.11** on 2 of 3 hosts (web, mail)',
      '> **Kernel 6.6 → 6.12** on 1 of 3 hosts (web)'
    ])
  })
})

describe('failures', () => {
  const failedAfter: HostBuild = {
    host: 'db',
    status: 'build-failed',
    drvPath: `${SYSTEM}-db.drv`,
    error: 'failed to build: rsync-3.2.7',
    failedDrvs: ['/nix/store/3ad74lwr2zi6li06i2xijaj5vqfr07vi-rsync-3.2.7.drv'],
    logTail: 'error: boom'
  }
  test('a host failing before and after says so', () => {
    const h: HostReport = {
      host: 'old',
      status: 'failing',
      before: { host: 'old', status: 'eval-failed', error: 'boom' },
      after: { host: 'old', status: 'eval-failed', error: 'boom' },
      reboot: []
    }
    const md = renderReport(fleetReport([h]))
    expect(md).toContain('old (failing): evaluation failed, still failing (also before the update)')
    expect(md).not.toContain('evaluation failed after the update')
  })

  test('a regressed host: the inputs it would have received and the commands to reproduce', () => {
    const h: HostReport = {
      host: 'db',
      status: 'regressed',
      before: built('db', 'b'),
      after: failedAfter,
      reboot: []
    }
    const lockChanges: LockChange[] = [
      {
        input: 'nixpkgs',
        old: { type: 'github', rev: 'e637e908dbc0f08e' },
        new: { type: 'github', rev: 'bb36f33536f3a2' }
      },
      {
        input: 'local',
        old: { type: 'path', narHash: 'sha256-AAAAAAAAAAAA' },
        new: { type: 'path', narHash: 'sha256-BBBBBBBBBBBB' }
      }
    ]
    const md = renderReport(fleetReport([h], { lockChanges, flakeRef: './fleet' }))
    expect(md).toContain('Would have received: nixpkgs `e637e90` → `bb36f33`, local `AAAAAAA` → `BBBBBBB`.')
    expect(md).toContain(
      'Reproduce: `nix build ./fleet#nixosConfigurations.db.config.system.build.toplevel` · `nix log /nix/store/3ad74lwr2zi6li06i2xijaj5vqfr07vi-rsync-3.2.7.drv`'
    )
  })

  test('host names that are not plain attribute names are quoted', () => {
    expect(reproduceCommands({ host: 'web.example.org', status: 'failing', reboot: [] })).toEqual([
      'nix build .#nixosConfigurations."web.example.org".config.system.build.toplevel'
    ])
  })
})

describe('inputs table', () => {
  const rows = (c: LockChange): string[] =>
    renderReport(fleetReport([], { built: false, lockChanges: [c] }))
      .split('\n')
      .filter(l => l.startsWith('| ') && !l.startsWith('| input'))
  test('same day: the time is shown too', () => {
    const c: LockChange = {
      input: 'pkgs',
      old: { type: 'git', rev: 'aaaaaaaaaaaa1', lastModified: 1717113600 },
      new: { type: 'git', rev: 'bbbbbbbbbbbb2', lastModified: 1717113600 + 6 * 3600 + 125 }
    }
    expect(rows(c)).toEqual([
      '| pkgs | `aaaaaaaaaaaa` | `bbbbbbbbbbbb` | 2024-05-31 00:00 → 2024-05-31 06:02 UTC | rev `aaaaaaa` → `bbbbbbb` |'
    ])
  })
})

describe('footer', () => {
  test.each([
    ['nix (Nix) 2.8.0', 'Nix 2.8.0'],
    ['nix (Lix, like Nix) 2.91.1', 'Lix 2.91.1'],
    ['nix (Determinate Nix 3.6.2) 2.29.0', 'Determinate Nix 3.6.2 (Nix 2.29.0)'],
    ['something else', 'something else']
  ])('%s → %s', (text, label) => {
    expect(nixLabel(text)).toBe(label)
  })

  test('code spans survive backticks', () => {
    expect(codeSpan('a`b')).toBe('``a`b``')
    expect(codeSpan('`x')).toBe('`` `x ``')
  })
})
