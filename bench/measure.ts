/**
 * Running the variants: the counting shims in front of Nix, one measured run of a variant on a fleet with the
 * checks that it did the whole job, and the runs of each size (light fleets) and of each eval-heavy fleet.
 */
import { spawnSync } from 'child_process'
import * as fs from 'fs'
import * as path from 'path'
import { Fleet, HEAVY_OPTIONS, createFleet } from './fleet'
import { Options, REPO, RESULTS, Variant } from './options'
import { parseOutputFile } from '../testkit/outputs'

/** The compiled preload sits next to this file once compiled (run.sh compiles both into one directory). */
const RSS_PRELOAD = path.join(__dirname, 'rss.js')

/** An executable as PATH finds it now, before the counting shims go in front. */
export function which(name: string): string | undefined {
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

export interface Tools {
  nix: string
  nixStore: string
  /** GNU time, for the peak RSS of a variant's whole process tree; optional. */
  time?: string
  nixVersion: string
}

export function findTools(): Tools {
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
export function writeShims(dir: string, counter: string, tools: Tools, rss = false): string {
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
export function commandOf(line: string): string {
  const [program, args = ''] = line.trimEnd().split('\t')
  const words = args.split(' ')
  if (program === 'nix-store') return `nix-store ${words[0]}`
  const known = ['eval', 'build', 'flake', 'path-info', 'store', 'log', '__build-remote', '--version']
  const sub = words.find(w => known.includes(w))
  if (!sub) return 'nix (other)'
  const next = words[words.indexOf(sub) + 1]
  return sub === 'flake' || sub === 'store' ? `nix ${sub} ${next}` : `nix ${sub}`
}

export interface Measurement {
  variant: Variant
  wallSeconds: number
  nixProcesses: number
  /** Derivations built, from the `building '…drv'` lines: equal for every variant of a size when none found another's builds. */
  derivationsBuilt: number
  /** Processes per subcommand, e.g. { "nix build": 100 }. */
  commands: Record<string, number>
  /** The action's node process alone, from the preload. */
  nodePeakRssMB?: number
  /** User and system CPU seconds of the variant's whole tree, from GNU time: over wallSeconds, the cores it kept busy. */
  cpuSeconds?: number
  /** The largest process of the variant's tree (node or any Nix child), from GNU time. */
  treePeakRssMB?: number
  /** The action's own phase timings, from its log lines `Build before the update: 1.2 s`. */
  phases?: Record<string, number>
  /** Every Nix process with its peak RSS, when the shims ran them under GNU time. */
  nixPeaks?: NixPeak[]
  /** The action's evaluation seconds, both phases, from its log lines `Evaluated N hosts: P processes, X s, …`. */
  evalSeconds?: number
  /** Each phase's evaluation seconds (before, after), from the same log lines. */
  evalPhaseSeconds?: number[]
  /** The evaluation memory budget the action logged, in MiB. */
  budgetMiB?: number
  log: string
}

export interface NixPeak {
  command: string
  startMs: number
  endMs: number
  peakMB: number
}

/** The `COUNTER.rss` records of the shims. */
export function readPeaks(file: string): NixPeak[] {
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
export function concurrentPeakMB(peaks: NixPeak[]): number {
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

/** The action's phase timings from its log lines `Build before the update: 1.2 s` or `…: 1.2 s (40 built)`. */
export function phaseTimings(log: string): Record<string, number> {
  const phases: Record<string, number> = {}
  for (const p of log.matchAll(/^([A-Z][A-Za-z. ]+): ([0-9]+(?:\.[0-9]+)?) s(?: \([^)]*\))?$/gm))
    phases[p[1]] = Number(p[2])
  return phases
}

export function readIf(file: string): string | undefined {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined
}

export function tailOf(file: string, lines = 30): string {
  return (readIf(file) ?? '').trimEnd().split('\n').slice(-lines).join('\n')
}

/**
 * Runs one variant on a fleet and checks that it did the whole job; throws when it did not. `label` names the
 * log of a run other than the main table's; `rss` records every Nix process's peak RSS.
 */
export function measure(
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
  // Peak RSS in kB, then user and system CPU seconds of the variant and every child it waited for.
  if (tools.time) command = [tools.time, '-f', '%M %U %S', '-o', treeRssFile, ...command]

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
  // GNU time puts "Command exited with non-zero status" first; its figures are the last line.
  const tree = (readIf(treeRssFile) ?? '').trim().split('\n').pop()?.split(' ') ?? []
  const cpu = Number(tree[1]) + Number(tree[2])
  const m: Measurement = {
    variant,
    wallSeconds,
    cpuSeconds: Number.isFinite(cpu) ? cpu : undefined,
    nixProcesses: calls.length,
    derivationsBuilt: (fs.readFileSync(log, 'utf8').match(/^building '\/[^']+\.drv'/gm) ?? []).length,
    commands,
    treePeakRssMB: toMB(tree[0]),
    log: path.relative(REPO, log)
  }

  // A variant that skipped work would look fast: check that each did the whole job.
  if (variant === 'action') {
    m.nodePeakRssMB = toMB(readIf(rssFile))
    const text = fs.readFileSync(log, 'utf8')
    m.phases = phaseTimings(text)
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
    if (evals.length > 0) {
      m.evalPhaseSeconds = evals.map(e => Number(e[1]))
      m.evalSeconds = m.evalPhaseSeconds.reduce((sum, x) => sum + x, 0)
    }
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

export interface SizeResult {
  hosts: number
  /** Seconds spent generating and locking the fleets (not measured). */
  setupSeconds: number
  results: Partial<Record<Variant, Measurement>>
  errors: Partial<Record<Variant, string>>
  /** c/b near 1 means the builds themselves, not the baseline's per-host processes, take the time. */
  ratios: { actionOverBaseline?: number; actionOverFloor?: number; floorOverBaseline?: number }
}

/** Measures with `fn`, or records why it failed under `key`; then removes the fleet (unless --keep). */
export function attempt<K extends string>(
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
export function warmBefore(fleet: Fleet, tools: Tools): void {
  const installables = fleet.hosts.map(h => `.#nixosConfigurations."${h}".config.system.build.toplevel`)
  const r = spawnSync(tools.nix, ['build', '--no-link', '--max-jobs', 'auto', ...installables], {
    cwd: fleet.fleetDir,
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8'
  })
  if (r.status !== 0) throw new Error(`warming the store for ${fleet.root} failed:\n${r.stderr.slice(-2000)}`)
}

export function runSize(size: number, tools: Tools, options: Options, tmp: string): SizeResult {
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

export interface EvalHeavyResult {
  hosts: number
  setupSeconds: number
  results: Partial<Record<EvalMode, Measurement>>
  errors: Partial<Record<EvalMode, string>>
}

export type EvalMode = 'single' | 'pool'

/**
 * The action before the pool: one evaluation process over every host, with no memory limit to speak of. The
 * same code path with one worker and one chunk is exactly the single `nix eval` per phase it ran before.
 */
export const SINGLE_PROCESS = {
  'INPUT_EVAL-WORKERS': '1',
  'INPUT_EVAL-CHUNK-SIZE': '1000000',
  'INPUT_EVAL-MEMORY': '1048576'
}

/**
 * The action on an eval-heavy fleet, once with a single evaluation process and once with the pool (its defaults,
 * or --input eval-*=…), each Nix process under GNU time. As for the light fleets, the "before" systems are in
 * the store first (untimed) unless --cold; the builds are the same for both modes either way.
 */
export function runEvalHeavy(size: number, tools: Tools, options: Options, tmp: string): EvalHeavyResult {
  const out: EvalHeavyResult = { hosts: size, setupSeconds: 0, results: {}, errors: {} }
  // Small fleets take seconds, where the load of a shared machine decides: the fastest of three runs, alternated.
  const runs = size <= 10 ? 3 : 1
  for (let run = 0; run < runs; run++) {
    for (const mode of ['single', 'pool'] as EvalMode[]) {
      if (out.errors[mode]) continue
      const setupStart = Date.now()
      const fleet = createFleet(REPO, tmp, size, `eval-${mode}`, tools.nix, HEAVY_OPTIONS)
      if (options.before === 'cached') warmBefore(fleet, tools)
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

export function largestMB(m?: Measurement): number | undefined {
  return m?.nixPeaks && m.nixPeaks.length > 0 ? Math.max(...m.nixPeaks.map(p => p.peakMB)) : undefined
}
