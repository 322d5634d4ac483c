import * as fs from 'fs'
import * as path from 'path'
import { FleetReport, failedHosts, rebootHosts, regressedHosts } from '../report/model'
import { Run } from '../run/context'

/** How a mode ended. `regressed`: a host that builds at the base fails at the head, with fail-on-regression. */
export interface ModeOutcome {
  result: 'ok' | 'regressed'
  message?: string
  /** The full report (the job summary). */
  report: string
  json?: string
}

/** Writes the JSON file, the job summary and the outputs a review or cache run has; each failure is named. */
export function writeOutputs(
  run: Run,
  report: FleetReport,
  full: string,
  outputs: Record<string, string>
): string {
  const jsonPath = path.join(run.workDir, 'report.json')
  const json = JSON.stringify(
    {
      ...report,
      failedHosts: failedHosts(report),
      regressedHosts: regressedHosts(report),
      rebootHosts: rebootHosts(report)
    },
    null,
    2
  )
  fs.writeFileSync(jsonPath, json)
  run.log.summary(full)
  for (const [name, value] of Object.entries({ ...outputs, 'report-json': jsonPath }))
    run.log.output(name, value)
  return json
}
