import * as fs from 'fs'
import * as path from 'path'
import { Log } from './log/log'
import { STATE } from './state'

/** flake.lock as it was before the update (`content: null`: there was none). */
interface SavedLock {
  lockPath: string
  content: string | null
}

/**
 * Keeps a copy of `lockPath` in `dir` and names it in the step's state. A step stopped by a signal puts it back
 * itself (restore); one killed outright leaves that to the post step, which restores whatever copy is still
 * there. A run that ends on its own discards the copy, keeping the lock as the run left it.
 */
export function saveLock(lockPath: string, dir: string, log: Log): { restore(): void; discard(): void } {
  const saved: SavedLock = {
    lockPath: path.resolve(lockPath),
    content: fs.existsSync(lockPath) ? fs.readFileSync(lockPath, 'utf8') : null
  }
  const file = path.join(dir, 'flake.lock.saved.json')
  fs.writeFileSync(file, JSON.stringify(saved))
  log.saveState(STATE.savedLock, file)
  return {
    restore: () => restoreLockFrom(file, log),
    discard: () => fs.rmSync(file, { force: true })
  }
}

/** Puts flake.lock back from a copy saveLock made, and removes the copy; nothing when it is gone. */
function restoreLockFrom(file: string, log: Log): void {
  if (!fs.existsSync(file)) return
  const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as SavedLock
  const now = fs.existsSync(saved.lockPath) ? fs.readFileSync(saved.lockPath, 'utf8') : null
  if (now !== saved.content) {
    if (saved.content === null) fs.rmSync(saved.lockPath, { force: true })
    else fs.writeFileSync(saved.lockPath, saved.content)
    log.info(`Restored ${saved.lockPath} as it was before the update`)
  }
  fs.rmSync(file, { force: true })
}

/**
 * Removes what the main step left on the runner (its work directory, the signing key), even after a failure,
 * after putting flake.lock back if the main step was stopped before it could.
 */
export function cleanup(log: Log): void {
  const saved = log.getState(STATE.savedLock)
  if (saved) restoreLockFrom(saved, log)
  const dirs = (log.getState(STATE.cleanupDirs) || '').split('\n').filter(Boolean)
  for (const dir of dirs) {
    fs.rmSync(dir, { recursive: true, force: true })
    log.info(`Removed ${dir}`)
  }
}
