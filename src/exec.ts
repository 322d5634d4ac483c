import * as exec from '@actions/exec'

export interface ExecResult {
  stdout: string
  stderr: string
  exitCode: number
}

export interface RunOptions {
  cwd?: string
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
 * Runs a program with an argument array (never through a shell) and captures its output.
 * A non-zero exit is returned, not thrown: callers decide what a failure means.
 */
export async function run(file: string, args: string[], options: RunOptions = {}): Promise<ExecResult> {
  processCounter.count++
  let stdout = ''
  let stderr = ''
  const exitCode = await exec.exec(file, args, {
    cwd: options.cwd,
    // Always the process's current environment, with the extra variables: what a caller set in process.env
    // reaches the child even where process.env is not the environment the process started with.
    env: { ...stringEnv(process.env), ...options.env },
    ignoreReturnCode: true,
    silent: true,
    input: options.input === undefined ? undefined : Buffer.from(options.input),
    listeners: {
      stdout: (data: Buffer) => {
        const text = data.toString()
        stdout += text
        if (options.streamStdout) process.stdout.write(text)
      },
      stderr: (data: Buffer) => {
        const text = data.toString()
        stderr += text
        if (options.streamStderr) process.stdout.write(text)
      }
    }
  })
  return { stdout, stderr, exitCode }
}

function stringEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v
  return out
}

/** The last `lines` lines of a text, without trailing blank lines. */
export function tail(text: string, lines: number): string {
  const all = text.replace(/\s+$/, '').split('\n')
  return all.slice(Math.max(0, all.length - lines)).join('\n')
}
