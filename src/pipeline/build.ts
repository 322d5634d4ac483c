import * as fs from 'fs'
import * as path from 'path'
import { tail } from '../exec'
import { EvalPoolOptions, Evaluation, evaluateToplevels, localMachine, poolOptions } from '../nix/evalpool'
import { ConfigurationSet, Platforms, canBuild } from '../nix/configurations'
import { Nix } from '../nix/nix'
import {
  failedDerivations,
  startedDerivations,
  stripWarnings,
  timedOutDerivations,
  unnamedTimeOut
} from '../nix/stderr'
import { storePathName } from '../nix/names'
import { HostBuild } from '../types'
export type { BuildStatus, HostBuild } from '../types'

/** What is built of the flake, and where. */
export interface BuildTarget {
  /** The flake output whose entries are built. */
  set: ConfigurationSet
  /** The platforms this machine builds for; undefined: every platform (nothing is left out). */
  platforms?: Platforms
}

export interface BuildResult {
  hosts: Map<string, HostBuild>
  /** True when every out path was already in the store, so nothing was built. */
  cached: boolean
  /** Nix's exit code of the build, when one ran. */
  exitCode?: number
  /** The evaluation processes, each with its hosts and its stderr (where Nix prints evaluation warnings). */
  evaluation: Evaluation
}

/** How many failed derivations get their log fetched; the rest are named only. */
const MAX_LOGS = 10
const LOG_LINES = 25

/**
 * Evaluates every host's toplevel in a pool of bounded-memory processes (evalpool.ts), then builds all of them in one `nix-store --realise --keep-going`
 * (going on past failures, so one host never stops the others), and attributes the results per host.
 * Systems already in the store (yesterday's "after" is today's "before") are not built again. `flakeArgs`
 * (`--override-input …`) build the flake with other inputs than its lock's. A system for a platform that
 * `target.platforms` does not build is evaluated only (`not-buildable`).
 */
export async function buildHosts(
  nix: Nix,
  flake: string,
  hosts: string[],
  rootsDir: string,
  pool: EvalPoolOptions = poolOptions({}, hosts.length, localMachine()),
  options: { flakeArgs?: string[]; target?: BuildTarget } = {}
): Promise<BuildResult> {
  const target = options.target ?? { set: 'nixosConfigurations' }
  const evaluation = await evaluateToplevels(nix, flake, hosts, pool, options.flakeArgs ?? [], target.set)
  return buildEvaluated(nix, hosts, evaluation, rootsDir, target)
}

/**
 * Builds the systems of `hosts` that `evaluation` evaluated (buildHosts' second half): for a caller that compares
 * evaluations before building, e.g. to skip hosts whose derivation did not change.
 */
export async function buildEvaluated(
  nix: Nix,
  hosts: string[],
  evaluation: Evaluation,
  rootsDir: string,
  target: BuildTarget = { set: 'nixosConfigurations' }
): Promise<BuildResult> {
  const results = new Map<string, HostBuild>()
  for (const host of hosts) {
    const r = evaluation.results.get(host)
    if (!r || 'error' in r)
      results.set(host, {
        host,
        status: 'eval-failed',
        error: r?.error ?? 'not evaluated',
        warnings: r?.warnings
      })
    else if (target.platforms && r.system !== undefined && !canBuild(target.platforms, r.system))
      results.set(host, {
        host,
        status: 'not-buildable',
        drvPath: r.drvPath,
        outPath: r.outPath,
        system: r.system,
        warnings: r.warnings
      })
    else
      results.set(host, {
        host,
        status: 'built',
        drvPath: r.drvPath,
        outPath: r.outPath,
        warnings: r.warnings
      })
  }
  const evaluatedOk = [...results.values()].filter(h => h.status === 'built')
  const missing = await nix.invalidPaths([...new Set(evaluatedOk.map(h => h.outPath as string))])
  const toBuild = evaluatedOk.filter(h => missing.has(h.outPath as string))
  let exitCode: number | undefined
  let stderr = ''
  fs.mkdirSync(rootsDir, { recursive: true })
  if (toBuild.length > 0) {
    const r = await nix.realise([...new Set(toBuild.map(h => h.drvPath as string))], rootsDir)
    exitCode = r.exitCode
    stderr = r.stderr
  }
  // A build that exits 0 made every path valid; otherwise ask the store which ones it made.
  const stillMissing =
    toBuild.length > 0 && exitCode !== 0
      ? await nix.invalidPaths([...new Set(toBuild.map(h => h.outPath as string))])
      : new Set<string>()
  const failed = toBuild.filter(h => stillMissing.has(h.outPath as string))
  const failedDrvs = failed.length > 0 ? failedDerivations(stderr) : []
  const timedOut = timedOutDerivations(stderr)
  if (failed.length > 0 && unnamedTimeOut(stderr)) {
    const started = startedDerivations(stderr).filter(d => !failedDrvs.includes(d))
    for (const drv of await nix.unbuilt(started)) {
      failedDrvs.push(drv)
      timedOut.add(drv)
    }
  }
  if (failed.length > 0 && failedDrvs.length === 0) {
    // Nothing failed to build, yet systems are missing: Nix itself could not build (a builder it cannot
    // reach, a full disk, a killed process). That says nothing about the hosts, so it must not pass as
    // host failures.
    throw new Error(
      `The build stopped without a failing derivation (exit code ${exitCode ?? '?'}), so no host can be judged: ${failed.length} of ${toBuild.length} systems were not built. Nix said:\n${tail(stripWarnings(stderr), LOG_LINES)}`
    )
  }
  if (failed.length > 0) await explainFailures(nix, failed, { failedDrvs, timedOut, stderr, exitCode })
  for (const h of failed) h.status = 'build-failed'

  // A build that succeeded registered its roots; the systems that were in the store already, and those that
  // built while another one failed, get theirs here.
  const rooted = new Set(exitCode === 0 ? toBuild.map(h => h.outPath) : [])
  const built = [...results.values()]
    .filter(h => h.status === 'built' && !rooted.has(h.outPath))
    .map(h => h.outPath as string)
  await nix.addRoots(rootsDir, built)
  return { hosts: results, cached: toBuild.length === 0, exitCode, evaluation }
}

/** Names the derivations that failed under each failed host and attaches the tail of their build logs. */
async function explainFailures(
  nix: Nix,
  failed: HostBuild[],
  run: { failedDrvs: string[]; timedOut: Set<string>; stderr: string; exitCode?: number }
): Promise<void> {
  const { failedDrvs, timedOut, stderr, exitCode } = run
  const logs = new Map<string, string | undefined>()
  const culprits = new Map<string, string[]>()
  for (const drv of failedDrvs.slice(0, MAX_LOGS)) {
    logs.set(drv, await nix.buildLog(drv, LOG_LINES))
    const dependents = await nix.dependents(drv)
    for (const h of failed) {
      if (dependents.has(h.drvPath as string)) culprits.set(h.host, [...(culprits.get(h.host) ?? []), drv])
    }
  }
  for (const h of failed) {
    const drvs = culprits.get(h.host) ?? []
    if (drvs.length > 0) {
      const name = (d: string): string =>
        `${storePathName(d).replace(/\.drv$/, '')}${timedOut.has(d) ? ' (timed out)' : ''}`
      h.error = `failed to build: ${drvs.map(name).join(', ')}`
      h.failedDrvs = drvs
      const parts = drvs.map(d => logs.get(d)).filter((l): l is string => l !== undefined)
      h.logTail = parts.length > 0 ? parts.join('\n') : tail(stderr, LOG_LINES)
    } else {
      h.error =
        exitCode === undefined
          ? 'not built'
          : `the build exited with code ${exitCode} without producing ${path.basename(h.outPath as string)}`
      h.logTail = tail(stderr, LOG_LINES)
    }
  }
}
