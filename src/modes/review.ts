import * as fs from 'fs'
import * as path from 'path'
import { errorMessage, InputError } from '../errors'
import { upsertComment } from '../forge/comment'
import { Forge, NewStatus } from '../forge/forge'
import { ForgeError } from '../forge/http'
import { Git } from '../git/git'
import { Log } from '../log/log'
import { Evaluation, evaluateToplevels } from '../nix/evalpool'
import { compareLocks } from '../nix/lock'
import { Nix } from '../nix/nix'
import { BuildResult, buildEvaluated } from '../pipeline/build'
import { diffHosts, pendingHosts } from '../pipeline/diff'
import { makeForge } from '../forge/connect'
import { REMOTE, pushCredentials } from '../git/credentials'
import { REPORT_LIMIT, SUMMARY_LIMIT, renderReport } from '../report/markdown'
import {
  FleetReport,
  HostReport,
  OneSidedHost,
  failedHosts,
  hostStatus,
  rebootHosts,
  regressedHosts,
  warningChanges
} from '../report/model'
import { runUrl } from '../report/run-link'
import { plural } from '../report/words'
import { Settings } from '../settings'
import { Run } from '../run/context'
import { buildTarget, evalPool } from '../run/steps'
import { ModeOutcome, writeOutputs } from './outcome'
import { RunEvent } from './event'
import { ModeSettings } from './mode'

/** The hidden line that finds the review comment again on later pushes. */
export const REVIEW_MARKER = '<!-- nixos-fleet-update:review -->'
/** The commit status a review sets on the head commit. */
export const REVIEW_CONTEXT = 'nixos-fleet-update/review'

/** The review's two commits: the inputs when given, else the pull_request event's base and head. */
export function reviewCommits(
  modes: ModeSettings,
  event: RunEvent
): { base: string; head: string; pull?: number; fork: boolean } {
  if (modes.reviewBase && modes.reviewHead) {
    const samePull =
      event.pull && event.pull.baseSha === modes.reviewBase && event.pull.headSha === modes.reviewHead
    return {
      base: modes.reviewBase,
      head: modes.reviewHead,
      pull: samePull ? event.pull?.number : undefined,
      fork: samePull ? (event.pull?.fork ?? false) : false
    }
  }
  if (event.pull) {
    return {
      base: event.pull.baseSha,
      head: event.pull.headSha,
      pull: event.pull.number,
      fork: event.pull.fork
    }
  }
  throw new InputError(
    `Mode 'review' needs the commits to compare: run it on a pull_request event, or set 'review-base' and 'review-head'${event.problem ? ` (${event.problem})` : ''}`
  )
}

/** A commit resolved in the checkout, fetched from origin when a shallow checkout lacks it. */
async function resolveCommit(
  git: Git,
  rev: string,
  pull: number | undefined,
  token: string,
  log: Log
): Promise<string> {
  const verify = async (): Promise<string | undefined> => {
    const r = await git.exec(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`])
    return r.exitCode === 0 ? r.stdout.trim() : undefined
  }
  const local = await verify()
  if (local) return local
  const remoteUrl = await git.remoteUrl(REMOTE)
  if (remoteUrl) {
    const g = git.withEnv(await pushCredentials(git, remoteUrl, token, secret => log.mask(secret)))
    // Servers let a client fetch a commit by its id when it is reachable (GitHub, Forgejo over protocol v2); the
    // pull request's head ref is a fallback for those that do not.
    const refspecs = [[rev], ...(pull === undefined ? [] : [[`refs/pull/${pull}/head`]])]
    for (const spec of refspecs) {
      await g.exec(['-c', 'http.followRedirects=false', 'fetch', '--no-tags', '--quiet', REMOTE, ...spec])
      const fetched = await verify()
      if (fetched) return fetched
    }
  }
  throw new InputError(`The commit ${rev} is neither in the checkout nor on ${REMOTE}`)
}

/** The hosts of one side: `hosts` and `exclude-hosts` applied, tolerating named hosts that side lacks. */
async function sideHosts(
  nix: Nix,
  flake: string,
  settings: Settings
): Promise<{ hosts: string[]; excluded: string[] }> {
  if (!fs.existsSync(path.join(flake, 'flake.nix'))) return { hosts: [], excluded: [] }
  const all = await nix.hostNames(flake, settings.configurations)
  const named = settings.hosts.length > 0 ? all.filter(h => settings.hosts.includes(h)) : all
  return {
    hosts: named.filter(h => !settings.excludeHosts.test(h)).sort(),
    excluded: named.filter(h => settings.excludeHosts.test(h))
  }
}

/** The same system at both commits: both evaluated to the same derivation. */
function sameDerivation(base: Evaluation, head: Evaluation, host: string): boolean {
  const b = base.results.get(host)
  const a = head.results.get(host)
  return !!b && !!a && 'drvPath' in b && 'drvPath' in a && b.drvPath === a.drvPath
}

function hostReport(host: string, base: BuildResult, head: BuildResult): HostReport {
  const before = base.hosts.get(host)
  const after = head.hosts.get(host)
  const sameSystem = before?.outPath !== undefined && before.outPath === after?.outPath
  return { host, status: hostStatus({ before, after, sameSystem }), before, after, reboot: [] }
}

/** The commit status: failure when a host that builds at the base fails at the head (with fail-on-regression). */
function reviewStatus(report: FleetReport, settings: Settings, targetUrl?: string): NewStatus {
  const regressed = regressedHosts(report)
  const failing = settings.failOnRegression && regressed.length > 0
  const n = report.hosts.length
  const description = failing
    ? `${plural(regressed.length, 'host')} fail${regressed.length === 1 ? 's' : ''} to build: ${regressed.join(', ')}`
    : `${plural(n, 'host')} changed, ${report.review?.unchanged ?? 0} unchanged`
  // GitHub takes up to 140 characters of description.
  return {
    state: failing ? 'failure' : 'success',
    context: REVIEW_CONTEXT,
    description: description.length > 140 ? `${description.slice(0, 139)}…` : description,
    targetUrl
  }
}

/**
 * Posts the report as the pull request's one review comment and sets the status on the head. A read-only token (a
 * pull request from a fork, on both forges) is said once and does not fail the run: the job summary has the report.
 */
async function publishReview(
  run: Run,
  pull: { number: number; head: string; fork: boolean },
  report: FleetReport,
  body: string
): Promise<string | undefined> {
  const { settings, log, env } = run
  let forge: Forge
  try {
    forge = makeForge(settings, env, log)
  } catch (e) {
    log.warning(`The review is not posted on pull request #${pull.number}: ${errorMessage(e)}`)
    return undefined
  }
  const refused: string[] = []
  const other: string[] = []
  const attempt = async (what: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn()
    } catch (e) {
      if (e instanceof ForgeError && (e.status === 403 || e.status === 401)) refused.push(what)
      else other.push(`${what}: ${errorMessage(e)}`)
    }
  }
  let url: string | undefined
  await attempt('comment', async () => {
    const { comment, operation } = await upsertComment(forge, pull.number, REVIEW_MARKER, body)
    url = comment.url
    log.info(`Review comment ${operation}: ${comment.url}`)
  })
  await attempt('set the commit status', async () => {
    const status = reviewStatus(report, settings, url ?? runUrl(env, settings.forge))
    await forge.postStatus(pull.head, status)
    log.info(`Commit status ${REVIEW_CONTEXT} on ${pull.head.slice(0, 12)}: ${status.state}`)
  })
  if (refused.length > 0) {
    const why = pull.fork
      ? 'pull requests from forks get a read-only token on GitHub and Forgejo'
      : 'the token may not write to this repository (GitHub: permissions pull-requests: write and statuses: write; Forgejo: a token that may write)'
    log.info(
      `Could not ${refused.join(' or ')} on pull request #${pull.number}: ${why}. The report is in the job summary.`
    )
  }
  for (const o of other) log.warning(`Could not ${o}`)
  return url
}

/** A git worktree of `commit` under the work directory, removed when the review ends. */
async function worktree(git: Git, dir: string, commit: string): Promise<void> {
  const r = await git.exec(['worktree', 'add', '--detach', '--quiet', dir, commit])
  if (r.exitCode !== 0) throw new Error(`git worktree add ${commit} failed: ${r.stderr.trim()}`)
}

/**
 * Review mode: builds the hosts at a pull request's base and head commits (worktrees of the checkout, no lock
 * update), diffs those whose system changed and reports them as the update does. Hosts whose system derivation is
 * the same on both sides are counted, not built; hosts of one side only are listed as added or removed.
 */
export async function runReview(run: Run, event: RunEvent): Promise<ModeOutcome> {
  const { settings, log } = run
  const commits = reviewCommits(settings.modes, event)
  const git = await Git.create(settings.flakeDir)
  const top = await git.topLevel()
  const rel = path.relative(top, settings.flakeDir)
  const base = await resolveCommit(git, commits.base, commits.pull, settings.token, log)
  const head = await resolveCommit(git, commits.head, commits.pull, settings.token, log)
  log.info(
    `Reviewing ${base.slice(0, 12)} → ${head.slice(0, 12)}${commits.pull !== undefined ? ` (pull request #${commits.pull}${commits.fork ? ', from a fork' : ''})` : ''}`
  )
  const nix = await Nix.create(settings.nixArgs, log)
  const trees = { base: path.join(run.workDir, 'base'), head: path.join(run.workDir, 'head') }
  const roots = path.join(run.workDir, 'gcroots')
  try {
    await worktree(git, trees.base, base)
    await worktree(git, trees.head, head)
    const flakes = { base: path.join(trees.base, rel), head: path.join(trees.head, rel) }
    const [baseSide, headSide] = await run.phase('Discover hosts', async () => [
      await sideHosts(nix, flakes.base, settings),
      await sideHosts(nix, flakes.head, settings)
    ])
    const [baseHosts, headHosts] = [baseSide.hosts, headSide.hosts]
    if (headHosts.length === 0 && !fs.existsSync(path.join(flakes.head, 'flake.nix'))) {
      throw new InputError(
        `The head commit ${head.slice(0, 12)} has no flake.nix in ${rel || 'its top directory'}`
      )
    }
    const pool = evalPool(run, Math.max(baseHosts.length, headHosts.length, 1))
    const [baseEval, headEval] = await run.phase('Evaluate the base and the head', async () => [
      await evaluateToplevels(nix, flakes.base, baseHosts, pool, [], settings.configurations),
      await evaluateToplevels(nix, flakes.head, headHosts, pool, [], settings.configurations)
    ])
    const common = headHosts.filter(h => baseHosts.includes(h))
    const changed = common.filter(h => !sameDerivation(baseEval, headEval, h))
    const added = headHosts.filter(h => !baseHosts.includes(h))
    const removed = baseHosts.filter(h => !headHosts.includes(h))
    log.info(
      `${changed.length} of ${common.length} hosts changed${added.length ? `; added: ${added.join(', ')}` : ''}${removed.length ? `; removed: ${removed.join(', ')}` : ''}`
    )
    // An entry for a platform that nothing here builds is evaluated only, as in the update.
    const target = await buildTarget(run, nix)
    const baseBuild = await run.phase('Build the base', () =>
      buildEvaluated(nix, [...changed, ...removed], baseEval, path.join(roots, 'base'), target)
    )
    const headBuild = await run.phase('Build the head', () =>
      buildEvaluated(nix, [...changed, ...added], headEval, path.join(roots, 'head'), target)
    )
    const hosts = changed.map(h => hostReport(h, baseBuild, headBuild))
    const pairs = hosts.flatMap(h =>
      h.before?.status === 'built' && h.after?.status === 'built' && h.before.outPath && h.after.outPath
        ? [{ host: h.host, before: h.before.outPath, after: h.after.outPath }]
        : []
    )
    const diffs = await run.phase('Diff closures', () => diffHosts(nix, pairs, settings.configurations))
    for (const d of diffs) {
      const h = hosts.find(x => x.host === d.host)
      if (h)
        Object.assign(h, {
          diff: d.diff,
          reboot: d.reboot,
          units: d.units,
          release: d.release,
          kernel: d.kernel
        })
    }
    const pending = await pendingHosts(
      nix,
      hosts.flatMap(h =>
        h.status === 'regressed' && h.before?.outPath && h.after?.status === 'build-failed' && h.after.drvPath
          ? [{ host: h.host, before: h.before.outPath, afterDrv: h.after.drvPath }]
          : []
      )
    )
    for (const h of hosts) h.pending = pending.get(h.host)
    const oneSided = (build: BuildResult, names: string[]): OneSidedHost[] =>
      names.flatMap(host => {
        const b = build.hosts.get(host)
        return b ? [{ host, build: b }] : []
      })
    const lock = (dir: string): string | undefined => {
      const file = path.join(dir, 'flake.lock')
      return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined
    }
    const [oldLock, newLock] = [lock(flakes.base), lock(flakes.head)]
    const report: FleetReport = {
      flake: settings.flakeDir,
      flakeRef: rel === '' ? '.' : `./${rel.split(path.sep).join('/')}`,
      nixVersion: nix.version.text,
      changed: changed.length + added.length + removed.length > 0,
      built: true,
      dryRun: settings.dryRun,
      hosts,
      excluded: [...new Set([...baseSide.excluded, ...headSide.excluded])].sort(),
      lockChanges:
        oldLock !== undefined && newLock !== undefined && oldLock !== newLock
          ? compareLocks(oldLock, newLock)
          : [],
      timings: run.timings,
      configurations: settings.configurations,
      warnings: warningChanges(hosts),
      review: {
        base,
        head,
        unchanged: common.length - changed.length,
        added: oneSided(headBuild, added),
        removed: oneSided(baseBuild, removed)
      }
    }
    const link = runUrl(run.env, settings.forge)
    const body = renderReport(report, {
      limit: REPORT_LIMIT - REVIEW_MARKER.length - 1,
      fullReport: link ? `the job summary of [the workflow run](${link})` : undefined,
      timings: false
    })
    const full = renderReport(report, { limit: SUMMARY_LIMIT })
    let commentUrl: string | undefined
    if (commits.pull !== undefined && settings.token && !settings.dryRun) {
      commentUrl = await publishReview(run, { number: commits.pull, head, fork: commits.fork }, report, body)
    } else if (commits.pull !== undefined) {
      log.info(
        `Not posted on pull request #${commits.pull}: ${settings.dryRun ? 'a dry run' : "the input 'token' is empty"}`
      )
    }
    const json = writeOutputs(run, report, full, {
      hosts: JSON.stringify(hosts.map(h => h.host)),
      changed: String(report.changed),
      'failed-hosts': JSON.stringify(failedHosts(report)),
      'regressed-hosts': JSON.stringify(regressedHosts(report)),
      'reboot-hosts': JSON.stringify(rebootHosts(report)),
      report: body,
      'comment-url': commentUrl ?? ''
    })
    const regressed = regressedHosts(report)
    if (settings.failOnRegression && regressed.length > 0) {
      return {
        result: 'regressed',
        message: `Hosts that build at the base fail at the head: ${regressed.join(', ')}`,
        report: full,
        json
      }
    }
    return { result: 'ok', report: full, json }
  } finally {
    for (const dir of [trees.base, trees.head]) {
      if (fs.existsSync(dir)) await git.exec(['worktree', 'remove', '--force', dir])
    }
    await git.exec(['worktree', 'prune'])
    fs.rmSync(roots, { recursive: true, force: true })
  }
}
