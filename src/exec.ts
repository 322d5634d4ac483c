import * as exec from '@actions/exec'
import { StringDecoder } from 'string_decoder'

export interface ExecResult {
  stdout: string
  stderr: string
  exitCode: number
}

export interface RunOptions {
  cwd?: string
  /** Variables the caller sets for this command; they are passed as given, on top of the allowed ones. */
  env?: Record<string, string>
  /** Stream the command's stderr to the log as it runs (build output), besides capturing it. */
  streamStderr?: boolean
  /** Stream stdout to the log too. */
  streamStdout?: boolean
  input?: string
}

/** Count of processes started through run(): the benchmark reads it to show that it does not grow with the fleet. */
export const processCounter = { count: 0 }

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
  constructor(private readonly echo: boolean) {}

  write(data: Buffer): void {
    this.add(this.decoder.write(data))
  }

  end(): string {
    this.add(this.decoder.end())
    return this.text
  }

  private add(chunk: string): void {
    this.text += chunk
    if (this.echo && chunk !== '') process.stdout.write(chunk)
  }
}

/**
 * Runs a program with an argument array (never through a shell) and captures its output.
 * A non-zero exit is returned, not thrown: callers decide what a failure means.
 */
export async function run(file: string, args: string[], options: RunOptions = {}): Promise<ExecResult> {
  processCounter.count++
  const stdout = new TextCollector(options.streamStdout === true)
  const stderr = new TextCollector(options.streamStderr === true)
  const exitCode = await exec.exec(file, args, {
    cwd: options.cwd,
    // Read at each call: what a caller set in process.env (NIX_CONFIG, PATH) reaches the child.
    env: childEnv(process.env, options.env),
    ignoreReturnCode: true,
    silent: true,
    input: options.input === undefined ? undefined : Buffer.from(options.input),
    listeners: {
      stdout: (data: Buffer) => stdout.write(data),
      stderr: (data: Buffer) => stderr.write(data)
    }
  })
  return { stdout: stdout.end(), stderr: stderr.end(), exitCode }
}

/** The last `lines` lines of a text, without trailing blank lines. */
export function tail(text: string, lines: number): string {
  const all = text.replace(/\s+$/, '').split('\n')
  return all.slice(Math.max(0, all.length - lines)).join('\n')
}
