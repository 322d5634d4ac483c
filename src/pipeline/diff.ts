import * as fs from 'fs'
import * as path from 'path'
import { PathInfoMap, closureOf } from '../nix/closure'
import { ClosureSide, diffClosures } from '../nix/closure-diff'
import { Nix } from '../nix/nix'
import { splitPackageName, storePathName } from '../nix/names'
import { PendingChange, pendingChanges } from '../nix/received'
import { ConfigurationSet } from '../nix/configurations'
import { UnitInfo, UnitTree, classifyUnits, readUnitTree } from '../nix/units'
import { HostDiff } from '../types'

export type { HostDiff } from '../types'
function readText(p: string): string | undefined {
  try {
    return fs.readFileSync(p, 'utf8').trim()
  } catch {
    return undefined
  }
}

/** The kernel's version from the name of the store path that `<system>/kernel` links into. */
export function kernelVersion(
  system: string,
  read: (p: string) => string | undefined = readLink
): string | undefined {
  const target = read(path.join(system, 'kernel'))
  if (!target) return undefined
  const { version } = splitPackageName(storePathName(storePathOf(target)))
  return version || undefined
}

/** The boot-critical links of a NixOS system; a change in any of them needs a reboot to take effect. */
export const BOOT_LINKS = ['kernel', 'initrd', 'kernel-modules']

function readLink(p: string): string | undefined {
  try {
    return fs.readlinkSync(p)
  } catch {
    return undefined
  }
}

/** Which boot links differ between two systems (both given as their toplevel store paths). */
export function rebootReasons(
  before: string,
  after: string,
  read: (p: string) => string | undefined = readLink
): string[] {
  return BOOT_LINKS.filter(link => read(path.join(before, link)) !== read(path.join(after, link)))
}

/**
 * Both systems' closures and package sets as nvd takes them: the references of each `<system>/sw` when both systems
 * have one, else each system's own direct references.
 */
export function closureSides(
  before: string,
  after: string,
  infos: PathInfoMap,
  read: (p: string) => string | undefined = readLink
): [ClosureSide, ClosureSide] {
  const sw = [before, after].map(root => {
    const link = read(path.join(root, 'sw'))
    const target = link ? storePathOf(link) : undefined
    return target && infos.has(target) ? target : undefined
  })
  const bothSw = sw[0] !== undefined && sw[1] !== undefined
  return [before, after].map((root, i) => ({
    paths: closureOf(root, infos),
    selected: new Set(infos.get(bothSw ? (sw[i] as string) : root)?.references ?? [])
  })) as [ClosureSide, ClosureSide]
}

function storePathOf(p: string): string {
  const m = /^(.*\/[0-9a-df-np-sv-z]{32}-[^/]+)/.exec(p)
  return m ? m[1] : p
}

/** A system's units, or undefined when they cannot be read: the unit lists are left out, the rest goes on. */
function unitTreeOrNone(system: string, cache: Map<string, UnitInfo>): UnitTree | undefined {
  try {
    return readUnitTree(system, cache)
  } catch {
    return undefined
  }
}

/**
 * Diffs every host from ONE store query: the closures of all roots, split per host in memory. Boot links, units
 * and versions are NixOS's layout: for home-manager and nix-darwin entries only the closures are compared.
 */
export async function diffHosts(
  nix: Nix,
  pairs: { host: string; before: string; after: string }[],
  set: ConfigurationSet = 'nixosConfigurations'
): Promise<HostDiff[]> {
  const infos = await nix.pathInfo([...new Set(pairs.flatMap(p => [p.before, p.after]))])
  // Hosts share most unit files: each is parsed once.
  const unitCache = new Map<string, UnitInfo>()
  return pairs.map(({ host, before, after }) => {
    if (set !== 'nixosConfigurations') {
      return {
        host,
        diff: diffClosures(...closureSides(before, after, infos), infos),
        reboot: [],
        release: {},
        kernel: {}
      }
    }
    const oldUnits = unitTreeOrNone(before, unitCache)
    const newUnits = unitTreeOrNone(after, unitCache)
    return {
      host,
      diff: diffClosures(...closureSides(before, after, infos), infos),
      reboot: rebootReasons(before, after),
      units: oldUnits && newUnits ? classifyUnits(oldUnits, newUnits) : undefined,
      release: {
        before: readText(path.join(before, 'nixos-version')),
        after: readText(path.join(after, 'nixos-version'))
      },
      kernel: { before: kernelVersion(before), after: kernelVersion(after) }
    }
  })
}

/** Hosts whose pending changes are worked out; each takes two store queries. */
const MAX_PENDING = 20

/**
 * For hosts whose new system was evaluated but failed to build: the package versions it would have received,
 * from the old system's closure and the new system's derivations.
 */
export async function pendingHosts(
  nix: Nix,
  hosts: { host: string; before: string; afterDrv: string }[]
): Promise<Map<string, PendingChange[]>> {
  const out = new Map<string, PendingChange[]>()
  for (const h of hosts.slice(0, MAX_PENDING)) {
    const [old, next] = [await nix.requisites(h.before), await nix.requisites(h.afterDrv)]
    if (old && next) out.set(h.host, pendingChanges(old, next))
  }
  return out
}
