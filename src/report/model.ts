import { HeldBackInput, HostBuild, PushReport } from '../types'
import { ClosureDiff } from '../nix/closure-diff'
import { LockChange } from '../nix/lock'
import { PendingChange } from '../nix/received'
import { UnitChanges } from '../nix/units'
import { WarningGroup, compareWarnings } from '../nix/warnings'
import { FleetState } from '../forge/fleet-state'
import { ConfigurationSet } from '../nix/configurations'

/**
 * A host's outcome: `updated` (built before and after, closure changed), `unchanged` (same system), `regressed`
 * (built before, fails after), `failing` (fails before and after), `fixed` (fails before, builds after),
 * `not-built` (build: false), `not-buildable` (evaluated on both sides, for a platform that this machine and its
 * builders do not build: never a failure).
 */
export type HostStatus =
  'updated' | 'unchanged' | 'regressed' | 'failing' | 'fixed' | 'not-built' | 'not-buildable'

export interface HostReport {
  host: string
  status: HostStatus
  before?: HostBuild
  after?: HostBuild
  diff?: ClosureDiff
  /** Boot links that changed (kernel, initrd, kernel-modules): the host needs a reboot to run the update. */
  reboot: string[]
  /** What `switch` would do with the systemd units (restart, reload, start, stop, not restarted). */
  units?: UnitChanges
  /**
   * A regressed host whose new system evaluated: the package versions it would have received, read from the
   * new system's derivations (it was not built).
   */
  pending?: PendingChange[]
  /** NixOS version (`nixos-version`) and kernel version before and after, for built hosts. */
  release?: { before?: string; after?: string }
  kernel?: { before?: string; after?: string }
}

export interface FleetReport {
  flake: string
  /** The flake as a user names it from the repository's root (`.`, `./hosts`), for commands in the report. */
  flakeRef?: string
  nixVersion: string
  /** Did flake.lock change. */
  changed: boolean
  built: boolean
  dryRun: boolean
  hosts: HostReport[]
  excluded: string[]
  lockChanges: LockChange[]
  /** The checked-out commit had no flake.lock: every input in lockChanges is new. */
  lockCreated?: boolean
  /** Seconds per phase, in order. */
  timings: { phase: string; seconds: number }[]
  /** What the hosts last reported deploying (commit statuses), when it could be read. */
  fleetState?: FleetState
  /** Evaluation warnings that hosts print after the update and not before (`new`), and those that went away. */
  warnings?: { new: WarningGroup[]; gone: WarningGroup[] }
  /** The copy of the new systems to the binary cache (push-to), when one ran. */
  push?: PushReport
  /** A pull request's review: `hosts` are those whose system differs between its base and head commits. */
  review?: ReviewSides
  /** Inputs that break hosts, held back or not; the hosts' "after" is the proposed lock's. */
  heldBack?: HeldBackInput[]
  /** Every changed input is held back: no pull request. */
  nothingLeft?: boolean
  /** The flake output built, when it is not nixosConfigurations. */
  configurations?: ConfigurationSet
}

/** A host that exists on one side of a review only, and how its build there went. */
export interface OneSidedHost {
  host: string
  build: HostBuild
}

/** What a review compared: the two commits, and the hosts that were not built or exist on one side only. */
export interface ReviewSides {
  base: string
  head: string
  /** Hosts whose system derivation is the same at both commits: neither built nor listed. */
  unchanged: number
  /** Hosts only the head has, and only the base has. */
  added: OneSidedHost[]
  removed: OneSidedHost[]
  /** The flake output that was built, when it is not `nixosConfigurations`. */
  configurations?: ConfigurationSet
}

/** A side that evaluated: built, or evaluated only because no builder here can build its platform. */
export const evaluated = (b: HostBuild): boolean => b.status === 'built' || b.status === 'not-buildable'

/** The fleet's warning changes, from each host's warnings before and after the update. */
export function warningChanges(hosts: HostReport[]): { new: WarningGroup[]; gone: WarningGroup[] } {
  return compareWarnings(
    hosts.map(h => ({ host: h.host, before: h.before?.warnings, after: h.after?.warnings }))
  )
}

/** A host's status from its two builds; `sameSystem` when both built the very same system (out path). */
export function hostStatus(builds: {
  before?: HostBuild
  after?: HostBuild
  sameSystem: boolean
}): HostStatus {
  const { before, after, sameSystem } = builds
  if (!before || !after) return 'not-built'
  const okBefore = evaluated(before)
  const okAfter = evaluated(after)
  if (okBefore && okAfter) {
    if (before.status === 'not-buildable' || after.status === 'not-buildable') return 'not-buildable'
    return sameSystem ? 'unchanged' : 'updated'
  }
  if (okBefore) return 'regressed'
  if (okAfter) return 'fixed'
  return 'failing'
}

export const failedHosts = (r: FleetReport): string[] =>
  r.hosts.filter(h => h.after !== undefined && !evaluated(h.after)).map(h => h.host)
export const regressedHosts = (r: FleetReport): string[] =>
  r.hosts.filter(h => h.status === 'regressed').map(h => h.host)
export const rebootHosts = (r: FleetReport): string[] =>
  r.hosts.filter(h => h.reboot.length > 0).map(h => h.host)
