import * as fs from 'fs'
import * as path from 'path'
import { OutputName } from '../generated/action'
import { PublishResult } from '../pipeline/publish'
import { UpdateResult } from '../pipeline/update'
import { heldBackOutput } from '../pipeline/hold-back'
import { failedUpgrades, staleHosts } from '../report/fleet-state'
import { REPORT_LIMIT, RenderOptions, SUMMARY_LIMIT, renderReport, renderSeveral } from '../report/markdown'
import { PushReport } from '../types'
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
  return renderReport(report, bodyOptions(run))
}

/** How a pull request body is rendered: the full report's place, and no timings. */
function bodyOptions(run: Run): RenderOptions {
  const url = runUrl(run.env, run.settings.forge)
  // No timings: they differ on every run, and the body should change only when the update does.
  return {
    limit: REPORT_LIMIT,
    fullReport: url ? `the job summary of [the workflow run](${url})` : undefined,
    timings: false
  }
}

export interface WrittenResults {
  /** The pull request body. */
  body: string
  /** The job summary. */
  full: string
  json: string
  failures: string[]
  /** The hosts that built before the update and fail after it, as the output names them. */
  regressedHosts: string[]
}

/** The list outputs of one flake's report, and of the JSON file. */
interface Lists {
  hosts: string[]
  updatedInputs: string[]
  failedHosts: string[]
  regressedHosts: string[]
  rebootHosts: string[]
  staleHosts: string[]
  failedUpgrades: string[]
  heldBack: Record<string, unknown>[]
}

function listsOf(report: FleetReport, update?: UpdateResult): Lists {
  return {
    hosts: report.hosts.map(h => h.host),
    updatedInputs: update?.updatedInputs ?? [],
    failedHosts: failedHosts(report),
    regressedHosts: regressedHosts(report),
    rebootHosts: rebootHosts(report),
    staleHosts: staleHosts(report.fleetState),
    failedUpgrades: failedUpgrades(report.fleetState),
    heldBack: JSON.parse(heldBackOutput(report.heldBack ?? [])) as Record<string, unknown>[]
  }
}

/** Lists built list by list: `names` gives each list of names, `heldBack` the held-back entries. */
function eachList(
  names: (key: Exclude<keyof Lists, 'heldBack'>) => string[],
  heldBack: Lists['heldBack']
): Lists {
  return {
    hosts: names('hosts'),
    updatedInputs: names('updatedInputs'),
    failedHosts: names('failedHosts'),
    regressedHosts: names('regressedHosts'),
    rebootHosts: names('rebootHosts'),
    staleHosts: names('staleHosts'),
    failedUpgrades: names('failedUpgrades'),
    heldBack
  }
}

/** One flake's lists among several: every name prefixed with the flake's directory and `#`. */
function qualified(label: string, l: Lists): Lists {
  return eachList(
    key => l[key].map(n => `${label}#${n}`),
    l.heldBack.map(h => ({ flake: label, ...h }))
  )
}

/** The lists report.json holds beside a report. */
function jsonLists(
  l: Lists
): Pick<Lists, 'updatedInputs' | 'failedHosts' | 'regressedHosts' | 'rebootHosts'> {
  return {
    updatedInputs: l.updatedInputs,
    failedHosts: l.failedHosts,
    regressedHosts: l.regressedHosts,
    rebootHosts: l.rebootHosts
  }
}

/** Several flakes' pushes as one: failed if one failed, pushed if one pushed; paths and bytes added up. */
function pushOf(pushes: (PushReport | undefined)[]): PushReport | undefined {
  const done = pushes.filter((p): p is PushReport => p !== undefined)
  if (done.length <= 1) return done[0]
  const status = done.some(p => p.status === 'failed')
    ? 'failed'
    : done.some(p => p.status === 'pushed')
      ? 'pushed'
      : 'skipped'
  const sum = (f: (p: PushReport) => number): number => done.reduce((n, p) => n + f(p), 0)
  return {
    ...done[0],
    status,
    hosts: done.flatMap(p => p.hosts),
    paths: sum(p => p.paths),
    bytes: sum(p => p.bytes),
    closurePaths: sum(p => p.closurePaths),
    error: done.map(p => p.error).find(Boolean)
  }
}

/** Writes the outputs, the job summary and the JSON file, each independently of the others. */
function writeAll(
  run: Run,
  r: { body: string; full: string; json: string; changed: boolean; lists: Lists; push?: PushReport }
): WrittenResults {
  const jsonPath = path.join(run.workDir, 'report.json')
  const summaryFile = run.env.GITHUB_STEP_SUMMARY
  const { lists, push } = r
  const failures = run.writeEach([
    ...outputWrites(run, {
      hosts: JSON.stringify(lists.hosts),
      changed: String(r.changed),
      'updated-inputs': JSON.stringify(lists.updatedInputs),
      'failed-hosts': JSON.stringify(lists.failedHosts),
      'regressed-hosts': JSON.stringify(lists.regressedHosts),
      'reboot-hosts': JSON.stringify(lists.rebootHosts),
      'push-status': push?.status ?? '',
      'pushed-paths': push ? String(push.paths) : '',
      'pushed-bytes': push ? String(push.bytes) : '',
      'stale-hosts': JSON.stringify(lists.staleHosts),
      'failed-upgrades': JSON.stringify(lists.failedUpgrades),
      'held-back-inputs': JSON.stringify(lists.heldBack),
      report: r.body,
      'report-json': jsonPath
    }),
    { what: 'the job summary', file: summaryFile, write: () => run.log.summary(r.full) },
    { what: 'the JSON report', file: jsonPath, write: () => fs.writeFileSync(jsonPath, r.json) }
  ])
  if (!summaryFile && run.env.GITHUB_ACTIONS !== 'true')
    run.log.info(`Not on a runner: the report is in ${jsonPath}`)
  return { body: r.body, full: r.full, json: r.json, failures, regressedHosts: lists.regressedHosts }
}

/**
 * Writes the JSON file, the job summary and every output, each independently of the others; the same for a
 * changed and an unchanged lock. Returns the writes that failed, each naming its file.
 */
export function writeResults(run: Run, report: FleetReport, update?: UpdateResult): WrittenResults {
  const lists = listsOf(report, update)
  const json = JSON.stringify({ ...report, ...jsonLists(lists) }, null, 2)
  return writeAll(run, {
    body: prBody(run, report),
    full: renderReport(report, { limit: SUMMARY_LIMIT }),
    json,
    changed: report.changed,
    lists,
    push: report.push
  })
}

/** One flake's results among several. */
export interface FlakeResults {
  /** The flake's directory as the report names it (`./hosts/a`). */
  label: string
  report: FleetReport
  update?: UpdateResult
}

/**
 * The results of several flakes: one report with a part per flake, outputs whose names carry their flake's
 * directory (`./hosts/a#web`), a JSON file with a `flakes` list.
 */
export function writeSeveralResults(run: Run, flakes: FlakeResults[]): WrittenResults {
  const each = flakes.map(f => ({ ...f, lists: listsOf(f.report, f.update) }))
  const all = each.map(f => qualified(f.label, f.lists))
  const lists = eachList(
    key => all.flatMap(l => l[key]),
    all.flatMap(l => l.heldBack)
  )
  const changed = flakes.some(f => f.report.changed)
  const json = JSON.stringify(
    { changed, ...jsonLists(lists), flakes: each.map(f => ({ ...f.report, ...jsonLists(f.lists) })) },
    null,
    2
  )
  const reports = flakes.map(f => f.report)
  return writeAll(run, {
    body: renderSeveral(reports, bodyOptions(run)),
    full: renderSeveral(reports, { limit: SUMMARY_LIMIT }),
    json,
    changed,
    lists,
    push: pushOf(reports.map(r => r.push))
  })
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
