import { PathInfoMap } from './closure'
import { compareVersions, parseDrvName, storePathName } from './names'

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
}

export interface ClosureDiff {
  /** Packages present on both sides whose versions or selection state changed, by name. */
  changed: PackageChange[]
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

interface Packages {
  versions: Map<string, string[]>
  selected: Set<string>
}

function packagesOf(side: ClosureSide): Packages {
  const versions = new Map<string, string[]>()
  const selected = new Set<string>()
  for (const path of side.paths) {
    const { name, version } = parseDrvName(storePathName(path))
    const list = versions.get(name)
    if (list) list.push(version)
    else versions.set(name, [version])
    if (side.selected.has(path)) selected.add(name)
  }
  for (const list of versions.values()) list.sort(compareVersions)
  return { versions, selected }
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i])
}

function selectionOf(before: boolean, after: boolean): Selection {
  if (before && after) return '*'
  if (after) return '+'
  if (before) return '-'
  return '.'
}

function versionKind(before: string[], after: string[]): ChangeKind {
  if (sameList(before, after)) return 'changed'
  const c = compareVersions(after[after.length - 1] ?? '', before[before.length - 1] ?? '')
  return c > 0 ? 'upgrade' : c < 0 ? 'downgrade' : 'changed'
}

function sumNarSize(paths: Set<string>, infos: PathInfoMap): number {
  let total = 0
  for (const p of paths) total += infos.get(p)?.narSize ?? 0
  return total
}

/** Compares two closures the way nvd does: by package name, then by the set of versions and selection state. */
export function diffClosures(before: ClosureSide, after: ClosureSide, infos: PathInfoMap): ClosureDiff {
  const b = packagesOf(before)
  const a = packagesOf(after)
  const changed: PackageChange[] = []
  const added: PackageChange[] = []
  const removed: PackageChange[] = []
  for (const [name, versionsAfter] of a.versions) {
    const versionsBefore = b.versions.get(name)
    if (!versionsBefore) {
      added.push({
        name,
        kind: 'added',
        before: [],
        after: versionsAfter,
        selection: a.selected.has(name) ? '+' : '.'
      })
      continue
    }
    const selection = selectionOf(b.selected.has(name), a.selected.has(name))
    if (!sameList(versionsBefore, versionsAfter) || selection === '+' || selection === '-') {
      changed.push({
        name,
        kind: versionKind(versionsBefore, versionsAfter),
        before: versionsBefore,
        after: versionsAfter,
        selection
      })
    }
  }
  for (const [name, versionsBefore] of b.versions) {
    if (!a.versions.has(name)) {
      removed.push({
        name,
        kind: 'removed',
        before: versionsBefore,
        after: [],
        selection: b.selected.has(name) ? '-' : '.'
      })
    }
  }
  const byName = (x: PackageChange, y: PackageChange): number =>
    x.name < y.name ? -1 : x.name > y.name ? 1 : 0
  let pathsAdded = 0
  for (const p of after.paths) if (!before.paths.has(p)) pathsAdded++
  let pathsRemoved = 0
  for (const p of before.paths) if (!after.paths.has(p)) pathsRemoved++
  return {
    changed: changed.sort(byName),
    added: added.sort(byName),
    removed: removed.sort(byName),
    pathsBefore: before.paths.size,
    pathsAfter: after.paths.size,
    pathsAdded,
    pathsRemoved,
    bytesBefore: sumNarSize(before.paths, infos),
    bytesAfter: sumNarSize(after.paths, infos)
  }
}

/** Counts by class, for the fleet table. */
export function countKinds(diff: ClosureDiff): Record<ChangeKind, number> {
  const counts: Record<ChangeKind, number> = {
    upgrade: 0,
    downgrade: 0,
    changed: 0,
    added: diff.added.length,
    removed: diff.removed.length
  }
  for (const c of diff.changed) counts[c.kind]++
  return counts
}
