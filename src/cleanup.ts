import * as core from '@actions/core'
import * as fs from 'fs'
import { STATE } from './state'

/** Removes what the main step left on the runner (its work directory, the signing key), even after a failure. */
export function cleanup(): void {
  const dirs = (core.getState(STATE.cleanupDirs) || '').split('\n').filter(Boolean)
  for (const dir of dirs) {
    fs.rmSync(dir, { recursive: true, force: true })
    core.info(`Removed ${dir}`)
  }
}
