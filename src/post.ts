import * as core from '@actions/core'
import { cleanup } from './cleanup'
import { errorMessage } from './errors'

/** The `post:` step: removes what the main step left on the runner, and never fails the job for it. */
export function runPost(): void {
  try {
    cleanup()
  } catch (error) {
    core.warning(`Cleanup failed: ${errorMessage(error)}`)
  }
}
