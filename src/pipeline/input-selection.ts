import { InputError } from '../errors'
import { lockedInputs, rootInputNames } from '../nix/lock'

const INPUT_NAME = /^[A-Za-z_][A-Za-z0-9_'-]*(\/[A-Za-z_][A-Za-z0-9_'-]*)*$/
const TOP_LEVEL_NAME = /^[A-Za-z_][A-Za-z0-9_'-]*$/

/**
 * Reads `update-inputs`: input names to update, or `!name` entries for every input but those. Mixing both kinds
 * is refused: `a !b` would mean just `a`, and a reader could take it for "everything but b".
 * Returns the entries as written (`!` kept), checked; `resolveInputSelection` turns them into names.
 */
export function parseUpdateInputs(value: string): string[] {
  const entries = value.split(/[\s,]+/).filter(s => s !== '')
  for (const entry of entries) {
    const excluded = entry.startsWith('!')
    const name = excluded ? entry.slice(1) : entry
    if (!(excluded ? TOP_LEVEL_NAME : INPUT_NAME).test(name)) {
      throw new InputError(
        excluded && INPUT_NAME.test(name)
          ? `Input 'update-inputs' has ${JSON.stringify(entry)}: a '!' entry names a top-level input (updating an input updates its own inputs too)`
          : `Input 'update-inputs' has ${JSON.stringify(entry)}, which is not a flake input name (or '!' and one)`
      )
    }
  }
  const excluded = entries.filter(e => e.startsWith('!'))
  if (excluded.length > 0 && excluded.length < entries.length) {
    throw new InputError(
      `Input 'update-inputs' mixes input names and '!' entries (${entries.join(' ')}): list either the inputs to update or, each with '!', the inputs to leave as they are`
    )
  }
  return entries
}

/**
 * The input names to hand to `nix flake update`, empty meaning all, from the checked entries and the committed
 * lock file (undefined: the commit has none). Names must be in the lock file. `!` entries become every top-level
 * input of the lock file but those, leaving out inputs that `follow` another (they are not locked on their own).
 * With `several` (one flake of several, each name checked against all of them by `unknownInFlakes`), names this
 * lock lacks are skipped; undefined when none is left: nothing of this flake is to be updated.
 */
export function resolveInputSelection(
  entries: string[],
  lockText: string | undefined,
  lockPath: string,
  several = false
): string[] | undefined {
  if (entries.length === 0) return []
  const excluded = entries.filter(e => e.startsWith('!')).map(e => e.slice(1))
  if (lockText === undefined) {
    if (excluded.length === 0) return entries
    throw new InputError(
      `Input 'update-inputs' leaves out ${excluded.join(', ')}, but there is no committed ${lockPath} to keep them as they are`
    )
  }
  const { known, locked, has } = lockNames(lockText, lockPath)
  const unknown = (excluded.length > 0 ? excluded : entries).filter(n => !has(n))
  if (unknown.length > 0 && !several) {
    throw new InputError(
      `Input 'update-inputs' names ${unknown.map(i => JSON.stringify(i)).join(', ')}, not an input of ${lockPath} (it has: ${known.join(', ') || 'none'})`
    )
  }
  if (excluded.length === 0) {
    // One flake of several takes the names its lock has (every name is one of some flake's: unknownInFlakes).
    const names = several ? entries.filter(has) : entries
    return names.length > 0 ? names : undefined
  }
  const rest = known.filter(n => locked.has(n) && !excluded.includes(n))
  if (rest.length === 0) {
    if (several) return undefined
    throw new InputError(
      `Input 'update-inputs' leaves out every input of ${lockPath} that is locked on its own (${excluded.join(', ')}): nothing would be updated`
    )
  }
  return rest
}

/** A lock file's top-level input names, its locked inputs, and whether a name is either. */
function lockNames(
  lockText: string,
  lockPath: string
): { known: string[]; locked: ReturnType<typeof lockedInputs>; has: (name: string) => boolean } {
  const known = rootInputNames(lockText, lockPath)
  const locked = lockedInputs(lockText, lockPath)
  return { known, locked, has: n => known.includes(n) || locked.has(n) }
}

/**
 * For several flakes: the `update-inputs` names (or `!` names) that no flake's lock has; a flake without a
 * committed lock may get any name.
 */
export function unknownInFlakes(
  entries: string[],
  locks: { lockText?: string; lockPath: string }[]
): string[] {
  const names = entries.map(e => e.replace(/^!/, ''))
  if (locks.some(l => l.lockText === undefined)) return []
  const each = locks.map(l => lockNames(l.lockText as string, l.lockPath))
  return names.filter(n => !each.some(l => l.has(n)))
}
