#!/usr/bin/env node
import { runCli } from './cli/run'

runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() }).then(
  status => {
    process.exitCode = status
  },
  (error: unknown) => {
    process.stderr.write(
      `nixos-fleet-update: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`
    )
    process.exitCode = 1
  }
)
