import * as fs from 'fs'
import * as path from 'path'
import { InputName } from '../generated/action'
import { Git } from '../git/git'
import { PhaseEvent, RunOutcome, run } from '../main'
import { STATE } from '../state'
import { CliArgs, UsageError, helpText, parseArgs } from './args'

export interface CliOutput {
  write(text: string): unknown
  isTTY?: boolean
}

export interface CliIO {
  stdout: CliOutput
  stderr: CliOutput
  cwd: string
}

/** The exit status for how a run ended: 1 also for a regression, as `fail-on-regression` fails the step. */
export function exitStatus(outcome: RunOutcome): number {
  if (outcome.result === 'ok') return 0
  return outcome.result === 'bad-input' ? 2 : 1
}

/** Decodes a workflow command's escaped message (@actions/core escapes %, CR and LF). */
function unescapeCommand(text: string): string {
  return text
    .replace(/%0D/g, '\r')
    .replace(/%0A/g, '\n')
    .replace(/%3A/g, ':')
    .replace(/%2C/g, ',')
    .replace(/%25/g, '%')
}

/**
 * Shows progress on standard error: one line per phase, with its host count and elapsed time. On a terminal the
 * running phase's line counts the seconds in place; elsewhere each phase gets its line when it ends.
 */
class Progress {
  private live?: { text: string; start: number; timer: NodeJS.Timeout }
  private readonly secrets: string[] = []

  constructor(
    private readonly out: CliOutput,
    private readonly verbose: boolean
  ) {}

  private get animate(): boolean {
    return this.out.isTTY === true && !this.verbose
  }

  mask(secret: string): void {
    if (secret !== '') this.secrets.push(secret)
  }

  private masked(text: string): string {
    let t = text
    for (const s of this.secrets) t = t.split(s).join('***')
    return t
  }

  /** A line of its own, above the running phase's line. */
  line(text: string): void {
    if (this.live) this.out.write('\r\x1b[K')
    this.out.write(`${this.masked(text)}\n`)
    if (this.live) this.draw()
  }

  private draw(): void {
    if (!this.live) return
    const seconds = Math.floor((Date.now() - this.live.start) / 1000)
    this.out.write(`\r\x1b[K${this.live.text} … ${seconds} s`)
  }

  phase(e: PhaseEvent): void {
    const name = `${e.phase}${e.hosts === undefined ? '' : ` (${e.hosts} host${e.hosts === 1 ? '' : 's'})`}`
    if (e.state === 'start') {
      if (this.animate) {
        this.stop()
        this.live = { text: name, start: Date.now(), timer: setInterval(() => this.draw(), 1000) }
        this.live.timer.unref()
        this.draw()
      } else if (this.verbose) this.out.write(`${name} …\n`)
      return
    }
    this.stop()
    const seconds = `${(e.seconds ?? 0).toFixed(1)} s`
    this.line(
      e.state === 'end'
        ? `${name}: ${e.outcome ? `${e.outcome}, ` : ''}${seconds}`
        : `${name}: failed after ${seconds}`
    )
  }

  stop(): void {
    if (!this.live) return
    clearInterval(this.live.timer)
    this.live = undefined
    this.out.write('\r\x1b[K')
  }
}

/**
 * Turns what the action writes for the runner (workflow commands, the log) into the command line's standard
 * error: warnings and errors always, the log only with --verbose; masks stay masked, outputs and state are
 * dropped.
 */
class LogRouter {
  private pending = ''
  /** What the run saved for a post step (`::save-state`): the command line does the post step's work itself. */
  readonly state = new Map<string, string>()

  constructor(
    private readonly progress: Progress,
    private readonly verbose: boolean
  ) {}

  write(text: string): void {
    this.pending += text
    let nl: number
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      this.handle(this.pending.slice(0, nl).replace(/\r$/, ''))
      this.pending = this.pending.slice(nl + 1)
    }
  }

  flush(): void {
    if (this.pending !== '') this.handle(this.pending)
    this.pending = ''
  }

  private handle(line: string): void {
    const command = /^::([a-z-]+)(?: [^:]*)?::([\s\S]*)$/.exec(line)
    if (!command) {
      if (this.verbose) this.progress.line(line)
      return
    }
    const [, name, message] = command
    const text = unescapeCommand(message)
    const stateName = /^::save-state name=([^:,]+)::/.exec(line)
    if (stateName) this.state.set(stateName[1], text)
    else if (name === 'add-mask') this.progress.mask(text)
    else if (name === 'warning' || name === 'error' || name === 'notice')
      this.progress.line(`${name}: ${text}`)
    else if (name === 'group' && this.verbose) this.progress.line(`== ${text}`)
  }
}

/** Checks that a file given with --report or --json can be written, before anything runs. */
function writableTarget(flag: string, file: string): string | undefined {
  const dir = path.dirname(file)
  try {
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) return `--${flag} ${file} is a directory`
    fs.accessSync(fs.existsSync(file) ? file : dir, fs.constants.W_OK)
    return undefined
  } catch {
    return `--${flag} ${file}: ${fs.existsSync(dir) ? 'cannot be written' : `the directory ${dir} does not exist`}`
  }
}

const RUNNER_FILES = ['GITHUB_OUTPUT', 'GITHUB_STATE', 'GITHUB_STEP_SUMMARY']

/** The branch checked out in `dir`, as a runner names the branch it runs on; undefined when detached or no git. */
async function checkedOutBranch(dir: string): Promise<string | undefined> {
  try {
    const r = await (await Git.create(dir)).exec(['symbolic-ref', '--quiet', '--short', 'HEAD'])
    return r.exitCode === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : undefined
  } catch {
    return undefined
  }
}

/**
 * The command line: runs the action's pipeline on a flake outside a runner. The report goes to standard output
 * (and --report), the structured results to --json, progress to standard error; the exit status says how it
 * went. The action's process-wide state (environment, standard output) is set for the run and put back after.
 */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
  let args: CliArgs
  try {
    args = parseArgs(argv)
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    io.stderr.write(`nixos-fleet-update: ${e.message}\nTry --help.\n`)
    return 2
  }
  if (args.help) {
    io.stdout.write(helpText())
    return 0
  }
  const problems = [
    args.report ? writableTarget('report', path.resolve(io.cwd, args.report)) : undefined,
    args.json ? writableTarget('json', path.resolve(io.cwd, args.json)) : undefined
  ].filter((p): p is string => p !== undefined)
  if (problems.length > 0) {
    io.stderr.write(`nixos-fleet-update: ${problems.join('\n')}\n`)
    return 2
  }

  // The flake's directory is the workspace: --flake may point anywhere, as a checkout is where a runner starts.
  const flakeDir = path.resolve(io.cwd, args.inputs.flake ?? '.')
  // base-branch's default, "the current branch", is the branch checked out here as it is the runner's ref there.
  const branch = args.inputs['base-branch'] === undefined ? await checkedOutBranch(flakeDir) : undefined
  const inputs = (name: InputName): string | undefined => {
    if (name === 'flake') return '.'
    // `${{ github.token }}` on a runner; GITHUB_TOKEN here.
    if (name === 'token') return args.inputs.token ?? process.env.GITHUB_TOKEN
    return args.inputs[name]
  }
  const savedEnv = { ...process.env }
  const savedWrite = process.stdout.write.bind(process.stdout)
  const progress = new Progress(io.stderr, args.verbose)
  const router = new LogRouter(progress, args.verbose)
  let outcome: RunOutcome
  try {
    // Not a runner: no output, state or summary files, not even a surrounding job's. A signal is handled by the
    // run as on a runner: it stops the commands, puts flake.lock back and exits.
    for (const name of RUNNER_FILES) delete process.env[name]
    process.env.GITHUB_WORKSPACE = flakeDir
    if (branch) Object.assign(process.env, { GITHUB_REF: `refs/heads/${branch}`, GITHUB_REF_NAME: branch })
    process.stdout.write = (chunk: string | Uint8Array): boolean => {
      router.write(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString())
      return true
    }
    outcome = await run({ inputs, onPhase: e => progress.phase(e) })
  } finally {
    router.flush()
    progress.stop()
    process.stdout.write = savedWrite
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k]
    Object.assign(process.env, savedEnv)
    // What the action's post step removes: the work directory and key files.
    for (const dir of (router.state.get(STATE.cleanupDirs) ?? '').split('\n').filter(Boolean))
      fs.rmSync(dir, { recursive: true, force: true })
  }
  if (outcome.report !== undefined) {
    io.stdout.write(outcome.report.endsWith('\n') ? outcome.report : `${outcome.report}\n`)
    if (args.report) fs.writeFileSync(path.resolve(io.cwd, args.report), outcome.report)
  }
  if (outcome.json !== undefined && args.json) fs.writeFileSync(path.resolve(io.cwd, args.json), outcome.json)
  return exitStatus(outcome)
}
