import * as fs from 'fs'
import * as path from 'path'
import { InputName } from '../generated/action'
import { Git } from '../git/git'
import { flakeEntries } from '../settings'
import { PhaseEvent, RunOutcome, run } from '../main'
import { STATE } from '../state'
import { Log } from '../log/log'
import { plural } from '../report/words'
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

  private partial = ''

  /** Output that comes in chunks (a command's log): shown line by line as lines complete. */
  text(chunk: string): void {
    const lines = (this.partial + chunk).split('\n')
    this.partial = lines.pop() ?? ''
    for (const l of lines) this.line(l.replace(/\r$/, ''))
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
    const name = `${e.phase}${e.hosts === undefined ? '' : ` (${plural(e.hosts, 'host')})`}`
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
    if (this.partial !== '') this.line(this.partial)
    this.partial = ''
    if (!this.live) return
    clearInterval(this.live.timer)
    this.live = undefined
    this.out.write('\r\x1b[K')
  }
}

/**
 * The log port of the command line: warnings and errors always go to standard error, the log and command output
 * only with --verbose; masks apply to all of it. There are no outputs or summary; what the run saves for a post
 * step is kept, since the command line does the post step's work itself.
 */
class CliLog implements Log {
  readonly state = new Map<string, string>()

  constructor(
    private readonly progress: Progress,
    private readonly verbose: boolean
  ) {}

  info(message: string): void {
    if (this.verbose) for (const line of message.split('\n')) this.progress.line(line)
  }
  write(chunk: string): void {
    if (this.verbose) this.progress.text(chunk)
  }
  warning(message: string): void {
    this.progress.line(`warning: ${message}`)
  }
  error(message: string): void {
    this.progress.line(`error: ${message}`)
  }
  async group<T>(name: string, fn: () => Promise<T>): Promise<T> {
    if (this.verbose) this.progress.line(`== ${name}`)
    return fn()
  }
  mask(secret: string): void {
    this.progress.mask(secret)
  }
  output(): void {}
  saveState(name: string, value: string): void {
    this.state.set(name, value)
  }
  getState(name: string): string {
    return this.state.get(name) ?? ''
  }
  summary(): void {}
  failed(message: string): void {
    this.error(message)
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

/** The top level of the git work tree that holds `dir`, if any. */
async function topLevel(dir: string): Promise<string | undefined> {
  try {
    return await (await Git.create(dir)).topLevel()
  } catch {
    return undefined
  }
}

/** `dir` with symbolic links resolved, as git names its top level; as given when it does not exist. */
function realPath(dir: string): string {
  try {
    return fs.realpathSync(dir)
  } catch {
    return dir
  }
}

/**
 * The command line: runs the action's pipeline on a flake outside a runner. The report goes to standard output
 * (and --report), the structured results to --json, progress to standard error; the exit status says how it
 * went. The run gets its own environment and log: nothing of the process is changed.
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

  // One flake: its directory is the workspace, as a checkout is where a runner starts, so --flake may point
  // anywhere. Several (a list, as the input takes): the top level of the repository the first is in.
  const flakeDirs = flakeEntries(args.inputs.flake ?? '.').map(s =>
    path.resolve(io.cwd, s.replace(/^path:/, ''))
  )
  const flakeDir = flakeDirs.length > 1 ? ((await topLevel(flakeDirs[0])) ?? io.cwd) : flakeDirs[0]
  const flakeInput =
    flakeDirs.length > 1 ? flakeDirs.map(d => path.relative(flakeDir, realPath(d)) || '.').join('\n') : '.'
  // base-branch's default, "the current branch", is the branch checked out here as it is the runner's ref there.
  const branch = args.inputs['base-branch'] === undefined ? await checkedOutBranch(flakeDir) : undefined
  const inputs = (name: InputName): string | undefined => {
    if (name === 'flake') return flakeInput
    // `${{ github.token }}` on a runner; GITHUB_TOKEN here.
    if (name === 'token') return args.inputs.token ?? process.env.GITHUB_TOKEN
    return args.inputs[name]
  }
  const progress = new Progress(io.stderr, args.verbose)
  const log = new CliLog(progress, args.verbose)
  // Not a runner: no output, state or summary files, not even a surrounding job's. A signal is handled by the
  // run as on a runner: it stops the commands, puts flake.lock back and exits.
  const env: NodeJS.ProcessEnv = { ...process.env, GITHUB_WORKSPACE: flakeDir }
  for (const name of RUNNER_FILES) delete env[name]
  if (branch) Object.assign(env, { GITHUB_REF: `refs/heads/${branch}`, GITHUB_REF_NAME: branch })
  let outcome: RunOutcome
  try {
    outcome = await run({ log, env, inputs, onPhase: e => progress.phase(e) })
  } finally {
    progress.stop()
    // What the action's post step removes: the work directory and key files.
    for (const dir of (log.state.get(STATE.cleanupDirs) ?? '').split('\n').filter(Boolean))
      fs.rmSync(dir, { recursive: true, force: true })
  }
  if (outcome.report !== undefined) {
    io.stdout.write(outcome.report.endsWith('\n') ? outcome.report : `${outcome.report}\n`)
    if (args.report) fs.writeFileSync(path.resolve(io.cwd, args.report), outcome.report)
  }
  if (outcome.json !== undefined && args.json) fs.writeFileSync(path.resolve(io.cwd, args.json), outcome.json)
  return exitStatus(outcome)
}
