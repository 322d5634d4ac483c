import { InputError } from '../errors'
import { Forge, PersonRefusal } from '../forge/forge'

/** An account name as both forges allow it (GitHub: letters, digits, `-`; Forgejo also `_` and `.`). */
const ACCOUNT = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,38}[A-Za-z0-9_])?$/

/**
 * Reads `pr-reviewers` or `pr-assignees`: account names separated by spaces, commas or newlines, an `@` in front
 * allowed. Teams (`org/team`) are refused: both forges take them through other fields.
 */
export function parsePeople(value: string, input: 'pr-reviewers' | 'pr-assignees'): string[] {
  const names: string[] = []
  for (const entry of value.split(/[\s,]+/).filter(s => s !== '')) {
    const name = entry.replace(/^@/, '')
    if (name.includes('/')) {
      throw new InputError(
        `Input '${input}' has ${JSON.stringify(entry)}: name user accounts; teams are not supported`
      )
    }
    if (!ACCOUNT.test(name)) {
      throw new InputError(`Input '${input}' has ${JSON.stringify(entry)}, which is not an account name`)
    }
    if (!names.some(n => n.toLowerCase() === name.toLowerCase())) names.push(name)
  }
  return names
}

export interface PeopleResult {
  /** Names the forge took, as reviewers and as assignees. */
  reviewers: string[]
  assignees: string[]
  /** What could not be done, each naming the account or the request: for warnings, never a failed run. */
  warnings: string[]
}

/**
 * Asks for reviews and assigns the pull request. A name the forge refuses, or a token that may not do it, ends
 * in a warning naming it: the pull request stands either way.
 */
export async function assignPeople(
  forge: Forge,
  pull: number,
  people: { reviewers: string[]; assignees: string[] }
): Promise<PeopleResult> {
  const result: PeopleResult = { reviewers: [], assignees: [], warnings: [] }
  const apply = async (
    names: string[],
    what: 'review' | 'assignment',
    call: (n: number, names: string[]) => Promise<PersonRefusal[]>
  ): Promise<string[]> => {
    if (names.length === 0) return []
    let refused: PersonRefusal[]
    try {
      refused = await call(pull, names)
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e)
      result.warnings.push(
        `${what === 'review' ? 'Reviews not requested from' : 'Not assigned to'} ${names.join(', ')} on #${pull}: ${message}`
      )
      return []
    }
    for (const r of refused) {
      result.warnings.push(
        `${what === 'review' ? `Review not requested from '${r.name}'` : `'${r.name}' not assigned`} on #${pull}: ${r.reason}`
      )
    }
    const no = new Set(refused.map(r => r.name.toLowerCase()))
    return names.filter(n => !no.has(n.toLowerCase()))
  }
  result.reviewers = await apply(people.reviewers, 'review', (n, x) => forge.requestReviewers(n, x))
  result.assignees = await apply(people.assignees, 'assignment', (n, x) => forge.addAssignees(n, x))
  return result
}
