import * as path from 'path'
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

/** Input `hosts` names entries that `flake`'s configurations output does not have. */
function notInFlake(entries: string[], set: ConfigurationSet, flake: string, all: string[]): InputError {
  return new InputError(
    `Input 'hosts' names ${entries.map(h => JSON.stringify(h)).join(', ')}, not in ${set} of ${flake} (it has: ${all.join(', ') || 'none'})`
  )
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
  if (unknown.length > 0) throw notInFlake(unknown, set, flake, all)
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
  set: ConfigurationSet = 'nixosConfigurations',
  /** The output's names, when already read: not evaluated again. */
  names?: string[]
): Promise<DiscoverResult> {
  const all = names ?? (await nix.hostNames(flake, set))
  return selectHosts(all, explicit, exclude, flake, excludeSource, set)
}

/** A flake of a run on several, as `hosts` may name it (`./lab`), with its configuration names. */
export interface FlakeHosts {
  label: string
  names: string[]
}

/** `./lab`, `lab`, `lab/` and `./lab/` name the same flake; `.` and `./` the top one. */
function sameFlake(a: string, b: string): boolean {
  const norm = (s: string): string => path.posix.normalize(s.replace(/\/+$/, '') || '.')
  return norm(a) === norm(b)
}

/**
 * `hosts` over several flakes: `./lab#web` names the host `web` of the flake `./lab`, a plain `web` every flake's
 * host of that name. Every entry must name a host of some flake. Each flake's own list, in the flakes' order; an
 * empty one when `hosts` names none of that flake's hosts (an empty `hosts` leaves every list empty: all hosts).
 */
export function hostsPerFlake(
  explicit: string[],
  flakes: FlakeHosts[],
  set: ConfigurationSet = 'nixosConfigurations'
): string[][] {
  const lists = flakes.map((): string[] => [])
  for (const entry of explicit) {
    const hash = entry.indexOf('#')
    if (hash >= 0) {
      const [dir, name] = [entry.slice(0, hash), entry.slice(hash + 1)]
      const i = flakes.findIndex(f => sameFlake(f.label, dir))
      if (i < 0) {
        throw new InputError(
          `Input 'hosts' names ${JSON.stringify(entry)}: ${JSON.stringify(dir)} is not one of the flakes (${flakes.map(f => f.label).join(', ')})`
        )
      }
      if (!flakes[i].names.includes(name)) throw notInFlake([entry], set, flakes[i].label, flakes[i].names)
      lists[i].push(name)
      continue
    }
    const having = flakes.map((f, i) => (f.names.includes(entry) ? i : -1)).filter(i => i >= 0)
    if (having.length === 0) {
      throw new InputError(
        `Input 'hosts' names ${JSON.stringify(entry)}, in ${set} of none of the flakes ${flakes.map(f => f.label).join(', ')}`
      )
    }
    for (const i of having) lists[i].push(entry)
  }
  return lists.map(l => [...new Set(l)])
}
