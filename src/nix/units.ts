import * as fs from 'fs'
import * as path from 'path'

/**
 * What `switch-to-configuration switch` would do with the systemd units when a host moves from one built system
 * to another, worked out from the two systems' `etc/systemd/system` alone. The rules follow nixpkgs'
 * switch-to-configuration (pkgs/by-name/sw/switch-to-configuration-ng): which units count as changed, restarted,
 * reloaded, left running, started and stopped. What only the running host knows is approximated: the active
 * units are those the default target pulls in (see `activeUnits`).
 */

/** A parsed unit: section → key → values in order (an empty assignment clears the earlier ones). */
export type UnitInfo = Map<string, Map<string, string[]>>

/** A system's units: the parsed unit files (drop-ins merged; `masked` for links to /dev/null) and dependencies. */
export interface UnitTree {
  units: Map<string, UnitInfo | 'masked'>
  /** `NAME.wants/`, `NAME.requires/` and `NAME.upholds/` entries, by NAME. */
  wants: Map<string, string[]>
  /** The unit `default.target` links to, when it is a link. */
  defaultTarget?: string
}

/** The per-host answer: unit names in each list, sorted as switch-to-configuration prints them. */
export interface UnitChanges {
  /** Stopped and started again, or restarted in place (`X-StopIfChanged=false`, non-services). */
  restart: string[]
  /** Reloaded: `X-ReloadIfChanged=true`, or only `X-Reload-Triggers` (or a mount's `Options`) changed. */
  reload: string[]
  /** Not running before and started now: new units, or changed ones that were not active. */
  start: string[]
  /** Stopped and not started again: removed (or masked) units, or services left to their socket. */
  stop: string[]
  /**
   * Changed units that `switch` leaves running on the old version (`X-RestartIfChanged=false`,
   * `RefuseManualStop=true`, `X-OnlyManualStart=true`): nixpkgs prints them as "NOT restarting".
   */
  notRestarted: string[]
}

/** Parses one unit file (or drop-in) into `into`, as switch-to-configuration's parse_systemd_ini does. */
export function parseUnitFile(text: string, into: UnitInfo = new Map()): UnitInfo {
  let section: Map<string, string[]> | undefined
  // Values of one key within this file, gathered before they are merged: an empty value clears them.
  const local = new Map<Map<string, string[]>, Map<string, { values: string[]; clear: boolean }>>()
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const head = /^\[(.*)\]$/.exec(line)
    if (head) {
      // [Install] has nothing switch-to-configuration looks at.
      if (head[1] === 'Install') {
        section = undefined
        continue
      }
      section = into.get(head[1]) ?? new Map<string, string[]>()
      into.set(head[1], section)
      continue
    }
    const eq = line.indexOf('=')
    if (!section || eq < 0) continue
    const key = line.slice(0, eq).trim()
    const value = line.slice(eq + 1).trim()
    const keys = local.get(section) ?? new Map<string, { values: string[]; clear: boolean }>()
    local.set(section, keys)
    const entry = keys.get(key) ?? { values: [], clear: false }
    keys.set(key, entry)
    if (value === '') {
      entry.values = []
      entry.clear = true
    } else {
      entry.values.push(value)
    }
  }
  for (const [sec, keys] of local) {
    for (const [key, { values, clear }] of keys) {
      const existing = sec.get(key)
      sec.set(key, existing && !clear ? [...existing, ...values] : values)
    }
  }
  return into
}

/** A boolean setting as systemd reads it (`1`, `yes`, `true`, `on`), the last value winning. */
export function unitBool(
  info: UnitInfo | undefined,
  section: string,
  key: string,
  fallback: boolean
): boolean {
  const values = info?.get(section)?.get(key)
  const last = values?.[values.length - 1]
  return last === undefined ? fallback : ['1', 'yes', 'true', 'on'].includes(last)
}

/** [Unit] keys whose change does not restart a unit (switch-to-configuration's list). */
const UNIT_IGNORED = new Set([
  'X-Reload-Triggers',
  'Description',
  'Documentation',
  'OnFailure',
  'OnSuccess',
  'OnFailureJobMode',
  'IgnoreOnIsolate',
  'StopWhenUnneeded',
  'RefuseManualStart',
  'RefuseManualStop',
  'AllowIsolate',
  'CollectMode',
  'SourcePath'
])

const sameValues = (a: string[], b: string[]): boolean =>
  a.length === b.length && a.every((v, i) => v === b[i])

/** switch-to-configuration's compare_units: equal, or a change that needs a reload, or one that needs a restart. */
export function compareUnits(current: UnitInfo, next: UnitInfo): 'equal' | 'reload' | 'restart' {
  let result: 'equal' | 'reload' = 'equal'
  const newSections = new Set(next.keys())
  for (const [name, keys] of current) {
    const nextKeys = next.get(name)
    if (!nextKeys) {
      // A removed [Unit] section matters only for keys that are not ignored.
      if (name === 'Unit' && [...keys.keys()].every(k => UNIT_IGNORED.has(k))) continue
      return 'restart'
    }
    newSections.delete(name)
    const newKeys = new Set(nextKeys.keys())
    for (const [key, value] of keys) {
      newKeys.delete(key)
      const nextValue = nextKeys.get(key)
      if (!nextValue) {
        if (name === 'Unit' && UNIT_IGNORED.has(key)) continue
        return 'restart'
      }
      if (sameValues(value, nextValue)) continue
      if (name === 'Unit' && key === 'X-Reload-Triggers') {
        result = 'reload'
        continue
      }
      if (name === 'Unit' && UNIT_IGNORED.has(key)) continue
      if (name === 'Mount' && key === 'Options') {
        result = 'reload'
        continue
      }
      return 'restart'
    }
    for (const key of newKeys) {
      if (name !== 'Unit') return 'restart'
      if (key === 'X-Reload-Triggers') result = 'reload'
      else if (!UNIT_IGNORED.has(key)) return 'restart'
    }
  }
  if (newSections.size > 0) {
    if (newSections.size !== 1 || !newSections.has('Unit')) return 'restart'
    for (const key of next.get('Unit')?.keys() ?? []) {
      if (!UNIT_IGNORED.has(key)) return 'restart'
      if (key === 'X-Reload-Triggers') result = 'reload'
    }
  }
  return result
}

const TEMPLATE = /^(.*)@[^.]*\.(.*)$/

/** A unit's parsed file: its own, else its template's (`getty@tty1.service` → `getty@.service`). */
export function unitFile(tree: UnitTree, unit: string): UnitInfo | 'masked' | undefined {
  const own = tree.units.get(unit)
  if (own) return own
  const t = TEMPLATE.exec(unit)
  return t ? tree.units.get(`${t[1]}@.${t[2]}`) : undefined
}

const DEP_KEYS = ['Wants', 'Requires', 'BindsTo', 'Upholds']

function dependencies(tree: UnitTree, unit: string): string[] {
  const info = unitFile(tree, unit)
  const out = [...(tree.wants.get(unit) ?? [])]
  if (info && info !== 'masked') {
    for (const key of DEP_KEYS) {
      for (const v of info.get('Unit')?.get(key) ?? []) out.push(...v.split(/\s+/).filter(Boolean))
    }
  }
  return out
}

/** Units reachable from `roots` through Wants/Requires/BindsTo/Upholds and the `.wants`-style directories. */
export function reachable(tree: UnitTree, roots: string[]): Set<string> {
  const seen = new Set<string>()
  const queue = [...roots]
  while (queue.length > 0) {
    const unit = queue.pop() as string
    if (seen.has(unit)) continue
    const info = unitFile(tree, unit)
    if (!info || info === 'masked') continue
    seen.add(unit)
    queue.push(...dependencies(tree, unit))
  }
  return seen
}

/**
 * The units that are active on a host running this system, as far as the system says: what the default target
 * (else multi-user.target) pulls in, except one-shot services that have exited (no `RemainAfterExit`). Units
 * started by hand, by a timer, a socket, a path or D-Bus are not known to be running.
 */
export function activeUnits(tree: UnitTree): Set<string> {
  const active = reachable(tree, [tree.defaultTarget ?? 'multi-user.target'])
  for (const unit of [...active]) {
    const info = unitFile(tree, unit)
    if (
      info &&
      info !== 'masked' &&
      unit.endsWith('.service') &&
      (info.get('Service')?.get('Type') ?? []).slice(-1)[0] === 'oneshot' &&
      !unitBool(info, 'Service', 'RemainAfterExit', false)
    ) {
      active.delete(unit)
    }
  }
  return active
}

/** Units the report leaves out: they are started or kept by others, and never restarted for themselves. */
const UNLISTED = /\.(target|slice|device|scope)$/

const SLEEP_TARGETS = new Set(['suspend.target', 'hibernate.target', 'hybrid-sleep.target'])

/** What switch-to-configuration would do moving from `current` to `next`, both running as far as we can tell. */
export function classifyUnits(current: UnitTree, next: UnitTree): UnitChanges {
  const active = activeUnits(current)
  const stop = new Set<string>()
  const start = new Set<string>()
  const restart = new Set<string>()
  const reload = new Set<string>()
  const skip = new Set<string>()
  const targets: string[] = []

  const handleModified = (unit: string, info: UnitInfo): void => {
    if (/^(sysinit|basic|multi-user|graphical)\.target$/.test(unit) || /\.(unit|slice)$/.test(unit)) return
    if (unit.endsWith('.mount')) {
      // Unmounting / or /nix is not an option: those are reloaded (remounted).
      if (unit === '-.mount' || unit === 'nix.mount') reload.add(unit)
      else restart.add(unit)
      return
    }
    // switch-to-configuration does nothing for changed sockets.
    if (unit.endsWith('.socket')) return
    if (unit.startsWith('systemd-nspawn@')) return
    if (unitBool(info, 'Service', 'X-ReloadIfChanged', false) && !restart.has(unit) && !stop.has(unit)) {
      reload.add(unit)
    } else if (
      !unitBool(info, 'Service', 'X-RestartIfChanged', true) ||
      unitBool(info, 'Unit', 'RefuseManualStop', false) ||
      unitBool(info, 'Unit', 'X-OnlyManualStart', false)
    ) {
      skip.add(unit)
    } else if (!unitBool(info, 'Service', 'X-StopIfChanged', true) || !unit.endsWith('.service')) {
      restart.add(unit)
      reload.delete(unit)
    } else {
      // A socket-activated service is stopped with its socket; the socket starts again and the service on demand.
      let socketActivated = false
      const declared = (info.get('Service')?.get('Sockets') ?? []).join(' ').split(/\s+/).filter(Boolean)
      const sockets = declared.length > 0 ? declared : [`${unit.replace(/\.[a-z]*$/, '')}.socket`]
      for (const socket of sockets) {
        if (!active.has(socket)) continue
        stop.add(socket)
        if (unitFile(next, socket) && unitFile(next, socket) !== 'masked') {
          start.add(socket)
          socketActivated = true
        }
        reload.delete(unit)
      }
      if (unitBool(info, 'Service', 'X-NotSocketActivated', false)) socketActivated = false
      if (!socketActivated) start.add(unit)
      stop.add(unit)
      reload.delete(unit)
    }
  }

  for (const unit of [...active].sort()) {
    const old = unitFile(current, unit)
    if (!old || old === 'masked') continue
    const info = unitFile(next, unit)
    if (!info || info === 'masked') {
      if (unitBool(old, 'Unit', 'X-StopOnRemoval', true)) stop.add(unit)
    } else if (unit.endsWith('.target')) {
      // Active targets are started again, which starts what they now want.
      if (
        !SLEEP_TARGETS.has(unit) &&
        !unitBool(info, 'Unit', 'RefuseManualStart', false) &&
        !unitBool(info, 'Unit', 'X-OnlyManualStart', false)
      ) {
        targets.push(unit)
      }
      if (unitBool(info, 'Unit', 'X-StopOnReconfiguration', false)) stop.add(unit)
    } else {
      const cmp = compareUnits(old, info)
      if (cmp === 'restart') handleModified(unit, info)
      else if (cmp === 'reload' && !restart.has(unit)) reload.add(unit)
    }
  }

  // Starting the active targets starts every unit they now pull in that is not running: new units, and changed
  // ones that were not active (an exited one-shot service runs again). Unchanged inactive units would be started
  // too; they are left out, since which of them are running is known on the host only.
  for (const unit of reachable(next, targets)) {
    if (active.has(unit)) continue
    const before = unitFile(current, unit)
    const after = unitFile(next, unit)
    if (!after || after === 'masked') continue
    if (before && before !== 'masked' && compareUnits(before, after) === 'equal') continue
    start.add(unit)
  }

  const sorted = (set: Iterable<string>): string[] =>
    [...set].filter(u => !UNLISTED.test(u)).sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()))
  // A unit both stopped and started is restarted, as far as its users can tell.
  const both = [...stop].filter(u => start.has(u))
  return {
    restart: sorted(new Set([...restart, ...both])),
    reload: sorted(reload),
    start: sorted([...start].filter(u => !stop.has(u) && !restart.has(u))),
    stop: sorted([...stop].filter(u => !start.has(u))),
    notRestarted: sorted(skip)
  }
}

/** Reads a system's `etc/systemd/system`; parsed files are shared through `cache` (by resolved path). */
export function readUnitTree(
  toplevel: string,
  cache: Map<string, UnitInfo> = new Map()
): UnitTree | undefined {
  const dir = path.join(toplevel, 'etc/systemd/system')
  let entries: string[]
  try {
    entries = fs.readdirSync(dir)
  } catch {
    return undefined
  }
  const parse = (file: string, into?: UnitInfo): UnitInfo => {
    const real = fs.realpathSync(file)
    if (!into) {
      const hit = cache.get(real)
      if (hit) return hit
    }
    const info = parseUnitFile(fs.readFileSync(real, 'utf8'), into)
    if (!into) cache.set(real, info)
    return info
  }
  const tree: UnitTree = { units: new Map(), wants: new Map() }
  const dropIns = new Map<string, string[]>()
  for (const name of entries.sort()) {
    const full = path.join(dir, name)
    let stat: fs.Stats
    try {
      stat = fs.statSync(full)
    } catch {
      continue // a dangling link
    }
    const dep = /^(.+)\.(wants|requires|upholds)$/.exec(name)
    if (stat.isDirectory() && dep) {
      tree.wants.set(dep[1], [...(tree.wants.get(dep[1]) ?? []), ...fs.readdirSync(full)])
    } else if (stat.isDirectory() && name.endsWith('.d')) {
      const confs = fs.readdirSync(full).filter(f => f.endsWith('.conf'))
      dropIns.set(
        name.slice(0, -2),
        confs.sort().map(f => path.join(full, f))
      )
    } else if (fs.realpathSync(full) === '/dev/null') {
      tree.units.set(name, 'masked')
    } else if (stat.isFile()) {
      tree.units.set(name, parse(full))
      if (name === 'default.target' && fs.lstatSync(full).isSymbolicLink()) {
        const target = path.basename(fs.readlinkSync(full))
        if (target !== name && entries.includes(target)) tree.defaultTarget = target
      }
    }
  }
  for (const [unit, files] of dropIns) {
    const base = tree.units.get(unit)
    if (!base || base === 'masked') continue
    // A copy: the cached base is shared with other hosts.
    const merged: UnitInfo = new Map([...base].map(([s, keys]) => [s, new Map(keys)]))
    for (const f of files) parse(f, merged)
    tree.units.set(unit, merged)
  }
  return tree
}
