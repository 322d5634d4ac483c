import { Git } from '../git/git'
import { Nix } from '../nix/nix'
import { renderCacheReport } from '../report/markdown'
import { FleetReport, HostReport, failedHosts } from '../report/model'
import { Run } from '../run/context'
import { buildFleet, discoverHosts, evalPool, openCache, pushToCache } from '../run/steps'
import { InputError } from '../settings'
import { ModeOutcome, writeOutputs } from './outcome'

/**
 * Cache mode: on a push to the base branch, builds every host at the pushed commit (no update, no pull request)
 * and copies the systems to the binary cache, so that hosts substitute what a squash or rebase merge produced.
 * The same steps as the update's: discover, build (fetching from the cache), push.
 */
export async function runCache(run: Run): Promise<ModeOutcome> {
  const { settings } = run
  const push = settings.push
  if (!push) {
    throw new InputError("Mode 'cache' needs 'push-to' (and 'push-signing-key'): the binary cache to fill")
  }
  const git = await Git.create(settings.flakeDir)
  const commit = (await git.output(['rev-parse', '--verify', 'HEAD'])).trim()
  const nix = await Nix.create(settings.nixArgs, run.log)
  await openCache(run, nix, push)
  const found = await discoverHosts(run, nix)
  const built = await buildFleet(
    run,
    nix,
    found.hosts,
    { name: 'Build', roots: 'cache' },
    evalPool(run, found.hosts.length)
  )
  const hosts: HostReport[] = found.hosts.map(host => ({
    host,
    status: 'not-built',
    after: built.hosts.get(host),
    reboot: []
  }))
  const report: FleetReport = {
    flake: settings.flakeDir,
    nixVersion: nix.version.text,
    changed: false,
    built: true,
    dryRun: settings.dryRun,
    hosts,
    excluded: found.excluded,
    lockChanges: [],
    timings: run.timings,
    configurations: settings.configurations
  }
  if (!settings.dryRun) report.push = await pushToCache(run, nix, push, found.hosts, built)
  const full = renderCacheReport(report, commit)
  const json = writeOutputs(run, report, full, {
    hosts: JSON.stringify(found.hosts),
    changed: 'false',
    'failed-hosts': JSON.stringify(failedHosts(report)),
    'push-status': report.push?.status ?? '',
    'pushed-paths': report.push ? String(report.push.paths) : '',
    'pushed-bytes': report.push ? String(report.push.bytes) : '',
    report: full
  })
  if (push.required && report.push?.status === 'failed') {
    throw new Error(
      `Pushing the systems to ${report.push.to} failed and 'push-required' is true: ${report.push.error ?? ''}`
    )
  }
  return { result: 'ok', report: full, json }
}
