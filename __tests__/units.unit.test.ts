import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import {
  UnitChanges,
  UnitTree,
  activeUnits,
  classifyUnits,
  compareUnits,
  parseUnitFile,
  readUnitTree
} from '../src/nix/units'
import { pendingChanges } from '../src/nix/received'

/** A system's units from unit texts; `wants` lists what multi-user.target (or another unit) pulls in. */
function tree(units: Record<string, string | null>, wants: Record<string, string[]> = {}): UnitTree {
  const t: UnitTree = {
    units: new Map(),
    wants: new Map(Object.entries(wants)),
    defaultTarget: 'multi-user.target'
  }
  t.units.set('multi-user.target', parseUnitFile('[Unit]\nDescription=Multi-User System\n'))
  for (const [name, text] of Object.entries(units))
    t.units.set(name, text === null ? 'masked' : parseUnitFile(text))
  return t
}

const svc = (exec: string, extra = '', unit = ''): string =>
  `[Unit]\nDescription=a service\n${unit}\n[Service]\nExecStart=${exec}\n${extra}\n[Install]\nWantedBy=multi-user.target\n`
const none: UnitChanges = { restart: [], reload: [], start: [], stop: [], notRestarted: [] }

describe('classifyUnits: what switch-to-configuration does with each unit', () => {
  const W = { 'multi-user.target': ['a.service'] }
  test.each<
    [
      string,
      Record<string, string | null>,
      Record<string, string | null>,
      Partial<UnitChanges>,
      Record<string, string[]>?
    ]
  >([
    ['unchanged', { 'a.service': svc('/old') }, { 'a.service': svc('/old') }, {}],
    [
      'changed: stopped and started',
      { 'a.service': svc('/old') },
      { 'a.service': svc('/new') },
      { restart: ['a.service'] }
    ],
    [
      'X-StopIfChanged=false: restarted in place',
      { 'a.service': svc('/old') },
      { 'a.service': svc('/new', 'X-StopIfChanged=false') },
      { restart: ['a.service'] }
    ],
    [
      'X-ReloadIfChanged=true: reloaded',
      { 'a.service': svc('/old') },
      { 'a.service': svc('/new', 'X-ReloadIfChanged=true') },
      { reload: ['a.service'] }
    ],
    [
      'X-RestartIfChanged=false: left running',
      { 'a.service': svc('/old') },
      { 'a.service': svc('/new', 'X-RestartIfChanged=false') },
      { notRestarted: ['a.service'] }
    ],
    [
      'RefuseManualStop=true: left running',
      { 'a.service': svc('/old') },
      { 'a.service': svc('/new', '', 'RefuseManualStop=true') },
      { notRestarted: ['a.service'] }
    ],
    [
      'X-OnlyManualStart=true: left running',
      { 'a.service': svc('/old') },
      { 'a.service': svc('/new', '', 'X-OnlyManualStart=true') },
      { notRestarted: ['a.service'] }
    ],
    [
      'only Description changed: nothing',
      { 'a.service': svc('/old') },
      { 'a.service': svc('/old').replace('a service', 'renamed') },
      {}
    ],
    [
      'only [Install] changed: nothing',
      { 'a.service': svc('/old') },
      { 'a.service': svc('/old').replace('WantedBy=multi-user.target', 'WantedBy=default.target') },
      {}
    ],
    [
      'only X-Reload-Triggers changed: reloaded',
      { 'a.service': svc('/old', '', 'X-Reload-Triggers=/nix/store/a') },
      { 'a.service': svc('/old', '', 'X-Reload-Triggers=/nix/store/b') },
      { reload: ['a.service'] }
    ],
    [
      'X-Reload-Triggers and ExecStart changed: restarted',
      { 'a.service': svc('/old', '', 'X-Reload-Triggers=/nix/store/a') },
      { 'a.service': svc('/new', '', 'X-Reload-Triggers=/nix/store/b') },
      { restart: ['a.service'] }
    ],
    [
      'an empty value clears: same unit',
      { 'a.service': svc('/old') },
      { 'a.service': svc('/x\nExecStart=\nExecStart=/old') },
      {}
    ],
    ['removed: stopped', { 'a.service': svc('/old') }, {}, { stop: ['a.service'] }],
    ['masked: stopped', { 'a.service': svc('/old') }, { 'a.service': null }, { stop: ['a.service'] }],
    [
      'removed with X-StopOnRemoval=false: kept',
      { 'a.service': svc('/old', '', 'X-StopOnRemoval=false') },
      {},
      {}
    ],
    [
      'one-shot that has exited and changed: runs again',
      { 'a.service': svc('/old', 'Type=oneshot') },
      { 'a.service': svc('/new', 'Type=oneshot') },
      { start: ['a.service'] }
    ],
    [
      'one-shot with RemainAfterExit, changed: restarted',
      { 'a.service': svc('/old', 'Type=oneshot\nRemainAfterExit=yes') },
      { 'a.service': svc('/new', 'Type=oneshot\nRemainAfterExit=yes') },
      { restart: ['a.service'] }
    ],
    [
      'one-shot that has exited, unchanged: not listed',
      { 'a.service': svc('/old', 'Type=oneshot') },
      { 'a.service': svc('/old', 'Type=oneshot') },
      {}
    ]
  ])('%s', (_, before, after, expected) => {
    expect(classifyUnits(tree(before, W), tree(after, W))).toEqual({ ...none, ...expected })
  })

  test('a new unit wanted by an active target is started; one nothing wants is not', () => {
    const before = tree({ 'a.service': svc('/a') }, { 'multi-user.target': ['a.service'] })
    const after = tree(
      { 'a.service': svc('/a'), 'b.service': svc('/b'), 'idle.service': svc('/idle') },
      { 'multi-user.target': ['a.service', 'b.service'] }
    )
    expect(classifyUnits(before, after)).toEqual({ ...none, start: ['b.service'] })
  })

  test('new units under a new target start with it; an active target with X-OnlyManualStart is not started', () => {
    const target = (extra = ''): string => `[Unit]\nDescription=t\n${extra}\n`
    const before = tree(
      { 'web.target': target(), 'manual.target': target('X-OnlyManualStart=true'), 'auto.target': target() },
      { 'multi-user.target': ['web.target', 'manual.target', 'auto.target'] }
    )
    const after = tree(
      {
        'web.target': target(),
        'manual.target': target('X-OnlyManualStart=true'),
        'auto.target': target(),
        'new.target': target(),
        'x.service': svc('/x'),
        'y.service': svc('/y'),
        'z.service': svc('/z'),
        'w.service': svc('/w'),
        'app.slice': '[Slice]\nCPUWeight=10\n'
      },
      {
        // manual.target and auto.target were running; nothing wants them any more, but they still exist.
        'multi-user.target': ['web.target', 'new.target', 'app.slice'],
        'web.target': ['x.service'],
        'manual.target': ['y.service'],
        'auto.target': ['w.service'],
        'new.target': ['z.service']
      }
    )
    // Targets and slices are never listed; manual.target is started by hand only, and with it y.service.
    expect(classifyUnits(before, after)).toEqual({ ...none, start: ['w.service', 'x.service', 'z.service'] })
  })

  test("a socket-activated service: the socket is restarted, the service stopped until it's needed", () => {
    const sock = '[Unit]\nDescription=s\n[Socket]\nListenStream=80\n'
    const w = { 'multi-user.target': ['sockets.target'], 'sockets.target': ['a.socket', 'a.service'] }
    const units = (exec: string): Record<string, string> => ({
      'sockets.target': '[Unit]\nDescription=Sockets\n',
      'a.socket': sock,
      'a.service': svc(exec)
    })
    expect(classifyUnits(tree(units('/old'), w), tree(units('/new'), w))).toEqual({
      ...none,
      restart: ['a.socket'],
      stop: ['a.service']
    })
    // X-NotSocketActivated: the service is started again as well.
    const opted = (exec: string): Record<string, string> => ({
      ...units(exec),
      'a.service': svc(exec, 'X-NotSocketActivated=true')
    })
    expect(classifyUnits(tree(opted('/old'), w), tree(opted('/new'), w))).toEqual({
      ...none,
      restart: ['a.service', 'a.socket']
    })
  })

  test('mounts: Options alone reloads (remounts); anything else restarts; / and /nix are only ever reloaded', () => {
    const mount = (what: string, options: string): string =>
      `[Unit]\n[Mount]\nWhat=${what}\nWhere=/x\nOptions=${options}\n`
    const w = { 'multi-user.target': ['data.mount', 'srv.mount', '-.mount'] }
    const before = tree(
      {
        'data.mount': mount('/dev/a', 'rw'),
        'srv.mount': mount('/dev/b', 'rw'),
        '-.mount': mount('/dev/r', 'rw')
      },
      w
    )
    const after = tree(
      {
        'data.mount': mount('/dev/a', 'ro'),
        'srv.mount': mount('/dev/c', 'rw'),
        '-.mount': mount('/dev/s', 'rw')
      },
      w
    )
    expect(classifyUnits(before, after)).toEqual({
      ...none,
      restart: ['srv.mount'],
      reload: ['-.mount', 'data.mount']
    })
  })

  test('template instances use the template file; changed sockets are left alone', () => {
    const w = { 'multi-user.target': ['getty@tty1.service', 'x.socket'] }
    const before = tree({ 'getty@.service': svc('/agetty-1'), 'x.socket': '[Socket]\nListenStream=1\n' }, w)
    const after = tree({ 'getty@.service': svc('/agetty-2'), 'x.socket': '[Socket]\nListenStream=2\n' }, w)
    expect(classifyUnits(before, after)).toEqual({ ...none, restart: ['getty@tty1.service'] })
  })

  test('only units the default target pulls in count as running', () => {
    const before = tree(
      { 'a.service': svc('/a'), 'dep.service': svc('/d'), 'timer-run.service': svc('/t') },
      { 'multi-user.target': ['a.service'] }
    )
    before.units.set('a.service', parseUnitFile(svc('/a', '', 'Requires=dep.service')))
    expect([...activeUnits(before)].sort()).toEqual(['a.service', 'dep.service', 'multi-user.target'])
  })
})

describe('compareUnits', () => {
  test.each([
    ['[Unit]\nDescription=x\n[Service]\nA=1\n', '[Service]\nA=1\n', 'equal'],
    ['[Unit]\nAfter=x\n[Service]\nA=1\n', '[Service]\nA=1\n', 'restart'],
    ['[Service]\nA=1\n', '[Unit]\nDocumentation=y\n[Service]\nA=1\n', 'equal'],
    ['[Service]\nA=1\n', '[Unit]\nX-Reload-Triggers=z\n[Service]\nA=1\n', 'reload'],
    ['[Service]\nA=1\n', '[Service]\nA=1\nB=2\n', 'restart'],
    ['[Service]\nA=1\n', '[Service]\nA=1\n[Path]\nB=2\n', 'restart'],
    ['[Service]\nA=1\nA=2\n', '[Service]\nA=2\nA=1\n', 'restart'],
    ['# comment\n[Service]\nA = 1\n', '[Service]\n; other\nA=1\n', 'equal']
  ])('%j → %j: %s', (a, b, expected) => {
    expect(compareUnits(parseUnitFile(a), parseUnitFile(b))).toBe(expected)
  })
})

describe('readUnitTree: the NixOS layout on disk', () => {
  let dir: string
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-units-'))
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  /** toplevel/etc → etc-tree/etc; etc/systemd/system → system-units, whose entries link to per-unit paths. */
  function system(name: string, files: Record<string, string>, dropIns: Record<string, string> = {}): string {
    const units = path.join(dir, `${name}-system-units`)
    fs.mkdirSync(path.join(units, 'multi-user.target.wants'), { recursive: true })
    for (const [unit, text] of Object.entries({ 'multi-user.target': '[Unit]\n', ...files })) {
      const store = path.join(dir, `${name}-unit-${unit}`)
      fs.mkdirSync(store, { recursive: true })
      fs.writeFileSync(path.join(store, unit), text)
      fs.symlinkSync(path.join(store, unit), path.join(units, unit))
      if (unit.endsWith('.service'))
        fs.symlinkSync(`../${unit}`, path.join(units, 'multi-user.target.wants', unit))
    }
    for (const [unit, text] of Object.entries(dropIns)) {
      fs.mkdirSync(path.join(units, `${unit}.d`))
      fs.writeFileSync(path.join(units, `${unit}.d`, 'overrides.conf'), text)
    }
    fs.symlinkSync('multi-user.target', path.join(units, 'default.target'))
    fs.symlinkSync('/dev/null', path.join(units, 'masked.service'))
    // Neither a dangling link nor a device other than /dev/null is read.
    fs.symlinkSync(path.join(dir, 'nowhere'), path.join(units, 'dangling.service'))
    fs.symlinkSync('/dev/zero', path.join(units, 'zero.service'))
    const etc = path.join(dir, `${name}-etc`, 'etc', 'systemd')
    fs.mkdirSync(etc, { recursive: true })
    fs.symlinkSync(units, path.join(etc, 'system'))
    const top = path.join(dir, `${name}-toplevel`)
    fs.mkdirSync(top)
    fs.symlinkSync(path.join(dir, `${name}-etc`, 'etc'), path.join(top, 'etc'))
    return top
  }

  test('links, wants directories, drop-ins and masks; a system without units gives undefined', () => {
    const before = readUnitTree(system('a', { 'web.service': svc('/web'), 'db.service': svc('/db') }))
    const after = readUnitTree(
      system(
        'b',
        { 'web.service': svc('/web'), 'db.service': svc('/db') },
        { 'db.service': '[Service]\nExecStart=\nExecStart=/db2\n' }
      )
    )
    if (!before || !after) throw new Error('no unit tree')
    expect(before.defaultTarget).toBe('multi-user.target')
    expect(before.wants.get('multi-user.target')?.sort()).toEqual(['db.service', 'web.service'])
    expect(before.units.get('masked.service')).toBe('masked')
    expect(classifyUnits(before, after)).toEqual({ ...none, restart: ['db.service'] })
    expect(before.units.has('dangling.service')).toBe(false)
    expect(before.units.has('zero.service')).toBe(false)
    expect(readUnitTree(dir)).toBeUndefined()
  })
})

describe('pendingChanges: what an unbuilt system would have brought', () => {
  const S = '/nix/store/0123456789abcdfghijklmnpqrsvwxyz'
  test('versions of the old closure against the new derivations; unchanged, vanished and build-only names are left out', () => {
    const old = [
      `${S}-openssl-3.0.13`,
      `${S}-curl-8.7.1`,
      `${S}-etc`,
      `${S}-libidn2-2.3.7`,
      `${S}-bash-5.2p26`
    ]
    const drvs = [
      `${S}-openssl-3.0.14.drv`,
      `${S}-curl-8.8.0.drv`,
      `${S}-etc.drv`,
      `${S}-bash-5.2p26.drv`,
      `${S}-bash-5.2p26`,
      `${S}-gcc-13.2.0.drv`,
      `${S}-source`
    ]
    expect(pendingChanges(old, drvs)).toEqual([
      { name: 'curl', before: ['8.7.1'], after: ['8.8.0'] },
      { name: 'openssl', before: ['3.0.13'], after: ['3.0.14'] }
    ])
  })
})
