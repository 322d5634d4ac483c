import * as fs from 'fs'
import { errorMessage } from '../errors'
import { isRecord } from '../forge/shape'

/** The pull request of a `pull_request` event, as review mode needs it. */
export interface EventPull {
  number: number
  baseSha: string
  headSha: string
  baseRef: string
  /** The head lives in another repository than the base (a fork): its run gets a read-only token. */
  fork: boolean
}

/** What started the run: the event's name and the parts of its payload the modes read. */
export interface RunEvent {
  /** GITHUB_EVENT_NAME (`pull_request`, `push`, `schedule`, …); empty outside a runner. */
  name: string
  pull?: EventPull
  /** A push: the ref pushed (`refs/heads/main`) and the commit it now points to. */
  push?: { ref: string; after: string }
  /** Why the payload could not be read, when it could not. */
  problem?: string
}

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/

function text(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined
}

/**
 * Reads the event from the runner's variables: GITHUB_EVENT_NAME, and the JSON payload in the file
 * GITHUB_EVENT_PATH (both forges write GitHub's payload shapes). Only `pull_request` counts as a pull request:
 * `pull_request_target` runs with the base repository's secrets, so its head must never be built.
 */
export function readEvent(env: NodeJS.ProcessEnv): RunEvent {
  const name = env.GITHUB_EVENT_NAME ?? ''
  const file = env.GITHUB_EVENT_PATH
  if (!file) return { name }
  let payload: unknown
  try {
    payload = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown
  } catch (e) {
    return { name, problem: `the event payload ${file} cannot be read: ${errorMessage(e)}` }
  }
  return eventFrom(name, payload, `the event payload ${file}`)
}

/**
 * The event from its name and payload (as @actions/github's context reads them on a runner); `source` names the
 * payload in messages.
 */
export function eventFrom(name: string, payload: unknown, source = 'the event payload'): RunEvent {
  if (!isRecord(payload)) return { name, problem: `${source} is not a JSON object` }
  const event: RunEvent = { name }
  const pr = payload.pull_request
  if (name === 'pull_request' && isRecord(pr) && isRecord(pr.base) && isRecord(pr.head)) {
    const baseSha = text(pr.base.sha) ?? ''
    const headSha = text(pr.head.sha) ?? ''
    const number = typeof pr.number === 'number' ? pr.number : Number(payload.number)
    const repoName = (side: Record<string, unknown>): string | undefined =>
      isRecord(side.repo) ? text(side.repo.full_name)?.toLowerCase() : undefined
    const baseRepo = repoName(pr.base)
    const headRepo = repoName(pr.head)
    if (!SHA.test(baseSha) || !SHA.test(headSha) || !Number.isSafeInteger(number)) {
      return { name, problem: `the pull_request payload (${source}) lacks the number, base.sha or head.sha` }
    }
    event.pull = {
      number,
      baseSha,
      headSha,
      baseRef: text(pr.base.ref) ?? '',
      // A deleted fork has no head repository; it was a fork all the same.
      fork: headRepo === undefined || (baseRepo !== undefined && headRepo !== baseRepo)
    }
  }
  if (name === 'push') {
    const ref = text(payload.ref)
    const after = text(payload.after)
    if (ref && after) event.push = { ref, after }
  }
  return event
}
