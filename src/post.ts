import { cleanup } from './cleanup'
import { errorMessage } from './errors'
import { Log } from './log/log'

/** The `post:` step: removes what the main step left on the runner, and never fails the job for it. */
export function runPost(log: Log): void {
  try {
    cleanup(log)
  } catch (error) {
    log.warning(`Cleanup failed: ${errorMessage(error)}`)
  }
}
