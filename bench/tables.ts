/**
 * What the benchmark prints: the tables of each scenario and its targets (PASS/MISS lines).
 */
import { EvalHeavyResult, EvalMode, Measurement, SizeResult, concurrentPeakMB, largestMB } from './measure'
import { VARIANTS } from './options'
import * as os from 'os'

export interface Target {
  name: string
  /** undefined: the sizes it needs were not run. */
  pass?: boolean
  value: string
}

/** The light fleets' sizes with targets, and the targets: the action's wall time over the baseline's and the floor's. */
const LIGHT_SIZES = [10, 50, 200]
const LIGHT_OVER_BASELINE = 0.2
const LIGHT_OVER_FLOOR = 1.15

export function targets(sizes: SizeResult[]): Target[] {
  const at = (n: number): SizeResult | undefined => sizes.find(s => s.hosts === n)
  const fmt = (x: number | undefined, digits = 2): string => (x === undefined ? 'not run' : x.toFixed(digits))
  const rss = at(200)?.results.action?.nodePeakRssMB
  // Evaluation processes grow with the fleet (hosts per chunk); every other Nix call must not.
  const others = (m?: Measurement): number | undefined =>
    m === undefined ? undefined : m.nixProcesses - (m.commands['nix eval'] ?? 0)
  const p10 = others(at(10)?.results.action)
  const p200 = others(at(200)?.results.action)
  const ratioTarget = (name: string, value: number | undefined, max: number): Target => ({
    name,
    pass: value === undefined ? undefined : value <= max,
    value: fmt(value)
  })
  return [
    // Light hosts: evaluated in one process after the probe, as fast as before the pool.
    ...LIGHT_SIZES.flatMap(n => [
      ratioTarget(
        `${n} h: action/baseline <= ${LIGHT_OVER_BASELINE}`,
        at(n)?.ratios.actionOverBaseline,
        LIGHT_OVER_BASELINE
      ),
      ratioTarget(
        `${n} h: action/floor <= ${LIGHT_OVER_FLOOR}`,
        at(n)?.ratios.actionOverFloor,
        LIGHT_OVER_FLOOR
      )
    ]),
    {
      name: 'node peak RSS of the action at 200 hosts <= 250 MB',
      pass: rss === undefined ? undefined : rss <= 250,
      value: rss === undefined ? 'not run' : `${rss.toFixed(0)} MB`
    },
    {
      name: 'non-eval nix processes of the action equal at 10 and 200',
      pass: p10 === undefined || p200 === undefined ? undefined : p10 === p200,
      value: p10 === undefined || p200 === undefined ? 'not run' : `${p10} and ${p200}`
    }
  ]
}

/** Eval-heavy targets: the largest Nix process over the single process's, the dry run over one evaluation. */
const HEAVY_LARGEST = 0.4
const HEAVY_OVER_ONE_EVAL = 1.5

/** One evaluation of every host in one process: the faster of the single run's two phases. */
function oneEvaluation(m?: Measurement): number | undefined {
  return m?.evalPhaseSeconds && m.evalPhaseSeconds.length > 0 ? Math.min(...m.evalPhaseSeconds) : undefined
}

export function evalTargets(sizes: EvalHeavyResult[]): Target[] {
  const at = (n: number): EvalHeavyResult | undefined => sizes.find(s => s.hosts === n)
  const ratio = (a?: number, b?: number): number | undefined =>
    a === undefined || b === undefined || b === 0 ? undefined : a / b
  const check = (name: string, value: number | undefined, max: number): Target => ({
    name,
    pass: value === undefined ? undefined : value <= max,
    value: value === undefined ? 'not run' : value.toFixed(2)
  })
  const s50 = at(50)?.results
  const s40 = at(40)?.results
  const pooled = sizes.map(s => s.results.pool).filter((m): m is Measurement => m?.nixPeaks !== undefined)
  const over = pooled.filter(
    m => m.budgetMiB === undefined || concurrentPeakMB(m.nixPeaks ?? []) > m.budgetMiB
  )
  return [
    check(
      '50 h: evaluation wall <= 0.6 x single',
      ratio(s50?.pool?.evalSeconds, s50?.single?.evalSeconds),
      0.6
    ),
    // The pool's chunks grow into the budget's room: fewer starts of Nix for more memory per process.
    check(
      `50 h: largest Nix process <= ${HEAVY_LARGEST} x single`,
      ratio(largestMB(s50?.pool), largestMB(s50?.single)),
      HEAVY_LARGEST
    ),
    // The whole dry run (both phases' evaluation, the builds, the diff) against one phase's evaluation alone.
    check(
      `40 h: action wall <= ${HEAVY_OVER_ONE_EVAL} x one single-process evaluation`,
      ratio(s40?.pool?.wallSeconds, oneEvaluation(s40?.single)),
      HEAVY_OVER_ONE_EVAL
    ),
    check(
      `40 h: largest Nix process <= ${HEAVY_LARGEST} x single`,
      ratio(largestMB(s40?.pool), largestMB(s40?.single)),
      HEAVY_LARGEST
    ),
    {
      name: 'concurrent Nix RSS <= budget, every size',
      pass: pooled.length === 0 ? undefined : over.length === 0,
      value:
        pooled.length === 0
          ? 'not run'
          : pooled
              .map(m => `${concurrentPeakMB(m.nixPeaks ?? []).toFixed(0)}/${m.budgetMiB ?? '?'}`)
              .join(' ')
    },
    ...[1, 10].map(n =>
      check(
        `${n} h: action wall <= 1.1 x single`,
        ratio(at(n)?.results.pool?.wallSeconds, at(n)?.results.single?.wallSeconds),
        1.1
      )
    )
  ]
}

export function evalTable(sizes: EvalHeavyResult[]): string {
  const widths = [5, 7, 7, 6, 11, 7, 10, 9, 12, 14, 9]
  const row = (cells: string[]): string =>
    cells
      .map((c, i) => pad(c, widths[i], i !== 1))
      .join('  ')
      .trimEnd()
  const lines = [
    row([
      'hosts',
      'eval',
      'wall s',
      'cpu s',
      'phases s',
      'eval s',
      'nix evals',
      'nix procs',
      'largest nix',
      'concurrent nix',
      'budget'
    ]),
    widths.map(w => '-'.repeat(w)).join('  ')
  ]
  for (const s of sizes) {
    for (const mode of ['single', 'pool'] as EvalMode[]) {
      const m = s.results[mode]
      if (!m && !s.errors[mode]) continue
      const mb = (x?: number): string => (x === undefined ? '-' : `${x.toFixed(0)} MB`)
      lines.push(
        row([
          String(s.hosts),
          mode,
          m ? m.wallSeconds.toFixed(1) : 'FAILED',
          cpu(m),
          m?.evalPhaseSeconds ? m.evalPhaseSeconds.map(x => x.toFixed(1)).join('+') : '-',
          m?.evalSeconds === undefined ? '-' : m.evalSeconds.toFixed(1),
          m ? String(m.commands['nix eval'] ?? 0) : '-',
          m ? String(m.nixProcesses) : '-',
          mb(largestMB(m)),
          mb(m?.nixPeaks ? concurrentPeakMB(m.nixPeaks) : undefined),
          mode === 'pool' && m?.budgetMiB !== undefined ? `${m.budgetMiB} MiB` : '-'
        ])
      )
    }
  }
  lines.push(
    '',
    "phases s: each phase's evaluation (before, after), eval s their sum, from the action's log; nix evals: `nix eval`",
    'processes (discovery included); nix procs: every Nix process of the run. One single-process evaluation: the',
    "single run's faster phase. cpu s: user and system CPU seconds of the run's whole process tree.",
    'largest nix: peak RSS of the largest Nix process; concurrent nix: the largest sum of peak RSS of Nix processes',
    'that ran at the same time (GNU time per process). single: one evaluation process per phase, as before the pool.',
    'Up to 10 hosts, the fastest of three runs of each.'
  )
  // The pool's CPU seconds spread over every core: no order of the same work ends sooner on this machine.
  const cores = os.availableParallelism()
  for (const s of sizes) {
    const m = s.results.pool
    const one = oneEvaluation(s.results.single)
    if (m?.cpuSeconds === undefined || one === undefined) continue
    const least = m.cpuSeconds / cores
    lines.push(
      `${s.hosts} h: the pool's ${m.cpuSeconds.toFixed(1)} CPU s over ${cores} cores take at least ${least.toFixed(1)} s, ${(least / one).toFixed(2)} x one single-process evaluation.`
    )
  }
  return lines.join('\n')
}

/** CPU seconds of a measurement's process tree, or '-' without GNU time. */
function cpu(m?: Measurement): string {
  return m?.cpuSeconds === undefined ? '-' : m.cpuSeconds.toFixed(1)
}

export function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width)
}

export function table(sizes: SizeResult[]): string {
  const lines: string[] = []
  const head = [
    'hosts',
    'variant',
    'wall s',
    'cpu s',
    'nix procs',
    'drvs built',
    'node peak RSS',
    'tree peak RSS',
    'a/x'
  ]
  const widths = [5, 12, 8, 6, 9, 10, 13, 13, 6]
  const row = (cells: string[]): string =>
    cells
      .map((c, i) => pad(c, widths[i], i !== 1))
      .join('  ')
      .trimEnd()
  lines.push(row(head), widths.map(w => '-'.repeat(w)).join('  '))
  for (const s of sizes) {
    for (const v of VARIANTS) {
      const m = s.results[v]
      const error = s.errors[v]
      if (!m && !error) continue
      const ratio =
        v === 'baseline' ? s.ratios.actionOverBaseline : v === 'floor' ? s.ratios.actionOverFloor : undefined
      const mb = (x?: number): string => (x === undefined ? '-' : `${x.toFixed(0)} MB`)
      lines.push(
        row([
          String(s.hosts),
          v,
          m ? m.wallSeconds.toFixed(1) : 'FAILED',
          cpu(m),
          m ? String(m.nixProcesses) : '-',
          m ? String(m.derivationsBuilt) : '-',
          mb(m?.nodePeakRssMB),
          mb(m?.treePeakRssMB),
          ratio === undefined ? '' : ratio.toFixed(2)
        ])
      )
    }
  }
  lines.push(
    '',
    'action/x: wall time of the action divided by that of the baseline or the floor. cpu s: user and system CPU',
    "seconds of the variant's whole process tree (GNU time): near cores x wall s, the machine was the limit."
  )
  const uneven = sizes.filter(s => new Set(Object.values(s.results).map(m => m.derivationsBuilt)).size > 1)
  if (uneven.length > 0) {
    lines.push(
      `Warning: the variants built different numbers of derivations at ${uneven.map(s => s.hosts).join(', ')} hosts: the comparison is not fair there.`
    )
  }
  const cb = sizes.filter(s => s.ratios.floorOverBaseline !== undefined)
  if (cb.length > 0) {
    lines.push(
      `floor/baseline (near 1 when building, not per-host processes, takes the time): ${cb.map(s => `${(s.ratios.floorOverBaseline as number).toFixed(2)} at ${s.hosts}`).join(', ')}.`
    )
  }

  const withPhases = sizes.filter(s => s.results.action?.phases)
  if (withPhases.length > 0) {
    const names = [...new Set(withPhases.flatMap(s => Object.keys(s.results.action?.phases ?? {})))]
    lines.push('', 'Action phases (seconds, from its log; "other" is start-up, report and exit):')
    const w = Math.max(...names.map(n => n.length), 'other'.length)
    lines.push(`${pad('', w)}  ${withPhases.map(s => pad(`${s.hosts} h`, 8, true)).join('  ')}`)
    for (const n of [...names, 'other']) {
      const cells = withPhases.map(s => {
        const a = s.results.action as Measurement
        const phases = a.phases ?? {}
        const sum = Object.values(phases).reduce((x, y) => x + y, 0)
        const value = n === 'other' ? a.wallSeconds - sum : phases[n]
        return pad(value === undefined ? '-' : value.toFixed(1), 8, true)
      })
      lines.push(`${pad(n, w)}  ${cells.join('  ')}`)
    }
    lines.push('', 'Nix processes of the action by command:')
    for (const s of withPhases) {
      const c = (s.results.action as Measurement).commands
      lines.push(
        `  ${pad(String(s.hosts), 4, true)} hosts: ${Object.entries(c)
          .map(([k, n]) => `${k} ${n}`)
          .join(', ')}`
      )
    }
  }
  return lines.join('\n')
}
