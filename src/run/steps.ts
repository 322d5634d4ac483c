import * as fs from 'fs'
import * as path from 'path'
import { errorMessage } from '../errors'
import { tail } from '../exec'
import { Git } from '../git/git'
import { forgeEndpoints } from '../forge/connect'
import { FleetState, readFleetState } from '../forge/fleet-state'
import { ApiClient } from '../forge/http'
import { EvalPoolOptions, localMachine, poolOptions } from '../nix/evalpool'
import { Nix } from '../nix/nix'
import { stripWarnings } from '../nix/stderr'
import { MiB } from '../memory'
import { saveLock } from '../cleanup'
import { BuildResult, BuildTarget, buildHosts } from '../pipeline/build'
import { CheckoutState, inspectCheckout } from '../pipeline/checkout'
import { DiscoverResult, discover } from '../pipeline/discover'
import { HostDiff, diffHosts, pendingHosts } from '../pipeline/diff'
import { PublishTarget, preflightPublish } from '../pipeline/preflight'
import { LockUpdate, PublishError, PublishResult, checkCheckoutOnBase, publish } from '../pipeline/publish'
import { PushReport, pushSystems } from '../pipeline/push'
import { UpdateResult, restoreLock, updateLock } from '../pipeline/update'
import { HoldBackResult, attributeAndHoldBack } from '../pipeline/hold-back'
import { builtPairs, builtSystems, hostReports, unbuiltAfter } from '../report/assemble'
import { PendingChange } from '../nix/received'
import { warningChanges } from '../report/model'
import { formatBytes } from '../report/nvd'
import { plural } from '../report/words'
import { redactUrl, scrub } from '../redact'
import { PushSettings } from '../settings'
import { checkSigningKey } from '../signing'
import { isOpenPgpKey, openPgpHome } from '../openpgp'
import { Run } from './context'
import { writePublishOutputs } from './results'

/** What every mode starts from: a usable Nix and the checkout as its commit has it. */
export interface Prepared {
  nix: Nix
  checkout: CheckoutState
  /** Where the pull request goes; undefined for a dry run. */
  target?: PublishTarget
}

/**
 * Everything publishing needs is checked before the first build, not found missing after it; then Nix and the
 * checkout (flake.lock read from the checked-out commit, a checkout whose flake files differ from it refused).
 */
export async function prepare(run: Run): Promise<Prepared> {
  const { settings, log } = run
  let target: PublishTarget | undefined
  if (!settings.dryRun) {
    target = await preflightPublish(settings, run.env, { scratchDir: run.workDir, checkSigningKey, log })
  } else if (settings.signingKey) {
    // A dry run rehearses the real one: a key that cannot sign fails it too, before anything is built.
    await checkSigningKey(settings.signingKey, run.workDir, settings.signingKeyPassphrase)
  }
  const nix = await Nix.create(settings.nixArgs, log)
  log.info(
    `Using ${nix.version.text}; ${plural(settings.flakeDirs.length, 'flake')}: ${settings.flakeDirs.join(', ')}`
  )
  const checkout = await inspectCheckout(settings.flakeDir)
  if (target && checkout.git && checkout.head) {
    await checkCheckoutOnBase(checkout.git, checkout.head, settings, log)
  }
  return { nix, checkout, target }
}

/** Lets the builds fetch from the binary cache, when it can be opened: an unreachable ssh store would fail them. */
export async function openCache(run: Run, nix: Nix, push: PushSettings): Promise<void> {
  await run.phase('Open the binary cache', async () => {
    const problem = await nix.storeProblem(push.url)
    if (problem) {
      run.log.warning(
        `The builds do not fetch from ${redactUrl(push.url)}: it cannot be opened: ${scrub(problem, push.url)}`
      )
    } else {
      nix.substituter = { url: push.url, publicKey: push.publicKey }
      run.log.info(`The builds also fetch from ${redactUrl(push.url)}, trusting ${push.publicKey}`)
    }
  })
}

/** The hosts this run builds; `names`: the configurations output's names, when they were already read. */
export async function discoverHosts(run: Run, nix: Nix, names?: string[]): Promise<DiscoverResult> {
  const { settings } = run
  return run.phase(
    'Discover hosts',
    async () => {
      const d = await discover(
        nix,
        settings.flakeDir,
        settings.hosts,
        settings.excludeHosts,
        settings.excludeHostsSource,
        settings.configurations,
        names
      )
      run.log.info(
        `Hosts: ${d.hosts.join(', ')}${d.excluded.length ? ` (excluded: ${d.excluded.join(', ')})` : ''}`
      )
      return d
    },
    {
      outcome: d =>
        `${plural(d.hosts.length, 'host')}${d.excluded.length ? `, ${d.excluded.length} excluded` : ''}`
    }
  )
}

/** The evaluation pool for this machine and fleet, as the settings tune it. */
export function evalPool(run: Run, hosts: number): EvalPoolOptions {
  const pool = poolOptions(run.settings, hosts, localMachine())
  run.log.info(
    `Evaluation: up to ${pool.workers} processes at once, memory budget ${Math.floor(pool.budget / MiB)} MiB (${Math.floor(pool.budget / pool.workers / MiB)} MiB each), ${pool.chunkSize ?? 'automatic'} hosts per process`
  )
  return pool
}

/**
 * What the hosts last reported (commit statuses of the base branch's recent commits). Read-only and best effort:
 * without a token it is not read, without a repository it is skipped, and a forge error is a warning.
 */
export async function readFleet(run: Run, hosts: string[]): Promise<FleetState | undefined> {
  const { settings, log } = run
  if (!settings.token) return undefined
  return run.phase('Read the fleet state', async () => {
    let endpoints: ReturnType<typeof forgeEndpoints>
    try {
      endpoints = forgeEndpoints(settings, run.env)
    } catch (e) {
      log.info(`Fleet state not read: ${errorMessage(e)}`)
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
      log.info(
        `Fleet state: ${state.hosts.length} hosts reported on the last ${state.commits.length} commits of ${settings.baseBranch}` +
          (state.neverReported.length ? `; never reported: ${state.neverReported.join(', ')}` : '')
      )
      return state
    } catch (e) {
      log.warning(`Fleet state not read (the report goes on without it): ${errorMessage(e)}`)
      return undefined
    }
  })
}

function buildOutcome(b: BuildResult): string {
  const hosts = [...b.hosts.values()]
  const elsewhere = hosts.filter(h => h.status === 'not-buildable').length
  const failed = hosts.filter(h => h.status !== 'built' && h.status !== 'not-buildable').length
  return `${hosts.length - failed - elsewhere} built${failed > 0 ? `, ${failed} failed` : ''}${elsewhere > 0 ? `, ${elsewhere} not buildable here` : ''}`
}

/**
 * What the builds build: the configured output's entries, each on a platform this machine or one of its remote
 * builders builds. When Nix cannot say which platforms those are, every entry is built, as before.
 */
export async function buildTarget(run: Run, nix: Nix): Promise<BuildTarget> {
  const platforms = await nix.platforms()
  if (!platforms) {
    run.log.info('Could not read the platforms this Nix builds for: every entry is built')
  }
  return { set: run.settings.configurations, platforms }
}

function logEvaluation(run: Run, build: BuildResult): void {
  const e = build.evaluation
  const peak = Math.max(0, ...e.processes.map(x => x.peakRss))
  const killed = e.processes.filter(x => x.overLimit).length
  run.log.info(
    `Evaluated ${build.hosts.size} hosts: ${e.processes.length} processes, ${e.seconds.toFixed(1)} s, largest ${Math.round(peak / MiB)} MiB${killed ? `, ${killed} killed over their memory limit` : ''}`
  )
  if (e.plan !== undefined) {
    const rest = e.plan === 'single' ? 'one process for the rest' : 'the pool for the rest'
    run.log.info(
      e.probe
        ? `Evaluation plan: the probe measured ${e.probe.map(p => `${plural(p.hosts, 'host')} at ${Math.round(p.peak / MiB)} MiB`).join(' and ')}: ${e.plan === 'single' ? 'light hosts' : 'heavy hosts'}, ${rest}`
        : `Evaluation plan: as the evaluation before, ${e.plan === 'single' ? 'one process' : `the pool from ${e.options.start?.plan === 'pool' ? e.options.start.chunkSize : 1} hosts per process`}`
    )
  }
  // A process that died had its hosts evaluated again: say why it died, since nothing else will.
  for (const p of e.processes.filter(x => x.overLimit || x.exitCode > 128)) {
    run.log.info(
      `An evaluation process of ${p.hosts.length} hosts (${p.hosts.slice(0, 3).join(', ')}${p.hosts.length > 3 ? ', …' : ''}) ${p.overLimit ? `went over ${Math.round(p.limit / MiB)} MiB and was killed` : `ended with exit code ${p.exitCode}`} after ${p.seconds.toFixed(1)} s, at ${Math.round(p.peakRss / MiB)} MiB${p.stderr.trim() ? `; it said: ${tail(stripWarnings(p.stderr), 3)}` : ''}`
    )
  }
}

/** Builds the hosts of the flake in `flakeDir` as a phase named `name`; GC roots under the work directory. */
export async function buildFleet(
  run: Run,
  nix: Nix,
  hosts: string[],
  side: { name: string; roots: string; flakeDir?: string },
  pool: EvalPoolOptions
): Promise<BuildResult> {
  const roots = path.join(run.workDir, 'gcroots')
  if (!fs.existsSync(roots)) run.cleanup.push(() => fs.rmSync(roots, { recursive: true, force: true }))
  return run.phase(
    side.name,
    async () => {
      const b = await buildHosts(
        nix,
        side.flakeDir ?? run.settings.flakeDir,
        hosts,
        path.join(roots, side.roots),
        pool,
        { target: await buildTarget(run, nix) }
      )
      for (const h of [...b.hosts.values()].filter(x => x.status === 'not-buildable')) {
        run.log.info(`${h.host}: evaluated only, no builder here for ${h.system ?? 'its platform'}`)
      }
      logEvaluation(run, b)
      return b
    },
    { hosts: hosts.length, outcome: buildOutcome }
  )
}

/**
 * Keeps flake.lock as it is now: a signal from here on puts it back (and the post step, if the step is killed
 * outright). Nix stages a lock file it creates: where the index had none, the entry goes with the file.
 */
export function guardLock(run: Run, checkout: CheckoutState): void {
  const flake = run.settings.flakeDir
  try {
    const savedLock = saveLock(path.join(flake, 'flake.lock'), run.workDir, run.log)
    run.cleanup.push(() => savedLock.discard())
    run.onStop.push(() => savedLock.restore())
  } catch (e) {
    // A full RUNNER_TEMP must not cost the run: the lock of the checked-out commit is still known here.
    run.log.warning(
      `Could not keep a copy of flake.lock in ${run.workDir} for the post step (${errorMessage(e)}): a stopped step puts it back, one killed outright cannot`
    )
    run.onStop.push(() => restoreLock(flake, checkout.oldLock ?? ''))
  }
  const { git, lockInIndex } = checkout
  if (git && !lockInIndex) run.onStop.push(() => git.unstageSync('flake.lock'))
}

/** `nix flake update` of the inputs asked for; a dry run puts the lock back when the run ends. */
export async function updateFlakeLock(run: Run, nix: Nix, checkout: CheckoutState): Promise<UpdateResult> {
  const { settings, log } = run
  const update = await run.phase(
    'Update flake.lock',
    () =>
      updateLock(
        nix,
        settings.flakeDir,
        settings.updateInputs,
        checkout.oldLock,
        settings.flakeDirs.length > 1
      ),
    {
      outcome: u =>
        u.created
          ? 'lock file created'
          : u.changed
            ? `${plural(u.updatedInputs.length, 'input')} updated`
            : 'up to date'
    }
  )
  if (update.changed && settings.dryRun) {
    const index = checkout.git ? { git: checkout.git, hadEntry: checkout.lockInIndex } : undefined
    run.cleanup.push(() => restoreLock(settings.flakeDir, update.oldLock, index))
  }
  log.info(
    update.created
      ? `flake.lock created: ${update.updatedInputs.join(', ') || 'no inputs'}`
      : update.changed
        ? `Updated inputs: ${update.updatedInputs.join(', ') || '(lock file rewritten)'}`
        : 'flake.lock is up to date'
  )
  return update
}

export interface Comparison {
  diffs: HostDiff[]
  /** For regressed hosts whose new system evaluated: the package versions it would have brought. */
  pending: Map<string, PendingChange[]>
}

/** Diffs the closures of the hosts that built on both sides; one annotation per new evaluation warning. */
export async function compareSides(
  run: Run,
  nix: Nix,
  hosts: string[],
  before: BuildResult,
  after: BuildResult
): Promise<Comparison> {
  const pairs = builtPairs(hosts, before, after)
  const diffs = await run.phase('Diff closures', () => diffHosts(nix, pairs, run.settings.configurations), {
    hosts: pairs.length
  })
  const reports = hostReports(hosts, before, after, diffs)
  const pending = await pendingHosts(nix, unbuiltAfter(reports))
  for (const w of warningChanges(reports).new) {
    run.log.warning(w.text, { title: `New evaluation warning after the update (${w.hosts.join(', ')})` })
  }
  return { diffs, pending }
}

function logPush(run: Run, p: PushReport): void {
  const sent = `${plural(p.paths, 'new path')} (${formatBytes(p.bytes)})`
  if (p.status === 'pushed') {
    run.log.info(
      `Pushed ${sent} to ${p.to}; the ${p.hosts.length} systems' closures hold ${p.closurePaths} paths, the rest were there`
    )
  } else if (p.status === 'failed') {
    run.log.warning(
      `Pushing the new systems to ${p.to} failed (${sent} started): ${p.error ?? 'unknown error'}`
    )
  } else {
    run.log.info(`Nothing pushed to ${p.to}: ${p.error ?? 'nothing to push'}`)
  }
}

/** Copies the hosts' new systems to the binary cache, signed with the push key. */
export async function pushToCache(
  run: Run,
  nix: Nix,
  push: PushSettings,
  hosts: string[],
  after: BuildResult
): Promise<PushReport> {
  const keyFile = run.secretFile(push.key.secret)
  const report = await run.phase('Push to the binary cache', () =>
    pushSystems(nix, { url: push.url, keyFile }, builtSystems(hosts, after))
  )
  logPush(run, report)
  return report
}

/** Commits the new locks (one commit) on the update branch and opens or updates its pull request. */
export async function publishUpdate(
  run: Run,
  target: PublishTarget,
  locks: LockUpdate[],
  body: string,
  failures: string[]
): Promise<PublishResult> {
  const { settings, log } = run
  // OpenPGP: a keyring of its own in the work directory (removed with it, also by the post step).
  const openPgp =
    settings.signingKey && isOpenPgpKey(settings.signingKey)
      ? await openPgpHome(settings.signingKey, settings.signingKeyPassphrase, path.join(run.workDir, 'gnupg'))
      : undefined
  if (openPgp) run.cleanup.push(() => openPgp.closeSync())
  const keyFile = settings.signingKey && !openPgp ? run.secretFile(settings.signingKey) : undefined
  const published = await run.phase(
    'Publish',
    async () => {
      try {
        return await publish(await Git.create(settings.flakeDir), target.forge, {
          settings,
          locks,
          body,
          signingKeyFile: keyFile,
          openPgp,
          scratchDir: run.workDir,
          log
        })
      } catch (e) {
        // The branch may be pushed (and the pull request open) although a later forge call failed.
        if (e instanceof PublishError) failures.push(...writePublishOutputs(run, e.result))
        throw e
      }
    },
    { outcome: p => (p.prUrl ? `pull request ${p.operation}: ${p.prUrl}` : 'no pull request') }
  )
  failures.push(...writePublishOutputs(run, published))
  log.info(
    published.prUrl
      ? `Pull request #${published.prNumber} ${published.operation}: ${published.prUrl}`
      : 'No pull request was opened'
  )
  return published
}

/**
 * When hosts regress: names the inputs that break them (each changed input held back in turn) and, with
 * `hold-back: regressing`, builds every host with the lock that updates all the others. undefined when no host
 * regressed. The result's `proposed` builds replace the "after" builds: the report shows what the pull request
 * proposes.
 */
export async function holdBackBreakingInputs(
  run: Run,
  nix: Nix,
  hosts: string[],
  before: BuildResult,
  after: BuildResult,
  update: UpdateResult,
  pool: EvalPoolOptions
): Promise<HoldBackResult | undefined> {
  const regressed = hosts.filter(
    h => before.hosts.get(h)?.status === 'built' && after.hosts.get(h)?.status !== 'built'
  )
  if (regressed.length === 0) return undefined
  return run.phase(
    'Find the inputs that break hosts',
    () =>
      attributeAndHoldBack({
        nix,
        flake: run.settings.flakeDir,
        hosts,
        regressed,
        after,
        oldLock: update.oldLock,
        newLock: update.newLock,
        changes: update.changes,
        settings: run.settings.attribution,
        pool,
        rootsDir: path.join(run.workDir, 'gcroots'),
        scratchDir: run.workDir,
        log: run.log
      }),
    {
      hosts: regressed.length,
      outcome: h => (h ? `${plural(h.inputs.length, 'input')} found` : 'nothing to search')
    }
  )
}

/** The update the pull request proposes: the whole one, or the one that holds the breaking inputs back. */
export function proposedUpdate(update: UpdateResult, held?: HoldBackResult): UpdateResult {
  if (!held?.proposedLock || !held.proposedChanges) return update
  return {
    ...update,
    newLock: held.proposedLock,
    changes: held.proposedChanges,
    updatedInputs: held.proposedChanges.map(c => c.input)
  }
}
