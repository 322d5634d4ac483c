import { ConfigurationSet } from '../nix/configurations'
import { Nix } from '../nix/nix'
import { InputError } from '../settings'

export interface DiscoverResult {
  /** Every `nixosConfigurations` (or other configurations output) name of the flake. */
  all: string[]
  /** The hosts this run builds, sorted. */
  hosts: string[]
  /** Hosts left out by `exclude-hosts`. */
  excluded: string[]
}

/** Applies `hosts` and `exclude-hosts` to the flake's host names. */
export function selectHosts(
  all: string[],
  explicit: string[],
  exclude: RegExp,
  flake: string,
  excludeSource: string,
  set: ConfigurationSet = 'nixosConfigurations'
): DiscoverResult {
  const known = new Set(all)
  const unknown = explicit.filter(h => !known.has(h))
  if (unknown.length > 0) {
    throw new InputError(
      `Input 'hosts' names ${unknown.map(h => JSON.stringify(h)).join(', ')}, not in ${set} of ${flake} (it has: ${all.join(', ') || 'none'})`
    )
  }
  const candidates = explicit.length > 0 ? [...new Set(explicit)] : all
  const excluded = candidates.filter(h => exclude.test(h))
  const hosts = candidates.filter(h => !exclude.test(h)).sort()
  if (hosts.length === 0) {
    const filter = [
      explicit.length > 0 ? `hosts: ${explicit.join(' ')}` : undefined,
      excludeSource ? `exclude-hosts: ${excludeSource}` : undefined
    ]
      .filter(Boolean)
      .join('; ')
    throw new InputError(
      `No hosts left to build in ${flake}: ${set} has ${all.length === 0 ? 'no entries' : all.join(', ')}${filter ? ` and the filter (${filter}) leaves none` : ''}`
    )
  }
  return { all, hosts, excluded: excluded.sort() }
}

export async function discover(
  nix: Nix,
  flake: string,
  explicit: string[],
  exclude: RegExp,
  excludeSource: string,
  set: ConfigurationSet = 'nixosConfigurations'
): Promise<DiscoverResult> {
  const all = await nix.hostNames(flake, set)
  return selectHosts(all, explicit, exclude, flake, excludeSource, set)
}
