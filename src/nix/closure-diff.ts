import { PathInfoMap } from './closure'
import { compareVersions, mergeRenamed, splitPackageName, storePathName } from './names'

/** nvd's classes: upgrade, downgrade, changed (neither), added, removed. */
export type ChangeKind = 'upgrade' | 'downgrade' | 'changed' | 'added' | 'removed'

/**
 * Selection state as nvd marks it: `*` selected (a direct reference of the system's package set) on both sides,
 * `.` a dependency on both, `+` newly selected, `-` no longer selected.
 */
export type Selection = '*' | '.' | '+' | '-'

export interface PackageChange {
  name: string
  kind: ChangeKind
  /** Versions before and after, sorted oldest first, repeated once per store path. */
  before: string[]
  after: string[]
  selection: Selection
  /** NAR bytes of the package's store paths before and after (0 on the side where it is absent). */
  bytesBefore: number
  bytesAfter: number
}

/**
 * A package whose name changed in a version-like part (python3.11-requests → python3.12-requests), listed as one
 * change. nvd marks every such change as an upgrade, whatever its versions.
 */
export interface PackageRename {
  /** nvd's merged name, `python3.{11->12}-requests`. */
  name: string
  kind: 'upgrade'
  from: string
  to: string
  before: string[]
  after: string[]
  /** `*` or `.` when selected on both sides or neither; otherwise the state before then after (`.*`, `*.`). */
  selection: '*' | '.' | '*.' | '.*'
  bytesBefore: number
  bytesAfter: number
}

export interface ClosureDiff {
  /** Packages present on both sides whose versions changed, by name (nvd's "Version changes"). */
  changed: PackageChange[]
  /** Packages renamed by a version-like part of their name, by old name (nvd's "Pname changes"). */
  renamed: PackageRename[]
  /** Packages with the same versions whose selection state changed, by name (nvd's "Selection state changes"). */
  selectionChanged: PackageChange[]
  added: PackageChange[]
  removed: PackageChange[]
  pathsBefore: number
  pathsAfter: number
  pathsAdded: number
  pathsRemoved: number
  /** Sum of NAR sizes of the closure, in bytes. */
  bytesBefore: number
  bytesAfter: number
}

export interface ClosureSide {
  /** Every store path of the closure. */
  paths: Set<string>
  /** Store paths the system selected directly (its package set's references). */
  selected: Set<string>
}

interface Package {
  /** Sorted oldest first (text order among versions Nix finds equal, so that the order is stable). */
  versions: string[]
  bytes: number
}

interface Packages {
  byName: Map<string, Package>
  selected: Set<string>
}

const byText = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0)

function packagesOf(side: ClosureSide, infos: PathInfoMap): Packages {
  const byName = new Map<string, Package>()
  const selected = new Set<string>()
  for (const path of side.paths) {
    const { name, version } = splitPackageName(storePathName(path))
    const bytes = infos.get(path)?.narSize ?? 0
    const known = byName.get(name)
    if (known) {
      known.versions.push(version)
      known.bytes += bytes
    } else byName.set(name, { versions: [version], bytes })
  }
  for (const path of side.selected) selected.add(splitPackageName(storePathName(path)).name)
  for (const p of byName.values()) p.versions.sort((x, y) => compareVersions(x, y) || byText(x, y))
  return { byName, selected }
}

/** Equal lists for Nix: `1.01` and `1.1` are one version, so a rebuild under either name is no change. */
function sameVersions(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((v, i) => compareVersions(v, b[i]) === 0)
}

function selectionOf(before: boolean, after: boolean): Selection {
  if (before && after) return '*'
  if (after) return '+'
  if (before) return '-'
  return '.'
}

/** An upgrade when every new version is above every old one, a downgrade the reverse, else a change. */
function versionKind(before: string[], after: string[]): ChangeKind {
  if (compareVersions(before[before.length - 1], after[0]) < 0) return 'upgrade'
  if (compareVersions(before[0], after[after.length - 1]) > 0) return 'downgrade'
  return 'changed'
}

function sumNarSize(paths: Set<string>, infos: PathInfoMap): number {
  let total = 0
  for (const p of paths) total += infos.get(p)?.narSize ?? 0
  return total
}

/**
 * Pairs removed and added names the way nvd does: each removed name, in name order, takes the first added name (in
 * name order) that differs from it only in a version-like part. So `lua5.3-lpeg` pairs with `lua5.10-lpeg` when
 * both `lua5.10-lpeg` and `lua5.4-lpeg` appear.
 */
function pairRenames(removed: string[], added: string[]): [string, string, string][] {
  const pairs: [string, string, string][] = []
  const taken = new Set<string>()
  for (const from of removed) {
    for (const to of added) {
      if (taken.has(to)) continue
      const merged = mergeRenamed(from, to)
      if (merged !== undefined) {
        pairs.push([from, to, merged])
        taken.add(to)
        break
      }
    }
  }
  return pairs
}

/** A package on one side only: added (selected: newly selected) or removed (selected: no longer selected). */
function oneSided(name: string, p: Package, kind: 'added' | 'removed', selected: boolean): PackageChange {
  const added = kind === 'added'
  return {
    name,
    kind,
    before: added ? [] : p.versions,
    after: added ? p.versions : [],
    selection: selected ? (added ? '+' : '-') : '.',
    bytesBefore: added ? 0 : p.bytes,
    bytesAfter: added ? p.bytes : 0
  }
}

/** Compares two closures the way nvd does: by package name, then by the set of versions and selection state. */
export function diffClosures(before: ClosureSide, after: ClosureSide, infos: PathInfoMap): ClosureDiff {
  const b = packagesOf(before, infos)
  const a = packagesOf(after, infos)
  const changed: PackageChange[] = []
  const selectionChanged: PackageChange[] = []
  for (const [name, now] of a.byName) {
    const then = b.byName.get(name)
    if (!then) continue
    const selection = selectionOf(b.selected.has(name), a.selected.has(name))
    const entry = {
      name,
      before: then.versions,
      after: now.versions,
      selection,
      bytesBefore: then.bytes,
      bytesAfter: now.bytes
    }
    if (!sameVersions(then.versions, now.versions)) {
      changed.push({ ...entry, kind: versionKind(then.versions, now.versions) })
    } else if (selection === '+' || selection === '-') {
      selectionChanged.push({ ...entry, kind: 'changed' })
    }
  }
  const addedNames = [...a.byName.keys()].filter(n => !b.byName.has(n)).sort(byText)
  const removedNames = [...b.byName.keys()].filter(n => !a.byName.has(n)).sort(byText)
  const renamed: PackageRename[] = pairRenames(removedNames, addedNames).map(([from, to, name]) => {
    const was = b.selected.has(from)
    const is = a.selected.has(to)
    const mark = (s: boolean): '*' | '.' => (s ? '*' : '.')
    const then = b.byName.get(from) as Package
    const now = a.byName.get(to) as Package
    return {
      name,
      kind: 'upgrade',
      from,
      to,
      before: then.versions,
      after: now.versions,
      selection: was === is ? mark(was) : was ? '*.' : '.*',
      bytesBefore: then.bytes,
      bytesAfter: now.bytes
    }
  })
  const renamedFrom = new Set(renamed.map(r => r.from))
  const renamedTo = new Set(renamed.map(r => r.to))
  const added = addedNames
    .filter(n => !renamedTo.has(n))
    .map(n => oneSided(n, a.byName.get(n) as Package, 'added', a.selected.has(n)))
  const removed = removedNames
    .filter(n => !renamedFrom.has(n))
    .map(n => oneSided(n, b.byName.get(n) as Package, 'removed', b.selected.has(n)))
  const byName = (x: { name: string }, y: { name: string }): number => byText(x.name, y.name)
  let pathsAdded = 0
  for (const p of after.paths) if (!before.paths.has(p)) pathsAdded++
  let pathsRemoved = 0
  for (const p of before.paths) if (!after.paths.has(p)) pathsRemoved++
  return {
    changed: changed.sort(byName),
    renamed,
    selectionChanged: selectionChanged.sort(byName),
    added,
    removed,
    pathsBefore: before.paths.size,
    pathsAfter: after.paths.size,
    pathsAdded,
    pathsRemoved,
    bytesBefore: sumNarSize(before.paths, infos),
    bytesAfter: sumNarSize(after.paths, infos)
  }
}

/** Counts by nvd's marks, for the fleet table: a rename counts as an upgrade, a selection change as a change. */
export function countKinds(diff: ClosureDiff): Record<ChangeKind, number> {
  const counts: Record<ChangeKind, number> = {
    upgrade: diff.renamed.length,
    downgrade: 0,
    changed: diff.selectionChanged.length,
    added: diff.added.length,
    removed: diff.removed.length
  }
  for (const c of diff.changed) counts[c.kind]++
  return counts
}
