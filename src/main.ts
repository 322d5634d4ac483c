import * as core from '@actions/core'
import * as github from '@actions/github'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { Git } from './git/git'
import { EvalPoolOptions, localMachine, poolOptions } from './nix/evalpool'
import { Nix } from './nix/nix'
import { MiB } from './memory'
import { BuildResult, buildHosts } from './pipeline/build'
import { discover } from './pipeline/discover'
import { HostDiff, diffHosts } from './pipeline/diff'
import {
  PublishError,
  PublishResult,
  forgeEndpoints,
  makeForge,
  publish,
  writeSigningKey
} from './pipeline/publish'
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
import { ForgeKind, PushSettings, Settings, getSettings } from './settings'
import { errorMessage } from './errors'
import { STATE } from './state'
import { saveLock } from './cleanup'
import { stopOnSignals } from './interrupt'
import { stopping } from './exec'
import { formatBytes } from './report/nvd'
import { redactUrl, scrub } from './nix/cache'
import { FleetState, readFleetState } from './forge/fleet-state'
import { ApiClient } from './forge/http'
import { failedUpgrades, staleHosts } from './report/fleet-state'

/** Runs one phase inside a log group and records how long it took. */
async function phase<T>(timings: FleetReport['timings'], name: string, fn: () => Promise<T>): Promise<T> {
  const start = Date.now()
  const result = await core.group(name, fn)
  // Results of a phase that a signal cut short are not results: nothing after it may use them.
  const signal = stopping()
  if (signal) throw new Error(`Stopped by ${signal} during: ${name}`)
  const seconds = (Date.now() - start) / 1000
  timings.push({ phase: name, seconds })
  core.info(`${name}: ${seconds.toFixed(1)} s`)
  return result
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
    const same = b?.outPath !== undefined && b.outPath === a?.outPath
    return {
      host,
      status: hostStatus(b, a, same),
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
  return renderReport(
    report,
    REPORT_LIMIT,
    url ? `the job summary of [the workflow run](${url})` : undefined,
    false
  )
}

/** Writes the JSON file, the job summary and every output; the same for a changed and an unchanged lock. */
function writeResults(
  report: FleetReport,
  workDir: string,
  forge: ForgeKind,
  update?: UpdateResult
): { body: string } {
  const body = prBody(report, forge)
  const full = renderReport(report, SUMMARY_LIMIT)
  const jsonPath = path.join(workDir, 'report.json')
  const json = {
    ...report,
    updatedInputs: update?.updatedInputs ?? [],
    failedHosts: failedHosts(report),
    regressedHosts: regressedHosts(report),
    rebootHosts: rebootHosts(report)
  }
  fs.writeFileSync(jsonPath, JSON.stringify(json, null, 2))
  core.setOutput('hosts', JSON.stringify(report.hosts.map(h => h.host)))
  core.setOutput('changed', String(report.changed))
  core.setOutput('updated-inputs', JSON.stringify(update?.updatedInputs ?? []))
  core.setOutput('failed-hosts', JSON.stringify(failedHosts(report)))
  core.setOutput('regressed-hosts', JSON.stringify(regressedHosts(report)))
  core.setOutput('reboot-hosts', JSON.stringify(rebootHosts(report)))
  core.setOutput('push-status', report.push?.status ?? '')
  core.setOutput('pushed-paths', report.push ? String(report.push.paths) : '')
  core.setOutput('pushed-bytes', report.push ? String(report.push.bytes) : '')
  core.setOutput('stale-hosts', JSON.stringify(staleHosts(report.fleetState)))
  core.setOutput('failed-upgrades', JSON.stringify(failedUpgrades(report.fleetState)))
  core.setOutput('report', body)
  core.setOutput('report-json', jsonPath)
  const summaryFile = process.env.GITHUB_STEP_SUMMARY
  if (summaryFile) fs.appendFileSync(summaryFile, `${full}\n`)
  return { body }
}

function writePublishOutputs(p: PublishResult): void {
  core.setOutput('branch', p.branch)
  core.setOutput('commit', p.commit ?? '')
  core.setOutput('pr-number', p.prNumber === undefined ? '' : String(p.prNumber))
  core.setOutput('pr-url', p.prUrl ?? '')
  core.setOutput('pr-operation', p.operation)
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
  onStop: (() => void)[]
): Promise<void> {
  const nix = await Nix.create(settings.nixArgs)
  core.info(`Using ${nix.version.text}; flake ${settings.flakeDir}`)
  const flake = settings.flakeDir
  const timings: FleetReport['timings'] = []
  const roots = path.join(workDir, 'gcroots')
  cleanup.push(() => fs.rmSync(roots, { recursive: true, force: true }))
  const push = settings.push
  const pushKeyFile = push ? privateKeyFile(push.key.secret, postDirs, cleanup) : undefined
  if (push && settings.build) await phase(timings, 'Open the binary cache', () => useAsSubstituter(nix, push))

  const found = await phase(timings, 'Discover hosts', async () => {
    const d = await discover(nix, flake, settings.hosts, settings.excludeHosts, settings.excludeHostsSource)
    core.info(
      `Hosts: ${d.hosts.join(', ')}${d.excluded.length ? ` (excluded: ${d.excluded.join(', ')})` : ''}`
    )
    return d
  })
  const pool = evalPool(settings, found.hosts.length)
  const fleet = settings.token
    ? await phase(timings, 'Read the fleet state', () => readFleet(settings, found.hosts))
    : undefined
  const before = settings.build
    ? await phase(timings, 'Build before the update', () =>
        buildHosts(nix, flake, found.hosts, path.join(roots, 'before'), pool).then(logEvaluation)
      )
    : undefined
  // The lock as it is now, put back if a signal stops the step from here on (and by the post step if the step
  // is killed outright).
  const savedLock = saveLock(path.join(flake, 'flake.lock'), workDir)
  cleanup.push(() => savedLock.discard())
  onStop.push(() => savedLock.restore())
  const update = await phase(timings, 'Update flake.lock', () =>
    updateLock(nix, flake, settings.updateInputs)
  )
  if (update.changed && settings.dryRun) cleanup.push(() => restoreLock(flake, update.oldLock))
  core.info(
    update.changed
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
    timings
  }
  if (update.changed && before) {
    const after = await phase(timings, 'Build after the update', () =>
      buildHosts(nix, flake, found.hosts, path.join(roots, 'after'), pool).then(logEvaluation)
    )
    const pairs = found.hosts.flatMap(host => {
      const b = before.hosts.get(host)
      const a = after.hosts.get(host)
      return b?.status === 'built' && a?.status === 'built' && b.outPath && a.outPath
        ? [{ host, before: b.outPath, after: a.outPath }]
        : []
    })
    const diffs = await phase(timings, 'Diff closures', () => diffHosts(nix, pairs))
    report.hosts = hostReports(found.hosts, before, after, diffs)
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
  const { body } = writeResults(report, workDir, settings.forge, update)
  let published: PublishResult = { branch: settings.branch, pushed: false, operation: 'none' }
  writePublishOutputs(published)
  if (push?.required && report.push?.status === 'failed') {
    throw new Error(
      `Pushing the new systems to ${report.push.to} failed and 'push-required' is true, so no pull request is opened: ${report.push.error ?? ''}`
    )
  }
  if (update.changed && !settings.dryRun) {
    const forge = makeForge(settings, process.env)
    const keyFile = settings.signingKey ? privateKeyFile(settings.signingKey, postDirs, cleanup) : undefined
    published = await phase(timings, 'Publish', async () => {
      try {
        return await publish(await Git.create(flake), forge, {
          settings,
          newLock: update.newLock,
          changes: update.changes,
          body,
          signingKeyFile: keyFile,
          scratchDir: workDir
        })
      } catch (e) {
        // The branch may be pushed (and the pull request open) although a later forge call failed.
        if (e instanceof PublishError) writePublishOutputs(e.result)
        throw e
      }
    })
    writePublishOutputs(published)
    core.info(
      published.prUrl
        ? `Pull request #${published.prNumber} ${published.operation}: ${published.prUrl}`
        : 'No pull request was opened'
    )
  }
  core.info(body)

  const regressed = regressedHosts(report)
  if (settings.failOnRegression && regressed.length > 0) {
    core.setFailed(`Hosts that built before the update fail after it: ${regressed.join(', ')}`)
  }
}

/** The action: settings → discover → build before → update → build after → diff → publish → outputs. */
export async function run(now: Date = new Date()): Promise<void> {
  // `cleanup` runs when the step ends, however it ends; `onStop` before it only when a signal stops the step
  // (it undoes what a finished run keeps). Each step runs once, newest first, even when both ways happen.
  const cleanup: (() => void)[] = []
  const onStop: (() => void)[] = []
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
      const settings = getSettings({ env: process.env, defaultBranch: defaultBranchFromEvent(), now })
      const workDir = makeWorkDir()
      core.saveState(STATE.cleanupDirs, workDir)
      // A stopped run leaves no report behind: its results would be partial.
      onStop.push(() => fs.rmSync(workDir, { recursive: true, force: true }))
      await pipeline(settings, workDir, cleanup, [workDir], onStop)
    } catch (error) {
      core.setFailed(errorMessage(error))
    } finally {
      runAll(cleanup)
    }
  })
}

function defaultBranchFromEvent(): string | undefined {
  try {
    const repo = github.context.payload.repository as { default_branch?: unknown } | undefined
    return typeof repo?.default_branch === 'string' ? repo.default_branch : undefined
  } catch {
    return undefined
  }
}
