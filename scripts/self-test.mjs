#!/usr/bin/env node
// The bundle run as a runner runs it, on the example fleet (scripts/example-fleet.sh), in dry-run:
//
//   node scripts/self-test.mjs            main step, then post step, from dist/index.js, with action.yml's
//                                         defaults as INPUT_* variables; checks the outputs and the cleanup
//   node scripts/self-test.mjs --check    checks outputs handed over as OUT_* variables by a workflow that ran
//                                         the action with `uses: ./` (see .forgejo/workflows/ci.yml)
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** Input defaults from action.yml, as the runner applies them. */
function actionDefaults() {
  const text = fs.readFileSync(path.join(root, 'action.yml'), 'utf8')
  const inputs = text.slice(text.indexOf('\ninputs:'), text.indexOf('\noutputs:'))
  const defaults = {}
  let current
  for (const line of inputs.split('\n')) {
    const name = /^ {2}([a-z-]+):\s*$/.exec(line)
    if (name) current = name[1]
    const def = /^ {4}default:\s*(.*)$/.exec(line)
    if (def && current) defaults[current] = def[1].replace(/^'(.*)'$/, '$1')
  }
  return defaults
}

/** Reads a GITHUB_OUTPUT or GITHUB_STATE file (`name<<delimiter` blocks and `name=value` lines). */
function readCommandFile(file) {
  const out = {}
  const lines = fs.readFileSync(file, 'utf8').split('\n')
  for (let i = 0; i < lines.length; i++) {
    const heredoc = /^([^=<]+)<<(.+)$/.exec(lines[i])
    if (heredoc) {
      const value = []
      for (i++; i < lines.length && lines[i] !== heredoc[2]; i++) value.push(lines[i])
      out[heredoc[1]] = value.join('\n')
    } else {
      const eq = lines[i].indexOf('=')
      if (eq > 0) out[lines[i].slice(0, eq)] = lines[i].slice(eq + 1)
    }
  }
  return out
}

const failures = []
function expect(what, ok) {
  console.log(`${ok ? 'ok' : 'FAILED'}: ${what}`)
  if (!ok) failures.push(what)
}

/** The example fleet's expected outcome: its package set bump changes every host, breaks db's rsync. */
function checkOutputs(o) {
  const json = name => {
    try {
      return JSON.parse(o[name] ?? '')
    } catch {
      return undefined
    }
  }
  const hosts = json('hosts')
  expect(
    `hosts is a list without installer-minimal (${o.hosts})`,
    Array.isArray(hosts) && hosts.length >= 3 && !hosts.includes('installer-minimal')
  )
  expect(`changed is true (${o.changed})`, o.changed === 'true')
  expect(
    `regressed-hosts is ["db"] (${o['regressed-hosts']})`,
    JSON.stringify(json('regressed-hosts')) === '["db"]'
  )
  const reboot = json('reboot-hosts')
  expect(`reboot-hosts names web (${o['reboot-hosts']})`, Array.isArray(reboot) && reboot.includes('web'))
  expect(
    'report mentions every host',
    typeof o.report === 'string' && (hosts ?? []).every(h => o.report.includes(h))
  )
  const reportJson = o['report-json']
  let parsed
  try {
    parsed = JSON.parse(fs.readFileSync(reportJson, 'utf8'))
  } catch {
    parsed = undefined
  }
  expect(
    `report-json is a JSON file with every host (${reportJson})`,
    Array.isArray(parsed?.hosts) && parsed.hosts.length === (hosts ?? []).length
  )
}

function finish() {
  if (failures.length > 0) {
    console.error(`self-test failed: ${failures.length} check(s): ${failures.join('; ')}`)
    process.exit(1)
  }
  console.log('self-test passed')
}

if (process.argv[2] === '--check') {
  const o = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('OUT_')) o[k.slice(4).toLowerCase().replace(/_/g, '-')] = v
  }
  checkOutputs(o)
  finish()
} else {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-self-test-'))
  try {
    execFileSync(path.join(root, 'scripts/example-fleet.sh'), [work], { stdio: 'inherit' })
    const files = { output: 'output', summary: 'summary', state: 'state' }
    for (const f of Object.values(files)) fs.writeFileSync(path.join(work, f), '')
    const runnerTemp = path.join(work, 'runner-temp')
    fs.mkdirSync(runnerTemp)
    const base = {}
    for (const [k, v] of Object.entries(process.env))
      if (!k.startsWith('INPUT_') && !k.startsWith('STATE_')) base[k] = v
    Object.assign(base, {
      GITHUB_WORKSPACE: path.join(work, 'fleet'),
      GITHUB_OUTPUT: path.join(work, files.output),
      GITHUB_STEP_SUMMARY: path.join(work, files.summary),
      GITHUB_STATE: path.join(work, files.state),
      RUNNER_TEMP: runnerTemp
    })
    const inputs = {
      ...actionDefaults(),
      flake: '.',
      'dry-run': 'true',
      'fail-on-regression': 'false',
      token: ''
    }
    const mainEnv = { ...base }
    for (const [k, v] of Object.entries(inputs)) mainEnv[`INPUT_${k.toUpperCase()}`] = v
    const main = spawnSync(process.execPath, [path.join(root, 'dist/index.js')], {
      cwd: path.join(work, 'fleet'),
      env: mainEnv,
      encoding: 'utf8'
    })
    expect(`main step exits 0 (exit ${main.status})`, main.status === 0)
    if (main.status !== 0) console.error(`${main.stdout}\n${main.stderr}`.split('\n').slice(-40).join('\n'))
    checkOutputs(readCommandFile(path.join(work, files.output)))
    const summary = fs.readFileSync(path.join(work, files.summary), 'utf8')
    expect('the job summary has the report', summary.includes('db'))

    // The post step: the same bundle, with what the main step saved handed over as STATE_* variables.
    const state = readCommandFile(path.join(work, files.state))
    expect('the main step saved isPost', state.isPost === 'true')
    const dirs = (state['cleanup-dirs'] ?? '').split('\n').filter(Boolean)
    expect(`the main step left directories for the post step (${dirs.length})`, dirs.length > 0)
    const postEnv = { ...base }
    for (const [k, v] of Object.entries(state)) postEnv[`STATE_${k}`] = v
    const post = spawnSync(process.execPath, [path.join(root, 'dist/index.js')], {
      cwd: path.join(work, 'fleet'),
      env: postEnv,
      encoding: 'utf8'
    })
    expect(`post step exits 0 (exit ${post.status})`, post.status === 0)
    expect('the post step did not run the pipeline again', !/Hosts:/.test(post.stdout))
    expect(
      'the post step removed what the main step left',
      dirs.every(d => !fs.existsSync(d))
    )
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
  finish()
}
