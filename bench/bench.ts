/**
 * Benchmark of the action against a hand-written workflow (bench/baseline.sh) and against a bare build of every
 * host in one command (bench/floor.sh), on generated fleets of several sizes. Not a test: it prints a table and the targets, writes bench/results/latest.json, and
 * fails only when the benchmark itself breaks (a variant exits non-zero or builds the wrong thing).
 *
 * Run it through bench/run.sh, which sets up Nix's offline settings and compiles this file.
 *   --sizes 1,10,50,200   fleet sizes (or NFU_BENCH_SIZES)
 *   --variants action,baseline,floor   which variants to run
 *   --action PATH         the action's entry point (default dist/index.js, or NFU_BENCH_ACTION)
 *   --input NAME=VALUE    an extra input for the action, e.g. --input 'nix-args=--max-jobs 2' (repeatable)
 *   --keep                keep the generated fleets and print where they are
 *   --cold                nothing in the store before (default: each fleet's current systems are built untimed first)
 *   --eval-sizes 1,10,40,50,100  eval-heavy fleet sizes (or NFU_BENCH_EVAL_SIZES; `none` skips them): the action
 *                         with one evaluation process (as before the pool) and with the pool, with the peak RSS
 *                         of every Nix process (GNU time in the shims)
 *   --ephemeral-sizes 50  ephemeral-runner fleet sizes (or NFU_BENCH_EPHEMERAL_SIZES; `none` skips them): the
 *                         action on an empty store without and with the previous run's binary cache (needs root)
 */
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import {
  EphemeralResult,
  ephemeralTable,
  ephemeralTargets,
  ephemeralUnavailable,
  runEphemeral
} from './ephemeral'
import { EXCLUDED_HOST, HEAVY_OPTIONS } from './fleet'
import {
  EvalHeavyResult,
  SizeResult,
  concurrentPeakMB,
  findTools,
  largestMB,
  runEvalHeavy,
  runSize
} from './measure'
import { REPO, RESULTS, parseOptions } from './options'
import { Target, evalTable, evalTargets, pad, table, targets } from './tables'

function main(): void {
  const options = parseOptions(process.argv.slice(2))
  if (options.variants.includes('action') && !fs.existsSync(options.action)) {
    throw new Error(`${options.action} is missing: run 'npm run build' (bench/run.sh does)`)
  }
  if (!(process.env.NIX_CONFIG ?? '').includes('substituters')) {
    process.stderr.write(
      'warning: NIX_CONFIG has no offline settings; bench/run.sh sources scripts/nix-env.sh\n'
    )
  }
  const tools = findTools()
  fs.mkdirSync(path.join(RESULTS, 'logs'), { recursive: true })
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-bench-'))
  const start = Date.now()
  const sizes: SizeResult[] = []
  const evalSizes: EvalHeavyResult[] = []
  const ephemeral: EphemeralResult[] = []
  try {
    for (const size of options.sizes) sizes.push(runSize(size, tools, options, tmp))
    if (options.evalSizes.length > 0 && !tools.time) {
      process.stderr.write(
        'warning: no GNU time (/usr/bin/time): the eval-heavy fleets are measured without Nix RSS\n'
      )
    }
    for (const size of options.evalSizes) evalSizes.push(runEvalHeavy(size, tools, options, tmp))
    const noEmptyStore = options.ephemeralSizes.length > 0 ? ephemeralUnavailable() : undefined
    if (noEmptyStore)
      process.stderr.write(`warning: the ephemeral-runner scenario is skipped: ${noEmptyStore}\n`)
    else
      for (const size of options.ephemeralSizes)
        ephemeral.push(runEphemeral(size, REPO, tmp, options.action, tools.nix, path.join(RESULTS, 'logs')))
  } finally {
    if (!options.keep) fs.rmSync(tmp, { recursive: true, force: true })
  }
  const totalSeconds = (Date.now() - start) / 1000
  const checks = targets(sizes)
  const evalChecks = evalTargets(evalSizes)
  const failed = [...sizes, ...evalSizes, ...ephemeral].some(s => Object.keys(s.errors).length > 0)
  const ephemeralChecks = ephemeralTargets(ephemeral)
  const targetLine = (t: Target): string =>
    `  ${t.pass === undefined ? 'n/a ' : t.pass ? 'PASS' : 'MISS'}  ${pad(t.name, 46)} ${t.value}`

  const lines = [
    '',
    `nixos-fleet-update benchmark: ${tools.nixVersion}, node ${process.version}, ${os.cpus().length} CPUs`,
    `Each host: ~300 store paths (${EXCLUDED_HOST} excluded); each variant builds a fleet with a fresh salt.`,
    ...(sizes.length === 0
      ? []
      : [
          options.before === 'cached'
            ? "Before: each fleet's current systems are already in the store (built untimed first, as on a nightly runner)."
            : 'Before: nothing in the store (--cold): every variant builds "before" and "after" from scratch.'
        ]),
    ...Object.entries(options.inputs).map(([k, v]) => `Extra action input: ${k}=${v}`),
    ...(sizes.length > 0
      ? ['', table(sizes), '', 'Targets (informational):', ...checks.map(targetLine)]
      : []),
    ...(evalSizes.length > 0
      ? [
          '',
          `Eval-heavy fleets: each host keeps ${HEAVY_OPTIONS} options alive from its config; ${
            options.before === 'cached'
              ? 'its current systems are in the store (built untimed first).'
              : 'nothing in the store before (--cold).'
          }`,
          '',
          evalTable(evalSizes),
          '',
          'Evaluation targets:',
          ...evalChecks.map(targetLine)
        ]
      : []),
    ...(ephemeral.length > 0
      ? [
          '',
          'Ephemeral runner: an empty store each run, without a binary cache and with the one the previous run filled',
          '(its new systems are this run\'s "before" systems); "before" s includes opening the cache.',
          '',
          ephemeralTable(ephemeral),
          '',
          'Ephemeral-runner target:',
          ...ephemeralChecks.map(targetLine)
        ]
      : []),
    '',
    `Total ${totalSeconds.toFixed(0)} s, of which generating fleets ${[...sizes, ...evalSizes, ...ephemeral].reduce((x, s) => x + s.setupSeconds, 0).toFixed(0)} s. Logs in ${path.relative(REPO, path.join(RESULTS, 'logs'))}/.`
  ]
  process.stdout.write(`${lines.join('\n')}\n`)

  const json = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, memoryMB: Math.round(os.totalmem() / 2 ** 20) },
    nix: tools.nixVersion,
    node: process.version,
    action: path.relative(REPO, options.action),
    actionInputs: options.inputs,
    totalSeconds,
    sizes,
    targets: checks,
    evalHeavy: evalSizes.map(e => ({
      ...e,
      largestMB: { single: largestMB(e.results.single), pool: largestMB(e.results.pool) },
      concurrentMB: {
        single: concurrentPeakMB(e.results.single?.nixPeaks ?? []),
        pool: concurrentPeakMB(e.results.pool?.nixPeaks ?? [])
      }
    })),
    evalTargets: evalChecks,
    ephemeral,
    ephemeralTargets: ephemeralChecks
  }
  fs.writeFileSync(path.join(RESULTS, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`)
  process.stdout.write(`Results: ${path.relative(REPO, path.join(RESULTS, 'latest.json'))}\n`)
  if (failed) {
    process.stderr.write('The benchmark broke: a variant failed (see above).\n')
    process.exitCode = 1
  }
}

main()
