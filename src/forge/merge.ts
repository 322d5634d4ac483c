import { ApiClient } from './http'
import { isRecord, shapeError } from './shape'

/** How a pull request is merged. GitHub knows the first three; Forgejo all five. */
export type MergeMethod = 'merge' | 'squash' | 'rebase' | 'rebase-merge' | 'fast-forward-only'
/** The `merge-method` input: a method, or `auto` for the repository's default or first allowed one. */
export type MergeMethodSetting = 'auto' | MergeMethod

export const GITHUB_MERGE_METHODS: readonly MergeMethod[] = ['merge', 'squash', 'rebase']
// Forgejo's own order (its merge button and MergeStyle constants).
export const FORGEJO_MERGE_METHODS: readonly MergeMethod[] = [
  'merge',
  'rebase',
  'rebase-merge',
  'squash',
  'fast-forward-only'
]

/** What a repository allows; `allowed` undefined when the forge did not say (e.g. a token without admin rights). */
export interface AllowedMergeMethods {
  allowed?: MergeMethod[]
  preferred?: MergeMethod
}

/** The input asks for a method the repository forbids, or the repository allows none: a configuration error. */
export class MergeMethodError extends Error {}

/**
 * The method to send: the one asked for when the repository allows it (or does not say), for `auto` the
 * repository's default when allowed, else the first allowed one; undefined leaves it to the forge's default.
 */
export function chooseMergeMethod(
  requested: MergeMethodSetting,
  repo: AllowedMergeMethods,
  repoName: string
): MergeMethod | undefined {
  const { allowed, preferred } = repo
  if (allowed === undefined) return requested === 'auto' ? preferred : requested
  if (allowed.length === 0) {
    throw new MergeMethodError(`${repoName} allows no merge method for pull requests: auto-merge cannot work`)
  }
  if (requested === 'auto') return preferred && allowed.includes(preferred) ? preferred : allowed[0]
  if (allowed.includes(requested)) return requested
  throw new MergeMethodError(
    `Input 'merge-method' is ${requested}, which ${repoName} does not allow; it allows: ${allowed.join(', ')} (or use auto)`
  )
}

/**
 * `GET /repos/{o}/{r}` read for its merge settings: `flags` pairs each method with the boolean field that allows
 * it, `defaultField` names the field holding the default method (Forgejo's default_merge_style). No flag present
 * at all means the forge did not say.
 */
export async function repositoryMergeMethods(
  api: ApiClient,
  repoPath: string,
  flags: [MergeMethod, string][],
  defaultField?: string
): Promise<AllowedMergeMethods> {
  const r = await api.request('Reading the repository', 'GET', repoPath)
  if (!isRecord(r.body)) throw shapeError(r, 'the repository was expected as an object')
  const b = r.body
  if (!flags.some(([, field]) => typeof b[field] === 'boolean')) return {}
  const preferred = defaultField ? b[defaultField] : undefined
  return {
    allowed: flags.filter(([, field]) => b[field] === true).map(([m]) => m),
    preferred: flags.map(([m]) => m).find(m => m === preferred)
  }
}
