import { InputError } from '../errors'
import { parseBoolean, parseDuration } from '../inputs/parse'

/** The rollout inputs, read and validated. */
export interface RolloutSettings {
  /** How long every host of the lower waves must have run a commit before the next wave gets it, in ms. */
  soakMs: number
  /** A host of a lower wave that never reported blocks the waves above it. */
  requireAll: boolean
}

/** `rollout-soak` and `rollout-require-all`, as the inputs give them (empty: the default). */
export function parseRolloutSettings(raw: { soak: string; requireAll: string }): RolloutSettings {
  const soakText = raw.soak.trim() || '6h'
  // 0 is allowed: the next wave follows as soon as every host of the waves below reported.
  const soakMs = /^0+[dhm]?$/.test(soakText) ? 0 : parseDuration(soakText)
  if (soakMs === undefined) {
    throw new InputError(
      `Input 'rollout-soak' must be a duration such as 6h, 1d or 90m (or 0), got ${JSON.stringify(soakText)}`
    )
  }
  const requireAll = parseBoolean(() => raw.requireAll.trim(), 'rollout-require-all')
  return { soakMs, requireAll }
}
