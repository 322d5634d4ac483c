import * as fs from 'fs'
import * as path from 'path'
import { tail } from '../exec'
import { Git } from '../git/git'
import { LockChange, compareLocks } from '../nix/lock'
import { Nix } from '../nix/nix'
import { stripWarnings } from '../nix/stderr'
import { resolveInputSelection } from './input-selection'

export interface UpdateResult {
  /** Did flake.lock's content change (a lock file created where the commit had none counts). */
  changed: boolean
  /** The checked-out commit had no flake.lock; this run created it. */
  created: boolean
  oldLock: string
  newLock: string
  /** Inputs whose locked revision changed, old → new. */
  changes: LockChange[]
  /** Top-level names of the changed inputs (nested inputs as `parent/child`). */
  updatedInputs: string[]
}

/**
 * Runs `nix flake update` for all or the selected inputs (`update-inputs` entries, `!name` for all but those) and compares the lock file with `oldLock`, the one of the
 * checked-out commit (undefined: the commit has none), read before anything evaluated the flake.
 */
export async function updateLock(
  nix: Nix,
  flakeDir: string,
  inputs: string[],
  committedLock: string | undefined,
  several = false
): Promise<UpdateResult> {
  const lockPath = path.join(flakeDir, 'flake.lock')
  const oldLock = committedLock ?? ''
  const names = resolveInputSelection(inputs, committedLock, lockPath, several)
  if (names === undefined) {
    // One flake of several that has none of the inputs asked for: its lock stays as it is.
    return { changed: false, created: false, oldLock, newLock: oldLock, changes: [], updatedInputs: [] }
  }
  const r = await nix.updateLock(flakeDir, names)
  if (r.exitCode !== 0) {
    throw new Error(
      `Updating ${lockPath} failed (nix exit code ${r.exitCode}):\n${tail(stripWarnings(r.stderr), 30)}`
    )
  }
  const newLock = fs.existsSync(lockPath) ? fs.readFileSync(lockPath, 'utf8') : ''
  if (newLock === oldLock)
    return { changed: false, created: false, oldLock, newLock, changes: [], updatedInputs: [] }
  const changes = compareLocks(oldLock || '{"nodes":{"root":{}},"root":"root","version":7}', newLock)
  return {
    changed: true,
    created: committedLock === undefined && newLock !== '',
    oldLock,
    newLock,
    changes,
    updatedInputs: changes.map(c => c.input)
  }
}

/**
 * Puts the lock file back as it was (dry runs leave the checkout untouched). Nix stages a lock file it creates
 * (`git add --intent-to-add`); that entry goes too when the index had none before. Synchronous: it also runs
 * from a signal handler.
 */
export function restoreLock(
  flakeDir: string,
  oldLock: string,
  index?: { git: Git; hadEntry: boolean }
): void {
  const lockPath = path.join(flakeDir, 'flake.lock')
  if (oldLock === '') fs.rmSync(lockPath, { force: true })
  else fs.writeFileSync(lockPath, oldLock)
  if (index && !index.hadEntry) index.git.unstageSync('flake.lock')
}
