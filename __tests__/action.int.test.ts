import * as fs from 'fs'
import * as path from 'path'
import { runAction } from './fixtures/action'
import {
  Fleet,
  PackageSet,
  REPORT_CASES,
  createFleet,
  examplePackageSets,
  uniquePackageSet
} from '../testkit/fleet'

const HOSTS = REPORT_CASES

interface Report {
  hosts: {
    host: string
    status: string
    reboot: string[]
    after?: { status: string; error?: string; logTail?: string; warnings?: string[] }
    units?: Record<string, string[]>
  }[]
  warnings: { new: { text: string; hosts: string[] }[]; gone: { text: string; hosts: string[] }[] }
  lockChanges: { input: string }[]
  timings: { phase: string }[]
}

describe('the action on a fixture fleet (real Nix, real git)', () => {
  let fleet: Fleet
  let sets: { before: PackageSet; after: PackageSet }

  beforeAll(() => {
    const salt = `action-${process.pid}-${Date.now()}`
    const ex = examplePackageSets()
    sets = { before: uniquePackageSet(ex.before, salt), after: uniquePackageSet(ex.after, salt) }
    fleet = createFleet(sets.before, HOSTS)
  })
  afterAll(() => fleet.remove())

  test('a run with no new revision reports changed=false and builds nothing after', async () => {
    const r = await runAction(fleet.fleetDir, { 'dry-run': 'true' })
    expect(r.exitCode).toBe(0)
    expect(r.outputs.changed).toBe('false')
    expect(JSON.parse(r.outputs['updated-inputs'])).toEqual([])
    expect(JSON.parse(r.outputs.hosts)).toEqual(['db', 'legacy', 'mail', 'typo', 'web'])
    expect(r.summary).toContain('flake.lock is up to date')
    const report = JSON.parse(fs.readFileSync(r.outputs['report-json'], 'utf8')) as Report
    expect(report.timings.map(t => t.phase)).not.toContain('Build after the update')
  })

  test('after a bump: every output, the summary and the JSON report', async () => {
    fleet.bump(sets.after)
    const lockBefore = fleet.lock()
    // The whole update proposed although db breaks: the outputs of a run that holds nothing back.
    const r = await runAction(fleet.fleetDir, { 'dry-run': 'true', 'hold-back': 'none' })

    expect(r.outputs.changed).toBe('true')
    expect(JSON.parse(r.outputs.hosts)).toEqual(['db', 'legacy', 'mail', 'typo', 'web'])
    expect(JSON.parse(r.outputs['updated-inputs'])).toEqual(['pkgs'])
    expect(JSON.parse(r.outputs['failed-hosts'])).toEqual(['db', 'legacy', 'typo'])
    expect(JSON.parse(r.outputs['regressed-hosts'])).toEqual(['db'])
    expect(JSON.parse(r.outputs['reboot-hosts'])).toEqual(['mail', 'web'])
    expect(r.outputs['pr-operation']).toBe('none')
    expect(r.outputs.branch).toBe('auto/flake-update')
    // fail-on-regression (default true) fails the step once everything is written.
    expect(r.exitCode).toBe(1)
    expect(r.log).toContain('::error::Hosts that built before the update fail after it: db')
    // Light hosts: the probe picks one process before the update; after it, the same plan without a probe.
    expect(r.log).toMatch(
      /^Evaluation plan: the probe measured .* hosts? at .*: light hosts, one process for the rest$/m
    )
    expect(r.log).toMatch(/^Evaluation plan: as the evaluation before, one process$/m)
    // A dry run leaves the checkout as it was.
    expect(fleet.lock()).toBe(lockBefore)

    const report = JSON.parse(fs.readFileSync(r.outputs['report-json'], 'utf8')) as Report
    const byHost = new Map(report.hosts.map(h => [h.host, h]))
    expect(byHost.get('web')?.status).toBe('updated')
    expect(byHost.get('db')?.status).toBe('regressed')
    expect(byHost.get('db')?.after?.error).toContain('rsync-3.2.7')
    expect(byHost.get('db')?.after?.logTail).toContain('error: test suite of rsync failed')
    expect(byHost.get('legacy')?.status).toBe('failing')
    expect(byHost.get('legacy')?.after?.error).toContain('services.oldDaemon was removed')
    expect(byHost.get('typo')?.after?.error).toMatch(/cannot add a string to an integer|cannot coerce|string/)
    expect(byHost.get('web')?.reboot).toEqual(['kernel', 'initrd', 'kernel-modules'])
    expect(byHost.get('web')?.units).toEqual({
      restart: [],
      reload: ['nginx.service'],
      start: ['nginx-exporter.service'],
      stop: ['nginx-cache-purge.service'],
      notRestarted: []
    })
    expect(byHost.get('mail')?.units).toMatchObject({
      restart: ['postfix.service'],
      notRestarted: ['dovecot.service']
    })
    const renamed = sets.after.warnings?.[0].text as string
    expect(byHost.get('mail')?.after?.warnings).toEqual([renamed])
    expect(report.warnings).toEqual({ new: [{ text: renamed, hosts: ['mail'] }], gone: [] })
    // One annotation for the new warning.
    expect(
      r.log.split('\n').filter(l => l.startsWith('::warning') && l.includes('smtpd_tls_cert_file'))
    ).toHaveLength(1)

    const md = r.outputs.report
    expect(r.summary).toContain(md.trim().split('\n')[0])
    expect(md).toContain('| web | ✅ updated | 4 | 1 | 2 | 2 |')
    expect(md).toContain('| db | ❌ regressed |')
    expect(md).toMatch(/openssl 3\.0\.13 → 3\.0\.14 on 2 of 5 hosts \(mail, web\)/)
    const web = md.slice(md.indexOf('<details><summary>web:'))
    expect(web).toContain(
      [
        'Version changes:',
        '[U*]  #1  curl          -56B  8.7.1 -> 8.8.0',
        '[D*]  #2  htop           +0B  3.3.0 -> 3.2.2',
        '[U.]  #3  initrd-linux   +0B  6.6.30 -> 6.6.31',
        '[U.]  #4  linux          +0B  6.6.30, 6.6.30-modules -> 6.6.31, 6.6.31-modules',
        '[U.]  #5  openssl        +0B  3.0.13 -> 3.0.14',
        'Added packages:',
        '[A.]  #1  pcre2                        +728B  10.43',
        '[A.]  #2  unit-nginx-exporter.service  +432B  <none>',
        'Removed packages:',
        '[R.]  #1  libidn2                         -728B  2.3.7',
        '[R.]  #2  unit-nginx-cache-purge.service  -440B  <none>',
        'Closure size: 17 -> 17 (14 paths added, 14 paths removed, delta +0, disk usage -32B).'
      ].join('\n')
    )
    expect(md).toContain('error: test suite of rsync failed')
    // The regressed host: what its unbuilt system would have brought, and how to reproduce the failure.
    const db = md.slice(md.indexOf('<details><summary>db (regressed)'))
    expect(db).toMatch(/Would have received: pkgs `[0-9a-f]{7}` → `[0-9a-f]{7}`\./)
    expect(db).toContain('Package versions in its new derivations (not built): ')
    expect(db).toContain('htop 3.3.0 → 3.2.2')
    expect(db).toContain('openssl 3.0.13 → 3.0.14')
    expect(db).toMatch(
      /Reproduce: `nix build \.#nixosConfigurations\.db\.config\.system\.build\.toplevel` · `nix log \/nix\/store\/[0-9a-z]{32}-rsync-3\.2\.7\.drv`/
    )
    expect(md).toContain('excluded: installer-minimal')
  })

  test('publishing without a repository fails before anything is built, naming what is missing', async () => {
    const lockBefore = fleet.lock()
    const r = await runAction(fleet.fleetDir, {
      'dry-run': 'false',
      'fail-on-regression': 'false',
      token: 't0ken'
    })
    expect(r.exitCode).toBe(1)
    expect(r.log).toContain('::error::Publishing is not possible, so nothing was built:')
    expect(r.log).toContain('GITHUB_REPOSITORY is not set: publishing needs the repository as OWNER/NAME')
    expect(r.log).toContain("has no remote 'origin' to push the branch to")
    expect(r.log).not.toContain("Input 'token' is empty")
    expect(r.log).not.toContain('Discover hosts')
    expect(r.outputs).toEqual({})
    expect(fleet.lock()).toBe(lockBefore)
  })

  test('publishing with an empty token stops before building, naming the input', async () => {
    const lockBefore = fleet.lock()
    const r = await runAction(fleet.fleetDir, { 'dry-run': 'false', token: '' })
    expect(r.exitCode).toBe(1)
    expect(r.log).toContain(
      "Input 'token' is empty: pushing the branch and opening the pull request need a token"
    )
    expect(r.log).not.toContain('Build before the update')
    expect(fleet.lock()).toBe(lockBefore)
  })

  test('build: false updates the lock only', async () => {
    const r = await runAction(fleet.fleetDir, { 'dry-run': 'true', build: 'false' })
    expect(r.exitCode).toBe(0)
    expect(r.outputs.changed).toBe('true')
    expect(JSON.parse(r.outputs['failed-hosts'])).toEqual([])
    expect(r.outputs.report).not.toContain('### Hosts')
    const report = JSON.parse(fs.readFileSync(r.outputs['report-json'], 'utf8')) as Report
    expect(report.timings.map(t => t.phase)).toEqual(['Discover hosts', 'Update flake.lock'])
  })

  test('hosts and exclude-hosts select the hosts; an unknown host is an error naming the input', async () => {
    const r = await runAction(fleet.fleetDir, {
      'dry-run': 'true',
      hosts: 'web, mail installer-minimal',
      'exclude-hosts': '^$'
    })
    expect(JSON.parse(r.outputs.hosts)).toEqual(['installer-minimal', 'mail', 'web'])
    expect(r.exitCode).toBe(0)

    const bad = await runAction(fleet.fleetDir, { 'dry-run': 'true', hosts: 'web nosuchhost' })
    expect(bad.exitCode).toBe(1)
    expect(bad.log).toMatch(/::error::Input 'hosts' names "nosuchhost", not in nixosConfigurations/)

    const none = await runAction(fleet.fleetDir, { 'dry-run': 'true', 'exclude-hosts': '.*' })
    expect(none.exitCode).toBe(1)
    expect(none.log).toContain('No hosts left to build')
    expect(none.log).toContain('exclude-hosts: .*')
  })

  test('a bad input fails before anything runs, naming the input', async () => {
    const r = await runAction(fleet.fleetDir, { 'exclude-hosts': '(' })
    expect(r.exitCode).toBe(1)
    expect(r.log).toContain("::error::Input 'exclude-hosts' is not a valid regular expression")
    expect(fleet.lock()).toBe(fs.readFileSync(path.join(fleet.fleetDir, 'flake.lock'), 'utf8'))
  })
})

describe('update-inputs with the Nix in use', () => {
  test('only the named input is updated', async () => {
    const salt = `inputs-${process.pid}-${Date.now()}`
    const { before, after } = examplePackageSets()
    const fleet = createFleet(uniquePackageSet(before, salt), [{ name: 'web', packages: ['curl'] }], {
      other: true
    })
    try {
      fleet.bump(uniquePackageSet(after, salt))
      fleet.bumpOther('version 2\n')
      const r = await runAction(fleet.fleetDir, { 'dry-run': 'true', 'update-inputs': 'other' })
      expect(r.exitCode).toBe(0)
      expect(JSON.parse(r.outputs['updated-inputs'])).toEqual(['other'])
      const both = await runAction(fleet.fleetDir, { 'dry-run': 'true' })
      expect(JSON.parse(both.outputs['updated-inputs'])).toEqual(['other', 'pkgs'])
      const bad = await runAction(fleet.fleetDir, { 'dry-run': 'true', 'update-inputs': 'nixpkgs' })
      expect(bad.exitCode).toBe(1)
      expect(bad.log).toContain(`Input 'update-inputs' names "nixpkgs", not an input of`)
    } finally {
      fleet.remove()
    }
  })
})
