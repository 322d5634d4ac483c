import { Context } from '@actions/github/lib/context'

/**
 * The event that started the workflow run, as @actions/github's context reads it (GITHUB_EVENT_NAME and the event
 * file). The repository, server and run number come from the runner's variables where they are validated
 * (forge/connect.ts, report/run-link.ts): the context parses the run number with parseInt, taking `7/../x` for 7,
 * and has no repository outside a runner, where the command line names it from the remote.
 */
export interface RunnerContext {
  /** `push`, `pull_request`, `schedule`, `workflow_dispatch`, …; empty outside a runner. */
  eventName: string
  /** The event's payload, `{}` without one. */
  payload: Record<string, unknown>
  /** The repository's default branch, when the event's payload names it. */
  defaultBranch?: string
}

/** The runner's context; the command line has none (it passes its own). */
export function runnerContext(): RunnerContext {
  // Read anew at each call: the runner's variables are those of this step.
  const c = new Context()
  const repo = c.payload.repository as { default_branch?: unknown } | undefined
  return {
    eventName: c.eventName ?? '',
    payload: c.payload,
    defaultBranch: typeof repo?.default_branch === 'string' ? repo.default_branch : undefined
  }
}

/** The context of a run outside a runner: no event. */
export const NO_RUNNER: RunnerContext = { eventName: '', payload: {} }
