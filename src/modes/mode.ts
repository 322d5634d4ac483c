import { InputError } from '../errors'

/**
 * What a run does, from the input `mode`. Each mode is one entry here, with a line for the error message, and one
 * branch in main.ts's dispatch.
 */
export const MODES = {
  update: 'update flake.lock, build every host before and after, open the pull request',
  rollout: 'advance the rollout: post the wave gates from the hosts reports (no build, no update)'
} as const

export type Mode = keyof typeof MODES

/** `mode`: one of MODES, case-insensitive; empty means `update`. */
export function parseMode(raw: string): Mode {
  const v = raw.trim().toLowerCase() || 'update'
  if (Object.prototype.hasOwnProperty.call(MODES, v)) return v as Mode
  const known = Object.keys(MODES)
  throw new InputError(
    `Input 'mode' must be ${known.slice(0, -1).join(', ')} or ${known[known.length - 1]}, got ${JSON.stringify(raw.trim())}`
  )
}
