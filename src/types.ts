import { LockedInput } from './nix/lock'

/**
 * The results that steps hand to the report: shared types, so that the report depends on no step and the steps
 * on no renderer.
 */
import { ClosureDiff } from './nix/closure-diff'
import { UnitChanges } from './nix/units'

/**
 * `not-buildable`: evaluated, but for a platform that neither this machine nor a remote builder builds; not built,
 * and no failure.
 */
export type BuildStatus = 'built' | 'eval-failed' | 'build-failed' | 'not-buildable'

export interface HostBuild {
  host: string
  status: BuildStatus
  drvPath?: string
  outPath?: string
  /** What went wrong: Nix's evaluation error, or the derivations that failed to build. */
  error?: string
  /** The last lines of the failed derivation's build log. */
  logTail?: string
  /** The derivations whose build failed under this host (`nix log` shows their logs). */
  failedDrvs?: string[]
  /** The platform of a `not-buildable` host's derivation (`aarch64-darwin`). */
  system?: string
  /** Evaluation warnings Nix printed for this host (`trace: warning: …`, `evaluation warning: …`). */
  warnings?: string[]
}

export type PushStatus = 'pushed' | 'failed' | 'skipped'

export interface PushReport {
  /** The store URL, credentials replaced by `***`. */
  to: string
  status: PushStatus
  /** Hosts whose new system (with its closure) was to be copied. */
  hosts: string[]
  /** Store paths sent: those the store did not have yet. */
  paths: number
  /** NAR size of the paths sent, in bytes (before the cache's compression). */
  bytes: number
  /** Store paths of all the systems' closures, sent or already there. */
  closurePaths: number
  /** Why the push failed or was skipped; never holds credentials. */
  error?: string
}

/** What the diff step found for a host that built before and after. */
export interface HostDiff {
  host: string
  diff: ClosureDiff
  /** Which of kernel, initrd and kernel-modules changed: `switch` does not apply these without a reboot. */
  reboot: string[]
  /** What `switch` would do with the systemd units; undefined when a system has no etc/systemd/system. */
  units?: UnitChanges
  /** The NixOS version (`nixos-version`) and the kernel version, before and after. */
  release: { before?: string; after?: string }
  kernel: { before?: string; after?: string }
}

/** A step of a bisection: a revision of the input, and whether the hosts built with it. */
export interface BisectStep {
  rev: string
  built: boolean
  seconds: number
}

/** The search for the first commit of a held-back input that breaks its hosts. */
export interface BisectReport {
  input: string
  hosts: string[]
  /** Commits after the old revision up to the new one (first parents), oldest first. */
  commits: number
  /** The first bad commit, when the search ended on one. */
  firstBad?: { rev: string; subject: string }
  /** Otherwise the range it narrowed to: the last good and the first bad revision known, and the commits between. */
  good?: string
  bad?: string
  remaining?: number
  steps: BisectStep[]
  /** Why there was no search (an input that is not git-based, a fetch that failed). */
  error?: string
}

/** A host that an input breaks, and how (see CulpritKind in pipeline/attribute.ts). */
export interface BrokenHost {
  host: string
  kind: 'single' | 'together' | 'each' | 'unexplained' | 'unknown'
  /** The other inputs that break it with this one (together) or besides it (each). */
  others: string[]
  /** The derivations whose build failed after the update, and the error. */
  failedDrvs: string[]
  error?: string
}

/** An input the pull request's lock keeps at its old revision, because it breaks hosts. */
export interface HeldBackInput {
  input: string
  old?: LockedInput
  new?: LockedInput
  /** The new revision as a flake reference, for `--override-input` in a command that reproduces the failure. */
  newRef?: string
  /** false: found to break hosts, but the pull request's lock updates it anyway (hold-back: none). */
  heldBack: boolean
  hosts: BrokenHost[]
  bisect?: BisectReport
}
