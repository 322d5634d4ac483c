#!/usr/bin/env node
// A stand-in forge for the demo: the test suite's Forgejo double (testkit/forge/server.ts, compiled by
// scripts/demo.sh into build/demo-forge) serving one bare repository on 127.0.0.1 until it is sent SIGTERM.
//
//   node scripts/demo-forge.mjs BARE_REPO TOKEN INFO_FILE     (BARE_REPO is named fleet.git; owner "demo")
//
// INFO_FILE receives {"apiUrl": …, "serverUrl": …} once the forge listens.
import * as fs from 'node:fs'
import { createRequire } from 'node:module'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const { startForge } = require(path.join(root, 'build/demo-forge/testkit/forge/server.js'))

const [bareRepo, token, infoFile] = process.argv.slice(2)
if (!bareRepo || !token || !infoFile) {
  console.error('usage: node scripts/demo-forge.mjs BARE_REPO TOKEN INFO_FILE')
  process.exit(2)
}
const forge = await startForge({ kind: 'forgejo', bareRepo, owner: 'demo', repo: 'fleet', token })
fs.writeFileSync(infoFile, JSON.stringify({ apiUrl: forge.apiUrl, serverUrl: forge.serverUrl }))
const stop = async () => {
  await forge.close()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
