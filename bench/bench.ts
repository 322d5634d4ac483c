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
 *   --eval-sizes 1,10,50,100  eval-heavy fleet sizes (or NFU_BENCH_EVAL_SIZES; `none` skips them): the action
 *                         with one evaluation process (as before the pool) and with the pool, with the peak RSS
 *                         of every Nix process (GNU time in the shims)
 *   --ephemeral-sizes 50  ephemeral-runner fleet sizes (or NFU_BENCH_EPHEMERAL_SIZES; `none` skips them): the
 *                         action on an empty store without and with the previous run's binary cache (needs root)
 */
import { spawnSync } from 'child_process'
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
import { EXCLUDED_HOST, Fleet, HEAVY_OPTIONS, createFleet } from './fleet'
import { parseOutputFile } from '../testkit/outputs'

const REPO = path.resolve(process.env.NFU_BENCH_REPO ?? process.cwd())
const RESULTS = path.join(REPO, 'bench/results')
/** The compiled preload sits next to this file once compiled (run.sh compiles both into one directory). */
const RSS_PRELOAD = path.join(__dirname, 'rss.js')

type Variant = 'action' | 'baseline' | 'floor'
const VARIANTS: Variant[] = ['action', 'baseline', 'floor']

interface Options {
  sizes: number[]
  variants: Variant[]
  action: string
  keep: boolean
  /**
   * `cached`: each fleet's "before" systems are built (untimed) before the measurement, as on a nightly runner
   * whose store holds yesterday's "after"; `cold`: nothing is in the store.
   */
  before: 'cached' | 'cold'
  /** Extra action inputs, as INPUT_* variables. */
  inputs: Record<string, string>
  /** Sizes of the eval-heavy fleets. */
  evalSizes: number[]
  /** Sizes of the ephemeral-runner scenario (an empty store, with and without yesterday's binary cache). */
  ephemeralSizes: number[]
}

function usage(message: string): never {
  process.stderr.write(
    `${message}\nusage: bench/run.sh [--sizes 1,10,50,200] [--variants action,baseline,floor] [--action dist/index.js] [--input NAME=VALUE] [--keep] [--cold] [--eval-sizes 1,10,50,100] [--ephemeral-sizes 50]\n`
  )
  process.exit(2)
}

function parseOptions(argv: string[]): Options {
  let sizes = process.env.NFU_BENCH_SIZES || '1,10,50,200'
  let evalSizes = process.env.NFU_BENCH_EVAL_SIZES || '1,10,50,100'
  let ephemeralSizes = process.env.NFU_BENCH_EPHEMERAL_SIZES || '50'
  let variants = 'action,baseline,floor'
  let action = process.env.NFU_BENCH_ACTION || path.join(REPO, 'dist/index.js')
  let keep = false
  let before: 'cached' | 'cold' = 'cached'
  const inputs: Record<string, string> = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const value = (): string => argv[++i] ?? usage(`${arg} needs a value`)
    if (arg === '--sizes') sizes = value()
    else if (arg.startsWith('--sizes=')) sizes = arg.slice('--sizes='.length)
    else if (arg === '--variants') variants = value()
    else if (arg === '--eval-sizes') evalSizes = value()
    else if (arg === '--ephemeral-sizes') ephemeralSizes = value()
    else if (arg === '--action') action = value()
    else if (arg === '--keep') keep = true
    else if (arg === '--cold') before = 'cold'
    else if (arg === '--input') {
      const [name, ...rest] = value().split('=')
      if (!name || rest.length === 0) usage('--input takes NAME=VALUE')
      inputs[`INPUT_${name.toUpperCase()}`] = rest.join('=')
    } else
      usage(arg === '--help' || arg === '-h' ? 'Benchmark of nixos-fleet-update.' : `unknown argument ${arg}`)
  }
  const list = (text: string): number[] => {
    const l = text.trim() === 'none' ? [] : text.split(',').map(s => Number(s.trim()))
    if (l.some(n => !Number.isInteger(n) || n < 1)) usage(`bad sizes: ${text}`)
    return l
  }
  const sizeList = list(sizes)
  const evalSizeList = list(evalSizes)
  const ephemeralSizeList = list(ephemeralSizes)
  if (sizeList.length + evalSizeList.length + ephemeralSizeList.length === 0) usage('nothing to run')
  const variantList = variants.split(',').map(v => v.trim())
  if (!variantList.every((v): v is Variant => (VARIANTS as string[]).includes(v)))
    usage(`bad variants: ${variants}`)
  return {
    sizes: sizeList,
    variants: variantList,
    action: path.resolve(action),
    keep,
    before,
    inputs,
    evalSizes: evalSizeList,
    ephemeralSizes: ephemeralSizeList
  }
}

/** An executable as PATH finds it now, before the counting shims go in front. */
function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const file = path.join(dir || '.', name)
    try {
      fs.accessSync(file, fs.constants.X_OK)
      if (fs.statSync(file).isFile()) return file
    } catch {
      // not in this directory
    }
  }
  return undefined
}

interface Tools {
  nix: string
  nixStore: string
  /** GNU time, for the peak RSS of a variant's whole process tree; optional. */
  time?: string
  nixVersion: string
}

function findTools(): Tools {
  const nix = which('nix')
  const nixStore = which('nix-store')
  if (!nix || !nixStore) throw new Error('nix and nix-store must be on PATH (scripts/setup.sh installs Nix)')
  const time = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined
  const version = spawnSync(nix, ['--version'], { encoding: 'utf8' })
  return { nix, nixStore, time, nixVersion: (version.stdout ?? '').trim() }
}

/**
 * `nix` and `nix-store` shims that log one line per process, then exec the real binary. They count whatever
 * the variants start by name from PATH: the action's calls (through @actions/io's which) and the scripts' alike.
 * With `rss`, each process runs under GNU time instead, and `COUNTER.rss` gets a line per process:
 * start and end (ns), peak RSS (kB), arguments.
 */
function writeShims(dir: string, counter: string, tools: Tools, rss = false): string {
  if (/['\n]/.test(counter)) throw new Error(`unusable path for the counter file: ${counter}`)
  const shims = path.join(dir, 'shims')
  fs.mkdirSync(shims)
  for (const [name, real] of [
    ['nix', tools.nix],
    ['nix-store', tools.nixStore]
  ]) {
    const file = path.join(shims, name)
    // Each record starts with an ASCII record separator: the arguments may hold newlines (nix eval --apply).
    const log = `#!/bin/sh\nprintf '\\036%s\\t%.200s\\n' ${name} "$*" >> '${counter}'\n`
    const run =
      rss && tools.time
        ? [
            'start=$(date +%s%N)',
            `'${tools.time}' -q -f %M -o '${counter}'.$$ '${real}' "$@"`,
            'status=$?',
            `printf '%s %s %s ${name}\\t%.200s\\036\\n' "$start" "$(date +%s%N)" "$(tail -n 1 '${counter}'.$$)" "$*" >> '${counter}.rss'`,
            `rm -f '${counter}'.$$`,
            'exit $status'
          ].join('\n')
        : `exec '${real}' "$@"`
    fs.writeFileSync(file, `${log}${run}\n`)
    fs.chmodSync(file, 0o755)
  }
  return shims
}

/** The subcommand of a logged call: `nix eval`, `nix-store --realise`, … (global flags skipped). */
function commandOf(line: string): string {
  const [program, args = ''] = line.trimEnd().split('\t')
  const words = args.split(' ')
  if (program === 'nix-store') return `nix-store ${words[0]}`
  const known = ['eval', 'build', 'flake', 'path-info', 'store', 'log', '__build-remote', '--version']
  const sub = words.find(w => known.includes(w))
  if (!sub) return 'nix (other)'
  const next = words[words.indexOf(sub) + 1]
  return sub === 'flake' || sub === 'store' ? `nix ${sub} ${next}` : `nix ${sub}`
}

interface Measurement {
  variant: Variant
  wallSeconds: number
  nixProcesses: number
  /** Derivations built, from the `building '…drv'` lines: equal for every variant of a size when none found another's builds. */
  derivationsBuilt: number
  /** Processes per subcommand, e.g. { "nix build": 100 }. */
  commands: Record<string, number>
  /** The action's node process alone, from the preload. */
  nodePeakRssMB?: number
  /** The largest process of the variant's tree (node or any Nix child), from GNU time. */
  treePeakRssMB?: number
  /** The action's own phase timings, from its log lines `Build before the update: 1.2 s`. */
  phases?: Record<string, number>
  /** Every Nix process with its peak RSS, when the shims ran them under GNU time. */
  nixPeaks?: NixPeak[]
  /** The action's evaluation seconds, both phases, from its log lines `Evaluated N hosts: P processes, X s, …`. */
  evalSeconds?: number
  /** The evaluation memory budget the action logged, in MiB. */
  budgetMiB?: number
  log: string
}

interface NixPeak {
  command: string
  startMs: number
  endMs: number
  peakMB: number
}

/** The `COUNTER.rss` records of the shims. */
function readPeaks(file: string): NixPeak[] {
  return (readIf(file) ?? '')
    .split('\x1e')
    .map(r => r.replace(/^\n/, ''))
    .filter(Boolean)
    .flatMap(r => {
      const m = /^(\d+) (\d+) (\d+) ([^\t]*\t[\s\S]*)$/.exec(r)
      return m
        ? [
            {
              command: commandOf(m[4]),
              startMs: Number(m[1]) / 1e6,
              endMs: Number(m[2]) / 1e6,
              peakMB: Number(m[3]) / 1024
            }
          ]
        : []
    })
}

/**
 * The largest sum of peak RSS over processes that ran at the same time: an upper bound of the memory they held
 * together, since each one's peak is counted for its whole life.
 */
function concurrentPeakMB(peaks: NixPeak[]): number {
  const events = peaks.flatMap(p => [
    { t: p.startMs, d: p.peakMB },
    { t: p.endMs, d: -p.peakMB }
  ])
  // Ends before starts at the same instant: a process that ended does not overlap one that starts then.
  events.sort((a, b) => a.t - b.t || a.d - b.d)
  let now = 0
  let max = 0
  for (const e of events) {
    now += e.d
    max = Math.max(max, now)
  }
  return max
}

function readIf(file: string): string | undefined {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined
}

function tailOf(file: string, lines = 30): string {
  return (readIf(file) ?? '').trimEnd().split('\n').slice(-lines).join('\n')
}

/**
 * Runs one variant on a fleet and checks that it did the whole job; throws when it did not. `label` names the
 * log of a run other than the main table's; `rss` records every Nix process's peak RSS.
 */
function measure(
  variant: Variant,
  fleet: Fleet,
  tools: Tools,
  options: Options,
  run: { label?: string; rss?: boolean } = {}
): Measurement {
  const dir = fs.mkdtempSync(path.join(fleet.root, `run-${variant}-`))
  const counter = path.join(dir, 'nix-calls')
  fs.writeFileSync(counter, '')
  const shims = writeShims(dir, counter, tools, run.rss)
  const log = path.join(RESULTS, 'logs', `${fleet.hosts.length}-${run.label ?? variant}.log`)
  const rssFile = path.join(dir, 'node-rss')
  const treeRssFile = path.join(dir, 'tree-rss')
  const outputFile = path.join(dir, 'output')

  // The benchmark may itself run in a workflow: none of its INPUT_ or GITHUB_ variables may leak in.
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!/^(INPUT_|GITHUB_)/.test(k)) env[k] = v
  env.PATH = `${shims}:${process.env.PATH ?? ''}`

  let command: string[]
  if (variant === 'action') {
    fs.writeFileSync(outputFile, '')
    fs.writeFileSync(path.join(dir, 'summary'), '')
    fs.writeFileSync(path.join(dir, 'state'), '')
    Object.assign(env, {
      'INPUT_DRY-RUN': 'true',
      INPUT_FLAKE: '.',
      'INPUT_EXCLUDE-HOSTS': '.*-minimal',
      INPUT_BUILD: 'true',
      'INPUT_FAIL-ON-REGRESSION': 'false',
      GITHUB_WORKSPACE: fleet.fleetDir,
      GITHUB_OUTPUT: outputFile,
      GITHUB_STEP_SUMMARY: path.join(dir, 'summary'),
      GITHUB_STATE: path.join(dir, 'state'),
      RUNNER_TEMP: dir,
      NFU_BENCH_RSS_FILE: rssFile,
      ...options.inputs
    })
    command = [process.execPath, '--require', RSS_PRELOAD, options.action]
  } else if (variant === 'baseline') {
    command = ['bash', path.join(REPO, 'bench/baseline.sh')]
  } else {
    command = ['bash', path.join(REPO, 'bench/floor.sh'), ...fleet.hosts]
  }
  if (tools.time) command = [tools.time, '-f', '%M', '-o', treeRssFile, ...command]

  const fd = fs.openSync(log, 'w')
  const start = process.hrtime.bigint()
  const r = spawnSync(command[0], command.slice(1), { cwd: fleet.fleetDir, env, stdio: ['ignore', fd, fd] })
  const wallSeconds = Number(process.hrtime.bigint() - start) / 1e9
  fs.closeSync(fd)
  if (r.error) throw r.error
  if (r.status !== 0) {
    throw new Error(`${variant} exited with ${r.status ?? r.signal}; log ${log}:\n${tailOf(log)}`)
  }

  const calls = fs.readFileSync(counter, 'utf8').split('\x1e').filter(Boolean)
  const commands: Record<string, number> = {}
  for (const c of calls.map(commandOf)) commands[c] = (commands[c] ?? 0) + 1
  const toMB = (kilobytes?: string): number | undefined => {
    // GNU time puts "Command exited with non-zero status" first; the number is the last line.
    const n = Number((kilobytes ?? '').trim().split('\n').pop())
    return kilobytes && Number.isFinite(n) && n > 0 ? Math.round(n / 102.4) / 10 : undefined
  }
  const m: Measurement = {
    variant,
    wallSeconds,
    nixProcesses: calls.length,
    derivationsBuilt: (fs.readFileSync(log, 'utf8').match(/^building '\/[^']+\.drv'/gm) ?? []).length,
    commands,
    treePeakRssMB: toMB(readIf(treeRssFile)),
    log: path.relative(REPO, log)
  }

  // A variant that skipped work would look fast: check that each did the whole job.
  if (variant === 'action') {
    m.nodePeakRssMB = toMB(readIf(rssFile))
    const text = fs.readFileSync(log, 'utf8')
    m.phases = {}
    for (const line of text.split('\n')) {
      const p = /^([A-Z][A-Za-z. ]+): ([0-9]+(?:\.[0-9]+)?) s$/.exec(line)
      if (p) m.phases[p[1]] = Number(p[2])
    }
    const outputs = parseOutputFile(fs.readFileSync(outputFile, 'utf8'))
    const hosts = JSON.parse(outputs.hosts ?? '[]') as string[]
    const failed = JSON.parse(outputs['failed-hosts'] ?? '[]') as string[]
    if (hosts.length !== fleet.hosts.length || outputs.changed !== 'true' || failed.length > 0) {
      throw new Error(
        `the action did not build and diff all ${fleet.hosts.length} hosts (hosts ${hosts.length}, changed ${outputs.changed}, failed ${failed.length}); log ${log}`
      )
    }
    if (!('Diff closures' in m.phases)) throw new Error(`the action did not diff closures; log ${log}`)
    const evals = [...text.matchAll(/^Evaluated \d+ hosts: \d+ processes, ([0-9.]+) s/gm)]
    if (evals.length > 0) m.evalSeconds = evals.reduce((sum, e) => sum + Number(e[1]), 0)
    const budget = /memory budget (\d+) MiB/.exec(text)
    if (budget) m.budgetMiB = Number(budget[1])
    if (run.rss) m.nixPeaks = readPeaks(`${counter}.rss`)
  } else {
    // The scripts stop at the first failing Nix call; what is left to check is that the update happened.
    const lockChanged =
      spawnSync('git', ['diff', '--quiet', '--', 'flake.lock'], { cwd: fleet.fleetDir }).status === 1
    const missing =
      variant === 'baseline'
        ? fleet.hosts.filter(h => !fs.existsSync(path.join(fleet.fleetDir, `result-after-${h}`)))
        : []
    if (!lockChanged || missing.length > 0) {
      throw new Error(
        `${variant} did not update flake.lock or left out hosts (${missing.join(', ') || 'none'}); log ${log}`
      )
    }
  }
  return m
}

interface SizeResult {
  hosts: number
  /** Seconds spent generating and locking the fleets (not measured). */
  setupSeconds: number
  results: Partial<Record<Variant, Measurement>>
  errors: Partial<Record<Variant, string>>
  /** c/b near 1 means the builds themselves, not the baseline's per-host processes, take the time. */
  ratios: { actionOverBaseline?: number; actionOverFloor?: number; floorOverBaseline?: number }
}

/** Measures with `fn`, or records why it failed under `key`; then removes the fleet (unless --keep). */
function attempt<K extends string>(
  fleet: Fleet,
  options: Options,
  errors: Partial<Record<K, string>>,
  key: K,
  fn: () => Measurement
): Measurement | undefined {
  try {
    return fn()
  } catch (e) {
    errors[key] = e instanceof Error ? e.message : String(e)
    process.stderr.write(`FAILED\n${errors[key]}\n`)
    return undefined
  } finally {
    if (options.keep) process.stderr.write(`  fleet kept in ${fleet.root}\n`)
    else fs.rmSync(fleet.root, { recursive: true, force: true })
  }
}

/** Builds every host's current system once, untimed: the state a nightly runner's store is in. */
function warmBefore(fleet: Fleet, tools: Tools): void {
  const installables = fleet.hosts.map(h => `.#nixosConfigurations."${h}".config.system.build.toplevel`)
  const r = spawnSync(tools.nix, ['build', '--no-link', '--max-jobs', 'auto', ...installables], {
    cwd: fleet.fleetDir,
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8'
  })
  if (r.status !== 0) throw new Error(`warming the store for ${fleet.root} failed:\n${r.stderr.slice(-2000)}`)
}

function runSize(size: number, tools: Tools, options: Options, tmp: string): SizeResult {
  const out: SizeResult = { hosts: size, setupSeconds: 0, results: {}, errors: {}, ratios: {} }
  for (const variant of options.variants) {
    // Each variant gets a fleet and a salt of its own, for the builds before and after alike: nothing cached.
    const setupStart = Date.now()
    const fleet = createFleet(REPO, tmp, size, variant, tools.nix)
    if (options.before === 'cached') warmBefore(fleet, tools)
    out.setupSeconds += (Date.now() - setupStart) / 1000
    process.stderr.write(`${size} hosts, ${variant}: `)
    const m = attempt(fleet, options, out.errors, variant, () => measure(variant, fleet, tools, options))
    if (m) {
      out.results[variant] = m
      process.stderr.write(`${m.wallSeconds.toFixed(1)} s, ${m.nixProcesses} nix processes\n`)
    }
  }
  const { action, baseline, floor } = out.results
  if (action && baseline) out.ratios.actionOverBaseline = action.wallSeconds / baseline.wallSeconds
  if (action && floor) out.ratios.actionOverFloor = action.wallSeconds / floor.wallSeconds
  if (baseline && floor) out.ratios.floorOverBaseline = floor.wallSeconds / baseline.wallSeconds
  return out
}

interface Target {
  name: string
  /** undefined: the sizes it needs were not run. */
  pass?: boolean
  value: string
}

function targets(sizes: SizeResult[]): Target[] {
  const at = (n: number): SizeResult | undefined => sizes.find(s => s.hosts === n)
  const fmt = (x: number | undefined, digits = 2): string => (x === undefined ? 'not run' : x.toFixed(digits))
  const ab = at(50)?.ratios.actionOverBaseline
  const ac = at(50)?.ratios.actionOverFloor
  const rss = at(200)?.results.action?.nodePeakRssMB
  // Evaluation processes grow with the fleet (hosts per chunk); every other Nix call must not.
  const others = (m?: Measurement): number | undefined =>
    m === undefined ? undefined : m.nixProcesses - (m.commands['nix eval'] ?? 0)
  const p10 = others(at(10)?.results.action)
  const p200 = others(at(200)?.results.action)
  return [
    {
      name: 'action/baseline at 50 hosts <= 0.4',
      pass: ab === undefined ? undefined : ab <= 0.4,
      value: fmt(ab)
    },
    {
      name: 'action/floor at 50 hosts <= 1.25',
      pass: ac === undefined ? undefined : ac <= 1.25,
      value: fmt(ac)
    },
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

interface EvalHeavyResult {
  hosts: number
  setupSeconds: number
  results: Partial<Record<EvalMode, Measurement>>
  errors: Partial<Record<EvalMode, string>>
}

type EvalMode = 'single' | 'pool'

/**
 * The action before the pool: one evaluation process over every host, with no memory limit to speak of. The
 * same code path with one worker and one chunk is exactly the single `nix eval` per phase it ran before.
 */
const SINGLE_PROCESS = {
  'INPUT_EVAL-WORKERS': '1',
  'INPUT_EVAL-CHUNK-SIZE': '1000000',
  'INPUT_EVAL-MEMORY': '1048576'
}

/**
 * The action on an eval-heavy fleet, once with a single evaluation process and once with the pool (its defaults,
 * or --input eval-*=…), each Nix process under GNU time. Nothing is in the store before: the evaluation is
 * what this measures, and the builds are the same for both.
 */
function runEvalHeavy(size: number, tools: Tools, options: Options, tmp: string): EvalHeavyResult {
  const out: EvalHeavyResult = { hosts: size, setupSeconds: 0, results: {}, errors: {} }
  // Small fleets take seconds, where the load of a shared machine decides: the fastest of three runs, alternated.
  const runs = size <= 10 ? 3 : 1
  for (let run = 0; run < runs; run++) {
    for (const mode of ['single', 'pool'] as EvalMode[]) {
      if (out.errors[mode]) continue
      const setupStart = Date.now()
      const fleet = createFleet(REPO, tmp, size, `eval-${mode}`, tools.nix, HEAVY_OPTIONS)
      out.setupSeconds += (Date.now() - setupStart) / 1000
      process.stderr.write(
        `${size} eval-heavy hosts, ${mode}${runs > 1 ? ` (run ${run + 1} of ${runs})` : ''}: `
      )
      const inputs = mode === 'single' ? { ...options.inputs, ...SINGLE_PROCESS } : options.inputs
      const m = attempt(fleet, options, out.errors, mode, () =>
        measure('action', fleet, tools, { ...options, inputs }, { label: `eval-heavy-${mode}`, rss: true })
      )
      if (m) {
        const best = out.results[mode]
        if (!best || m.wallSeconds < best.wallSeconds) out.results[mode] = m
        process.stderr.write(
          `${m.wallSeconds.toFixed(1)} s, evaluation ${(m.evalSeconds ?? 0).toFixed(1)} s\n`
        )
      }
    }
  }
  return out
}

function largestMB(m?: Measurement): number | undefined {
  return m?.nixPeaks && m.nixPeaks.length > 0 ? Math.max(...m.nixPeaks.map(p => p.peakMB)) : undefined
}

function evalTargets(sizes: EvalHeavyResult[]): Target[] {
  const at = (n: number): EvalHeavyResult | undefined => sizes.find(s => s.hosts === n)
  const ratio = (a?: number, b?: number): number | undefined =>
    a === undefined || b === undefined || b === 0 ? undefined : a / b
  const check = (name: string, value: number | undefined, max: number): Target => ({
    name,
    pass: value === undefined ? undefined : value <= max,
    value: value === undefined ? 'not run' : value.toFixed(2)
  })
  const s50 = at(50)?.results
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
    check(
      '50 h: largest Nix process <= 0.25 x single',
      ratio(largestMB(s50?.pool), largestMB(s50?.single)),
      0.25
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

function evalTable(sizes: EvalHeavyResult[]): string {
  const widths = [5, 7, 7, 7, 10, 12, 14, 9]
  const row = (cells: string[]): string =>
    cells
      .map((c, i) => pad(c, widths[i], i !== 1))
      .join('  ')
      .trimEnd()
  const lines = [
    row(['hosts', 'eval', 'wall s', 'eval s', 'nix evals', 'largest nix', 'concurrent nix', 'budget']),
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
          m?.evalSeconds === undefined ? '-' : m.evalSeconds.toFixed(1),
          m ? String(m.commands['nix eval'] ?? 0) : '-',
          mb(largestMB(m)),
          mb(m?.nixPeaks ? concurrentPeakMB(m.nixPeaks) : undefined),
          mode === 'pool' && m?.budgetMiB !== undefined ? `${m.budgetMiB} MiB` : '-'
        ])
      )
    }
  }
  lines.push(
    '',
    "eval s: both phases' evaluation, from the action's log; nix evals: `nix eval` processes (discovery included);",
    'largest nix: peak RSS of the largest Nix process; concurrent nix: the largest sum of peak RSS of Nix processes',
    'that ran at the same time (GNU time per process). single: one evaluation process per phase, as before the pool.',
    'Up to 10 hosts, the fastest of three runs of each.'
  )
  return lines.join('\n')
}

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width)
}

function table(sizes: SizeResult[]): string {
  const lines: string[] = []
  const head = [
    'hosts',
    'variant',
    'wall s',
    'nix procs',
    'drvs built',
    'node peak RSS',
    'tree peak RSS',
    'a/x'
  ]
  const widths = [5, 12, 8, 9, 10, 13, 13, 6]
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
          m ? String(m.nixProcesses) : '-',
          m ? String(m.derivationsBuilt) : '-',
          mb(m?.nodePeakRssMB),
          mb(m?.treePeakRssMB),
          ratio === undefined ? '' : ratio.toFixed(2)
        ])
      )
    }
  }
  lines.push('', 'action/x: wall time of the action divided by that of the baseline or the floor.')
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
          `Eval-heavy fleets: each host keeps ${HEAVY_OPTIONS} options alive from its config; nothing in the store before.`,
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
