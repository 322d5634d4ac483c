import * as fs from 'fs'
import * as path from 'path'
import { errorMessage } from '../errors'
import { Forge } from '../forge/forge'
import { Git } from '../git/git'
import { InputError, Settings } from '../settings'
import { REMOTE, pushCredentials } from '../git/credentials'
import { makeForge } from '../forge/connect'
import { Log } from '../log/log'

/**
 * OWNER/NAME from a remote URL: `https://host/owner/name(.git)`, `ssh://git@host:22/owner/name.git`,
 * `git@host:owner/name.git`. Undefined for a local path or a URL with fewer than two path segments.
 */
export function repositoryFromRemote(url: string): string | undefined {
  let pathPart: string
  const scp = /^[^/@:]+@[^/:]+:(.+)$/.exec(url)
  if (scp) pathPart = scp[1]
  else {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      return undefined
    }
    if (!['http:', 'https:', 'ssh:', 'git:'].includes(parsed.protocol)) return undefined
    pathPart = decodeURIComponent(parsed.pathname)
  }
  const segments = pathPart
    .replace(/\/+$/, '')
    .replace(/\.git$/, '')
    .split('/')
    .filter(s => s !== '')
  if (segments.length < 2) return undefined
  const [owner, name] = segments.slice(-2)
  return /^[^\s/]+$/.test(owner) && /^[^\s/]+$/.test(name) ? `${owner}/${name}` : undefined
}

/** A way to check the signing key before anything is built; throws an InputError saying what is wrong. */
export type SigningKeyCheck = (key: string, scratchDir: string, passphrase: string) => Promise<unknown>

export interface PublishTarget {
  forge: Forge
  /** OWNER/NAME, from GITHUB_REPOSITORY or the remote's URL. */
  repository: string
}

/**
 * Checks everything a publishing run needs before anything is built: a token, a git checkout with a remote to
 * push to, the repository (GITHUB_REPOSITORY, else the remote's URL), where the forge's API is, a usable
 * signing key, and the runner's files for outputs and state. Every problem is named at once, so that a long
 * build cannot end in "Input 'token' is empty".
 */
export async function preflightPublish(
  settings: Settings,
  env: NodeJS.ProcessEnv,
  options: { scratchDir: string; checkSigningKey?: SigningKeyCheck; log: Log }
): Promise<PublishTarget> {
  const problems: string[] = []
  if (!settings.token) {
    problems.push("Input 'token' is empty: pushing the branch and opening the pull request need a token")
  }
  let remoteUrl: string | undefined
  try {
    const git = await Git.create(settings.flakeDir)
    const top = await git.topLevel()
    remoteUrl = await git.remoteUrl(REMOTE)
    if (!remoteUrl) problems.push(`The checkout in ${top} has no remote '${REMOTE}' to push the branch to`)
    else if (settings.token) {
      // The remote answers, with the credentials publishing will use, and has the base branch.
      const g = git.withEnv(await pushCredentials(git, remoteUrl, settings.token, s => options.log.mask(s)))
      try {
        if (!(await g.remoteBranchSha(REMOTE, settings.baseBranch))) {
          problems.push(
            `The base branch '${settings.baseBranch}' does not exist on ${REMOTE}: set 'base-branch' to the branch the pull request targets`
          )
        }
      } catch (e) {
        problems.push(errorMessage(e))
      }
    }
  } catch (e) {
    problems.push(
      `${settings.flakeDir} is not in a git checkout, which publishing commits to: ${errorMessage(e)}`
    )
  }
  let repository = env.GITHUB_REPOSITORY || (remoteUrl ? repositoryFromRemote(remoteUrl) : undefined)
  if (!repository) {
    problems.push(
      `GITHUB_REPOSITORY is not set${remoteUrl ? ` and the remote's URL names no OWNER/NAME` : ''}: publishing needs the repository as OWNER/NAME`
    )
    repository = ''
  }
  let forge: Forge | undefined
  if (settings.token && repository) {
    try {
      forge = makeForge(settings, { ...env, GITHUB_REPOSITORY: repository }, options.log)
    } catch (e) {
      problems.push(errorMessage(e))
    }
  }
  if (settings.signingKey && options.checkSigningKey) {
    try {
      await options.checkSigningKey(settings.signingKey, options.scratchDir, settings.signingKeyPassphrase)
    } catch (e) {
      problems.push(errorMessage(e))
    }
  }
  if (problems.length > 0 || !forge) {
    throw new InputError(
      `Publishing is not possible, so nothing was built:\n${problems.map(p => `- ${p}`).join('\n')}`
    )
  }
  return { forge, repository }
}

/**
 * The runner's files (GITHUB_OUTPUT, GITHUB_STATE, GITHUB_STEP_SUMMARY) must be writable before the work starts:
 * @actions/core refuses a missing GITHUB_OUTPUT file only when the first output is written, after everything.
 */
export function runnerFileProblems(env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = []
  for (const name of ['GITHUB_OUTPUT', 'GITHUB_STATE', 'GITHUB_STEP_SUMMARY']) {
    const file = env[name]
    if (!file) continue
    // The summary is appended to, which creates it; outputs and state must exist, as the runner makes them.
    const target = name === 'GITHUB_STEP_SUMMARY' && !fs.existsSync(file) ? path.dirname(file) : file
    try {
      if (target === file && !fs.statSync(file).isFile()) throw new Error('not a file')
      fs.accessSync(target, fs.constants.W_OK)
    } catch (e) {
      const why =
        (e as NodeJS.ErrnoException).code === 'ENOENT'
          ? 'does not exist'
          : `cannot be written (${errorMessage(e)})`
      problems.push(`${name} is ${file}, which ${why}`)
    }
  }
  return problems
}
