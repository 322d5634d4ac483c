import { PersonRefusal } from './forge'
import { ForgeError } from './http'

/**
 * Runs `call` for all names at once; when the forge refuses the whole request because of some name (`isRefusal`)
 * without saying which one, asks for each name alone, so that the others still get through and the refused
 * ones can be named.
 */
export async function eachRefusal(
  names: string[],
  call: (names: string[]) => Promise<void>,
  isRefusal: (e: ForgeError) => boolean
): Promise<PersonRefusal[]> {
  const refusal = (e: unknown): ForgeError | undefined =>
    e instanceof ForgeError && isRefusal(e) ? e : undefined
  try {
    await call(names)
    return []
  } catch (e) {
    const r = refusal(e)
    if (!r) throw e
    if (names.length === 1) return [{ name: names[0], reason: r.forgeMessage || `answered ${r.status}` }]
  }
  const refused: PersonRefusal[] = []
  for (const name of names) {
    try {
      await call([name])
    } catch (e) {
      const r = refusal(e)
      if (!r) throw e
      refused.push({ name, reason: r.forgeMessage || `answered ${r.status}` })
    }
  }
  return refused
}

/** The `login` of each user object in a list (both forges name the account `login`). */
export function logins(list: unknown): string[] {
  if (!Array.isArray(list)) return []
  return list
    .map(u => (typeof u === 'object' && u !== null ? (u as { login?: unknown }).login : undefined))
    .filter((l): l is string => typeof l === 'string')
}
