import * as fs from 'fs'
import * as path from 'path'
import { tail } from '../exec'
import { LockChange, compareLocks, lockedInputs, rootInputNames } from '../nix/lock'
import { Nix, stripWarnings } from '../nix/nix'
import { InputError } from '../settings'

export interface UpdateResult {
  /** Did flake.lock's content change. */
  changed: boolean
  oldLock: string
  newLock: string
  /** Inputs whose locked revision changed, old → new. */
  changes: LockChange[]
  /** Top-level names of the changed inputs (nested inputs as `parent/child`). */
  updatedInputs: string[]
}

/** Runs `nix flake update` for all or the named inputs and compares the lock file's contents before and after. */
export async function updateLock(nix: Nix, flakeDir: string, inputs: string[]): Promise<UpdateResult> {
  const lockPath = path.join(flakeDir, 'flake.lock')
  const oldLock = fs.existsSync(lockPath) ? fs.readFileSync(lockPath, 'utf8') : ''
  if (inputs.length > 0 && oldLock !== '') {
    const known = rootInputNames(oldLock)
    const locked = lockedInputs(oldLock)
    const unknown = inputs.filter(i => !known.includes(i) && !locked.has(i))
    if (unknown.length > 0) {
      throw new InputError(
        `Input 'update-inputs' names ${unknown.map(i => JSON.stringify(i)).join(', ')}, not an input of ${lockPath} (it has: ${known.join(', ') || 'none'})`
      )
    }
  }
  const r = await nix.updateLock(flakeDir, inputs)
  if (r.exitCode !== 0) {
    throw new Error(
      `Updating ${lockPath} failed (nix exit code ${r.exitCode}):\n${tail(stripWarnings(r.stderr), 30)}`
    )
  }
  const newLock = fs.existsSync(lockPath) ? fs.readFileSync(lockPath, 'utf8') : ''
  if (newLock === oldLock) return { changed: false, oldLock, newLock, changes: [], updatedInputs: [] }
  const changes = compareLocks(oldLock || '{"nodes":{"root":{}},"root":"root","version":7}', newLock)
  return { changed: true, oldLock, newLock, changes, updatedInputs: changes.map(c => c.input) }
}

/** Puts the lock file back as it was (dry runs leave the checkout untouched). */
export function restoreLock(flakeDir: string, oldLock: string): void {
  const lockPath = path.join(flakeDir, 'flake.lock')
  if (oldLock === '') fs.rmSync(lockPath, { force: true })
  else fs.writeFileSync(lockPath, oldLock)
}
