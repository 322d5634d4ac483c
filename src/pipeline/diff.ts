import * as fs from 'fs'
import * as path from 'path'
import { PathInfoMap, closureOf } from '../nix/closure'
import { ClosureDiff, ClosureSide, diffClosures } from '../nix/diff'
import { Nix } from '../nix/nix'

export interface HostDiff {
  host: string
  diff: ClosureDiff
  /** Which of kernel, initrd and kernel-modules changed: `switch` does not apply these without a reboot. */
  reboot: string[]
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

/** The system's own package set: the references of `<system>/sw`, else the system's direct references. */
export function closureSide(
  root: string,
  infos: PathInfoMap,
  read: (p: string) => string | undefined = readLink
): ClosureSide {
  const paths = closureOf(root, infos)
  const sw = read(path.join(root, 'sw'))
  const swPath = sw ? storePathOf(sw) : undefined
  const selectedFrom = swPath && infos.has(swPath) ? swPath : root
  const selected = new Set((infos.get(selectedFrom)?.references ?? []).filter(r => r !== selectedFrom))
  return { paths, selected }
}

function storePathOf(p: string): string {
  const m = /^(.*\/[0-9a-df-np-sv-z]{32}-[^/]+)/.exec(p)
  return m ? m[1] : p
}

/** Diffs every host from ONE store query: the closures of all roots, split per host in memory. */
export async function diffHosts(
  nix: Nix,
  pairs: { host: string; before: string; after: string }[]
): Promise<HostDiff[]> {
  const infos = await nix.pathInfo([...new Set(pairs.flatMap(p => [p.before, p.after]))])
  return pairs.map(({ host, before, after }) => ({
    host,
    diff: diffClosures(closureSide(before, infos), closureSide(after, infos), infos),
    reboot: rebootReasons(before, after)
  }))
}
