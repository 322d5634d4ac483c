import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { STATE, isPostStep, markMainStep } from '../src/state'
import { runnerLog } from '../src/log/runner'

// The runner hands what a step saved (GITHUB_STATE) to its post step as STATE_<name> variables.
describe('one bundle for main and post', () => {
  const saved = { ...process.env }
  let dir: string
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-state-'))
    for (const k of Object.keys(process.env)) if (k.startsWith('STATE_')) delete process.env[k]
    process.env.GITHUB_STATE = path.join(dir, 'state')
    fs.writeFileSync(process.env.GITHUB_STATE, '')
  })
  afterEach(() => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
    Object.assign(process.env, saved)
    fs.rmSync(dir, { recursive: true, force: true })
  })

  test('a first run is the main step, and marks itself for the post step', () => {
    expect(isPostStep(runnerLog())).toBe(false)
    markMainStep(runnerLog())
    const written = fs.readFileSync(path.join(dir, 'state'), 'utf8')
    expect(written).toMatch(new RegExp(`^${STATE.isPost}<<`))
    expect(written).toContain('\ntrue\n')
  })

  test('a run that finds the mark is the post step', () => {
    process.env[`STATE_${STATE.isPost}`] = 'true'
    expect(isPostStep(runnerLog())).toBe(true)
  })

  test('anything else is not', () => {
    process.env[`STATE_${STATE.isPost}`] = 'false'
    expect(isPostStep(runnerLog())).toBe(false)
  })
})
