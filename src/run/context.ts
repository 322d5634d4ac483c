import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { errorMessage } from '../errors'
import { stopping } from '../exec'
import { Log } from '../log/log'
import { Settings } from '../settings'
import { STATE } from '../state'

/** A phase starting or ending, for whoever shows progress (the command line). */
export interface PhaseEvent {
  phase: string
  state: 'start' | 'end' | 'failed'
  /** How many hosts the phase works on, when it works on hosts. */
  hosts?: number
  /** Seconds since the phase started (end and failed). */
  seconds?: number
  /** What came of it, e.g. `10 built, 2 failed` (end). */
  outcome?: string
}

export interface Timing {
  phase: string
  seconds: number
}

export interface PhaseOptions<T> {
  hosts?: number
  outcome?: (result: T) => string
}

/** Functions run once each, newest first; one that throws is a warning and the rest still run. */
export class Undo {
  private readonly steps: (() => void)[] = []

  constructor(private readonly log: Log) {}

  push(step: () => void): void {
    this.steps.push(step)
  }

  runAll(): void {
    for (const step of this.steps.splice(0).reverse()) {
      try {
        step()
      } catch (e) {
        this.log.warning(`Cleanup failed: ${String(e)}`)
      }
    }
  }
}

/**
 * What every step of a run shares: the settings, the environment the run was started in, the log port, the work
 * directory, the phases' timings, and two stacks: `cleanup` runs when the run ends, however it ends; `onStop`
 * before it only when a signal stops the run (it undoes what a finished run keeps).
 */
export class Run {
  readonly timings: Timing[] = []
  readonly cleanup: Undo
  readonly onStop: Undo
  /** Directories the `post:` step removes should this step be killed outright. */
  private readonly postDirs: string[]
  /** Put before every phase's name: which flake of several the phase works on. */
  private label = ''

  constructor(
    readonly settings: Settings,
    readonly env: NodeJS.ProcessEnv,
    readonly log: Log,
    readonly workDir: string,
    private readonly onPhase?: (event: PhaseEvent) => void,
    parent?: Run
  ) {
    if (parent) {
      // A flake of several: the parent's undo stacks and post-step directories, a work directory inside its own.
      this.cleanup = parent.cleanup
      this.onStop = parent.onStop
      this.postDirs = parent.postDirs
      return
    }
    this.cleanup = new Undo(log)
    this.onStop = new Undo(log)
    this.postDirs = [workDir]
    log.saveState(STATE.cleanupDirs, workDir)
    // A stopped run leaves no report behind: its results would be partial.
    this.onStop.push(() => fs.rmSync(workDir, { recursive: true, force: true }))
  }

  /**
   * The run of one flake of several: settings whose `flakeDir` is that flake, its own work directory (GC roots,
   * the saved lock, report.json's neighbours) and timings, phases named after it; the same undo stacks.
   */
  forFlake(flakeDir: string, label: string, index: number, hosts = this.settings.hosts): Run {
    const dir = path.join(this.workDir, `flake-${index + 1}`)
    fs.mkdirSync(dir, { recursive: true })
    const child = new Run({ ...this.settings, flakeDir, hosts }, this.env, this.log, dir, this.onPhase, this)
    child.label = `${label}: `
    return child
  }

  /** Runs one phase inside a log group, records how long it took and reports its start and end. */
  async phase<T>(phaseName: string, fn: () => Promise<T>, options: PhaseOptions<T> = {}): Promise<T> {
    const name = `${this.label}${phaseName}`
    const start = Date.now()
    const elapsed = (): number => (Date.now() - start) / 1000
    this.onPhase?.({ phase: name, state: 'start', hosts: options.hosts })
    let result: T
    try {
      result = await this.log.group(name, fn)
      // Results of a phase that a signal cut short are not results: nothing after it may use them.
      const signal = stopping()
      if (signal) throw new Error(`Stopped by ${signal} during: ${name}`)
    } catch (e) {
      this.onPhase?.({ phase: name, state: 'failed', hosts: options.hosts, seconds: elapsed() })
      throw e
    }
    const seconds = elapsed()
    this.timings.push({ phase: phaseName, seconds })
    const outcome = options.outcome?.(result)
    this.log.info(`${name}: ${seconds.toFixed(1)} s${outcome ? ` (${outcome})` : ''}`)
    this.onPhase?.({ phase: name, state: 'end', hosts: options.hosts, seconds, outcome })
    return result
  }

  /** Writes a secret to a private file that this step removes at its end, and the post step after a crash. */
  secretFile(secret: string): string {
    const dir = fs.mkdtempSync(path.join(this.env.RUNNER_TEMP || os.tmpdir(), 'nixos-fleet-update-key-'))
    fs.chmodSync(dir, 0o700)
    const file = path.join(dir, 'signing-key')
    fs.writeFileSync(file, secret.endsWith('\n') ? secret : `${secret}\n`, { mode: 0o600 })
    this.postDirs.push(dir)
    this.log.saveState(STATE.cleanupDirs, this.postDirs.join('\n'))
    this.cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }))
    return file
  }

  /** Runs each write on its own: a full disk or an unwritable file loses that one write, not the others. */
  writeEach(writes: ResultWrite[]): string[] {
    const failures: string[] = []
    for (const w of writes) {
      try {
        w.write()
      } catch (e) {
        const failure = `${w.what} to ${w.file ?? '(no file)'}: ${errorMessage(e)}`
        this.log.warning(`Could not write ${failure}`)
        failures.push(failure)
      }
    }
    return failures
  }
}

/** One file write of the results, named for the message when it fails. */
export interface ResultWrite {
  what: string
  file: string | undefined
  write: () => void
}

/** A directory for this run's files (report.json, the private index, GC roots); kept until the job ends. */
export function makeWorkDir(env: NodeJS.ProcessEnv): string {
  return fs.mkdtempSync(path.join(env.RUNNER_TEMP || os.tmpdir(), 'nixos-fleet-update-'))
}
