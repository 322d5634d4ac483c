import { compareVersions, splitPackageName, storePathName } from './names'

/** A package whose version differs between a built system and the derivations of its unbuilt successor. */
export interface PendingChange {
  name: string
  before: string[]
  after: string[]
}

function versionsByName(paths: string[], drvs: boolean): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>()
  for (const p of paths) {
    const base = storePathName(p)
    if (drvs !== base.endsWith('.drv')) continue
    const { name, version } = splitPackageName(base)
    if (!version) continue
    const set = out.get(name) ?? new Set<string>()
    set.add(version)
    out.set(name, set)
  }
  return out
}

/**
 * What a host whose new system failed to build would have received, as far as the derivations tell: for every
 * versioned package of the old system's closure, the versions the new system's derivation closure has under the
 * same name. That closure holds build-time packages too, so a name whose old versions are all still there says
 * nothing and is left out.
 */
export function pendingChanges(oldClosure: string[], newDrvClosure: string[]): PendingChange[] {
  const before = versionsByName(oldClosure, false)
  const after = versionsByName(newDrvClosure, true)
  const out: PendingChange[] = []
  for (const [name, old] of before) {
    const next = after.get(name)
    if (!next || [...old].every(v => next.has(v))) continue
    const sort = (s: Set<string>): string[] => [...s].sort(compareVersions)
    out.push({ name, before: sort(old), after: sort(next) })
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}
