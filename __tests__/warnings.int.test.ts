import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { Nix } from '../src/nix/nix'
import { buildHosts } from '../src/pipeline/build'
import { compareWarnings } from '../src/nix/warnings'
import { Fleet, createFleet, examplePackageSets, uniquePackageSet } from '../testkit/fleet'

describe('evaluation warnings on real Nix', () => {
  let nix: Nix
  let fleet: Fleet
  let roots: string
  const { before } = examplePackageSets()
  const salt = `warn-${process.pid}-${Date.now()}`

  beforeAll(async () => {
    nix = await Nix.create()
    fleet = createFleet(
      uniquePackageSet(
        { ...before, warnings: [{ for: 'htop', text: 'htop: the option `a` was renamed' }] },
        salt
      ),
      [
        { name: 'web', packages: ['curl'], services: ['nginx'] },
        { name: 'mail', packages: ['curl', 'htop'] },
        { name: 'broken', expr: 'throw "broken on purpose"' }
      ]
    )
    roots = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-roots-'))
  })
  afterAll(() => {
    fleet.remove()
    fs.rmSync(roots, { recursive: true, force: true })
  })

  test('captured per host from the shared evaluation; new and gone after an update', async () => {
    const hosts = ['broken', 'mail', 'web']
    const b = await buildHosts(nix, fleet.fleetDir, hosts, path.join(roots, 'a'))
    expect(b.hosts.get('mail')?.warnings).toEqual(['htop: the option `a` was renamed'])
    expect(b.hosts.get('web')?.warnings).toEqual([])
    expect(b.hosts.get('broken')?.warnings).toEqual([])

    fleet.bump(
      uniquePackageSet(
        {
          ...before,
          warnings: [
            { for: 'nginx', text: 'The option `services.nginx.foo` has been renamed.\nUse bar instead.' },
            { for: 'curl', text: 'curl is old' }
          ]
        },
        salt
      )
    )
    execFileSync('nix', ['flake', 'update'], { cwd: fleet.fleetDir, stdio: 'ignore' })
    const a = await buildHosts(nix, fleet.fleetDir, hosts, path.join(roots, 'b'))
    expect(a.hosts.get('web')?.warnings?.sort()).toEqual([
      'The option `services.nginx.foo` has been renamed.\nUse bar instead.',
      'curl is old'
    ])
    expect(a.hosts.get('mail')?.warnings).toEqual(['curl is old'])
    const r = compareWarnings(
      hosts.map(h => ({ host: h, before: b.hosts.get(h)?.warnings, after: a.hosts.get(h)?.warnings }))
    )
    expect(r.new).toEqual([
      { text: 'curl is old', hosts: ['mail', 'web'] },
      { text: 'The option `services.nginx.foo` has been renamed.\nUse bar instead.', hosts: ['web'] }
    ])
    expect(r.gone).toEqual([{ text: 'htop: the option `a` was renamed', hosts: ['mail'] }])
  })

  test('a host that aborts the shared evaluation: each host alone, warnings still attributed', async () => {
    const f = createFleet(
      uniquePackageSet({ ...before, warnings: [{ for: 'htop', text: 'htop warning' }] }, `${salt}-abort`),
      [
        { name: 'ok', packages: ['htop'] },
        { name: 'aborts', expr: 'abort "cannot be caught by tryEval"' }
      ]
    )
    try {
      const r = await buildHosts(nix, f.fleetDir, ['aborts', 'ok'], path.join(roots, 'c'))
      expect(r.hosts.get('aborts')?.status).toBe('eval-failed')
      expect(r.hosts.get('aborts')?.warnings).toEqual([])
      expect(r.hosts.get('ok')?.warnings).toEqual(['htop warning'])
    } finally {
      f.remove()
    }
  })
})
