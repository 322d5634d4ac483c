import { getExecOutput } from '@actions/exec'
import { ChildProcess, spawn } from 'child_process'
import * as fs from 'fs'
import * as os from 'os'
import { StringDecoder } from 'string_decoder'
import { MemoryWatch, watchMemory } from './memory'
import { sleep } from './retry'

export interface ExecResult {
  stdout: string
  stderr: string
  /** The exit code, or 128 + the signal's number for a command that a signal ended. */
  exitCode: number
  /** The command ran past its `timeoutMs` and was stopped. */
  timedOut?: boolean
  /** The command's process tree went over `memoryLimit` and was killed. */
  overLimit?: boolean
  /** With `memoryLimit`: the largest resident memory of the process tree seen, in bytes. */
  peakRss?: number
}

export interface RunOptions {
  cwd?: string
  /** Variables the caller sets for this command; they are passed as given, on top of the allowed ones. */
  env?: Record<string, string>
  /** Where the command's stderr goes as it runs (build output, to the log), besides being captured. */
  streamStderr?: (chunk: string) => void
  /** Where stdout goes as it runs, besides being captured. */
  streamStdout?: (chunk: string) => void
  input?: string
  /** Stop the command (its whole process group) once it has run this long. */
  timeoutMs?: number
  /** Kill the command (SIGKILL, its process group and tree) once their resident memory goes over this, in bytes. */
  memoryLimit?: number
}

/**
 * Variables a child process inherits from the runner: what Nix, git, ssh and curl need to find their files,
 * certificates, proxies and agent. Everything else stays behind, above all the step's inputs (INPUT_TOKEN,
 * INPUT_SIGNING-KEY) and the runner's own tokens: single-user Nix hands any variable of its caller to a
 * fixed-output derivation that lists it in impureEnvVars, and such a builder has network access.
 */
const INHERITED = new Set([
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'TERM',
  'TZ',
  'TMPDIR',
  'TMP',
  'TEMP',
  'LANG',
  'LANGUAGE',
  'LOCALE_ARCHIVE',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'CURL_CA_BUNDLE',
  'SSH_AUTH_SOCK',
  'XDG_CONFIG_HOME',
  'XDG_CONFIG_DIRS',
  'XDG_CACHE_HOME',
  'XDG_DATA_HOME',
  'XDG_DATA_DIRS',
  'XDG_STATE_HOME',
  'XDG_RUNTIME_DIR',
  'http_proxy',
  'https_proxy',
  'ftp_proxy',
  'all_proxy',
  'no_proxy',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'FTP_PROXY',
  'ALL_PROXY',
  'NO_PROXY',
  // How git reaches a remote, as the runner's configuration chose it; git's state variables (GIT_DIR,
  // GIT_INDEX_FILE, GIT_CONFIG_*) are set by the action itself where it needs them, never inherited.
  'GIT_SSH',
  'GIT_SSH_COMMAND',
  'GIT_SSL_CAINFO',
  'GIT_SSL_CAPATH'
])

/** Prefixes of inherited variables: the locale, and Nix's own settings (NIX_CONFIG, NIX_PATH, NIX_SSHOPTS, …). */
const INHERITED_PREFIXES = ['LC_', 'NIX_']

/** Never inherited, whatever the lists above say: a variable with such a name holds a credential. */
const SECRET_NAME = /^(INPUT_|ACTIONS_)|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|_KEY$/i

/** The environment a child process gets: the allowed variables of `env`, then the caller's own `extra`. */
export function childEnv(env: NodeJS.ProcessEnv, extra: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || SECRET_NAME.test(name)) continue
    if (INHERITED.has(name) || INHERITED_PREFIXES.some(p => name.startsWith(p))) out[name] = value
  }
  return { ...out, ...extra }
}

/** Collects a byte stream as text, decoding characters split across chunks as one. */
class TextCollector {
  private readonly decoder = new StringDecoder('utf8')
  text = ''
  constructor(private readonly echo?: (chunk: string) => void) {}

  write(data: Buffer): void {
    this.add(this.decoder.write(data))
  }

  end(): string {
    this.add(this.decoder.end())
    return this.text
  }

  private add(chunk: string): void {
    this.text += chunk
    if (this.echo && chunk !== '') this.echo(chunk)
  }
}

/** Children that run now, each the leader of its own process group. */
const running = new Set<ChildProcess>()

/** Set once the action is being stopped: from then on no command starts. */
let stopSignal: NodeJS.Signals | undefined

/** How long a stopped process group gets after SIGTERM (or SIGINT) before SIGKILL. */
export const KILL_GRACE_MS = 5000

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  // The group outlives its leader while anything it started is still in it, so this does not ask whether the
  // command itself has exited.
  if (child.pid === undefined) return
  try {
    // The negative pid names the child's process group: the command and everything it started that stayed in it.
    process.kill(-child.pid, signal)
  } catch {
    // Gone already.
  }
}

/**
 * Sends `signal` to the process group of every running command, and refuses to start new ones from now on.
 * Returns once every one has exited, or after `graceMs`, when whatever is left gets SIGKILL.
 */
export async function stopChildren(signal: NodeJS.Signals, graceMs = KILL_GRACE_MS): Promise<void> {
  stopSignal = signal
  const children = [...running]
  for (const child of children) signalGroup(child, signal)
  const deadline = Date.now() + graceMs
  while (running.size > 0 && Date.now() < deadline) await sleep(50)
  for (const child of [...running]) signalGroup(child, 'SIGKILL')
}

/** The signal that is stopping the action, if one is. */
export function stopping(): NodeJS.Signals | undefined {
  return stopSignal
}

/**
 * Runs a short local command that starts nothing of its own (`nix --version`, `ssh-keygen -y`) through
 * @actions/exec, with the same allow-listed environment as every command; no process group is needed, since a
 * signal to the action reaches it with the action's own group. Output is captured, never echoed.
 */
export async function runQuick(
  file: string,
  args: string[],
  options: { input?: string } = {}
): Promise<ExecResult> {
  if (stopSignal) throw new Error(`Not starting ${file}: the action is stopping (${stopSignal})`)
  const r = await getExecOutput(file, args, {
    env: childEnv(process.env),
    silent: true,
    ignoreReturnCode: true,
    input: options.input === undefined ? undefined : Buffer.from(options.input)
  })
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode }
}

/**
 * Runs a program with an argument array (never through a shell) and captures its output.
 * A non-zero exit is returned, not thrown: callers decide what a failure means.
 * Each command leads its own process group, so that a signal to the action reaches the command and whatever
 * it started (stopChildren) and a time-out stops all of them; that is also why this does not go through
 * @actions/exec, which gives neither the group nor the process id.
 */
export async function runProcess(
  file: string,
  args: string[],
  options: RunOptions = {}
): Promise<ExecResult> {
  if (stopSignal) throw new Error(`Not starting ${file}: the action is stopping (${stopSignal})`)
  if (options.cwd && !fs.existsSync(options.cwd)) {
    throw new Error(`Cannot run ${file}: its working directory ${options.cwd} does not exist`)
  }
  const stdout = new TextCollector(options.streamStdout)
  const stderr = new TextCollector(options.streamStderr)
  return new Promise<ExecResult>((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      // Read at each call: what a caller set in process.env (NIX_CONFIG, PATH) reaches the child.
      env: childEnv(process.env, options.env),
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: true
    })
    running.add(child)
    let timedOut = false
    let killTimer: NodeJS.Timeout | undefined
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true
            signalGroup(child, 'SIGTERM')
            killTimer = setTimeout(() => signalGroup(child, 'SIGKILL'), KILL_GRACE_MS)
          }, options.timeoutMs)
    let overLimit = false
    const watch: MemoryWatch | undefined =
      options.memoryLimit === undefined || child.pid === undefined
        ? undefined
        : watchMemory(child.pid, options.memoryLimit, () => {
            overLimit = true
            signalGroup(child, 'SIGKILL')
          })
    const done = (): void => {
      running.delete(child)
      clearTimeout(timer)
      clearTimeout(killTimer)
      watch?.stop()
    }
    child.stdout?.on('data', (d: Buffer) => stdout.write(d))
    child.stderr?.on('data', (d: Buffer) => stderr.write(d))
    child.on('error', error => {
      done()
      reject(new Error(`Cannot run ${file}: ${error.message}`))
    })
    let settled = false
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return
      settled = true
      done()
      const exitCode = code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0)
      resolve({
        stdout: stdout.end(),
        stderr: stderr.end(),
        exitCode,
        ...(timedOut ? { timedOut } : {}),
        ...(watch ? { overLimit, peakRss: watch.peak() } : {})
      })
    }
    child.on('close', finish)
    // A process the command left behind may hold its output pipes open: the command's own exit counts then.
    child.on('exit', (code, signal) => {
      setTimeout(() => {
        child.stdout?.destroy()
        child.stderr?.destroy()
        finish(code, signal)
      }, 10000).unref()
    })
    if (options.input !== undefined && child.stdin) {
      // A command that exits without reading all of its input must not fail the action with EPIPE.
      child.stdin.on('error', () => undefined)
      child.stdin.end(Buffer.from(options.input))
    }
  })
}

/** The last `lines` lines of a text, without trailing blank lines. */
export function tail(text: string, lines: number): string {
  const all = text.replace(/\s+$/, '').split('\n')
  return all.slice(Math.max(0, all.length - lines)).join('\n')
}
