import { InputError } from '../errors'
import { RunEvent } from './event'

/**
 * What a run does: `update` the lock and open a pull request (the default), `review` a pull request (build its base
 * and head, comment the difference), fill the binary `cache` with the systems of a pushed commit, or advance the
 * `rollout` (post the wave gates from the hosts' reports; no build, no update).
 */
export const MODES = ['update', 'review', 'cache', 'rollout'] as const
export type Mode = (typeof MODES)[number]

/** The `mode` input: one of MODES, or empty to choose from the event. */
export function parseMode(value: string): Mode | undefined {
  const v = value.trim().toLowerCase()
  if (v === '') return undefined
  if ((MODES as readonly string[]).includes(v)) return v as Mode
  throw new InputError(
    `Input 'mode' must be ${MODES.join(', ')} or empty (chosen from the event), got ${JSON.stringify(value.trim())}`
  )
}

/**
 * The mode for this run: the input when given; else `review` on a pull request, `cache` on a push to the base
 * branch when a binary cache is set (push-to), and `update` for everything else (schedule, workflow_dispatch).
 */
export function selectMode(
  given: Mode | undefined,
  event: RunEvent,
  options: { baseBranch: string; pushTo: boolean }
): Mode {
  if (given) return given
  if (event.pull) return 'review'
  if (event.name === 'push' && options.pushTo && event.push?.ref === `refs/heads/${options.baseBranch}`) {
    return 'cache'
  }
  return 'update'
}

/** The inputs of the modes: `mode` (undefined: chosen from the event), and review-base / review-head. */
export interface ModeSettings {
  mode?: Mode
  /** Commits a review compares, when not from a pull_request event (the command line, workflow_dispatch). */
  reviewBase?: string
  reviewHead?: string
}

/** A commit as git names it (a sha, a branch, `HEAD~1`): never empty, no whitespace, never an option. */
const REV = /^[^\s-][^\s]*$/

/** Reads `mode`, `review-base` and `review-head`; an error names the input and the form expected. */
export function parseModeSettings(mode: string, base: string, head: string): ModeSettings {
  const settings: ModeSettings = { mode: parseMode(mode) }
  for (const [name, value] of [
    ['review-base', base.trim()],
    ['review-head', head.trim()]
  ] as const) {
    if (value === '') continue
    if (!REV.test(value) || value.includes('..')) {
      throw new InputError(
        `Input '${name}' must name one commit (a sha, a branch or a tag), got ${JSON.stringify(value)}`
      )
    }
    if (name === 'review-base') settings.reviewBase = value
    else settings.reviewHead = value
  }
  if ((settings.reviewBase === undefined) !== (settings.reviewHead === undefined)) {
    throw new InputError("Inputs 'review-base' and 'review-head' go together: give both, or neither")
  }
  return settings
}
