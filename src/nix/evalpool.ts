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
}

/**
 * Resident memory a process should stay below when the pool sizes chunks itself. Nix (2.8 to current) starts
 * its garbage-collected heap at 25 % of RAM, at most 384 MiB, and does not collect until that is full; below it
 * the time per host is flat, above it every collection scans everything the chunk's hosts keep alive.
 * Measured on the eval-heavy fixture (Nix 2.8, seconds per host): 0.25 with 5 to 7 hosts (330–435 MB),
 * 0.46 with 13 (485 MB), 0.61 with 25 (790 MB). 256 MiB keeps a chunk clear of the first collection.
 */
export const CHUNK_TARGET = 256 * MiB
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
 */
export async function evaluateToplevels(
  nix: Nix,
  flake: string,
  hosts: string[],
  options: EvalPoolOptions,
  set: ConfigurationSet = 'nixosConfigurations'
): Promise<Evaluation> {
  const start = Date.now()
  const results = new Map<string, ToplevelResult>()
  const processes: EvalProcess[] = []
  const limit = Math.floor(options.budget / options.workers)
  const target = Math.min(CHUNK_TARGET, limit / 2)
  const todo = [...hosts]
  const retries: string[][] = []
  const last: string[] = []
  let size = options.chunkSize ?? 1

  const evaluate = async (chunk: string[], chunkLimit: number, final: boolean): Promise<void> => {
    const started = Date.now()
    const r = await nix.evalToplevels(flake, chunk, chunkLimit, set)
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
    // Near the end, smaller chunks keep every worker busy; a chunk size the user chose is kept as it is.
    const tail = options.chunkSize === undefined ? Math.ceil(todo.length / options.workers) : size
    return todo.splice(0, Math.max(1, Math.min(size, tail)))
  }
  await pool(options.workers, take, chunk => evaluate(chunk, limit, limit >= options.budget))
  // Hosts that went over a worker's share: alone now, one after the other, with the whole budget.
  for (const host of last) await evaluate([host], options.budget, true)
  return { results, processes, options, seconds: (Date.now() - start) / 1000 }
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
