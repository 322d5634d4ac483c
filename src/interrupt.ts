import * as os from 'os'
import { stopChildren } from './exec'
import { Log } from './log/log'

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM']

/**
 * Runs `work`; a SIGINT or SIGTERM meanwhile (a cancelled job, Ctrl-C) stops the step: every running command's
 * process group gets the signal (SIGKILL after a grace period), `stop` runs (it restores flake.lock and removes
 * temporary files), and the process exits with 128 + the signal's number. Once `work` is done the handlers are
 * removed, unless a signal is being handled: then the process ends through the handler.
 */
export async function stopOnSignals<T>(stop: () => void, work: () => Promise<T>, log: Log): Promise<T> {
  let handling = false
  const handler = (signal: NodeJS.Signals): void => {
    if (handling) return
    handling = true
    log.error(
      `Stopped by ${signal}: ending the running commands, restoring flake.lock, removing temporary files`
    )
    void stopChildren(signal).finally(() => {
      try {
        stop()
      } catch (e) {
        log.warning(`Cleanup failed: ${String(e)}`)
      }
      process.exit(128 + (os.constants.signals[signal] ?? 0))
    })
  }
  for (const s of SIGNALS) process.on(s, handler)
  try {
    return await work()
  } finally {
    if (!handling) for (const s of SIGNALS) process.off(s, handler)
  }
}
