import * as core from '@actions/core'
import * as fs from 'fs'

/** Removes what the main step left on the runner (GC roots, key files), even when it failed or was cancelled. */
export function cleanup(): void {
  const dirs = (core.getState('cleanup-dirs') || '').split('\n').filter(Boolean)
  for (const dir of dirs) {
    fs.rmSync(dir, { recursive: true, force: true })
    core.info(`Removed ${dir}`)
  }
}

cleanup()
