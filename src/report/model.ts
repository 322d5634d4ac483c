import { HostBuild } from '../pipeline/build'
import { ClosureDiff } from '../nix/diff'
import { LockChange } from '../nix/lock'

/**
 * A host's outcome: `updated` (built before and after, closure changed), `unchanged` (same system), `regressed`
 * (built before, fails after), `failing` (fails before and after), `fixed` (fails before, builds after),
 * `not-built` (build: false).
 */
export type HostStatus = 'updated' | 'unchanged' | 'regressed' | 'failing' | 'fixed' | 'not-built'

export interface HostReport {
  host: string
  status: HostStatus
  before?: HostBuild
  after?: HostBuild
  diff?: ClosureDiff
  /** Boot links that changed (kernel, initrd, kernel-modules): the host needs a reboot to run the update. */
  reboot: string[]
}

export interface FleetReport {
  flake: string
  nixVersion: string
  /** Did flake.lock change. */
  changed: boolean
  built: boolean
  dryRun: boolean
  hosts: HostReport[]
  excluded: string[]
  lockChanges: LockChange[]
  /** Seconds per phase, in order. */
  timings: { phase: string; seconds: number }[]
}

export function hostStatus(
  before: HostBuild | undefined,
  after: HostBuild | undefined,
  same: boolean
): HostStatus {
  if (!before || !after) return 'not-built'
  const okBefore = before.status === 'built'
  const okAfter = after.status === 'built'
  if (okBefore && okAfter) return same ? 'unchanged' : 'updated'
  if (okBefore) return 'regressed'
  if (okAfter) return 'fixed'
  return 'failing'
}

export const failedHosts = (r: FleetReport): string[] =>
  r.hosts.filter(h => h.after !== undefined && h.after.status !== 'built').map(h => h.host)
export const regressedHosts = (r: FleetReport): string[] =>
  r.hosts.filter(h => h.status === 'regressed').map(h => h.host)
export const rebootHosts = (r: FleetReport): string[] =>
  r.hosts.filter(h => h.reboot.length > 0).map(h => h.host)
