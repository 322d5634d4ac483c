import { Nix } from '../src/nix/nix'
import { WaveEvaluator, evaluateWaves } from '../src/rollout/waves'
import { createFleet, examplePackageSets, uniquePackageSet } from '../testkit/fleet'

// Each host's wave with real Nix from a fixture fleet: the option's value, 0 where it does not exist, and for a
// wave that is broken in each way a message and wave 0, without building anything or stopping the others.
test('waves from the hosts configurations: missing, set, and broken in every way', async () => {
  const salt = `rollout-waves-${process.pid}-${Date.now()}`
  const fleet = createFleet(uniquePackageSet(examplePackageSets().before, salt), [
    { name: 'a', packages: ['curl'], wave: '0' },
    { name: 'b', packages: ['curl'], wave: '1' },
    { name: 'c', packages: ['curl'], wave: '2' },
    { name: 'plain', packages: ['curl'] },
    { name: 'thrown', packages: ['curl'], wave: 'throw "no wave here"' },
    { name: 'typo', packages: ['curl'], wave: '1 + "a"' },
    { name: 'negative', packages: ['curl'], wave: '-1' },
    { name: 'text', packages: ['curl'], wave: '"2"' },
    { name: 'broken', expr: 'throw "broken: does not evaluate"' }
  ])
  try {
    const nix = await Nix.create()
    const calls: string[][] = []
    const counting: WaveEvaluator = {
      evalWaves: (flake, hosts, limit) => {
        calls.push(hosts)
        return nix.evalWaves(flake, hosts, limit)
      }
    }
    const hosts = ['a', 'b', 'c', 'plain', 'thrown', 'typo', 'negative', 'text', 'broken']
    const waves = await evaluateWaves(counting, fleet.fleetDir, hosts, 1024 * 1024 * 1024)
    const byHost = Object.fromEntries(waves.map(w => [w.host, w]))
    expect(byHost.a).toEqual({ host: 'a', wave: 0 })
    expect(byHost.b).toEqual({ host: 'b', wave: 1 })
    expect(byHost.c).toEqual({ host: 'c', wave: 2 })
    expect(byHost.plain).toEqual({ host: 'plain', wave: 0 })
    expect([byHost.thrown.wave, byHost.thrown.error]).toEqual([
      0,
      expect.stringContaining('no wave here') as string
    ])
    expect([byHost.typo.wave, byHost.typo.error]).toEqual([
      0,
      expect.stringContaining('cannot add a string to an integer') as string
    ])
    expect(byHost.negative).toEqual({
      host: 'negative',
      wave: 0,
      error: 'config.services.fleet-auto-upgrade.rollout.wave is -1, not a whole number of at least 0'
    })
    expect(byHost.text).toEqual({
      host: 'text',
      wave: 0,
      error: 'config.services.fleet-auto-upgrade.rollout.wave is a string, not a whole number'
    })
    expect([byHost.broken.wave, byHost.broken.error]).toEqual([
      0,
      expect.stringContaining('broken: does not evaluate') as string
    ])
    // The type error breaks the shared evaluation: halves are tried, not every host alone.
    expect(calls).toEqual([
      hosts,
      ['a', 'b', 'c', 'plain', 'thrown'],
      ['thrown'],
      ['typo', 'negative', 'text', 'broken'],
      ['typo', 'negative'],
      ['typo'],
      ['negative'],
      ['text', 'broken'],
      ['text'],
      ['broken']
    ])
  } finally {
    fleet.remove()
  }
})
