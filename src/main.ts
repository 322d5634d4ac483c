import * as core from '@actions/core'
import * as github from '@actions/github'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { Nix } from './nix/nix'
import { BuildResult, buildHosts } from './pipeline/build'
import { discover } from './pipeline/discover'
import { HostDiff, diffHosts } from './pipeline/diff'
import { UpdateResult, restoreLock, updateLock } from './pipeline/update'
import { renderReport } from './report/markdown'
import { FleetReport, HostReport, failedHosts, hostStatus, rebootHosts, regressedHosts } from './report/model'
import { Settings, getSettings } from './settings'

/** Runs one phase inside a log group and records how long it took. */
async function phase<T>(timings: FleetReport['timings'], name: string, fn: () => Promise<T>): Promise<T> {
  const start = Date.now()
  const result = await core.group(name, fn)
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
      reboot: d?.reboot ?? []
    }
  })
}

function reportDir(): string {
  const base = process.env.RUNNER_TEMP || os.tmpdir()
  const dir = path.join(base, `nixos-fleet-update-${process.env.GITHUB_RUN_ID ?? process.pid}`)
  fs.mkdirSync(dir, { recursive: true })
  return dir
}

/** Writes every output, the job summary and the JSON file; the same for a changed and an unchanged lock. */
function publishResults(settings: Settings, report: FleetReport, update?: UpdateResult): string {
  const markdown = renderReport(report)
  const jsonPath = path.join(reportDir(), 'report.json')
  fs.writeFileSync(
    jsonPath,
    JSON.stringify(
      {
        ...report,
        updatedInputs: update?.updatedInputs ?? [],
        failedHosts: failedHosts(report),
        regressedHosts: regressedHosts(report),
        rebootHosts: rebootHosts(report)
      },
      null,
      2
    )
  )
  core.setOutput('hosts', JSON.stringify(report.hosts.map(h => h.host)))
  core.setOutput('changed', String(report.changed))
  core.setOutput('updated-inputs', JSON.stringify(update?.updatedInputs ?? []))
  core.setOutput('failed-hosts', JSON.stringify(failedHosts(report)))
  core.setOutput('regressed-hosts', JSON.stringify(regressedHosts(report)))
  core.setOutput('reboot-hosts', JSON.stringify(rebootHosts(report)))
  core.setOutput('report', markdown)
  core.setOutput('report-json', jsonPath)
  core.setOutput('branch', settings.branch)
  core.setOutput('pr-operation', 'none')
  const summaryFile = process.env.GITHUB_STEP_SUMMARY
  if (summaryFile) fs.appendFileSync(summaryFile, `${markdown}\n`)
  return markdown
}

/** The action: settings → discover → build before → update → build after → diff → outputs and summary. */
export async function run(now: Date = new Date()): Promise<void> {
  let rootsDir: string | undefined
  let restore: (() => void) | undefined
  try {
    const settings = getSettings({ env: process.env, defaultBranch: defaultBranchFromEvent(), now })
    const nix = await Nix.create(settings.nixArgs)
    core.info(`Using ${nix.version.text}; flake ${settings.flakeDir}`)
    const flake = settings.flakeDir
    const timings: FleetReport['timings'] = []
    rootsDir = fs.mkdtempSync(path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'nixos-fleet-update-roots-'))
    const roots = rootsDir
    core.saveState('cleanup-dirs', roots)

    const found = await phase(timings, 'Discover hosts', async () => {
      const d = await discover(nix, flake, settings.hosts, settings.excludeHosts, settings.excludeHostsSource)
      core.info(
        `Hosts: ${d.hosts.join(', ')}${d.excluded.length ? ` (excluded: ${d.excluded.join(', ')})` : ''}`
      )
      return d
    })
    const before = settings.build
      ? await phase(timings, 'Build before the update', () =>
          buildHosts(nix, flake, found.hosts, path.join(roots, 'before'))
        )
      : undefined
    const update = await phase(timings, 'Update flake.lock', () =>
      updateLock(nix, flake, settings.updateInputs)
    )
    if (update.changed && settings.dryRun) restore = () => restoreLock(flake, update.oldLock)
    core.info(
      update.changed
        ? `Updated inputs: ${update.updatedInputs.join(', ') || '(lock file rewritten)'}`
        : 'flake.lock is up to date'
    )

    const report: FleetReport = {
      flake: settings.flakeDir,
      nixVersion: nix.version.text,
      changed: update.changed,
      built: settings.build && update.changed,
      dryRun: settings.dryRun,
      hosts: hostReports(found.hosts),
      excluded: found.excluded,
      lockChanges: update.changes,
      timings
    }
    if (update.changed && settings.build && before) {
      const after = await phase(timings, 'Build after the update', () =>
        buildHosts(nix, flake, found.hosts, path.join(roots, 'after'))
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
    }

    const markdown = publishResults(settings, report, update)
    core.info(markdown)
    if (update.changed && !settings.dryRun) {
      core.info(`flake.lock in ${flake} holds the update; publishing it is left to the following steps`)
    }
    const regressed = regressedHosts(report)
    if (settings.failOnRegression && regressed.length > 0) {
      core.setFailed(`Hosts that built before the update fail after it: ${regressed.join(', ')}`)
    }
  } catch (error) {
    core.setFailed(error instanceof Error ? error.message : String(error))
  } finally {
    restore?.()
    if (rootsDir) fs.rmSync(rootsDir, { recursive: true, force: true })
  }
}

function defaultBranchFromEvent(): string | undefined {
  try {
    const repo = github.context.payload.repository as { default_branch?: unknown } | undefined
    return typeof repo?.default_branch === 'string' ? repo.default_branch : undefined
  } catch {
    return undefined
  }
}
