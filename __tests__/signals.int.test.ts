import { ChildProcess, execFileSync, spawn } from 'child_process'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { actionDefaults } from './fixtures/action'
import { Fleet, PackageSet, createFleet, examplePackageSets, uniquePackageSet } from '../testkit/fleet'
import { parseOutputFile } from './fixtures/outputs'

// A cancelled job or Ctrl-C while hosts build: the action's entry point, compiled and run as its own process
// with real Nix on a fixture fleet whose build sleeps, gets the signal.

const ROOT = path.resolve(__dirname, '..')
let bundleDir: string

beforeAll(() => {
  // The entry point as the runner starts it (`node index.js`), compiled from the sources under test.
  bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-entry-'))
  execFileSync(
    process.execPath,
    [
      path.join(ROOT, 'node_modules/typescript/bin/tsc'),
      path.join(ROOT, 'src/index.ts'),
      '--outDir',
      bundleDir,
      '--rootDir',
      path.join(ROOT, 'src'),
      '--target',
      'ES2022',
      '--module',
      'commonjs',
      '--esModuleInterop',
      '--resolveJsonModule',
      '--skipLibCheck',
      '--strict',
      '--lib',
      'ES2022',
      '--types',
      'node'
    ],
    { stdio: 'pipe' }
  )
}, 120000)
afterAll(() => fs.rmSync(bundleDir, { recursive: true, force: true }))

interface Step {
  child: ChildProcess
  runnerTemp: string
  stateFile: string
  log: () => string
  exited: Promise<number | null>
}

/** Starts the action (main step, or post step with the main step's saved state) as the runner would. */
function startStep(
  workspace: string,
  inputs: Record<string, string>,
  extraEnv: Record<string, string> = {}
): Step {
  const runnerTemp = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-signal-'))
  const stateFile = path.join(runnerTemp, 'state')
  for (const f of ['output', 'summary', 'state']) fs.writeFileSync(path.join(runnerTemp, f), '')
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const k of Object.keys(env)) if (k.startsWith('INPUT_') || k.startsWith('GITHUB_')) delete env[k]
  for (const [k, v] of Object.entries({ ...actionDefaults(), token: '', ...inputs }))
    env[`INPUT_${k.toUpperCase()}`] = v
  Object.assign(env, {
    NODE_PATH: path.join(ROOT, 'node_modules'),
    GITHUB_WORKSPACE: workspace,
    GITHUB_OUTPUT: path.join(runnerTemp, 'output'),
    GITHUB_STEP_SUMMARY: path.join(runnerTemp, 'summary'),
    GITHUB_STATE: stateFile,
    RUNNER_TEMP: runnerTemp,
    ...extraEnv
  })
  const child = spawn(process.execPath, [path.join(bundleDir, 'index.js')], {
    cwd: workspace,
    env,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let log = ''
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()))
  const exited = new Promise<number | null>(resolve => child.on('close', code => resolve(code)))
  return { child, runnerTemp, stateFile, log: () => log, exited }
}

interface Proc {
  pid: number
  start: string
  comm: string
}

function readProc(pid: number): (Proc & { ppid: number }) | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name is in parentheses and may hold spaces; the fields after it are space-separated.
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (rest[0] === 'Z') return undefined
    return { pid, ppid: Number(rest[1]), start: rest[19], comm }
  } catch {
    return undefined
  }
}

/** Every process that descends from `root` (children, their children, …), by the parent links in /proc. */
function descendants(root: number): Proc[] {
  const all = fs
    .readdirSync('/proc')
    .filter(p => /^\d+$/.test(p))
    .map(p => readProc(Number(p)))
    .filter((p): p is Proc & { ppid: number } => p !== undefined)
  const out: Proc[] = []
  let frontier = [root]
  while (frontier.length > 0) {
    const next = all.filter(p => frontier.includes(p.ppid))
    out.push(...next)
    frontier = next.map(p => p.pid)
  }
  return out
}

/** The processes of `procs` that still run (same pid and same start time: not a reused pid). */
const alive = (procs: Proc[]): Proc[] => procs.filter(p => readProc(p.pid)?.start === p.start)

async function until(what: string, test: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms
  while (!test()) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`)
    await new Promise(r => setTimeout(r, 100))
  }
}

let counter = 0
/** A fleet whose update makes one package's build sleep for 30 s, so that the signal comes mid-build. */
function sleepyFleet(): Fleet {
  const salt = `signals-${process.pid}-${Date.now()}-${counter++}`
  const base = examplePackageSets().before
  const fleet = createFleet(uniquePackageSet(base, salt), [
    { name: 'web', packages: ['curl'] },
    { name: 'db', packages: ['htop', 'rsync'] }
  ])
  fleet.bump(uniquePackageSet({ ...base, release: '24.11', slow: ['rsync'] } as PackageSet, salt))
  return fleet
}

/** Runs the main step until the slow build runs, and returns the step with every process under it then. */
async function startAndReachTheBuild(fleet: Fleet): Promise<{ step: Step; procs: Proc[] }> {
  const step = startStep(fleet.fleetDir, { 'dry-run': 'true' })
  const pid = step.child.pid as number
  await until(
    'the build after the update to run its sleeping builder',
    () =>
      step.log().includes('::group::Build after the update') &&
      descendants(pid).some(p => p.comm === 'sleep'),
    120000
  )
  const procs = descendants(pid)
  expect(procs.map(p => p.comm)).toEqual(expect.arrayContaining(['nix-store', 'sleep']))
  return { step, procs }
}

const runDirs = (runnerTemp: string): string[] =>
  fs.readdirSync(runnerTemp).filter(f => f.startsWith('nixos-fleet-update-'))

/**
 * Starts the main step on a fresh fleet and hands it to `body` once the slow build runs, with the lock from before
 * the run and every process then under the step; afterwards whatever of those still runs is killed.
 */
async function duringTheBuild(
  body: (run: { fleet: Fleet; lock: string; step: Step; procs: Proc[] }) => Promise<void>
): Promise<void> {
  const fleet = sleepyFleet()
  let procs: Proc[] = []
  try {
    const lock = fleet.lock()
    const started = await startAndReachTheBuild(fleet)
    procs = started.procs
    // The update rewrote the lock (a dry run puts it back at its end, which this run never reaches).
    expect(fleet.lock()).not.toBe(lock)
    expect(runDirs(started.step.runnerTemp)).toHaveLength(1)
    await body({ fleet, lock, ...started })
  } finally {
    for (const p of alive(procs)) process.kill(p.pid, 'SIGKILL')
    fleet.remove()
  }
}

describe.each<NodeJS.Signals>(['SIGTERM', 'SIGINT'])('%s during a build', signal => {
  test(
    'every command it started ends, flake.lock and the checkout are as before, temporary files are gone, the step fails',
    () =>
      duringTheBuild(async ({ fleet, lock, step, procs }) => {
        step.child.kill(signal)
        const code = await step.exited
        expect(code).toBe(128 + (os.constants.signals[signal] ?? 0))
        expect(alive(procs)).toEqual([])
        expect(fleet.lock()).toBe(lock)
        expect(
          execFileSync('git', ['status', '--porcelain'], { cwd: fleet.fleetDir, encoding: 'utf8' })
        ).toBe('')
        expect(runDirs(step.runnerTemp)).toEqual([])
        expect(step.log()).toContain(`::error::Stopped by ${signal}`)
        fs.rmSync(step.runnerTemp, { recursive: true, force: true })
      }),
    300000
  )
})

test(
  'a main step killed outright (SIGKILL) during a build: the post step restores flake.lock from the saved state and removes the work directory',
  () =>
    duringTheBuild(async ({ fleet, lock, step, procs }) => {
      step.child.kill('SIGKILL')
      await step.exited
      // Nothing could run in the main step: the lock stays rewritten, the work directory stays.
      for (const p of alive(procs)) process.kill(p.pid, 'SIGKILL')
      expect(fleet.lock()).not.toBe(lock)
      const workDirs = runDirs(step.runnerTemp)

      // The runner hands the saved state to the post step as STATE_* variables.
      const state = parseOutputFile(fs.readFileSync(step.stateFile, 'utf8'))
      const stateEnv = Object.fromEntries(Object.entries(state).map(([k, v]) => [`STATE_${k}`, v]))
      const post = startStep(fleet.fleetDir, { 'dry-run': 'true' }, stateEnv)
      expect(await post.exited).toBe(0)
      expect(fleet.lock()).toBe(lock)
      expect(fs.existsSync(path.join(step.runnerTemp, workDirs[0]))).toBe(false)
      expect(post.log()).toContain('as it was before the update')
      fs.rmSync(post.runnerTemp, { recursive: true, force: true })
      fs.rmSync(step.runnerTemp, { recursive: true, force: true })
    }),
  300000
)
