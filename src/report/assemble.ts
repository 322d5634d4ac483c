import { FleetState } from '../forge/fleet-state'
import { ConfigurationSet } from '../nix/configurations'
import { LockChange } from '../nix/lock'
import { PendingChange } from '../nix/received'
import { HeldBackInput, HostBuild, HostDiff, PushReport } from '../types'
import { FleetReport, HostReport, hostStatus, warningChanges } from './model'

/** The builds of a side, by host. */
export interface SideBuilds {
  hosts: Map<string, HostBuild>
}

/** Each host's report from its builds on both sides, what the diff found and what a regressed host would get. */
export function hostReports(
  hosts: string[],
  before?: SideBuilds,
  after?: SideBuilds,
  diffs: HostDiff[] = [],
  pending: Map<string, PendingChange[]> = new Map()
): HostReport[] {
  const byHost = new Map(diffs.map(d => [d.host, d]))
  return hosts.map(host => {
    const b = before?.hosts.get(host)
    const a = after?.hosts.get(host)
    const d = byHost.get(host)
    const sameSystem = b?.outPath !== undefined && b.outPath === a?.outPath
    return {
      host,
      status: hostStatus({ before: b, after: a, sameSystem }),
      before: b,
      after: a,
      diff: d?.diff,
      reboot: d?.reboot ?? [],
      units: d?.units,
      release: d?.release,
      kernel: d?.kernel,
      pending: pending.get(host)
    }
  })
}

/** Hosts that built on both sides: the pairs of systems whose closures are compared. */
export function builtPairs(
  hosts: string[],
  before: SideBuilds,
  after: SideBuilds
): { host: string; before: string; after: string }[] {
  return hosts.flatMap(host => {
    const b = before.hosts.get(host)
    const a = after.hosts.get(host)
    return b?.status === 'built' && a?.status === 'built' && b.outPath && a.outPath
      ? [{ host, before: b.outPath, after: a.outPath }]
      : []
  })
}

/** Regressed hosts whose new system evaluated: what they would have received is read from its derivation. */
export function unbuiltAfter(reports: HostReport[]): { host: string; before: string; afterDrv: string }[] {
  return reports.flatMap(h =>
    h.status === 'regressed' && h.before?.outPath && h.after?.status === 'build-failed' && h.after.drvPath
      ? [{ host: h.host, before: h.before.outPath, afterDrv: h.after.drvPath }]
      : []
  )
}

/** Hosts whose new system built, with it: what is pushed to the binary cache. */
export function builtSystems(hosts: string[], after: SideBuilds): { host: string; outPath: string }[] {
  return hosts.flatMap(host => {
    const a = after.hosts.get(host)
    return a?.status === 'built' && a.outPath ? [{ host, outPath: a.outPath }] : []
  })
}

export interface ReportParts {
  flake: string
  flakeRef: string
  nixVersion: string
  dryRun: boolean
  /** Whether hosts were built at all (`build`). */
  build: boolean
  hosts: string[]
  excluded: string[]
  update: { changed: boolean; created?: boolean; changes: LockChange[] }
  fleetState?: FleetState
  before?: SideBuilds
  after?: SideBuilds
  diffs?: HostDiff[]
  pending?: Map<string, PendingChange[]>
  push?: PushReport
  timings: { phase: string; seconds: number }[]
  /** Inputs that break hosts (held back or not). */
  heldBack?: HeldBackInput[]
  nothingLeft?: boolean
  /** The flake output that was built; nixosConfigurations when not given. */
  configurations?: ConfigurationSet
}

/** The fleet report from the results of the steps; computes nothing that needs Nix. */
export function assembleReport(p: ReportParts): FleetReport {
  const hosts = hostReports(p.hosts, p.after && p.before, p.after, p.diffs, p.pending)
  return {
    flake: p.flake,
    flakeRef: p.flakeRef,
    nixVersion: p.nixVersion,
    changed: p.update.changed,
    built: p.build && p.update.changed,
    dryRun: p.dryRun,
    hosts,
    fleetState: p.fleetState,
    excluded: p.excluded,
    lockChanges: p.update.changes,
    lockCreated: p.update.created,
    timings: p.timings,
    ...(p.after ? { warnings: warningChanges(hosts) } : {}),
    ...(p.push ? { push: p.push } : {}),
    ...(p.heldBack ? { heldBack: p.heldBack, nothingLeft: p.nothingLeft } : {}),
    // Only another output is named, so that a NixOS fleet's report.json stays as it was.
    ...(p.configurations && p.configurations !== 'nixosConfigurations'
      ? { configurations: p.configurations }
      : {})
  }
}
