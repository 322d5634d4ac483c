import * as core from '@actions/core'
import * as fs from 'fs'
import { Log } from './log'

/**
 * The log port bound to the runner: workflow commands on standard output, GITHUB_OUTPUT, GITHUB_STATE and the
 * job summary file. The only module that talks to @actions/core.
 */
export function runnerLog(env: NodeJS.ProcessEnv = process.env): Log {
  return {
    info: message => core.info(message),
    write: chunk => {
      process.stdout.write(chunk)
    },
    warning: (message, options = {}) => core.warning(message, options.title ? { title: options.title } : {}),
    error: message => core.error(message),
    group: (name, fn) => core.group(name, fn),
    mask: secret => core.setSecret(secret),
    // Without GITHUB_OUTPUT a runner older than that file takes outputs as `::set-output` commands; outside a
    // runner (GITHUB_ACTIONS unset) they would only flood the terminal with the report, so they are left out.
    output: (name, value) => {
      if (env.GITHUB_OUTPUT || env.GITHUB_ACTIONS === 'true') core.setOutput(name, value)
    },
    saveState: (name, value) => core.saveState(name, value),
    getState: name => core.getState(name),
    summary: markdown => {
      if (env.GITHUB_STEP_SUMMARY) fs.appendFileSync(env.GITHUB_STEP_SUMMARY, `${markdown}\n`)
    },
    failed: message => core.setFailed(message)
  }
}
