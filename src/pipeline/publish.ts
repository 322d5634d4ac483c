import * as path from 'path'
import { Forge, PullRequest } from '../forge/forge'
import { MergeMethodError } from '../forge/merge'
import { ForeignCommit, Git, TRAILER } from '../git/git'
import { REMOTE, pushCredentials } from '../git/credentials'
import { Log } from '../log/log'
import { LockChange, lockDate } from '../nix/lock'
import { Settings } from '../settings'
import { defuse } from '../inert'
import { errorMessage } from '../errors'
import { checkHeadOnBase } from './checkout'
import { assignPeople } from './people'
import { commitThroughApi } from './api-commit'
import { isApiCommitter } from '../forge/api-commit'

export type PullOperation = 'created' | 'updated' | 'unchanged' | 'none'

export interface PublishResult {
  branch: string
  commit?: string
  pushed: boolean
  prNumber?: number
  prUrl?: string
  operation: PullOperation
}

/**
 * Publishing failed after something was already done (the branch pushed, maybe the pull request opened): the
 * result says what, so that the step's outputs still name the pushed commit and branch.
 */
export class PublishError extends Error {
  constructor(
    message: string,
    readonly result: PublishResult,
    readonly cause?: unknown
  ) {
    super(message)
  }
}

/** Where a branch of the remote is fetched to: the checkout's own branches and remote refs stay as they are. */
export function baseTrackingRef(branch: string): string {
  return `refs/nixos-fleet-update/${branch}`
}

/**
 * Before anything is built: fetches the base branch from the remote (the whole history, in a shallow clone) and
 * fails when the checked-out commit has commits the base lacks. A checkout without the remote cannot publish
 * at all; publishing then fails with its own message.
 */
export async function checkCheckoutOnBase(
  git: Git,
  head: string,
  settings: Settings,
  log: Log
): Promise<void> {
  const remoteUrl = await git.remoteUrl(REMOTE)
  if (!remoteUrl) return
  const g = git.withEnv(await pushCredentials(git, remoteUrl, settings.token, s => log.mask(s)))
  const base = settings.baseBranch
  const why = `to check that the checkout has no commits that '${base}' lacks`
  const remoteBase = await g.remoteBranchSha(REMOTE, base)
  if (!remoteBase) {
    throw new Error(
      `The base branch '${base}' does not exist on ${REMOTE}: cannot compare the checkout with it`
    )
  }
  try {
    await g.fetchBranches(REMOTE, [base], await g.isShallow())
  } catch (e) {
    throw new Error(`Fetching '${base}' from ${REMOTE} ${why} failed: ${(e as Error).message}`)
  }
  await checkHeadOnBase(g, head, base, baseTrackingRef(base))
}

/**
 * The commit message: the subject, the changed inputs with old → new revisions (added and removed inputs marked
 * `(new)` and `(removed)`), and the trailer. Input names come from flakes (nested ones from upstream's): defused,
 * as a closing keyword in a commit on the default branch acts.
 */
export function commitMessage(
  subject: string,
  changes: LockChange[],
  options: { created?: boolean } = {}
): string {
  const { heading, lines } = changeLines(changes, options.created)
  return `${subject}\n\n${lines.length > 0 ? `${heading}\n${lines.join('\n')}\n\n` : ''}${TRAILER}\n`
}

/** The changed inputs, a line each, and the heading they go under. */
function changeLines(changes: LockChange[], created?: boolean): { heading: string; lines: string[] } {
  const rev = (r?: string): string => (r ? r.slice(0, 12) : '–')
  const lines = changes.map(c => {
    const o = rev(c.old?.rev ?? c.old?.narHash)
    const n = rev(c.new?.rev ?? c.new?.narHash)
    const [od, nd] = [lockDate(c.old?.lastModified), lockDate(c.new?.lastModified)]
    if (!c.old) return `- ${defuse(c.input)} (new): ${n}${nd ? ` (${nd})` : ''}`
    if (!c.new) return `- ${defuse(c.input)} (removed): was ${o}${od ? ` (${od})` : ''}`
    return `- ${defuse(c.input)}: ${o} → ${n}${od || nd ? ` (${od ?? '–'} → ${nd ?? '–'})` : ''}`
  })
  return { heading: created ? 'Lock file created; locked inputs:' : 'Updated inputs:', lines }
}

/** The commit message of several flakes' locks: one list of changed inputs per flake, under its directory. */
export function severalLocksMessage(subject: string, locks: LockUpdate[]): string {
  const body = locks.map(l => {
    const { heading, lines } = changeLines(l.changes, l.created)
    const what = heading.charAt(0).toLowerCase() + heading.slice(1)
    return `${defuse(l.label ?? l.flakeDir)}: ${lines.length > 0 ? `${what}\n${lines.join('\n')}` : 'rewritten'}`
  })
  return `${subject}\n\n${body.join('\n\n')}\n\n${TRAILER}\n`
}

function describeForeign(branch: string, commits: ForeignCommit[]): string {
  const list = commits
    .slice(0, 10)
    .map(c => `  ${c.sha.slice(0, 12)} ${c.author}: ${c.subject}`)
    .join('\n')
  return `Branch '${branch}' holds commits this action did not make; it is not overwritten:\n${list}${commits.length > 10 ? `\n  … ${commits.length - 10} more` : ''}\nMerge or delete the branch, or choose another 'branch'.`
}

/** One flake's new lock file. */
export interface LockUpdate {
  /** Absolute path of the flake's directory. */
  flakeDir: string
  newLock: string
  changes: LockChange[]
  /** The commit had no flake.lock: this one creates it. */
  created?: boolean
  /** How the commit message names the flake, when there are several (its directory). */
  label?: string
}

export interface PublishInput {
  settings: Settings
  /** Every flake's lock, committed together (one flake: one entry). */
  locks: LockUpdate[]
  body: string
  signingKeyFile?: string
  /** An OpenPGP key's keyring (see openPgpHome), instead of signingKeyFile. */
  openPgp?: { gitConfig: string[]; home: string }
  scratchDir: string
  log: Log
}

/**
 * Commits the new flake.lock on the update branch (never the base branch), pushes it only over the action's own
 * commits, and creates or updates the one open pull request for the branch.
 */
export async function publish(git: Git, forge: Forge, input: PublishInput): Promise<PublishResult> {
  const { settings } = input
  const branch = settings.branch
  if (branch === settings.baseBranch) throw new Error(`Refusing to write to the base branch '${branch}'`)
  const top = await git.topLevel()
  const files = input.locks.map(l => ({
    path: path.relative(top, path.join(l.flakeDir, 'flake.lock')).split(path.sep).join('/'),
    content: l.newLock
  }))
  if (files.length === 0) throw new Error('No lock file to commit')
  const remoteUrl = await git.remoteUrl(REMOTE)
  if (!remoteUrl) throw new Error(`The checkout in ${top} has no remote '${REMOTE}' to push to`)
  const g = git.withEnv(await pushCredentials(git, remoteUrl, settings.token, s => input.log.mask(s)))

  const head = await g.output(['rev-parse', 'HEAD'])
  const remoteBase = await g.remoteBranchSha(REMOTE, settings.baseBranch)
  if (!remoteBase) throw new Error(`The base branch '${settings.baseBranch}' does not exist on ${REMOTE}`)
  const remoteBranch = await g.remoteBranchSha(REMOTE, branch)
  await g.fetchBranches(
    REMOTE,
    remoteBranch ? [settings.baseBranch, branch] : [settings.baseBranch],
    await g.isShallow()
  )
  const baseRef = baseTrackingRef(settings.baseBranch)
  const isAncestor = async (a: string, b: string): Promise<boolean> =>
    (await g.exec(['merge-base', '--is-ancestor', a, b])).exitCode === 0
  // Checked before building too; the base may have been rewritten since.
  await checkHeadOnBase(g, head, settings.baseBranch, baseRef)

  let commit: string | undefined
  let pushed = false
  if (remoteBranch) {
    const commits = await g.commitsBetween(baseRef, remoteBranch)
    const foreign = commits.filter(c => !c.body.split('\n').includes(TRAILER))
    if (foreign.length > 0) throw new Error(describeForeign(branch, foreign))
    let same = commits.length > 0 && (await isAncestor(head, remoteBranch))
    for (const f of files) {
      if (!same) break
      const newBlob = await g.output(['hash-object', '--stdin'], { input: f.content })
      same = (await g.blobAt(remoteBranch, f.path)) === newBlob
    }
    if (same) {
      input.log.info(
        `Branch '${branch}' already holds ${files.length === 1 ? 'this flake.lock' : 'these lock files'}: nothing to push`
      )
      commit = remoteBranch
    }
  }
  if (!commit) {
    const message =
      input.locks.length === 1
        ? commitMessage(settings.commitMessage, input.locks[0].changes, { created: input.locks[0].created })
        : severalLocksMessage(settings.commitMessage, input.locks)
    if (settings.commitViaApi) {
      if (!isApiCommitter(forge)) throw new Error("Input 'commit-via-api' needs GitHub's API")
      const made = await commitThroughApi(g, forge, {
        parent: head,
        files,
        message,
        remote: REMOTE
      })
      for (const warning of made.warnings) input.log.warning(warning)
      commit = made.commit
    } else {
      commit = await g.commitFiles({
        parent: head,
        files,
        message,
        identity: { name: settings.gitUserName, email: settings.gitUserEmail },
        signingKeyFile: input.signingKeyFile,
        openPgp: input.openPgp,
        indexFile: path.join(input.scratchDir, 'index')
      })
    }
    const r = await g.pushWithLease(REMOTE, commit, branch, remoteBranch)
    if (r.exitCode !== 0) {
      const why = `${r.stdout}\n${r.stderr}`.trim()
      const moved = /stale info|fetch first|non-fast-forward|rejected/.test(why)
      throw new Error(
        `Pushing '${branch}' failed${moved ? ': the branch changed on the remote since it was fetched; run again' : ''}:\n${why.split('\n').slice(-8).join('\n')}`
      )
    }
    pushed = true
    input.log.info(`Pushed ${commit.slice(0, 12)} to '${branch}'`)
  }

  const pushedResult: PublishResult = { branch, commit, pushed, operation: 'none' }
  try {
    return await openPull(forge, input, pushedResult)
  } catch (e) {
    if (e instanceof PublishError) throw e
    throw new PublishError(errorMessage(e), pushedResult, e)
  }
}

/**
 * Creates or updates the pull request, adds labels, reviewers and assignees, asks for auto-merge. Labels (and
 * reviewers and assignees) are added when the pull request
 * is created and whenever this run pushed a new commit to its branch, never on a run that changed nothing, so
 * a label someone removed on purpose stays removed until the next update.
 */
async function openPull(forge: Forge, input: PublishInput, pushed: PublishResult): Promise<PublishResult> {
  const { settings } = input
  const existing = await forge.findOpenPull(pushed.branch, settings.baseBranch)
  let operation: PullOperation
  let pull: PullRequest
  if (existing) {
    pull = existing
    if (existing.title !== settings.prTitle || existing.body !== input.body || pushed.pushed) {
      pull = await forge.updatePull(existing.number, settings.prTitle, input.body)
      operation = 'updated'
    } else operation = 'unchanged'
  } else {
    const r = await forge.createPull({
      head: pushed.branch,
      base: settings.baseBranch,
      title: settings.prTitle,
      body: input.body
    })
    pull = r.pull
    if (r.created) operation = 'created'
    else {
      pull = await forge.updatePull(pull.number, settings.prTitle, input.body)
      operation = 'updated'
    }
  }
  const result: PublishResult = { ...pushed, prNumber: pull.number, prUrl: pull.url, operation }
  if (settings.prLabels.length > 0 && (operation === 'created' || pushed.pushed)) {
    try {
      await forge.addLabels(pull.number, settings.prLabels)
    } catch (e) {
      // The pull request stands; a token without the labels' scope must not fail the run.
      input.log.warning(`Labels not added to #${pull.number}: ${errorMessage(e)}`)
    }
  }
  if (operation === 'created' || pushed.pushed) {
    const people = await assignPeople(forge, pull.number, {
      reviewers: settings.prReviewers,
      assignees: settings.prAssignees
    })
    for (const warning of people.warnings) input.log.warning(warning)
  }
  if (settings.autoMerge) {
    try {
      const method = await forge.enableAutoMerge(pull, settings.mergeMethod)
      input.log.info(
        `Auto-merge requested for #${pull.number}${method ? ` (${method})` : " (the forge's default method)"}`
      )
    } catch (e) {
      // A method the repository forbids is a setting to fix; a refusal by the forge is reported and the run goes on.
      if (e instanceof MergeMethodError) throw new PublishError(e.message, result, e)
      input.log.warning(errorMessage(e))
    }
  }
  return result
}
