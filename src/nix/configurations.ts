/** The flake outputs whose entries the action builds, and what it builds of each entry. */
export const CONFIGURATION_SETS = [
  'nixosConfigurations',
  'homeConfigurations',
  'darwinConfigurations'
] as const

export type ConfigurationSet = (typeof CONFIGURATION_SETS)[number]

/**
 * The attribute path under an entry that is its system: NixOS's toplevel, home-manager's activation package,
 * nix-darwin's system.
 */
export const BUILT_ATTRIBUTE: Record<ConfigurationSet, string[]> = {
  nixosConfigurations: ['config', 'system', 'build', 'toplevel'],
  homeConfigurations: ['activationPackage'],
  darwinConfigurations: ['system']
}

/** The platforms this machine builds for: its own system, extra-platforms, and its remote builders' systems. */
export interface Platforms {
  system: string
  extra: string[]
  /** Systems of the remote builders (`builders`, machines files included). */
  builders: string[]
}

/** Whether a derivation for `system` can be built here; `builtin` derivations build anywhere. */
export function canBuild(platforms: Platforms, system: string): boolean {
  return (
    system === 'builtin' ||
    system === platforms.system ||
    platforms.extra.includes(system) ||
    platforms.builders.includes(system)
  )
}

/**
 * The systems of the machines in a `builders` value (Nix's machines format: one machine per line or `;`, fields
 * `uri systems ssh-key max-jobs …`, `-` for a default; no systems: the local one; `@file` reads that file).
 */
export function builderSystems(
  value: string,
  localSystem: string,
  read: (file: string) => string | undefined
): string[] {
  const systems = new Set<string>()
  const visit = (text: string, depth: number): void => {
    for (const raw of text.split(/[\n;]/)) {
      const line = raw.replace(/#.*/, '').trim()
      if (line === '') continue
      if (line.startsWith('@')) {
        const included = depth < 4 ? read(line.slice(1).trim()) : undefined
        if (included !== undefined) visit(included, depth + 1)
        continue
      }
      const fields = line.split(/\s+/)
      const list = fields[1] === undefined || fields[1] === '-' ? localSystem : fields[1]
      for (const s of list.split(',')) if (s) systems.add(s)
    }
  }
  visit(value, 0)
  return [...systems]
}

/** The platforms from `nix show-config --json` / `nix config show --json` (values as strings or lists). */
export function parsePlatforms(
  json: string,
  read: (file: string) => string | undefined
): Platforms | undefined {
  let data: unknown
  try {
    data = JSON.parse(json)
  } catch {
    return undefined
  }
  if (typeof data !== 'object' || data === null) return undefined
  const value = (name: string): string[] => {
    const v = (data as Record<string, { value?: unknown } | undefined>)[name]?.value
    if (typeof v === 'string') return v.split(/\s+/).filter(Boolean)
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
  }
  const system = value('system')[0]
  if (!system) return undefined
  const builders = (data as Record<string, { value?: unknown } | undefined>).builders?.value
  return {
    system,
    extra: value('extra-platforms'),
    builders: builderSystems(typeof builders === 'string' ? builders : '', system, read)
  }
}
