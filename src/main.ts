import { errorMessage } from './errors'
import { Log } from './log/log'
import { runnerFileProblems } from './pipeline/preflight'
import { flakeRef } from './report/flake-ref'
import { assembleReport } from './report/assemble'
import { NO_RUNNER, RunnerContext } from './runner/context'
import { InputError, InputSource, getSettings } from './settings'
import { stopOnSignals } from './interrupt'
import { RunEvent, eventFrom } from './modes/event'
import { selectMode } from './modes/mode'
import { runReview } from './modes/review'
import { runCache } from './modes/cache'
import { runRolloutMode } from './modes/rollout'
import { PhaseEvent, Run, makeWorkDir } from './run/context'
import { writePublishOutputs, writeResults, writeSeveralResults } from './run/results'
import { FleetReport } from './report/model'
import { UpdateResult } from './pipeline/update'
import { LockUpdate } from './pipeline/publish'
import { CheckoutState, inspectCheckout } from './pipeline/checkout'
import { hostsPerFlake } from './pipeline/discover'
import { unknownInFlakes } from './pipeline/input-selection'
import * as path from 'path'
import { Nix } from './nix/nix'
import { PushReport } from './types'
import {
  Comparison,
  buildFleet,
  compareSides,
  discoverHosts,
  evalPool,
  guardLock,
  holdBackBreakingInputs,
  openCache,
  prepare,
  proposedUpdate,
  publishUpdate,
  pushToCache,
  readFleet,
  updateFlakeLock
} from './run/steps'

export type { PhaseEvent } from './run/context'

export interface RunOptions {
  /** Where the run's log, outputs, state and summary go: the runner, or the command line. */
  log: Log
  /** The environment the run reads (runner variables, inputs as INPUT_*); the process's own when not given. */
  env?: NodeJS.ProcessEnv
  /** The event that started the workflow run; none outside a runner. */
  context?: RunnerContext
  now?: Date
  /** The inputs, when they come from elsewhere than INPUT_* variables (the command line). */
  inputs?: InputSource
  onPhase?: (event: PhaseEvent) => void
}

/** How a run ended; the action's step status says the same through the log's `failed`. */
export interface RunOutcome {
  /** `bad-input`: an input, the checkout or the environment is not usable; nothing was built. */
  result: 'ok' | 'regressed' | 'bad-input' | 'failed'
  message?: string
  /** The full Markdown report (the job summary), once it was written. */
  report?: string
  /** The structured results, as written to the report.json file. */
  json?: string
}

/** What one flake's update came to: its report, the update its pull request proposes. */
interface FlakeOutcome {
  run: Run
  /** The flake's directory as the report names it (`.`, `./lab`). */
  label: string
  report: FleetReport
  /** The update the pull request proposes (the breaking inputs held back). */
  proposed: UpdateResult
  /** Every changed input breaks a host and is held back: nothing of this flake is proposed. */
  nothingLeft: boolean
  push?: PushReport
}

/** One flake: discover → build before → update the lock → build after → hold back → diff → push → report. */
async function updateFlake(
  run: Run,
  nix: Nix,
  checkout: CheckoutState,
  names?: string[]
): Promise<FlakeOutcome> {
  const { settings } = run
  const label = flakeRef(settings.flakeDir, run.env)
  const found = await discoverHosts(run, nix, names)
  const hosts = found.hosts
  const pool = evalPool(run, hosts.length)
  const fleetState = await readFleet(run, hosts)
  const before = settings.build
    ? await buildFleet(run, nix, hosts, { name: 'Build before the update', roots: 'before' }, pool)
    : undefined

  guardLock(run, checkout)
  const update = await updateFlakeLock(run, nix, checkout)
  // The same hosts after the update: their evaluation starts where the one before ended, with no probe.
  const afterPool = { ...pool, start: before?.evaluation.next }
  const built =
    update.changed && before
      ? await buildFleet(run, nix, hosts, { name: 'Build after the update', roots: 'after' }, afterPool)
      : undefined
  const held =
    before && built
      ? await holdBackBreakingInputs(run, nix, hosts, before, built, update, afterPool)
      : undefined
  // What the pull request proposes: the hosts as its lock builds them.
  const after = held?.proposed ?? built
  const proposed = proposedUpdate(update, held)
  let compared: Comparison | undefined
  if (before && after) compared = await compareSides(run, nix, hosts, before, after)
  const push =
    after && settings.push && !settings.dryRun
      ? await pushToCache(run, nix, settings.push, hosts, after)
      : undefined

  const report = assembleReport({
    flake: settings.flakeDir,
    flakeRef: label,
    nixVersion: nix.version.text,
    dryRun: settings.dryRun,
    build: settings.build,
    hosts,
    excluded: found.excluded,
    update: proposed,
    fleetState,
    before,
    after,
    diffs: compared?.diffs,
    pending: compared?.pending,
    push,
    timings: run.timings,
    heldBack: held?.inputs,
    nothingLeft: held?.nothingLeft,
    configurations: settings.configurations
  })
  return { run, label, report, proposed, nothingLeft: held?.nothingLeft === true, push }
}

/** One flake's part of the update: its run, its checkout, its hosts' names when `hosts` made them be read. */
interface FlakeRun {
  run: Run
  checkout: CheckoutState
  names?: string[]
}

/**
 * Several flakes of one repository: each flake's run (its own work directory and phases named after it), and
 * its checkout, which must be the same git repository as the first's: one commit carries every lock.
 */
async function flakeRuns(run: Run, nix: Nix, first: CheckoutState): Promise<FlakeRun[]> {
  const { settings, log } = run
  const dirs = settings.flakeDirs
  const top = first.git ? await first.git.topLevel() : undefined
  const checkouts: CheckoutState[] = []
  for (const [i, dir] of dirs.entries()) {
    const checkout = i === 0 ? first : await inspectCheckout(dir)
    const its = checkout.git ? await checkout.git.topLevel() : undefined
    if (its !== top) {
      throw new InputError(
        `Input 'flake': ${dir} is ${its ? `in the git repository ${its}` : 'not in a git repository'}, ${dirs[0]} ${top ? `in ${top}` : 'in none'}: the flakes of one run must share a repository, as one commit carries their locks`
      )
    }
    checkouts.push(checkout)
  }
  const unknown = unknownInFlakes(
    settings.updateInputs,
    dirs.map((dir, i) => ({ lockText: checkouts[i].oldLock, lockPath: path.join(dir, 'flake.lock') }))
  )
  if (unknown.length > 0) {
    throw new InputError(
      `Input 'update-inputs' names ${unknown.map(i => JSON.stringify(i)).join(', ')}, an input of none of the flakes ${dirs.join(', ')}`
    )
  }
  const labels = dirs.map(dir => flakeRef(dir, run.env))
  // `hosts` names hosts of any flake (`./lab#web` of one): each flake gets its own; one with none keeps its lock.
  const names =
    settings.hosts.length === 0
      ? undefined
      : await Promise.all(dirs.map(dir => nix.hostNames(dir, settings.configurations)))
  const perFlake = names
    ? hostsPerFlake(
        settings.hosts,
        dirs.map((_, i) => ({ label: labels[i], names: names[i] })),
        settings.configurations
      )
    : dirs.map(() => settings.hosts)
  const runs: FlakeRun[] = []
  for (const [i, dir] of dirs.entries()) {
    if (names && perFlake[i].length === 0) {
      log.info(`${labels[i]}: input 'hosts' names none of its hosts, so its lock is left as it is`)
      continue
    }
    runs.push({
      run: run.forFlake(dir, labels[i], i, perFlake[i]),
      checkout: checkouts[i],
      names: names?.[i]
    })
  }
  return runs
}

/**
 * The update: the steps of `updateFlake` for each flake, then one report, one commit with every changed lock and
 * one pull request. Every output and the summary are written before publishing, so that a failure there still
 * leaves the report.
 */
async function updateFleet(run: Run, outcome: RunOutcome): Promise<void> {
  const { settings, log } = run
  const { nix, checkout, target } = await prepare(run)
  if (settings.push && settings.build) await openCache(run, nix, settings.push)
  const several = settings.flakeDirs.length > 1
  const flakes: FlakeRun[] = several ? await flakeRuns(run, nix, checkout) : [{ run, checkout }]
  const done: FlakeOutcome[] = []
  for (const f of flakes) done.push(await updateFlake(f.run, nix, f.checkout, f.names))

  const {
    body,
    full,
    json,
    failures,
    regressedHosts: regressed
  } = several
    ? writeSeveralResults(
        run,
        done.map(d => ({ label: d.label, report: d.report, update: d.proposed }))
      )
    : writeResults(run, done[0].report, done[0].proposed)
  outcome.report = full
  outcome.json = json
  failures.push(...writePublishOutputs(run, { branch: settings.branch, pushed: false, operation: 'none' }))
  const pushFailed = done.find(d => d.push?.status === 'failed')?.push
  if (settings.push?.required && pushFailed) {
    throw new Error(
      `Pushing the new systems to ${pushFailed.to} failed and 'push-required' is true, so no pull request is opened: ${pushFailed.error ?? ''}`
    )
  }
  for (const d of done.filter(x => x.nothingLeft)) {
    log.info(
      `No pull request${several ? ` for ${d.label}` : ''}: every changed input breaks a host and is held back`
    )
  }
  const locks: LockUpdate[] = done
    .filter(d => d.proposed.changed && !d.nothingLeft)
    .map(d => ({
      flakeDir: d.run.settings.flakeDir,
      newLock: d.proposed.newLock,
      changes: d.proposed.changes,
      created: d.proposed.created,
      label: d.label
    }))
  if (locks.length > 0 && target) await publishUpdate(run, target, locks, body, failures)
  log.info(body)

  if (settings.failOnRegression && regressed.length > 0) {
    outcome.result = 'regressed'
    outcome.message = `Hosts that built before the update fail after it: ${regressed.join(', ')}`
    log.failed(outcome.message)
  }
  // Raised last: what could be written was, and the pull request was published.
  if (failures.length > 0) throw new Error(`Could not write ${failures.join('; ')}`)
}

/** Review a pull request, or fill the binary cache from a pushed commit: each its own sequence of the steps. */
async function otherMode(
  run: Run,
  mode: 'review' | 'cache',
  event: RunEvent,
  outcome: RunOutcome
): Promise<void> {
  const { settings, log } = run
  log.info(`Mode: ${mode}${settings.modes.mode ? '' : ` (chosen from the event ${event.name || 'none'})`}`)
  const done = mode === 'review' ? await runReview(run, event) : await runCache(run)
  Object.assign(outcome, done)
  if (done.result === 'regressed') log.failed(done.message ?? 'regressed')
}

/** The action: the settings, then the update; one catch fails the step with the error's message. */
export async function run(options: RunOptions): Promise<RunOutcome> {
  const { log } = options
  const env = options.env ?? process.env
  const context = options.context ?? NO_RUNNER
  const outcome: RunOutcome = { result: 'ok' }
  let current: Run | undefined
  const stop = (): void => {
    current?.onStop.runAll()
    current?.cleanup.runAll()
  }
  await stopOnSignals(
    stop,
    async () => {
      try {
        const fileProblems = runnerFileProblems(env)
        if (fileProblems.length > 0) {
          throw new InputError(
            `The runner's files are not usable, so nothing was run:\n${fileProblems.join('\n')}`
          )
        }
        const settings = getSettings({
          env,
          log,
          defaultBranch: context.defaultBranch,
          now: options.now ?? new Date(),
          inputs: options.inputs
        })
        current = new Run(settings, env, log, makeWorkDir(env), options.onPhase)
        const event = eventFrom(context.eventName, context.payload)
        const mode = selectMode(settings.modes.mode, event, {
          baseBranch: settings.baseBranch,
          pushTo: settings.push !== undefined
        })
        if (mode !== 'update' && settings.flakeDirs.length > 1) {
          throw new InputError(
            `Input 'flake' names ${settings.flakeDirs.length} directories; mode ${mode} works on one flake: run it once per flake (a matrix job)`
          )
        }
        if (mode === 'rollout' && settings.configurations !== 'nixosConfigurations') {
          throw new InputError(
            `Input 'configurations' is ${settings.configurations}; mode rollout gates NixOS hosts, which report through the fleet-auto-upgrade module: it takes nixosConfigurations`
          )
        }
        if (mode === 'update') await updateFleet(current, outcome)
        else if (mode === 'rollout')
          outcome.report = (await runRolloutMode(settings, env, log, options.now ?? new Date())).markdown
        else await otherMode(current, mode, event, outcome)
      } catch (error) {
        outcome.result = error instanceof InputError ? 'bad-input' : 'failed'
        outcome.message = errorMessage(error)
        log.failed(outcome.message)
      } finally {
        current?.cleanup.runAll()
      }
    },
    log
  )
  return outcome
}
