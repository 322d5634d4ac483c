import * as os from 'os'
import { ExecResult, tail } from '../exec'
import { MiB, memAvailable } from '../memory'
import { ConfigurationSet } from './configurations'
import { Nix, ToplevelResult } from './nix'
import { stripWarnings } from './stderr'
import { warningsByHost } from './warnings'

/** How the hosts' evaluation is spread over processes. */
export interface EvalPoolOptions {
  /** Resident memory all evaluation processes together may use, in bytes. */
  budget: number
  /** Evaluation processes running at once. */
  workers: number
  /** Hosts per process; undefined: sized from the memory that finished processes were seen to use. */
  chunkSize?: number
  /**
   * Where an evaluation of the same hosts ended (the phase before the update): its plan, and in the pool the
   * chunk size it had grown to. With it there is no probe. undefined: the probe measures the hosts.
   */
  start?: EvalStart
}

/** The plan an evaluation starts from instead of the probe: one process for every host, or the pool at a size. */
export type EvalStart = { plan: 'single' } | { plan: 'pool'; chunkSize: number }

/**
 * Resident memory below which one process evaluates every host at a flat time per host. Nix (2.8 to current)
 * starts its garbage-collected heap at 25 % of RAM, at most 384 MiB, and does not collect until that is full;
 * below it nothing is scanned again, above it every collection scans everything the process keeps alive. A fleet
 * whose hosts together are predicted to stay below this, from what the probe measured, is light: one process
 * evaluates the rest of it, since a start of Nix and of the flake costs more than such hosts do.
 */
export const CHUNK_TARGET = 256 * MiB
/**
 * The pool's chunks grow while their predicted peak stays below this share of a worker's memory limit: the other
 * half is room for a prediction from a smaller chunk that was wrong, since a process over its limit costs its
 * chunk's evaluation again.
 */
export const GROWTH_SHARE = 0.5
/** Hosts in the probe's second process; its first has one: the difference is the memory of one host. */
export const PROBE_HOSTS = 2
/**
 * How far apart the peaks of two processes doing the same light work land: the probe's two processes start at
 * once and either may be the one that fetches the flake's inputs. Measured on the light benchmark fleet (Nix
 * 2.8): one host at 24 and 48 MiB, two hosts at 24 and 31 MiB. The probe's difference counts only above it; a
 * heavy host (60 MiB on the eval-heavy fixture, 0.5–4.5 GB for a NixOS host) is far above.
 */
export const PROBE_NOISE = 16 * MiB
/** Below this per process, a worker cannot hold even a small flake's evaluation (about 100 MiB before any host). */
export const MIN_WORKER_MEMORY = 256 * MiB
/** The default budget: this share of MemAvailable, leaving the rest to the runner, the action and the page cache. */
export const DEFAULT_BUDGET_SHARE = 0.5

export interface Machine {
  cores: number
  /** Bytes. */
  memAvailable: number
}

/** This machine's cores and available memory now. */
export function localMachine(): Machine {
  return { cores: os.availableParallelism(), memAvailable: memAvailable() }
}

/** What the user chose (undefined: automatic), in the units of the inputs. */
export interface EvalSettings {
  /** MiB. */
  evalMemory?: number
  evalWorkers?: number
  evalChunkSize?: number
}

/** Workers and budget for `hosts` hosts: at most one per core, per host, and per MIN_WORKER_MEMORY of budget. */
export function poolOptions(settings: EvalSettings, hosts: number, machine: Machine): EvalPoolOptions {
  const budget =
    settings.evalMemory !== undefined
      ? settings.evalMemory * MiB
      : Math.floor((machine.memAvailable * DEFAULT_BUDGET_SHARE) / MiB) * MiB
  const workers = Math.max(
    1,
    Math.min(settings.evalWorkers ?? machine.cores, hosts, Math.floor(budget / MIN_WORKER_MEMORY))
  )
  return { budget, workers, chunkSize: settings.evalChunkSize }
}

/**
 * The size of the next chunk after a process evaluated `hosts` hosts with a peak of `peak` bytes: as many hosts
 * as fit under `target` at the same memory per host (start-up memory counted as the hosts', so the estimate errs
 * on the small side), at least one, at most twice as many as last time (one measurement is not a trend).
 */
export function nextChunkSize(hosts: number, peak: number, target: number): number {
  // Nothing measured (no /proc): no memory to go by, so as fast as the growth allows.
  if (peak <= 0) return 2 * hosts
  return Math.max(1, Math.min(2 * hosts, Math.floor((hosts * target) / peak)))
}

/** What a probe process measured: its number of hosts and its peak resident memory (0: ended before a sample). */
export interface ProbeMeasure {
  hosts: number
  peak: number
}

/** How the hosts after the probe are evaluated: all in one process, or in the pool's growing chunks. */
export type EvalPlan = 'single' | 'pool'

/**
 * The plan for `remaining` hosts from the probe's processes (one host and PROBE_HOSTS hosts): the memory one more
 * host adds is the difference of their peaks, the rest is the start (Nix, the flake, what every host shares).
 * Light hosts, whose predicted single process stays under `threshold`, are evaluated in one process: each
 * process the pool would start costs that start again. Heavy ones go to the pool.
 */
export function choosePlan(probe: ProbeMeasure[], remaining: number, threshold: number): EvalPlan {
  const byHosts = [...probe].sort((a, b) => a.hosts - b.hosts)
  const measured = byHosts.filter(p => p.peak > 0)
  // A process that ends before the first sample (20 ms) is as light as a process of Nix gets.
  if (measured.length === 0) return 'single'
  const small = measured[0]
  const large = measured[measured.length - 1]
  const perHost =
    byHosts[byHosts.length - 1].peak === 0
      ? // The process with the most hosts was that light: its hosts add nothing the smaller one did not have.
        0
      : large.hosts > small.hosts
        ? Math.max(0, (large.peak - small.peak - PROBE_NOISE) / (large.hosts - small.hosts))
        : // Only the one with the most hosts measured: all of it counted as its hosts', erring on the heavy side.
          large.peak / large.hosts
  const predicted = Math.max(large.peak, large.peak + (remaining - large.hosts) * perHost)
  return predicted <= threshold ? 'single' : 'pool'
}

/**
 * Where a later evaluation of the same hosts starts, from what this one's processes used. After the light plan,
 * one process again when the largest stayed under `threshold` (the probe's prediction checked against what
 * happened), else the pool at the chunk size that process measures under `target`. After the pool, the pool at
 * the size it started from after the probe (`poolStart`), so that its chunks grow as they did here, without the
 * probe's two processes. After a process died, the size its retries came down to (`current`).
 */
export function nextStart(
  plan: EvalPlan,
  processes: { hosts: string[]; peakRss: number; overLimit: boolean; exitCode: number }[],
  sizes: { threshold: number; target: number; current: number; poolStart?: number }
): EvalStart {
  if (processes.some(p => p.overLimit || p.exitCode > 128))
    return { plan: 'pool', chunkSize: Math.max(1, sizes.current) }
  if (plan === 'pool') return { plan: 'pool', chunkSize: Math.max(1, sizes.poolStart ?? sizes.current) }
  const largest = processes.reduce((a, b) => (b.hosts.length > a.hosts.length ? b : a))
  if (largest.peakRss <= sizes.threshold) return { plan: 'single' }
  return { plan: 'pool', chunkSize: nextChunkSize(largest.hosts.length, largest.peakRss, sizes.target) }
}

/** A host's evaluated system, and the platform it is for when its derivation says. */
type Toplevel = { drvPath: string; outPath: string; system?: string }

/** One evaluation process: which hosts it had, how it ended, and its stderr (Nix's warnings and errors). */
export interface EvalProcess {
  hosts: string[]
  /** The exit code, or 128 + the signal's number. */
  exitCode: number
  /** Killed for going over its memory limit. */
  overLimit: boolean
  /** The limit it ran under, in bytes. */
  limit: number
  peakRss: number
  seconds: number
  stderr: string
}

export interface Evaluation {
  results: Map<string, ToplevelResult>
  /** Every evaluation process in the order they ended, with its stderr for whoever reads warnings per host. */
  processes: EvalProcess[]
  options: EvalPoolOptions
  /** Wall time of the whole evaluation. */
  seconds: number
  /**
   * What the probe (or options.start) chose for the hosts after it; undefined when the user chose the chunk
   * size or the probe's processes held every host.
   */
  plan?: EvalPlan
  /** What the probe measured, when one ran. */
  probe?: ProbeMeasure[]
  /** Where a later evaluation of the same hosts can start: this one's plan and the chunk size it grew to. */
  next?: EvalStart
}

/** The text of a host that cannot be evaluated within the budget. */
export function overBudgetMessage(budget: number): string {
  return `evaluation exceeded the memory budget of ${Math.floor(budget / MiB)} MiB`
}

/** A process that died rather than finished: killed here or by a signal (the kernel's OOM killer), or out of memory. */
function died(r: ExecResult): boolean {
  // A signal arrives as 128 + its number, from runProcess() and through a wrapper (GNU time, a shell) alike.
  return r.overLimit === true || r.exitCode > 128 || /^error: out of memory/m.test(r.stderr)
}

/**
 * Evaluates every host's toplevel derivation in a pool of `nix eval` processes, each over a chunk of hosts and
 * each under its share of the memory budget. Inside a chunk every host goes through tryEval; a host that fails
 * there, or a chunk that fails outright, is evaluated alone so that Nix's own message names the error. A process
 * that dies (over its limit, a signal) costs its chunk only: its hosts are retried in halves, then one by one,
 * and a host that dies alone gets one last try with the whole budget, alone, before it is reported.
 *
 * Unless the user chose the chunk size, the first two processes (one host, then PROBE_HOSTS) are a probe: from
 * their peaks, light hosts are evaluated in one process for the rest (choosePlan), heavy ones in chunks that
 * grow while their predicted peak leaves room under the worker's share of the budget (nextChunkSize).
 */
export async function evaluateToplevels(
  nix: Nix,
  flake: string,
  hosts: string[],
  options: EvalPoolOptions,
  flakeArgs: string[] = [],
  set: ConfigurationSet = 'nixosConfigurations'
): Promise<Evaluation> {
  const begun = Date.now()
  const results = new Map<string, ToplevelResult>()
  const processes: EvalProcess[] = []
  const limit = Math.floor(options.budget / options.workers)
  const target = limit * GROWTH_SHARE
  // One process for every host stays under this, or the hosts are heavy.
  const lightLimit = Math.min(CHUNK_TARGET, target)
  const todo = [...hosts]
  const retries: string[][] = []
  const last: string[] = []
  // A chunk size from the user wins over where an earlier evaluation ended.
  const start = options.chunkSize === undefined ? options.start : undefined
  let size = options.chunkSize ?? (start?.plan === 'pool' ? Math.max(1, start.chunkSize) : 1)
  // Without either, the first two processes are the probe: one host, then PROBE_HOSTS.
  const probeSizes = options.chunkSize === undefined && !start && hosts.length > 1 ? [1, PROBE_HOSTS] : []
  const probeChunks = new Set<string[]>()
  const probe: ProbeMeasure[] = []
  let probeDied = false
  let plan: EvalPlan | undefined = start?.plan
  // The pool's first size past the probe (or the one it was given): where a later evaluation starts.
  let poolStart = start?.plan === 'pool' ? size : undefined

  const evaluate = async (chunk: string[], chunkLimit: number, final: boolean): Promise<void> => {
    const started = Date.now()
    const r = await nix.evalToplevels(flake, chunk, chunkLimit, flakeArgs, set)
    if (probeChunks.has(chunk)) {
      probe.push({ hosts: chunk.length, peak: r.peakRss ?? 0 })
      if (died(r)) probeDied = true
    }
    processes.push({
      hosts: chunk,
      exitCode: r.exitCode,
      overLimit: r.overLimit === true,
      limit: chunkLimit,
      peakRss: r.peakRss ?? 0,
      seconds: (Date.now() - started) / 1000,
      stderr: r.stderr
    })
    // Markers around each host in a chunk attribute its warnings; all that a lone host's process prints is its.
    const warnings = warningsByHost(r.stderr, chunk)
    const withWarnings = (host: string, v: Toplevel | { error: string }): void => {
      results.set(host, { ...v, warnings: warnings.get(host) ?? [] })
    }
    if (died(r)) {
      if (chunk.length > 1) {
        const half = Math.ceil(chunk.length / 2)
        retries.unshift(chunk.slice(0, half), chunk.slice(half))
        if (options.chunkSize === undefined) size = Math.max(1, Math.min(size, half))
      } else if (!final) {
        last.push(chunk[0])
      } else {
        withWarnings(
          chunk[0],
          r.overLimit || /^error: out of memory/m.test(r.stderr)
            ? { error: overBudgetMessage(options.budget) }
            : { error: deathMessage(r) }
        )
      }
      return
    }
    const parsed = r.exitCode === 0 ? parseToplevels(r.stdout, chunk) : undefined
    if (!parsed) {
      if (chunk.length > 1) retries.push(...chunk.map(h => [h]))
      else withWarnings(chunk[0], { error: evalError(r) })
      return
    }
    for (const host of chunk) {
      const v = parsed.get(host)
      // Caught by tryEval: alone, without it, Nix prints the real message.
      if (v) withWarnings(host, v)
      else retries.push([host])
    }
    if (options.chunkSize === undefined) size = nextChunkSize(chunk.length, r.peakRss ?? 0, target)
  }

  const take = (): string[] | undefined => {
    if (retries.length > 0) return retries.shift()
    if (todo.length === 0) return undefined
    if (probeSizes.length > 0) {
      const chunk = todo.splice(0, probeSizes.shift())
      probeChunks.add(chunk)
      return chunk
    }
    if (plan === undefined && probeChunks.size > 0) {
      // The plan waits for both probe processes; the pool asks again when one ends.
      if (probe.length < probeChunks.size) return undefined
      plan = probeDied ? 'pool' : choosePlan(probe, todo.length, lightLimit)
      if (plan === 'pool') {
        // The pool grows from the larger probe process, whichever of the two ended last.
        const largest = probe.reduce((a, b) => (b.hosts > a.hosts ? b : a))
        if (!probeDied) size = nextChunkSize(largest.hosts, largest.peak, target)
        poolStart = size
      }
    }
    // One process for the rest: the probe's choice, or an earlier evaluation's.
    if (plan === 'single') return todo.splice(0)
    // Near the end, smaller chunks keep every worker busy; a chunk size the user chose is kept as it is.
    const tail = options.chunkSize === undefined ? Math.ceil(todo.length / options.workers) : size
    return todo.splice(0, Math.max(1, Math.min(size, tail)))
  }
  await pool(options.workers, take, chunk => evaluate(chunk, limit, limit >= options.budget))
  // Hosts that went over a worker's share: alone now, one after the other, with the whole budget.
  for (const host of last) await evaluate([host], options.budget, true)
  const next =
    plan === undefined || processes.length === 0
      ? undefined
      : nextStart(plan, processes, {
          threshold: lightLimit,
          target,
          current: size,
          poolStart
        })
  return {
    results,
    processes,
    options,
    seconds: (Date.now() - begun) / 1000,
    plan,
    ...(probe.length > 0 ? { probe } : {}),
    ...(next ? { next } : {})
  }
}

/** Runs `work` on what `take` gives, at most `workers` at once, until `take` has nothing and nothing runs. */
function pool(
  workers: number,
  take: () => string[] | undefined,
  work: (chunk: string[]) => Promise<void>
): Promise<void> {
  return new Promise((resolve, reject) => {
    let running = 0
    let failed = false
    const pump = (): void => {
      if (failed) return
      let chunk: string[] | undefined
      while (running < workers && (chunk = take()) !== undefined) {
        running++
        work(chunk).then(
          () => {
            running--
            pump()
          },
          (e: unknown) => {
            failed = true
            reject(e instanceof Error ? e : new Error(String(e)))
          }
        )
      }
      if (running === 0) resolve()
    }
    pump()
  })
}

/**
 * The hosts' toplevels from `nix eval --json` of the pool's expressions: `{host: {drv, out, system} | null}` for a
 * chunk, `{drv, out, system}` for a host alone. undefined when the output is not that (a process cut short).
 */
export function parseToplevels(stdout: string, chunk: string[]): Map<string, Toplevel | null> | undefined {
  let data: unknown
  try {
    data = JSON.parse(stdout)
  } catch {
    return undefined
  }
  const toplevel = (v: unknown): Toplevel | null => {
    const o = v as { drv?: unknown; out?: unknown; system?: unknown } | null
    if (!o || typeof o.drv !== 'string' || typeof o.out !== 'string') return null
    return typeof o.system === 'string'
      ? { drvPath: o.drv, outPath: o.out, system: o.system }
      : { drvPath: o.drv, outPath: o.out }
  }
  if (typeof data !== 'object' || data === null) return undefined
  if (chunk.length === 1) {
    const v = toplevel(data)
    return v ? new Map([[chunk[0], v]]) : undefined
  }
  const record = data as Record<string, unknown>
  return new Map(chunk.map(h => [h, toplevel(record[h])]))
}

function deathMessage(r: ExecResult): string {
  const signal = Object.entries(os.constants.signals).find(([, n]) => n === r.exitCode - 128)?.[0]
  const how = signal ?? `exit code ${r.exitCode}`
  // SIGKILL is what the kernel's out-of-memory killer sends.
  const oom = signal === 'SIGKILL' ? ', as the out-of-memory killer does' : ''
  const said = tail(stripWarnings(r.stderr), 20)
  return `the evaluation process was killed (${how}${oom})${said ? `:\n${said}` : ''}`
}

function evalError(r: ExecResult): string {
  return tail(stripWarnings(r.stderr), 40) || `nix eval exited with code ${r.exitCode}`
}
