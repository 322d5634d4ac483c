/** Waits `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** The wait before retry number `attempt` (1, 2, …): `baseMs`, doubled each time, at most `maxMs`. */
export function backoff(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(baseMs * 2 ** (attempt - 1), maxMs)
}
