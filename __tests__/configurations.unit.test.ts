import { InputError } from '../src/errors'
import { parseConfigurations } from '../src/inputs/parse'
import { builderSystems, canBuild, parsePlatforms } from '../src/nix/configurations'
import { singleToplevelExpr, toplevelsExpr } from '../src/nix/expr'
import { parseNixVersion, showConfigArgs } from '../src/nix/nix'
import { parseToplevels } from '../src/nix/evalpool'
import { failedHosts, hostStatus, regressedHosts, FleetReport } from '../src/report/model'
import { reproduceCommands } from '../src/report/sections'
import { HostBuild } from '../src/types'

describe('parseConfigurations', () => {
  test.each([
    ['nixosConfigurations', 'nixosConfigurations'],
    ['homeConfigurations', 'homeConfigurations'],
    [' darwinConfigurations\n', 'darwinConfigurations'],
    ['', 'nixosConfigurations']
  ])('%j is %s', (raw, set) => {
    expect(parseConfigurations(raw)).toBe(set)
  })

  test.each([
    'homeManagerConfigurations',
    'nixos',
    'nixosConfigurations homeConfigurations',
    'NixosConfigurations'
  ])('%j is an error naming the input and the allowed values', raw => {
    expect(() => parseConfigurations(raw)).toThrow(InputError)
    expect(() => parseConfigurations(raw)).toThrow(
      `Input 'configurations' must be one of nixosConfigurations, homeConfigurations, darwinConfigurations, got ${JSON.stringify(raw.trim())}`
    )
  })
})

describe('the evaluation expressions select the built attribute', () => {
  test('NixOS by default, as before', () => {
    expect(singleToplevelExpr('web')).toBe(
      'cs: let t = cs.${"web"}.${"config"}.${"system"}.${"build"}.${"toplevel"}; in { drv = t.drvPath; out = t.outPath; system = (t.system or (t.drvAttrs.system or null)); }'
    )
    expect(toplevelsExpr(['a', 'b'])).toContain('cs.${n}.${"config"}.${"system"}.${"build"}.${"toplevel"};')
  })

  test('home-manager: activationPackage; nix-darwin: system', () => {
    expect(singleToplevelExpr('alice@laptop', ['activationPackage'])).toContain(
      'cs.${"alice@laptop"}.${"activationPackage"};'
    )
    expect(toplevelsExpr(['mac'], ['system'])).toContain('let t = cs.${n}.${"system"};')
    expect(toplevelsExpr(['mac'], ['system'])).toContain(
      'system = (t.system or (t.drvAttrs.system or null));'
    )
  })
})

describe('parseToplevels reads the platform', () => {
  const drv = '/nix/store/aaaa-x.drv'
  const out = '/nix/store/bbbb-x'
  test('with and without a system', () => {
    const r = parseToplevels(
      JSON.stringify({ mac: { drv, out, system: 'aarch64-darwin' }, old: { drv, out, system: null } }),
      ['mac', 'old']
    )
    expect(r?.get('mac')).toEqual({ drvPath: drv, outPath: out, system: 'aarch64-darwin' })
    expect(r?.get('old')).toStrictEqual({ drvPath: drv, outPath: out })
  })
})

describe('platforms', () => {
  const files: Record<string, string> = {
    '/etc/nix/machines': '# builders\nssh://mac aarch64-darwin,x86_64-darwin /key 4\n\nssh://big - - 8\n',
    '/nested': '@/etc/nix/machines\nssh-ng://arm aarch64-linux'
  }
  const read = (f: string): string | undefined => files[f]

  test.each<[string, string[]]>([
    ['', []],
    ['@/etc/nix/machines', ['aarch64-darwin', 'x86_64-darwin', 'x86_64-linux']],
    ['@/missing', []],
    ['ssh://a aarch64-linux ; ssh://b', ['aarch64-linux', 'x86_64-linux']],
    [
      'ssh://a riscv64-linux\nssh://b i686-linux,armv7l-linux',
      ['riscv64-linux', 'i686-linux', 'armv7l-linux']
    ],
    ['@/nested', ['aarch64-darwin', 'x86_64-darwin', 'x86_64-linux', 'aarch64-linux']]
  ])('builders %j build for %j', (value, systems) => {
    expect(builderSystems(value, 'x86_64-linux', read)).toEqual(systems)
  })

  test('from show-config --json (Nix 2.8 and config show alike)', () => {
    const json = JSON.stringify({
      system: { value: 'x86_64-linux', defaultValue: 'x86_64-linux' },
      'extra-platforms': { value: ['i686-linux'] },
      builders: { value: 'ssh://mac aarch64-darwin' },
      cores: { value: 0 }
    })
    const p = parsePlatforms(json, read)
    expect(p).toEqual({ system: 'x86_64-linux', extra: ['i686-linux'], builders: ['aarch64-darwin'] })
    if (!p) throw new Error('no platforms')
    expect(canBuild(p, 'x86_64-linux')).toBe(true)
    expect(canBuild(p, 'i686-linux')).toBe(true)
    expect(canBuild(p, 'aarch64-darwin')).toBe(true)
    expect(canBuild(p, 'aarch64-linux')).toBe(false)
    expect(canBuild({ ...p, builders: [] }, 'aarch64-darwin')).toBe(false)
    // extra-platforms as one string (how a nix.conf line reads)
    expect(
      parsePlatforms(
        JSON.stringify({
          system: { value: 'aarch64-linux' },
          'extra-platforms': { value: 'armv7l-linux armv6l-linux' }
        }),
        read
      )
    ).toEqual({ system: 'aarch64-linux', extra: ['armv7l-linux', 'armv6l-linux'], builders: [] })
    expect(parsePlatforms('not json', read)).toBeUndefined()
    expect(parsePlatforms('{}', read)).toBeUndefined()
  })

  test.each([
    ['nix (Nix) 2.8.0', ['show-config', '--json']],
    ['nix (Nix) 2.19.3', ['show-config', '--json']],
    ['nix (Nix) 2.20.0', ['config', 'show', '--json']],
    ['nix (Nix) 2.34.0', ['config', 'show', '--json']],
    ['nix (Lix, like Nix) 2.91.1', ['show-config', '--json']]
  ])('%s: %j', (version, args) => {
    expect(showConfigArgs(parseNixVersion(version))).toEqual(args)
  })
})

describe('a host that is not buildable here', () => {
  const built: HostBuild = { host: 'h', status: 'built', outPath: '/nix/store/a-x' }
  const elsewhere: HostBuild = {
    host: 'h',
    status: 'not-buildable',
    outPath: '/nix/store/b-x',
    system: 'aarch64-darwin'
  }
  const evalFailed: HostBuild = { host: 'h', status: 'eval-failed', error: 'e' }

  test.each<[HostBuild, HostBuild, string]>([
    [elsewhere, elsewhere, 'not-buildable'],
    [built, elsewhere, 'not-buildable'],
    [elsewhere, built, 'not-buildable'],
    [elsewhere, evalFailed, 'regressed'],
    [evalFailed, elsewhere, 'fixed']
  ])('%j then %j: %s', (before, after, status) => {
    expect(hostStatus({ before, after, sameSystem: false })).toBe(status)
  })

  test('is neither failed nor regressed', () => {
    const report = {
      hosts: [{ host: 'mac', status: 'not-buildable', before: elsewhere, after: elsewhere, reboot: [] }]
    } as unknown as FleetReport
    expect(failedHosts(report)).toEqual([])
    expect(regressedHosts(report)).toEqual([])
  })

  test('the reproduce command builds the attribute of its output', () => {
    const h = { host: 'alice', status: 'regressed' as const, reboot: [] }
    expect(reproduceCommands(h)).toEqual([
      'nix build .#nixosConfigurations.alice.config.system.build.toplevel'
    ])
    expect(reproduceCommands(h, '.', 'homeConfigurations')).toEqual([
      'nix build .#homeConfigurations.alice.activationPackage'
    ])
    expect(reproduceCommands(h, './f', 'darwinConfigurations')).toEqual([
      'nix build ./f#darwinConfigurations.alice.system'
    ])
  })
})
