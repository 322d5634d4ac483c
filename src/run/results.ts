import * as fs from 'fs'
import * as path from 'path'
import { OutputName } from '../generated/action'
import { PublishResult } from '../pipeline/publish'
import { UpdateResult } from '../pipeline/update'
import { heldBackOutput } from '../pipeline/hold-back'
import { failedUpgrades, staleHosts } from '../report/fleet-state'
import { REPORT_LIMIT, SUMMARY_LIMIT, renderReport } from '../report/markdown'
import { FleetReport, failedHosts, rebootHosts, regressedHosts } from '../report/model'
import { runUrl } from '../report/run-link'
import { ResultWrite, Run } from './context'

/** Step outputs by their names in action.yml. */
export type Outputs = Partial<Record<OutputName, string>>

/** One write per output, so that one that fails does not stop the rest. */
function outputWrites(run: Run, outputs: Outputs): ResultWrite[] {
  return Object.entries(outputs).map(([name, value]) => ({
    what: `the output '${name}'`,
    file: run.env.GITHUB_OUTPUT,
    write: () => run.log.output(name, value ?? '')
  }))
}

/** Writes outputs, each independently; returns the writes that failed, each naming its file. */
export function writeOutputs(run: Run, outputs: Outputs): string[] {
  return run.writeEach(outputWrites(run, outputs))
}

/** The pull request body: the report within the forges' size limit, pointing at the full one. */
export function prBody(run: Run, report: FleetReport): string {
  const url = runUrl(run.env, run.settings.forge)
  // No timings: they differ on every run, and the body should change only when the update does.
  return renderReport(report, {
    limit: REPORT_LIMIT,
    fullReport: url ? `the job summary of [the workflow run](${url})` : undefined,
    timings: false
  })
}

export interface WrittenResults {
  /** The pull request body. */
  body: string
  /** The job summary. */
  full: string
  json: string
  failures: string[]
}

/**
 * Writes the JSON file, the job summary and every output, each independently of the others; the same for a
 * changed and an unchanged lock. Returns the writes that failed, each naming its file.
 */
export function writeResults(run: Run, report: FleetReport, update?: UpdateResult): WrittenResults {
  const body = prBody(run, report)
  const full = renderReport(report, { limit: SUMMARY_LIMIT })
  const jsonPath = path.join(run.workDir, 'report.json')
  const json = JSON.stringify(
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
  const summaryFile = run.env.GITHUB_STEP_SUMMARY
  const failures = run.writeEach([
    ...outputWrites(run, {
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
      'held-back-inputs': heldBackOutput(report.heldBack ?? []),
      report: body,
      'report-json': jsonPath
    }),
    { what: 'the job summary', file: summaryFile, write: () => run.log.summary(full) },
    { what: 'the JSON report', file: jsonPath, write: () => fs.writeFileSync(jsonPath, json) }
  ])
  if (!summaryFile && run.env.GITHUB_ACTIONS !== 'true')
    run.log.info(`Not on a runner: the report is in ${jsonPath}`)
  return { body, full, json, failures }
}

/** The outputs that say what publishing did. */
export function writePublishOutputs(run: Run, p: PublishResult): string[] {
  return writeOutputs(run, {
    branch: p.branch,
    commit: p.commit ?? '',
    'pr-number': p.prNumber === undefined ? '' : String(p.prNumber),
    'pr-url': p.prUrl ?? '',
    'pr-operation': p.operation
  })
}
