/** What the diff needs to know of one store path. */
export interface PathInfo {
  narSize: number
  references: string[]
}

/** Store paths by path, from one `nix path-info -r --json` over every host's roots. */
export type PathInfoMap = Map<string, PathInfo>

/**
 * Parses `nix path-info --json` in each shape: an array of objects with `path` (Nix ≤ 2.18, Lix), an object keyed
 * by path (Nix ≥ 2.19, and `--json-format 1` since 2.33), and `{version: 2, storeDir, info}` keyed by base name
 * (`--json-format 2`, Nix ≥ 2.33). Invalid paths come as `null` values (2.19+) or `{path, valid: false}` entries.
 */
export function parsePathInfo(json: string): PathInfoMap {
  const data: unknown = JSON.parse(json)
  const map: PathInfoMap = new Map()
  const add = (path: string, v: unknown): void => {
    if (v === null || typeof v !== 'object') return
    const o = v as Record<string, unknown>
    if (o.valid === false) return
    const refs = Array.isArray(o.references)
      ? o.references.filter((r): r is string => typeof r === 'string')
      : []
    map.set(path, {
      // A byte count, or nothing: `1e999` parses as Infinity and would break every sum and figure after it.
      narSize: Number.isSafeInteger(o.narSize) && (o.narSize as number) >= 0 ? (o.narSize as number) : 0,
      // 2.19+ may print references as base names; keep them all as full paths.
      references: refs.map(r => (r.startsWith('/') ? r : `${storeDirOf(path)}/${r}`))
    })
  }
  if (Array.isArray(data)) {
    for (const entry of data) {
      if (entry && typeof entry === 'object' && typeof (entry as { path?: unknown }).path === 'string') {
        add((entry as { path: string }).path, entry)
      }
    }
  } else if (isVersion2(data)) {
    for (const [name, v] of Object.entries(data.info))
      add(name.startsWith('/') ? name : `${data.storeDir}/${name}`, v)
  } else if (data && typeof data === 'object') {
    for (const [path, v] of Object.entries(data as Record<string, unknown>)) add(path, v)
  } else {
    throw new Error('nix path-info --json printed neither an array nor an object')
  }
  return map
}

function isVersion2(data: unknown): data is { storeDir: string; info: Record<string, unknown> } {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return false
  const o = data as Record<string, unknown>
  return (
    typeof o.version === 'number' &&
    typeof o.storeDir === 'string' &&
    !!o.info &&
    typeof o.info === 'object' &&
    !Array.isArray(o.info)
  )
}

function storeDirOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/'))
}

/** Every path reachable from `root` (itself included), computed from the shared map without asking Nix again. */
export function closureOf(root: string, infos: PathInfoMap): Set<string> {
  const seen = new Set<string>()
  const stack = [root]
  while (stack.length > 0) {
    const p = stack.pop() as string
    if (seen.has(p)) continue
    seen.add(p)
    const info = infos.get(p)
    if (info) for (const r of info.references) if (!seen.has(r)) stack.push(r)
  }
  return seen
}
