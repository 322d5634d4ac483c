import { spawnSync } from 'child_process'
import * as io from '@actions/io'
import { ExecResult, childEnv, runProcess, tail } from '../exec'
import { redactUrl } from '../redact'

export interface GitIdentity {
  name: string
  email: string
}

/** A commit on the update branch that this action did not make. */
export interface ForeignCommit {
  sha: string
  author: string
  subject: string
}

/** The trailer that marks the action's own commits, so a rerun knows which branch commits it may replace. */
export const TRAILER = 'Update-Tool: nixos-fleet-update'

/** Bounds for every git call that talks to a remote. */
export interface NetworkLimits {
  /** Bytes per second below which an HTTP transfer counts as stalled (`http.lowSpeedLimit`). */
  lowSpeedLimit: number
  /** Seconds an HTTP transfer may stay stalled before git gives up (`http.lowSpeedTime`). */
  lowSpeedTime: number
  /** Seconds the whole call may take, whatever the transport (SSH has no low-speed limit). */
  timeout: number
}

export const NETWORK_LIMITS: NetworkLimits = { lowSpeedLimit: 1000, lowSpeedTime: 60, timeout: 600 }

/** Every git call goes through here: arguments as an array, credentials only through the environment. */
export class Git {
  private constructor(
    private readonly bin: string,
    readonly cwd: string,
    private readonly env: Record<string, string>,
    private readonly limits: NetworkLimits
  ) {}

  static async create(
    cwd: string,
    env: Record<string, string> = {},
    limits: NetworkLimits = NETWORK_LIMITS
  ): Promise<Git> {
    const bin = await io.which('git', false)
    if (!bin) throw new Error('git was not found on PATH: install git before this step')
    // A missing credential must fail, not wait for someone to type a password.
    return new Git(bin, cwd, { GIT_TERMINAL_PROMPT: '0', GCM_INTERACTIVE: 'never', ...env }, limits)
  }

  /** A runner with extra environment (e.g. credentials as GIT_CONFIG_* variables, never as arguments). */
  withEnv(env: Record<string, string>): Git {
    return new Git(this.bin, this.cwd, { ...this.env, ...env }, this.limits)
  }

  async exec(
    args: string[],
    options: { input?: string; env?: Record<string, string>; timeoutSeconds?: number } = {}
  ): Promise<ExecResult> {
    return runProcess(this.bin, args, {
      cwd: this.cwd,
      env: { ...this.env, ...options.env },
      input: options.input,
      timeoutMs: options.timeoutSeconds === undefined ? undefined : options.timeoutSeconds * 1000
    })
  }

  /**
   * Runs a git command that talks to `remote`. Redirects are not followed: git would send the credentials (an
   * extra header) on to wherever the redirect points. A stalled HTTP transfer ends after the low-speed time, and
   * every transport after the time-out. A failure of the transport (not a refusal by the remote, which the
   * caller judges) throws, naming the operation and the remote.
   */
  private async remoteExec(operation: string, remote: string, args: string[]): Promise<ExecResult> {
    const l = this.limits
    const r = await this.exec(
      [
        '-c',
        'http.followRedirects=false',
        '-c',
        `http.lowSpeedLimit=${l.lowSpeedLimit}`,
        '-c',
        `http.lowSpeedTime=${l.lowSpeedTime}`,
        ...args
      ],
      { timeoutSeconds: l.timeout }
    )
    const where = (): Promise<string> => this.describeRemote(remote)
    const said = tail(r.stderr.trim() || r.stdout.trim(), 5)
    if (r.timedOut) {
      throw new Error(
        `git ${operation} with ${await where()} did not finish within ${l.timeout} s and was stopped${said ? `:\n${said}` : ''}`
      )
    }
    if (r.exitCode === 0) return r
    const redirect = /returned error: (30[1278])/.exec(r.stderr)
    if (redirect) {
      throw new Error(
        `git ${operation} with ${await where()}: the remote answered with a redirect (HTTP ${redirect[1]}), which is not followed so that the credentials stay with that host; set the remote's URL to the address it redirects to`
      )
    }
    if (/Operation too slow|Operation timed out|Connection timed out/.test(r.stderr)) {
      throw new Error(
        `git ${operation} with ${await where()} stalled (less than ${l.lowSpeedLimit} bytes/s for ${l.lowSpeedTime} s, or no connection):\n${said}`
      )
    }
    return r
  }

  /** remoteExec for a command whose failure is always an error: its trimmed stdout, or an error naming the remote. */
  private async remoteOut(operation: string, remote: string, args: string[]): Promise<string> {
    const r = await this.remoteExec(operation, remote, args)
    if (r.exitCode !== 0) {
      throw new Error(
        `git ${operation} failed (exit ${r.exitCode}) with ${await this.describeRemote(remote)}: ${tail(r.stderr.trim() || r.stdout.trim(), 10)}`
      )
    }
    return r.stdout.trim()
  }

  /** `remote 'origin' (https://host/owner/repo.git)`, without credentials. */
  private async describeRemote(remote: string): Promise<string> {
    const url = await this.remoteUrl(remote)
    return `remote '${remote}'${url && url !== remote ? ` (${redactUrl(url)})` : ''}`
  }

  /** Runs git and returns its trimmed stdout; a failure throws with git's own message. */
  async output(
    args: string[],
    options: { input?: string; env?: Record<string, string> } = {}
  ): Promise<string> {
    const r = await this.exec(args, options)
    if (r.exitCode !== 0) {
      throw new Error(
        `git ${args[0]} failed (exit ${r.exitCode}): ${tail(r.stderr.trim() || r.stdout.trim(), 10)}`
      )
    }
    return r.stdout.trim()
  }

  async topLevel(): Promise<string> {
    return this.output(['rev-parse', '--show-toplevel'])
  }

  async remoteUrl(remote: string): Promise<string | undefined> {
    const r = await this.exec(['remote', 'get-url', remote])
    return r.exitCode === 0 ? r.stdout.trim() : undefined
  }

  /** The sha of a branch on the remote, or undefined when it does not exist there. */
  async remoteBranchSha(remote: string, branch: string): Promise<string | undefined> {
    const out = await this.remoteOut('ls-remote', remote, [
      'ls-remote',
      '--heads',
      remote,
      `refs/heads/${branch}`
    ])
    const line = out.split('\n').find(l => l.endsWith(`\trefs/heads/${branch}`))
    return line ? line.split('\t')[0] : undefined
  }

  async isShallow(): Promise<boolean> {
    return (await this.output(['rev-parse', '--is-shallow-repository'])) === 'true'
  }

  /** Fetches branches into refs/nixos-fleet-update/*, leaving the checkout's own refs alone. */
  async fetchBranches(remote: string, branches: string[], unshallow: boolean): Promise<void> {
    const refspecs = branches.map(b => `+refs/heads/${b}:refs/nixos-fleet-update/${b}`)
    await this.remoteOut('fetch', remote, [
      'fetch',
      '--no-tags',
      '--quiet',
      ...(unshallow ? ['--unshallow'] : []),
      remote,
      ...refspecs
    ])
  }

  /** Commits in `from..to`, with their author and subject. */
  async commitsBetween(
    from: string,
    to: string
  ): Promise<{ sha: string; author: string; subject: string; body: string }[]> {
    const out = await this.output(['log', '--format=%H%x1f%an <%ae>%x1f%s%x1f%b%x1e', `${from}..${to}`])
    return out
      .split('\x1e')
      .map(s => s.trim())
      .filter(Boolean)
      .map(s => {
        const [sha, author, subject, body] = s.split('\x1f')
        return { sha, author, subject, body: body ?? '' }
      })
  }

  /**
   * Which of `paths` (relative to the working directory) differ from the checked-out commit: modified, staged,
   * deleted or untracked.
   */
  async changedFiles(paths: string[]): Promise<string[]> {
    const out = await this.exec(['status', '--porcelain=v1', '-z', '--untracked-files=all', '--', ...paths])
    if (out.exitCode !== 0) {
      throw new Error(`git status failed (exit ${out.exitCode}): ${tail(out.stderr.trim(), 10)}`)
    }
    // Each entry is `XY path`; a rename adds the old path as its own NUL-terminated field.
    const fields = out.stdout.split('\0')
    const files: string[] = []
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]
      if (f.length < 4) continue
      files.push(f.slice(3))
      if (f[0] === 'R' || f[0] === 'C') i++
    }
    return files
  }

  /** A file's content in a commit (a path relative to the working directory), or undefined when it has none. */
  async fileAt(commit: string, file: string): Promise<string | undefined> {
    const blob = await this.blobAt(commit, `./${file}`)
    if (!blob) return undefined
    const r = await this.exec(['cat-file', 'blob', blob])
    if (r.exitCode !== 0) throw new Error(`git cat-file failed for ${commit}:${file}: ${tail(r.stderr, 5)}`)
    return r.stdout
  }

  /** Whether the index has an entry for the path (relative to the working directory). */
  async inIndex(file: string): Promise<boolean> {
    const r = await this.exec(['ls-files', '--cached', '-z', '--', file])
    return r.exitCode === 0 && r.stdout !== ''
  }

  /**
   * Drops the index entry of a path (relative to the working directory), leaving the file alone; nothing when
   * there is none. Synchronous, for cleanup that runs from a signal handler.
   */
  unstageSync(file: string): void {
    const r = spawnSync(this.bin, ['rm', '--cached', '--quiet', '--ignore-unmatch', '--', file], {
      cwd: this.cwd,
      env: childEnv(process.env, this.env),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe']
    })
    if (r.status !== 0)
      throw new Error(`git rm --cached ${file} failed: ${tail(r.stderr ?? String(r.error), 5)}`)
  }

  /** The blob id of a file in a commit, or undefined when the file is not there. */
  async blobAt(commit: string, file: string): Promise<string | undefined> {
    const r = await this.exec(['rev-parse', '--verify', '--quiet', `${commit}:${file}`])
    return r.exitCode === 0 ? r.stdout.trim() : undefined
  }

  /**
   * A commit on top of `parent` whose tree is the parent's with one file replaced, built with plumbing in a
   * private index: the work tree, the user's index and every other file stay as they are.
   */
  async commitFiles(options: {
    parent: string
    /** Paths from the repository's root, and what each holds in the commit. */
    files: { path: string; content: string }[]
    message: string
    identity: GitIdentity
    signingKeyFile?: string
    /** An OpenPGP key in a keyring of its own: git's options for it and the keyring's GNUPGHOME. */
    openPgp?: { gitConfig: string[]; home: string }
    indexFile: string
  }): Promise<string> {
    const indexEnv = { GIT_INDEX_FILE: options.indexFile }
    await this.output(['read-tree', options.parent], { env: indexEnv })
    for (const f of options.files) {
      const blob = await this.output(['hash-object', '-w', '--stdin'], { input: f.content })
      await this.output(['update-index', '--add', '--cacheinfo', `100644,${blob},${f.path}`], {
        env: indexEnv
      })
    }
    const tree = await this.output(['write-tree'], { env: indexEnv })
    const identityEnv = {
      GIT_AUTHOR_NAME: options.identity.name,
      GIT_AUTHOR_EMAIL: options.identity.email,
      GIT_COMMITTER_NAME: options.identity.name,
      GIT_COMMITTER_EMAIL: options.identity.email
    }
    const signing = options.openPgp
      ? options.openPgp.gitConfig
      : options.signingKeyFile
        ? ['-c', 'gpg.format=ssh', '-c', `user.signingKey=${options.signingKeyFile}`]
        : ['-c', 'commit.gpgSign=false']
    const signs = options.openPgp !== undefined || options.signingKeyFile !== undefined
    return this.output(
      [...signing, 'commit-tree', tree, '-p', options.parent, ...(signs ? ['-S'] : []), '-F', '-'],
      {
        input: options.message,
        env: options.openPgp ? { ...identityEnv, GNUPGHOME: options.openPgp.home } : identityEnv
      }
    )
  }

  /**
   * Pushes `sha` to the branch only if the remote branch is still at `expected` (undefined: must not exist yet),
   * so a branch that moved since it was fetched is never overwritten.
   */
  async pushWithLease(
    remote: string,
    sha: string,
    branch: string,
    expected: string | undefined
  ): Promise<ExecResult> {
    return this.remoteExec('push', remote, [
      'push',
      '--porcelain',
      `--force-with-lease=refs/heads/${branch}:${expected ?? ''}`,
      remote,
      `${sha}:refs/heads/${branch}`
    ])
  }
}
