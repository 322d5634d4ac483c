import * as path from 'path'
import { AttributionSettings } from '../attribution-settings'
import { Log } from '../log/log'
import { EvalPoolOptions } from '../nix/evalpool'
import { LockChange, compareLocks, lockedInputs } from '../nix/lock'
import { holdBackInputs, lockedRef, revisionArgs } from '../nix/lock-compose'
import { Nix } from '../nix/nix'
import { BisectReport, BrokenHost, HeldBackInput } from '../types'
import {
  Attribution,
  attributeRegressions,
  culpritInputs,
  holdBackCandidates,
  holdBackFlakeArgs,
  overrideBuilder
} from './attribute'
import { bisectCommits, gitRepositoryUrl, listCommits } from './bisect'
import { BuildResult, buildHosts } from './build'
import { errorMessage } from '../errors'

export interface HoldBackResult {
  attribution: Attribution
  /** Every input found to break hosts; `heldBack` says whether the proposed lock keeps it back. */
  inputs: HeldBackInput[]
  /** The lock the pull request proposes, when it holds inputs back. */
  proposedLock?: string
  /** Its changes against the old lock: the inputs it updates. */
  proposedChanges?: LockChange[]
  /** Every host built with the proposed lock. */
  proposed?: BuildResult
  /** Every changed input is held back: there is nothing to propose. */
  nothingLeft: boolean
}

export interface HoldBackContext {
  nix: Nix
  flake: string
  /** Every host of the run (the proposed lock is built for all of them). */
  hosts: string[]
  /** Hosts that built before the update and fail after it. */
  regressed: string[]
  after: BuildResult
  oldLock: string
  newLock: string
  changes: LockChange[]
  settings: AttributionSettings
  pool: EvalPoolOptions
  rootsDir: string
  scratchDir: string
  log: Log
}

/** A lock entry's `locked` attributes, by top-level input name. */
function lockedNode(lock: string, input: string): Record<string, unknown> | undefined {
  const data = JSON.parse(lock) as {
    nodes: Record<string, { locked?: Record<string, unknown>; inputs?: Record<string, unknown> }>
    root: string
  }
  const key = data.nodes[data.root]?.inputs?.[input]
  return typeof key === 'string' ? data.nodes[key]?.locked : undefined
}

/**
 * Names the inputs that break the regressed hosts, and with `hold-back: regressing` composes the lock that
 * updates every other input and builds every host with it (one evaluation, one build), so that the report shows
 * what the pull request proposes. With `bisect`, searches each breaking git-based input for its first bad commit.
 * undefined when there is nothing to attribute (no regressed host, no old lock, the search off).
 */
export async function attributeAndHoldBack(ctx: HoldBackContext): Promise<HoldBackResult | undefined> {
  const { settings, log } = ctx
  if (ctx.regressed.length === 0 || ctx.oldLock === '') return undefined
  const { candidates, notHeldBack } = holdBackCandidates(ctx.oldLock, ctx.newLock, ctx.changes)
  for (const n of notHeldBack) log.info(`${n.input} cannot be held back: ${n.why}`)
  if (candidates.length === 0 || (candidates.length > 1 && settings.maxBuilds === 0)) return undefined
  const a = await attributeRegressions({
    regressed: ctx.regressed,
    candidates,
    maxBuilds: settings.maxBuilds,
    tryBuild: overrideBuilder(
      ctx.nix,
      ctx.flake,
      ctx.oldLock,
      path.join(ctx.rootsDir, 'attribution'),
      ctx.pool
    ),
    log
  })
  const attribution: Attribution = { ...a, notHeldBack }
  // A host the bound left unexplained holds nothing back: it stays a regressed host of the proposed lock.
  const explained = attribution.hosts.filter(h => h.kind !== 'unknown')
  const culprits = culpritInputs({ candidates, hosts: explained })
  const holding = settings.holdBack === 'regressing'
  const oldInputs = lockedInputs(ctx.oldLock)
  const newInputs = lockedInputs(ctx.newLock)
  const inputs: HeldBackInput[] = culprits.map(input => {
    const newLocked = lockedNode(ctx.newLock, input)
    return {
      input,
      old: oldInputs.get(input),
      new: newInputs.get(input),
      newRef: newLocked ? lockedRef(newLocked) : undefined,
      heldBack: holding,
      hosts: explained
        .filter(h => h.culprits.includes(input))
        .map((h): BrokenHost => ({
          host: h.host,
          kind: h.kind,
          others: h.culprits.filter(c => c !== input),
          failedDrvs: ctx.after.hosts.get(h.host)?.failedDrvs ?? [],
          error: ctx.after.hosts.get(h.host)?.error
        }))
    }
  })
  for (const i of inputs) {
    log.warning(
      `${i.input} breaks ${i.hosts.map(h => h.host).join(', ')}${holding ? ': held back at its old revision' : ''}`,
      { title: 'An input breaks hosts' }
    )
  }
  const result: HoldBackResult = { attribution, inputs, nothingLeft: false }
  if (holding && culprits.length > 0) {
    result.proposedLock = holdBackInputs(ctx.oldLock, ctx.newLock, culprits)
    result.proposedChanges = compareLocks(ctx.oldLock, result.proposedLock)
    result.nothingLeft = result.proposedChanges.length === 0
    if (!result.nothingLeft) {
      result.proposed = await buildHosts(
        ctx.nix,
        ctx.flake,
        ctx.hosts,
        path.join(ctx.rootsDir, 'proposed'),
        ctx.pool,
        { flakeArgs: holdBackFlakeArgs(ctx.oldLock, culprits) }
      )
    }
  }
  if (settings.bisect) {
    for (const i of inputs) i.bisect = await bisectInput(ctx, i, culprits)
  }
  return result
}

/**
 * Bisects one breaking input over the hosts it breaks, in the proposed lock: the other breaking inputs stay at
 * their old revision, except those that break a host only together with this one, which stay at their new one.
 */
async function bisectInput(
  ctx: HoldBackContext,
  input: HeldBackInput,
  culprits: string[]
): Promise<BisectReport | undefined> {
  const hosts = input.hosts.filter(h => h.kind !== 'unexplained').map(h => h.host)
  const base: BisectReport = { input: input.input, hosts, commits: 0, steps: [] }
  const oldLocked = lockedNode(ctx.oldLock, input.input)
  const newLocked = lockedNode(ctx.newLock, input.input)
  const url = newLocked ? gitRepositoryUrl(newLocked) : undefined
  const oldRev = typeof oldLocked?.rev === 'string' ? oldLocked.rev : undefined
  const newRev = typeof newLocked?.rev === 'string' ? newLocked.rev : undefined
  if (hosts.length === 0) return undefined
  if (!url || !oldRev || !newRev) return { ...base, error: 'not a git-based input with revisions' }
  const partners = new Set(input.hosts.filter(h => h.kind === 'together').flatMap(h => h.others))
  const context = holdBackFlakeArgs(
    ctx.oldLock,
    culprits.filter(c => c !== input.input && !partners.has(c))
  )
  try {
    const ref = typeof newLocked?.ref === 'string' ? newLocked.ref : undefined
    const since = typeof oldLocked?.lastModified === 'number' ? oldLocked.lastModified : undefined
    const commits = await listCommits(url, ref, oldRev, newRev, ctx.scratchDir, since)
    ctx.log.info(
      `Bisecting ${input.input}: ${commits.length} commits, at most ${ctx.settings.bisectMaxBuilds} builds`
    )
    let n = 0
    return await bisectCommits({
      input: input.input,
      hosts,
      oldRev,
      commits,
      maxBuilds: ctx.settings.bisectMaxBuilds,
      log: ctx.log,
      tryRev: async rev => {
        const args = revisionArgs(ctx.newLock, input.input, rev)
        if (!args) throw new Error(`Cannot name ${input.input} at ${rev} as a flake reference`)
        const r = await buildHosts(
          ctx.nix,
          ctx.flake,
          hosts,
          path.join(ctx.rootsDir, `bisect-${input.input}-${++n}`),
          ctx.pool,
          { flakeArgs: [...context, ...args] }
        )
        return hosts.every(h => r.hosts.get(h)?.status === 'built')
      }
    })
  } catch (e) {
    return { ...base, error: errorMessage(e) }
  }
}

/** The held-back-inputs output: `[{input, old, new, hosts, firstBad}]`, revisions in full. */
export function heldBackOutput(inputs: HeldBackInput[]): string {
  return JSON.stringify(
    inputs
      .filter(i => i.heldBack)
      .map(i => ({
        input: i.input,
        old: i.old?.rev ?? i.old?.narHash ?? null,
        new: i.new?.rev ?? i.new?.narHash ?? null,
        hosts: i.hosts.map(h => h.host),
        firstBad: i.bisect?.firstBad?.rev ?? null
      }))
  )
}
