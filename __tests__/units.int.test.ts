import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { Nix } from '../src/nix/nix'
import { buildHosts } from '../src/pipeline/build'
import { diffHosts } from '../src/pipeline/diff'
import { updateLock } from '../src/pipeline/update'
import { Fleet, createFleet, examplePackageSets, uniquePackageSet } from '../testkit/fleet'

describe('units that switch would touch, from real systems in the NixOS layout', () => {
  let nix: Nix
  let fleet: Fleet
  let roots: string
  const salt = `units-${process.pid}-${Date.now()}`
  const { before, after } = examplePackageSets()

  beforeAll(async () => {
    nix = await Nix.create()
    fleet = createFleet(uniquePackageSet(before, salt), [
      { name: 'web', packages: ['curl'], services: ['nginx'] },
      { name: 'mail', packages: ['curl'], services: ['postfix', 'dovecot'] },
      { name: 'laptop', packages: ['htop', 'swww'] }
    ])
    roots = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-roots-'))
  })
  afterAll(() => {
    fleet.remove()
    fs.rmSync(roots, { recursive: true, force: true })
  })

  test('example package set: reload, restart, left running, start, stop; release, kernel and warnings', async () => {
    const hosts = ['laptop', 'mail', 'web']
    const b = await buildHosts(nix, fleet.fleetDir, hosts, path.join(roots, 'a'))
    fleet.bump(uniquePackageSet({ ...after, failing: [] }, salt))
    expect((await updateLock(nix, fleet.fleetDir, [], fleet.lock())).changed).toBe(true)
    const a = await buildHosts(nix, fleet.fleetDir, hosts, path.join(roots, 'b'))
    const diffs = await diffHosts(
      nix,
      hosts.map(host => ({
        host,
        before: b.hosts.get(host)?.outPath as string,
        after: a.hosts.get(host)?.outPath as string
      }))
    )
    const by = new Map(diffs.map(d => [d.host, d]))
    // nginx changes with its package (new dependency); its unit says X-ReloadIfChanged.
    expect(by.get('web')?.units).toEqual({
      restart: [],
      reload: ['nginx.service'],
      start: ['nginx-exporter.service'],
      stop: ['nginx-cache-purge.service'],
      notRestarted: []
    })
    // postfix and dovecot change with openssl; dovecot says X-RestartIfChanged=false.
    expect(by.get('mail')?.units).toEqual({
      restart: ['postfix.service'],
      reload: [],
      start: [],
      stop: [],
      notRestarted: ['dovecot.service']
    })
    expect(by.get('laptop')?.units).toEqual({
      restart: [],
      reload: [],
      start: [],
      stop: [],
      notRestarted: []
    })
    expect(by.get('web')?.kernel).toEqual({ before: '6.6.30', after: '6.6.31' })
    expect(by.get('web')?.release).toEqual({
      before: '24.05.20240101.fixture',
      after: '24.05.20240101.fixture'
    })
    expect(a.hosts.get('mail')?.warnings).toEqual([after.warnings?.[0].text])
    expect(b.hosts.get('laptop')?.warnings).toEqual([before.warnings?.[0].text])
    expect(a.hosts.get('laptop')?.warnings).toEqual([])
  })
})
