import * as core from '@actions/core'
import * as github from '@actions/github'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { Git } from './git/git'
import { EvalPoolOptions, localMachine, poolOptions } from './nix/evalpool'
import { Nix, stripWarnings } from './nix/nix'
import { MiB } from './memory'
import { BuildResult, buildHosts } from './pipeline/build'
import { discover } from './pipeline/discover'
import { HostDiff, diffHosts, pendingHosts } from './pipeline/diff'
import { inspectCheckout } from './pipeline/checkout'
import {
  PublishError,
  PublishResult,
  checkCheckoutOnBase,
  forgeEndpoints,
  publish,
  writeSigningKey
} from './pipeline/publish'
import { PublishTarget, preflightPublish, runnerFileProblems } from './pipeline/preflight'
import { PushReport, pushSystems } from './pipeline/push'
import { UpdateResult, restoreLock, updateLock } from './pipeline/update'
import { REPORT_LIMIT, SUMMARY_LIMIT, renderReport } from './report/markdown'
import {
  FleetReport,
  HostReport,
  failedHosts,
  hostStatus,
  rebootHosts,
  regressedHosts,
  warningChanges
} from './report/model'
import { runUrl } from './report/run-link'
import { ForgeKind, InputError, InputSource, PushSettings, Settings, getSettings } from './settings'
import { errorMessage } from './errors'
import { STATE } from './state'
import { saveLock } from './cleanup'
import { stopOnSignals } from './interrupt'
import { stopping, tail } from './exec'
import { formatBytes } from './report/nvd'
import { redactUrl, scrub } from './nix/cache'
import { checkSigningKey } from './signing'
import { isOpenPgpKey, openPgpHome } from './openpgp'
import { FleetState, readFleetState } from './forge/fleet-state'
import { ApiClient } from './forge/http'
import { failedUpgrades, staleHosts } from './report/fleet-state'

/** A phase starting or ending, for whoever shows progress (the command line). */
export interface PhaseEvent {
  phase: string
  state: 'start' | 'end' | 'failed'
  /** How many hosts the phase works on, when it works on hosts. */
  hosts?: number
  /** Seconds since the phase started (end and failed). */
  seconds?: number
  /** What came of it, e.g. `10 built, 2 failed` (end). */
  outcome?: string
}

export interface RunOptions {
  now?: Date
  /** The inputs, when they come from elsewhere than INPUT_* variables (the command line). */
  inputs?: InputSource
  onPhase?: (event: PhaseEvent) => void
}

/** How a run ended; the action's step status says the same through core.setFailed. */
export interface RunOutcome {
  /** `bad-input`: an input, the checkout or the environment is not usable; nothing was built. */
  result: 'ok' | 'regressed' | 'bad-input' | 'failed'
  message?: string
  /** The full Markdown report (the job summary), once it was written. */
  report?: string
  /** The structured results, as written to the report.json file. */
  json?: string
}

interface PhaseOptions<T> {
  hosts?: number
  outcome?: (result: T) => string
  onPhase?: (event: PhaseEvent) => void
}

/** Runs one phase inside a log group and records how long it took. */
async function phase<T>(
  timings: FleetReport['timings'],
  name: string,
  fn: () => Promise<T>,
  options: PhaseOptions<T> = {}
): Promise<T> {
  const start = Date.now()
  const elapsed = (): number => (Date.now() - start) / 1000
  options.onPhase?.({ phase: name, state: 'start', hosts: options.hosts })
  let result: T
  try {
    result = await core.group(name, fn)
    // Results of a phase that a signal cut short are not results: nothing after it may use them.
    const signal = stopping()
    if (signal) throw new Error(`Stopped by ${signal} during: ${name}`)
  } catch (e) {
    options.onPhase?.({ phase: name, state: 'failed', hosts: options.hosts, seconds: elapsed() })
    throw e
  }
  const seconds = elapsed()
  timings.push({ phase: name, seconds })
  const outcome = options.outcome?.(result)
  core.info(`${name}: ${seconds.toFixed(1)} s${outcome ? ` (${outcome})` : ''}`)
  options.onPhase?.({ phase: name, state: 'end', hosts: options.hosts, seconds, outcome })
  return result
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`
}

function buildOutcome(b: BuildResult): string {
  const hosts = [...b.hosts.values()]
  const failed = hosts.filter(h => h.status !== 'built').length
  return `${hosts.length - failed} built${failed > 0 ? `, ${failed} failed` : ''}`
}

/**
 * Outputs go to GITHUB_OUTPUT. Without one, a runner older than that file takes them as `::set-output` commands;
 * outside a runner (GITHUB_ACTIONS unset) they would only flood the terminal with the report, so they are left out.
 */
function setOutput(name: string, value: string): void {
  if (process.env.GITHUB_OUTPUT || process.env.GITHUB_ACTIONS === 'true') core.setOutput(name, value)
}

function hostReports(
  hosts: string[],
  before?: BuildResult,
  after?: BuildResult,
  diffs: HostDiff[] = []
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
      kernel: d?.kernel
    }
  })
}

/** The evaluation pool for this machine and fleet, as the settings tune it. */
function evalPool(settings: Settings, hosts: number): EvalPoolOptions {
  const pool = poolOptions(settings, hosts, localMachine())
  core.info(
    `Evaluation: up to ${pool.workers} processes at once, memory budget ${Math.floor(pool.budget / MiB)} MiB (${Math.floor(pool.budget / pool.workers / MiB)} MiB each), ${pool.chunkSize ?? 'automatic'} hosts per process`
  )
  return pool
}

function logEvaluation(build: BuildResult): BuildResult {
  const e = build.evaluation
  const peak = Math.max(0, ...e.processes.map(x => x.peakRss))
  const killed = e.processes.filter(x => x.overLimit).length
  core.info(
    `Evaluated ${build.hosts.size} hosts: ${e.processes.length} processes, ${e.seconds.toFixed(1)} s, largest ${Math.round(peak / MiB)} MiB${killed ? `, ${killed} killed over their memory limit` : ''}`
  )
  // A process that died had its hosts evaluated again: say why it died, since nothing else will.
  for (const p of e.processes.filter(x => x.overLimit || x.exitCode > 128)) {
    core.info(
      `An evaluation process of ${p.hosts.length} hosts (${p.hosts.slice(0, 3).join(', ')}${p.hosts.length > 3 ? ', …' : ''}) ${p.overLimit ? `went over ${Math.round(p.limit / MiB)} MiB and was killed` : `ended with exit code ${p.exitCode}`} after ${p.seconds.toFixed(1)} s, at ${Math.round(p.peakRss / MiB)} MiB${p.stderr.trim() ? `; it said: ${tail(stripWarnings(p.stderr), 3)}` : ''}`
    )
  }
  return build
}

/** The flake as named from the repository's root, for commands a reader runs in their checkout. */
function flakeRef(flakeDir: string, env: NodeJS.ProcessEnv): string {
  const rel = path.relative(path.resolve(env.GITHUB_WORKSPACE || process.cwd()), flakeDir)
  return rel === '' ? '.' : `./${rel.split(path.sep).join('/')}`
}

/** The pull request body: the report within the forges' size limit, pointing at the full one. */
function prBody(report: FleetReport, forge: ForgeKind): string {
  const url = runUrl(process.env, forge)
  // No timings: they differ on every run, and the body should change only when the update does.
  return renderReport(report, {
    limit: REPORT_LIMIT,
    fullReport: url ? `the job summary of [the workflow run](${url})` : undefined,
    timings: false
  })
}

/** One file write of the results, named for the message when it fails. */
interface ResultWrite {
  what: string
  file: string | undefined
  write: () => void
}

/**
 * Runs each write on its own: a full disk or an unwritable file loses that one write, not the others. Returns
 * what failed, each naming its file.
 */
function writeEach(writes: ResultWrite[]): string[] {
  const failures: string[] = []
  for (const w of writes) {
    try {
      w.write()
    } catch (e) {
      const failure = `${w.what} to ${w.file ?? '(no file)'}: ${errorMessage(e)}`
      core.warning(`Could not write ${failure}`)
      failures.push(failure)
    }
  }
  return failures
}

/** One write per output, so that one that fails does not stop the rest. */
function outputWrites(outputs: Record<string, string>): ResultWrite[] {
  return Object.entries(outputs).map(([name, value]) => ({
    what: `the output '${name}'`,
    file: process.env.GITHUB_OUTPUT,
    write: () => setOutput(name, value)
  }))
}

/**
 * Writes the JSON file, the job summary and every output, each independently of the others; the same for a
 * changed and an unchanged lock. Returns the writes that failed, each naming its file.
 */
function writeResults(
  report: FleetReport,
  workDir: string,
  forge: ForgeKind,
  update?: UpdateResult
): { body: string; full: string; json: string; failures: string[] } {
  const body = prBody(report, forge)
  const full = renderReport(report, { limit: SUMMARY_LIMIT })
  const jsonPath = path.join(workDir, 'report.json')
  const json = {
    ...report,
    updatedInputs: update?.updatedInputs ?? [],
    failedHosts: failedHosts(report),
    regressedHosts: regressedHosts(report),
    rebootHosts: rebootHosts(report)
  }
  const jsonText = JSON.stringify(json, null, 2)
  const summaryFile = process.env.GITHUB_STEP_SUMMARY
  const failures = writeEach([
    ...outputWrites({
      hosts: JSON.stringify(report.hosts.map(h => h.host)),
      changed: String(report.changed),
      'updated-inputs': JSON.stringify(update?.updatedInputs ?? []),
      'failed-hosts': JSON.stringify(failedHosts(report)),
      'regressed-hosts': JSON.stringify(regressedHosts(report)),
      'reboot-hosts': JSON.stringify(rebootHosts(report)),
      'push-status': report.push?.status ?? '',
      'pushed-paths': report.push ? String(report.push.paths) : '',
      'pushed-bytes': report.push ? String(report.push.bytes) : '',
      'stale-hosts': JSON.stringify(staleHosts(report.fleetState)),
      'failed-upgrades': JSON.stringify(failedUpgrades(report.fleetState)),
      report: body,
      'report-json': jsonPath
    }),
    {
      what: 'the job summary',
      file: summaryFile,
      write: () => {
        if (summaryFile) fs.appendFileSync(summaryFile, `${full}\n`)
      }
    },
    { what: 'the JSON report', file: jsonPath, write: () => fs.writeFileSync(jsonPath, jsonText) }
  ])
  if (!summaryFile && process.env.GITHUB_ACTIONS !== 'true')
    core.info(`Not on a runner: the report is in ${jsonPath}`)
  return { body, full, json: jsonText, failures }
}

function writePublishOutputs(p: PublishResult): string[] {
  return writeEach(
    outputWrites({
      branch: p.branch,
      commit: p.commit ?? '',
      'pr-number': p.prNumber === undefined ? '' : String(p.prNumber),
      'pr-url': p.prUrl ?? '',
      'pr-operation': p.operation
    })
  )
}

/** A directory for this run's files (report.json, the private index, GC roots); kept until the job ends. */
function makeWorkDir(): string {
  return fs.mkdtempSync(path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'nixos-fleet-update-'))
}

/**
 * What the hosts last reported (commit statuses of the base branch's recent commits). Read-only and best effort:
 * without a token or a repository it is skipped, and a forge error is a warning, never a failed run.
 */
async function readFleet(settings: Settings, hosts: string[]): Promise<FleetState | undefined> {
  let endpoints: ReturnType<typeof forgeEndpoints>
  try {
    endpoints = forgeEndpoints(settings, process.env)
  } catch (e) {
    core.info(`Fleet state not read: ${errorMessage(e)}`)
    return undefined
  }
  try {
    const api = new ApiClient(endpoints.apiUrl, settings.token, { attempts: 2, timeoutMs: 15000 })
    const state = await readFleetState(
      api,
      settings.forge,
      { owner: endpoints.owner, repo: endpoints.repo, base: settings.baseBranch },
      hosts,
      settings.staleAfterMs,
      new Date()
    )
    core.info(
      `Fleet state: ${state.hosts.length} hosts reported on the last ${state.commits.length} commits of ${settings.baseBranch}` +
        (state.neverReported.length ? `; never reported: ${state.neverReported.join(', ')}` : '')
    )
    return state
  } catch (e) {
    core.warning(`Fleet state not read (the report goes on without it): ${errorMessage(e)}`)
    return undefined
  }
}

/** Writes a secret to a private file that this step removes at its end, and the post step after a crash. */
function privateKeyFile(key: string, postDirs: string[], cleanup: (() => void)[]): string {
  const written = writeSigningKey(key)
  postDirs.push(written.dir)
  core.saveState(STATE.cleanupDirs, postDirs.join('\n'))
  cleanup.push(() => fs.rmSync(written.dir, { recursive: true, force: true }))
  return written.file
}

/** Lets the builds fetch from the binary cache, when it can be opened: an unreachable ssh store would fail them. */
async function useAsSubstituter(nix: Nix, push: PushSettings): Promise<void> {
  const problem = await nix.storeProblem(push.url)
  if (problem) {
    core.warning(
      `The builds do not fetch from ${redactUrl(push.url)}: it cannot be opened: ${scrub(problem, push.url)}`
    )
  } else {
    nix.substituter = { url: push.url, publicKey: push.publicKey }
    core.info(`The builds also fetch from ${redactUrl(push.url)}, trusting ${push.publicKey}`)
  }
}

function logPush(p: PushReport): void {
  const sent = `${p.paths} new path${p.paths === 1 ? '' : 's'} (${formatBytes(p.bytes)})`
  if (p.status === 'pushed') {
    core.info(
      `Pushed ${sent} to ${p.to}; the ${p.hosts.length} systems' closures hold ${p.closurePaths} paths, the rest were there`
    )
  } else if (p.status === 'failed') {
    core.warning(`Pushing the new systems to ${p.to} failed (${sent} started): ${p.error ?? 'unknown error'}`)
  } else {
    core.info(`Nothing pushed to ${p.to}: ${p.error ?? 'nothing to push'}`)
  }
}

async function pipeline(
  settings: Settings,
  workDir: string,
  cleanup: (() => void)[],
  postDirs: string[],
  onStop: (() => void)[],
  outcome: RunOutcome,
  onPhase?: (event: PhaseEvent) => void
): Promise<void> {
  // Everything publishing needs is checked before the first build, not found missing after it.
  let target: PublishTarget | undefined
  if (!settings.dryRun) {
    target = await preflightPublish(settings, process.env, { scratchDir: workDir, checkSigningKey })
  } else if (settings.signingKey) {
    // A dry run rehearses the real one: a key that cannot sign fails it too, before anything is built.
    await checkSigningKey(settings.signingKey, workDir, settings.signingKeyPassphrase)
  }
  const nix = await Nix.create(settings.nixArgs)
  core.info(`Using ${nix.version.text}; flake ${settings.flakeDir}`)
  const flake = settings.flakeDir
  // flake.lock as the checked-out commit has it, read before anything evaluates the flake; a checkout whose
  // flake files differ from its commit is refused here.
  const checkout = await inspectCheckout(flake)
  if (target && checkout.git && checkout.head) {
    await checkCheckoutOnBase(checkout.git, checkout.head, settings)
  }
  const timings: FleetReport['timings'] = []
  const roots = path.join(workDir, 'gcroots')
  cleanup.push(() => fs.rmSync(roots, { recursive: true, force: true }))
  const push = settings.push
  // A dry run pushes nothing, so the key need not be written.
  const pushKeyFile =
    push && !settings.dryRun ? privateKeyFile(push.key.secret, postDirs, cleanup) : undefined
  if (push && settings.build) await phase(timings, 'Open the binary cache', () => useAsSubstituter(nix, push))

  const found = await phase(
    timings,
    'Discover hosts',
    async () => {
      const d = await discover(nix, flake, settings.hosts, settings.excludeHosts, settings.excludeHostsSource)
      core.info(
        `Hosts: ${d.hosts.join(', ')}${d.excluded.length ? ` (excluded: ${d.excluded.join(', ')})` : ''}`
      )
      return d
    },
    {
      onPhase,
      outcome: d =>
        `${plural(d.hosts.length, 'host')}${d.excluded.length ? `, ${d.excluded.length} excluded` : ''}`
    }
  )
  const pool = evalPool(settings, found.hosts.length)
  const fleet = settings.token
    ? await phase(timings, 'Read the fleet state', () => readFleet(settings, found.hosts))
    : undefined
  const hostPhase = { onPhase, hosts: found.hosts.length, outcome: buildOutcome }
  const before = settings.build
    ? await phase(
        timings,
        'Build before the update',
        () => buildHosts(nix, flake, found.hosts, path.join(roots, 'before'), pool).then(logEvaluation),
        hostPhase
      )
    : undefined
  // The lock as it is now, put back if a signal stops the step from here on (and by the post step if the step
  // is killed outright).
  try {
    const savedLock = saveLock(path.join(flake, 'flake.lock'), workDir)
    cleanup.push(() => savedLock.discard())
    onStop.push(() => savedLock.restore())
  } catch (e) {
    // A full RUNNER_TEMP must not cost the run: the lock of the checked-out commit is still known here.
    core.warning(
      `Could not keep a copy of flake.lock in ${workDir} for the post step (${errorMessage(e)}): a stopped step puts it back, one killed outright cannot`
    )
    onStop.push(() => restoreLock(flake, checkout.oldLock ?? ''))
  }
  // Nix stages a lock file it creates: where the index had none, the entry goes with the file.
  const { git: checkoutGit, lockInIndex } = checkout
  if (checkoutGit && !lockInIndex) onStop.push(() => checkoutGit.unstageSync('flake.lock'))
  const update = await phase(
    timings,
    'Update flake.lock',
    () => updateLock(nix, flake, settings.updateInputs, checkout.oldLock),
    {
      onPhase,
      outcome: u =>
        u.created
          ? 'lock file created'
          : u.changed
            ? `${plural(u.updatedInputs.length, 'input')} updated`
            : 'up to date'
    }
  )
  if (update.changed && settings.dryRun) {
    const index = checkoutGit ? { git: checkoutGit, hadEntry: lockInIndex } : undefined
    cleanup.push(() => restoreLock(flake, update.oldLock, index))
  }
  core.info(
    update.created
      ? `flake.lock created: ${update.updatedInputs.join(', ') || 'no inputs'}`
      : update.changed
        ? `Updated inputs: ${update.updatedInputs.join(', ') || '(lock file rewritten)'}`
        : 'flake.lock is up to date'
  )

  const report: FleetReport = {
    flake: settings.flakeDir,
    flakeRef: flakeRef(settings.flakeDir, process.env),
    nixVersion: nix.version.text,
    changed: update.changed,
    built: settings.build && update.changed,
    dryRun: settings.dryRun,
    hosts: hostReports(found.hosts),
    fleetState: fleet,
    excluded: found.excluded,
    lockChanges: update.changes,
    lockCreated: update.created,
    timings
  }
  if (update.changed && before) {
    const after = await phase(
      timings,
      'Build after the update',
      () => buildHosts(nix, flake, found.hosts, path.join(roots, 'after'), pool).then(logEvaluation),
      hostPhase
    )
    const pairs = found.hosts.flatMap(host => {
      const b = before.hosts.get(host)
      const a = after.hosts.get(host)
      return b?.status === 'built' && a?.status === 'built' && b.outPath && a.outPath
        ? [{ host, before: b.outPath, after: a.outPath }]
        : []
    })
    const diffs = await phase(timings, 'Diff closures', () => diffHosts(nix, pairs), {
      onPhase,
      hosts: pairs.length
    })
    report.hosts = hostReports(found.hosts, before, after, diffs)
    const unbuilt = report.hosts.flatMap(h =>
      h.status === 'regressed' && h.before?.outPath && h.after?.status === 'build-failed' && h.after.drvPath
        ? [{ host: h.host, before: h.before.outPath, afterDrv: h.after.drvPath }]
        : []
    )
    const pending = await pendingHosts(nix, unbuilt)
    for (const h of report.hosts) h.pending = pending.get(h.host)
    report.warnings = warningChanges(report.hosts)
    // One annotation per warning, however many hosts print it.
    for (const w of report.warnings.new) {
      core.warning(w.text, { title: `New evaluation warning after the update (${w.hosts.join(', ')})` })
    }
    if (push && pushKeyFile && !settings.dryRun) {
      const systems = found.hosts.flatMap(host => {
        const a = after.hosts.get(host)
        return a?.status === 'built' && a.outPath ? [{ host, outPath: a.outPath }] : []
      })
      report.push = await phase(timings, 'Push to the binary cache', () =>
        pushSystems(nix, { url: push.url, keyFile: pushKeyFile }, systems)
      )
      logPush(report.push)
    }
  }

  // Every output and the summary are written before publishing, so a failure there still leaves the report.
  const { body, full, json, failures } = writeResults(report, workDir, settings.forge, update)
  outcome.report = full
  outcome.json = json
  let published: PublishResult = { branch: settings.branch, pushed: false, operation: 'none' }
  failures.push(...writePublishOutputs(published))
  if (push?.required && report.push?.status === 'failed') {
    throw new Error(
      `Pushing the new systems to ${report.push.to} failed and 'push-required' is true, so no pull request is opened: ${report.push.error ?? ''}`
    )
  }
  if (update.changed && target) {
    const forge = target.forge
    // OpenPGP: a keyring of its own in the work directory (removed with it, also by the post step).
    const openPgp =
      settings.signingKey && isOpenPgpKey(settings.signingKey)
        ? await openPgpHome(settings.signingKey, settings.signingKeyPassphrase, path.join(workDir, 'gnupg'))
        : undefined
    if (openPgp) cleanup.push(() => openPgp.closeSync())
    const keyFile =
      settings.signingKey && !openPgp ? privateKeyFile(settings.signingKey, postDirs, cleanup) : undefined
    const publishOutcome = (p: PublishResult): string =>
      p.prUrl ? `pull request ${p.operation}: ${p.prUrl}` : 'no pull request'
    published = await phase(
      timings,
      'Publish',
      async () => {
        try {
          return await publish(await Git.create(flake), forge, {
            settings,
            newLock: update.newLock,
            changes: update.changes,
            created: update.created,
            body,
            signingKeyFile: keyFile,
            openPgp,
            scratchDir: workDir
          })
        } catch (e) {
          // The branch may be pushed (and the pull request open) although a later forge call failed.
          if (e instanceof PublishError) failures.push(...writePublishOutputs(e.result))
          throw e
        }
      },
      { onPhase, outcome: publishOutcome }
    )
    failures.push(...writePublishOutputs(published))
    core.info(
      published.prUrl
        ? `Pull request #${published.prNumber} ${published.operation}: ${published.prUrl}`
        : 'No pull request was opened'
    )
  }
  core.info(body)

  const regressed = regressedHosts(report)
  if (settings.failOnRegression && regressed.length > 0) {
    outcome.result = 'regressed'
    outcome.message = `Hosts that built before the update fail after it: ${regressed.join(', ')}`
    core.setFailed(outcome.message)
  }
  // Raised last: what could be written was, and the pull request was published.
  if (failures.length > 0) throw new Error(`Could not write ${failures.join('; ')}`)
}

/** The action: settings → discover → build before → update → build after → diff → publish → outputs. */
export async function run(options: RunOptions = {}): Promise<RunOutcome> {
  // `cleanup` runs when the step ends, however it ends; `onStop` before it only when a signal stops the step
  // (it undoes what a finished run keeps). Each step runs once, newest first, even when both ways happen.
  const cleanup: (() => void)[] = []
  const onStop: (() => void)[] = []
  const outcome: RunOutcome = { result: 'ok' }
  const runAll = (fns: (() => void)[]): void => {
    for (const fn of fns.splice(0).reverse()) {
      try {
        fn()
      } catch (e) {
        core.warning(`Cleanup failed: ${String(e)}`)
      }
    }
  }
  const stop = (): void => {
    runAll(onStop)
    runAll(cleanup)
  }
  await stopOnSignals(stop, async () => {
    try {
      const fileProblems = runnerFileProblems(process.env)
      if (fileProblems.length > 0) {
        throw new InputError(
          `The runner's files are not usable, so nothing was run:\n${fileProblems.join('\n')}`
        )
      }
      const settings = getSettings({
        env: process.env,
        defaultBranch: defaultBranchFromEvent(),
        now: options.now ?? new Date(),
        inputs: options.inputs
      })
      const workDir = makeWorkDir()
      core.saveState(STATE.cleanupDirs, workDir)
      // A stopped run leaves no report behind: its results would be partial.
      onStop.push(() => fs.rmSync(workDir, { recursive: true, force: true }))
      await pipeline(settings, workDir, cleanup, [workDir], onStop, outcome, options.onPhase)
    } catch (error) {
      outcome.result = error instanceof InputError ? 'bad-input' : 'failed'
      outcome.message = errorMessage(error)
      core.setFailed(outcome.message)
    } finally {
      runAll(cleanup)
    }
  })
  return outcome
}

function defaultBranchFromEvent(): string | undefined {
  try {
    const repo = github.context.payload.repository as { default_branch?: unknown } | undefined
    return typeof repo?.default_branch === 'string' ? repo.default_branch : undefined
  } catch {
    return undefined
  }
}
