import * as core from '@actions/core'
import { cleanup } from './cleanup'

try {
  cleanup()
} catch (error) {
  core.warning(`Cleanup failed: ${error instanceof Error ? error.message : String(error)}`)
}
