import { Log } from './log/log'

/**
 * What the main step hands to the `post:` step (the runner passes it as STATE_* variables). One bundle serves
 * both steps: the post step is the run that finds `isPost` saved (as actions/checkout does).
 */
export const STATE = {
  /** Set by the main step as it starts, so the same bundle knows it runs as the post step. */
  isPost: 'isPost',
  /** Directories (work directory, key files) that the post step removes. */
  cleanupDirs: 'cleanup-dirs',
  /** A copy of flake.lock from before the update, that the post step puts back if it is still there. */
  savedLock: 'saved-lock'
} as const

/** True when this run of the bundle is the `post:` step. */
export function isPostStep(log: Log): boolean {
  return log.getState(STATE.isPost) === 'true'
}

/** Marks the main step as started: the bundle's next run in this job is the post step. */
export function markMainStep(log: Log): void {
  log.saveState(STATE.isPost, 'true')
}
