import { FORGEJO_MERGE_METHODS, GITHUB_MERGE_METHODS, MergeMethodSetting } from '../forge/merge'
import { ForgeKind } from '../forge/kind'
import { InputName } from '../generated/action'
import { InputError } from '../errors'
import { refNameProblem } from '../git/refname'
import { CONFIGURATION_SETS, ConfigurationSet } from '../nix/configurations'
import { inputDefault } from './source'

/** Small typed parsers of input values: each error names the input and the form it expects. */

/** Splits a list input on commas, whitespace and newlines, dropping empty items. */
export function parseList(value: string): string[] {
  return value
    .split(/[\s,]+/)
    .map(s => s.trim())
    .filter(s => s !== '')
}

const BOOLEAN_TRUE = ['true', 'True', 'TRUE']
const BOOLEAN_FALSE = ['false', 'False', 'FALSE']

/** `true`/`false` as `core.getBooleanInput` takes them; anything else is an error naming the input. */
export function parseBoolean(input: (name: InputName) => string, name: InputName): boolean {
  const raw = input(name) || inputDefault(name)
  if (BOOLEAN_TRUE.includes(raw)) return true
  if (BOOLEAN_FALSE.includes(raw)) return false
  throw new InputError(`Input '${name}' must be true or false, got ${JSON.stringify(raw)}`)
}

/** An optional whole-number input of at least `min`; empty gives undefined. */
export function parseCount(
  input: (name: InputName) => string,
  name: InputName,
  min: number,
  unit = ''
): number | undefined {
  const raw = input(name)
  if (raw === '') return undefined
  if (!/^[0-9]+$/.test(raw) || Number(raw) < min || !Number.isSafeInteger(Number(raw))) {
    throw new InputError(
      `Input '${name}' must be a whole number${unit} of at least ${min}, or empty for automatic, got ${JSON.stringify(raw)}`
    )
  }
  return Number(raw)
}

/** Whole-name match, as `builtins.match` anchors its pattern. */
export function compileHostPattern(source: string, inputName = 'exclude-hosts'): RegExp {
  try {
    return new RegExp(`^(?:${source})$`, 'u')
  } catch (e) {
    throw new InputError(`Input '${inputName}' is not a valid regular expression: ${(e as Error).message}`)
  }
}

/** Checks a branch name against git's ref rules and the project's own: never the base branch. */
export function validateBranch(name: string, base: string, inputName = 'branch'): void {
  const problem = refNameProblem(name)
  if (problem)
    throw new InputError(
      `Input '${inputName}' is not a usable branch name (${problem}): ${JSON.stringify(name)}`
    )
  if (name === base) {
    throw new InputError(
      `Input '${inputName}' names the base branch '${base}': the update needs a branch of its own`
    )
  }
}

/** Expands `{date}` in a text. */
export function expandDate(text: string, date: string): string {
  return text.split('{date}').join(date)
}

/**
 * A duration input (`stale-after`, `rollout-soak`): a number with a unit, `d` days, `h` hours, `m` minutes (`2d`, `36h`, `90m`, `1d12h`).
 * Returns milliseconds, or undefined when the text is not such a duration.
 */
export function parseDuration(text: string): number | undefined {
  const t = text.trim()
  if (!/^(\d+[dhm])+$/.test(t)) return undefined
  const unit: Record<string, number> = { d: 86400000, h: 3600000, m: 60000 }
  let ms = 0
  for (const m of t.matchAll(/(\d+)([dhm])/g)) ms += Number(m[1]) * unit[m[2]]
  return ms > 0 ? ms : undefined
}

/** `merge-method`: auto, or a method the forge knows (rebase-merge and fast-forward-only are Forgejo's). */
export function parseMergeMethod(value: string, forge: ForgeKind): MergeMethodSetting {
  const v = (value.trim() || 'auto').toLowerCase()
  const known: readonly string[] = forge === 'github' ? GITHUB_MERGE_METHODS : FORGEJO_MERGE_METHODS
  if (v === 'auto' || known.includes(v)) return v as MergeMethodSetting
  const forgejoOnly = forge === 'github' && (FORGEJO_MERGE_METHODS as readonly string[]).includes(v)
  throw new InputError(
    `Input 'merge-method' must be auto, ${known.join(', ')} on ${forge === 'github' ? 'GitHub' : 'Forgejo'}, got ${JSON.stringify(value.trim())}${forgejoOnly ? ' (a Forgejo merge style)' : ''}`
  )
}

/** `configurations`: the flake output to build, one of nixosConfigurations, homeConfigurations, darwinConfigurations. */
export function parseConfigurations(value: string): ConfigurationSet {
  const v = value.trim() || 'nixosConfigurations'
  const known: readonly string[] = CONFIGURATION_SETS
  if (known.includes(v)) return v as ConfigurationSet
  throw new InputError(
    `Input 'configurations' must be one of ${CONFIGURATION_SETS.join(', ')}, got ${JSON.stringify(value.trim())}`
  )
}
