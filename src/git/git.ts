import * as io from '@actions/io'
import { ExecResult, run, tail } from '../exec'

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

/** Every git call goes through here: arguments as an array, credentials only through the environment. */
export class Git {
  private constructor(
    private readonly bin: string,
    readonly cwd: string,
    private readonly env: Record<string, string>
  ) {}

  static async create(cwd: string, env: Record<string, string> = {}): Promise<Git> {
    const bin = await io.which('git', false)
    if (!bin) throw new Error('git was not found on PATH: install git before this step')
    // A missing credential must fail, not wait for someone to type a password.
    return new Git(bin, cwd, { GIT_TERMINAL_PROMPT: '0', GCM_INTERACTIVE: 'never', ...env })
  }

  /** A runner with extra environment (e.g. credentials as GIT_CONFIG_* variables, never as arguments). */
  withEnv(env: Record<string, string>): Git {
    return new Git(this.bin, this.cwd, { ...this.env, ...env })
  }

  async exec(
    args: string[],
    options: { input?: string; env?: Record<string, string> } = {}
  ): Promise<ExecResult> {
    return run(this.bin, args, { cwd: this.cwd, env: { ...this.env, ...options.env }, input: options.input })
  }

  /** Runs git and returns its trimmed stdout; a failure throws with git's own message. */
  async out(args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<string> {
    const r = await this.exec(args, options)
    if (r.exitCode !== 0) {
      throw new Error(
        `git ${args[0]} failed (exit ${r.exitCode}): ${tail(r.stderr.trim() || r.stdout.trim(), 10)}`
      )
    }
    return r.stdout.trim()
  }

  async topLevel(): Promise<string> {
    return this.out(['rev-parse', '--show-toplevel'])
  }

  async remoteUrl(remote: string): Promise<string | undefined> {
    const r = await this.exec(['remote', 'get-url', remote])
    return r.exitCode === 0 ? r.stdout.trim() : undefined
  }

  /** The sha of a branch on the remote, or undefined when it does not exist there. */
  async remoteBranchSha(remote: string, branch: string): Promise<string | undefined> {
    const out = await this.out(['ls-remote', '--heads', remote, `refs/heads/${branch}`])
    const line = out.split('\n').find(l => l.endsWith(`\trefs/heads/${branch}`))
    return line ? line.split('\t')[0] : undefined
  }

  async isShallow(): Promise<boolean> {
    return (await this.out(['rev-parse', '--is-shallow-repository'])) === 'true'
  }

  /** Fetches branches into refs/nixos-fleet-update/*, leaving the checkout's own refs alone. */
  async fetchBranches(remote: string, branches: string[], unshallow: boolean): Promise<void> {
    const refspecs = branches.map(b => `+refs/heads/${b}:refs/nixos-fleet-update/${b}`)
    await this.out([
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
    const out = await this.out(['log', '--format=%H%x1f%an <%ae>%x1f%s%x1f%b%x1e', `${from}..${to}`])
    return out
      .split('\x1e')
      .map(s => s.trim())
      .filter(Boolean)
      .map(s => {
        const [sha, author, subject, body] = s.split('\x1f')
        return { sha, author, subject, body: body ?? '' }
      })
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
  async commitFile(options: {
    parent: string
    file: string
    content: string
    message: string
    identity: GitIdentity
    signingKeyFile?: string
    indexFile: string
  }): Promise<string> {
    const blob = await this.out(['hash-object', '-w', '--stdin'], { input: options.content })
    const indexEnv = { GIT_INDEX_FILE: options.indexFile }
    await this.out(['read-tree', options.parent], { env: indexEnv })
    await this.out(['update-index', '--add', '--cacheinfo', `100644,${blob},${options.file}`], {
      env: indexEnv
    })
    const tree = await this.out(['write-tree'], { env: indexEnv })
    const identityEnv = {
      GIT_AUTHOR_NAME: options.identity.name,
      GIT_AUTHOR_EMAIL: options.identity.email,
      GIT_COMMITTER_NAME: options.identity.name,
      GIT_COMMITTER_EMAIL: options.identity.email
    }
    const signing = options.signingKeyFile
      ? ['-c', 'gpg.format=ssh', '-c', `user.signingKey=${options.signingKeyFile}`]
      : ['-c', 'commit.gpgSign=false']
    return this.out(
      [
        ...signing,
        'commit-tree',
        tree,
        '-p',
        options.parent,
        ...(options.signingKeyFile ? ['-S'] : []),
        '-F',
        '-'
      ],
      {
        input: options.message,
        env: identityEnv
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
    return this.exec([
      'push',
      '--porcelain',
      `--force-with-lease=refs/heads/${branch}:${expected ?? ''}`,
      remote,
      `${sha}:refs/heads/${branch}`
    ])
  }
}
