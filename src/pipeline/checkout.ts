import * as fs from 'fs'
import * as path from 'path'
import { InputError } from '../errors'
import { Git } from '../git/git'
import { plural } from '../report/words'

/** The flake's files as the checked-out commit has them, read before anything evaluates the flake. */
export interface CheckoutState {
  /** The git runner for the flake's repository; undefined when the flake is not in a git work tree. */
  git?: Git
  /** The checked-out commit. */
  head?: string
  /** flake.lock of the checked-out commit; undefined when the commit has none. */
  oldLock?: string
  /** Whether the index had an entry for flake.lock before the run (Nix stages a lock file it creates). */
  lockInIndex: boolean
}

export const FLAKE_FILES = ['flake.nix', 'flake.lock']

/**
 * Reads flake.lock from the checked-out commit and refuses a checkout whose flake.nix or flake.lock differ from
 * it: an earlier step's change would be diffed against the wrong base, or committed with a flake.lock that does
 * not match the committed flake.nix.
 */
export async function inspectCheckout(flakeDir: string): Promise<CheckoutState> {
  const git = await Git.create(flakeDir)
  const inside = await git.exec(['rev-parse', '--is-inside-work-tree'])
  if (inside.exitCode !== 0 || inside.stdout.trim() !== 'true') {
    // A plain directory (a local run): there is no commit to compare with, only the files.
    const lockPath = path.join(flakeDir, 'flake.lock')
    return {
      oldLock: fs.existsSync(lockPath) ? fs.readFileSync(lockPath, 'utf8') : undefined,
      lockInIndex: false
    }
  }
  const head = await git.output(['rev-parse', '--verify', 'HEAD'])
  // Paths as git prints them, relative to the repository's top: flake.nix before flake.lock.
  const changed = (await git.changedFiles(FLAKE_FILES)).sort(
    (a, b) => FLAKE_FILES.indexOf(path.basename(a)) - FLAKE_FILES.indexOf(path.basename(b))
  )
  if (changed.length > 0) {
    throw new InputError(
      `${changed.join(' and ')} in ${flakeDir} ${changed.length === 1 ? 'differs' : 'differ'} from the checked-out commit ${head.slice(0, 12)}: commit ${changed.length === 1 ? 'it' : 'them'} first, or run on a clean checkout (an earlier step of the job changed ${changed.length === 1 ? 'it' : 'them'}?)`
    )
  }
  return {
    git,
    head,
    oldLock: await git.fileAt(head, 'flake.lock'),
    lockInIndex: await git.inIndex('flake.lock')
  }
}

/**
 * Fails when `head` has commits that the base branch (as fetched into `baseRef`) does not: the pull request
 * would carry them into the base unreviewed. Being behind the base is fine.
 */
export async function checkHeadOnBase(
  git: Git,
  head: string,
  baseBranch: string,
  baseRef: string
): Promise<void> {
  const ahead = await git.commitsBetween(baseRef, head)
  if (ahead.length === 0) return
  const list = ahead
    .slice(0, 10)
    .map(c => `  ${c.sha.slice(0, 12)} ${c.subject}`)
    .join('\n')
  const more = ahead.length > 10 ? `\n  … ${ahead.length - 10} more` : ''
  throw new InputError(
    `The checked-out commit ${head.slice(0, 12)} has ${plural(ahead.length, 'commit')} that the base branch '${baseBranch}' does not; the pull request would carry ${ahead.length === 1 ? 'it' : 'them'} into '${baseBranch}' unreviewed:\n${list}${more}\nRun on a checkout of '${baseBranch}', or set 'base-branch' to the branch this checkout is on.`
  )
}
