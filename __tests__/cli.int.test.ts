import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { runCli } from '../src/cli/run'
import { run } from '../src/main'
import { countingNix } from './fixtures/counting'
import {
  Fleet,
  REPORT_CASES,
  PackageSet,
  commitLockedFlake,
  createFleet,
  examplePackageSets,
  fleetFlake,
  uniquePackageSet,
  workingPackageSets
} from '../testkit/fleet'
import { runnerLog } from '../src/log/runner'
import { runnerContext } from '../src/runner/context'

// web updates, db builds before and fails after (a regression), legacy never evaluates, and the installer image
// is left out by action.yml's default exclude-hosts.
const HOSTS = REPORT_CASES.filter(h => ['web', 'db', 'installer-minimal', 'legacy'].includes(h.name))

interface CliRun {
  status: number
  stdout: string
  stderr: string
  /** Processes (nix, git) the run started. */
  processes: number
}

/** Variables a shell outside a runner does not have. */
const RUNNER_VARIABLE = /^(INPUT_|GITHUB_|RUNNER_|FORGEJO_|GITEA_|STATE_)/

/** Runs the command line in this process, as from a shell in `cwd` with `env` added. */
async function cli(
  argv: string[],
  options: { cwd?: string; env?: Record<string, string>; tty?: boolean } = {}
): Promise<CliRun> {
  const saved = process.env
  process.env = Object.fromEntries(Object.entries(saved).filter(([k]) => !RUNNER_VARIABLE.test(k)))
  Object.assign(process.env, options.env)
  // nix, nix-store and git behind counting wrappers, first on PATH, where the run looks for them.
  const counter = countingNix(['nix', 'nix-store', 'git'])
  process.env.PATH = `${counter.dir}:${process.env.PATH ?? ''}`
  let stdout = ''
  let stderr = ''
  try {
    const status = await runCli(argv, {
      stdout: { write: (t: string) => (stdout += t) },
      stderr: { write: (t: string) => (stderr += t), isTTY: options.tty },
      cwd: options.cwd ?? process.cwd()
    })
    return { status, stdout, stderr, processes: counter.count() }
  } finally {
    counter.remove()
    process.env = saved
    process.exitCode = 0
  }
}

describe('the command line on a fixture fleet (real Nix, real git)', () => {
  let fleet: Fleet
  let sets: { before: PackageSet; after: PackageSet }
  let out: string

  beforeAll(() => {
    const salt = `cli-${process.pid}-${Date.now()}`
    const ex = examplePackageSets()
    sets = { before: uniquePackageSet(ex.before, salt), after: uniquePackageSet(ex.after, salt) }
    fleet = createFleet(sets.before, HOSTS)
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-cli-out-'))
  })
  afterAll(() => {
    fleet.remove()
    fs.rmSync(out, { recursive: true, force: true })
  })

  test("defaults are action.yml's: the installer is excluded, a dry run, exit 0 when nothing changed", async () => {
    const json = path.join(out, 'first.json')
    const r = await cli(['--flake', fleet.fleetDir, '--json', json], { cwd: os.tmpdir() })
    expect(r.stderr).not.toMatch(/^error:/m)
    expect(r.status).toBe(0)
    const report = JSON.parse(fs.readFileSync(json, 'utf8')) as {
      hosts: { host: string }[]
      excluded: string[]
      dryRun: boolean
      changed: boolean
    }
    expect(report.hosts.map(h => h.host)).toEqual(['db', 'legacy', 'web'])
    expect(report.excluded).toEqual(['installer-minimal'])
    expect(report.dryRun).toBe(true)
    expect(report.changed).toBe(false)
    expect(r.stdout).toContain('flake.lock is up to date')
    // Progress: a line per phase with its host count and time; no workflow commands, no outputs.
    expect(r.stderr).toMatch(/^Discover hosts: 3 hosts, 1 excluded, \d+\.\d s$/m)
    expect(r.stderr).toMatch(/^Build before the update \(3 hosts\): 2 built, 1 failed, \d+\.\d s$/m)
    expect(r.stdout + r.stderr).not.toContain('::')
  })

  test('after a bump: the report on stdout and in --report, exit 1 for the regression, flake.lock put back', async () => {
    fleet.bump(sets.after)
    const lockBefore = fleet.lock()
    const md = path.join(out, 'report.md')
    const json = path.join(out, 'report.json')
    const r = await cli(['--report', md, '--json', json], { cwd: fleet.fleetDir })
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('error: Hosts that built before the update fail after it: db')
    expect(fleet.lock()).toBe(lockBefore)
    expect(r.stdout).toContain('| web | ✅ updated |')
    expect(r.stdout).toContain('| db | ❌ regressed |')
    expect(fs.readFileSync(md, 'utf8').trim()).toBe(r.stdout.trim())
    const report = JSON.parse(fs.readFileSync(json, 'utf8')) as { regressedHosts: string[]; changed: boolean }
    expect(report).toMatchObject({ regressedHosts: ['db'], changed: true })
    for (const phase of ['Build before the update', 'Build after the update'])
      expect(r.stderr).toMatch(
        new RegExp(`^${phase} \\(3 hosts\\): \\d built, \\d failed, \\d+\\.\\d s$`, 'm')
      )
    expect(r.stderr).toMatch(/^Update flake\.lock: 1 input updated, \d+\.\d s$/m)
    expect(r.stderr).toMatch(/^Diff closures \(1 host\): \d+\.\d s$/m)
  })

  test('--no-fail-on-regression: exit 0 with the same report; flags for inputs reach the run', async () => {
    const lockBefore = fleet.lock()
    const r = await cli(['--flake', fleet.fleetDir, '--no-fail-on-regression', '--exclude-hosts', '^$'])
    expect(r.status).toBe(0)
    expect(r.stdout).toContain('| db | ❌ regressed |')
    expect(r.stdout).toContain('| installer-minimal |')
    expect(fleet.lock()).toBe(lockBefore)
  })

  test('on a terminal the running phase counts its seconds in place; --verbose shows the log', async () => {
    const tty = await cli(['--flake', fleet.fleetDir, '--no-build'], { tty: true })
    expect(tty.status).toBe(0)
    expect(tty.stderr).toContain('\r\x1b[KDiscover hosts … 0 s')
    const verbose = await cli(['--flake', fleet.fleetDir, '--no-build', '--verbose'])
    expect(verbose.stderr).toContain('== Update flake.lock')
    expect(verbose.stderr).toContain('Updated inputs: pkgs')
  })

  test('a bad input: exit 2, naming the input, before anything is built', async () => {
    const lockBefore = fleet.lock()
    const r = await cli(['--flake', fleet.fleetDir, '--exclude-hosts', '('])
    expect(r.status).toBe(2)
    expect(r.stderr).toContain("error: Input 'exclude-hosts' is not a valid regular expression")
    expect(r.stderr).not.toContain('Discover hosts')
    expect(r.stdout).toBe('')
    // Only git's look-up of the checked-out branch (base-branch's default) ran.
    expect(r.processes).toBe(1)
    expect(fleet.lock()).toBe(lockBefore)

    const flag = await cli(['--flake', fleet.fleetDir, '--exclude_hosts', 'x'])
    expect(flag.status).toBe(2)
    expect(flag.stderr).toContain('did you mean --exclude-hosts?')

    const report = await cli(['--flake', fleet.fleetDir, '--report', path.join(out, 'missing', 'r.md')])
    expect(report.status).toBe(2)
    expect(report.stderr).toContain(`the directory ${path.join(out, 'missing')} does not exist`)
  })

  test('--publish without a token, a remote or a repository fails before any build, naming each', async () => {
    const lockBefore = fleet.lock()
    const r = await cli(['--flake', fleet.fleetDir, '--publish'])
    expect(r.status).toBe(2)
    expect(r.stderr).toContain('Publishing is not possible, so nothing was built')
    expect(r.stderr).toContain("Input 'token' is empty")
    expect(r.stderr).toContain("has no remote 'origin' to push the branch to")
    expect(r.stderr).toContain('GITHUB_REPOSITORY is not set')
    expect(r.stderr).not.toMatch(/Discover hosts|Build before/)
    expect(r.stdout).toBe('')
    expect(fleet.lock()).toBe(lockBefore)
  })

  test('--publish with GITHUB_TOKEN and a remote: the repository comes from its URL; the remote must answer', async () => {
    const git = (args: string[]): void => {
      execFileSync('git', args, { cwd: fleet.fleetDir, stdio: 'ignore' })
    }
    // Nothing listens on port 9 of the loopback: the remote does not answer.
    git(['remote', 'add', 'origin', 'http://127.0.0.1:9/fleet-org/fleet.git'])
    try {
      // The API URL cannot come from the remote's host: on Forgejo without one, that is missing too.
      const r = await cli(['--flake', fleet.fleetDir, '--publish', '--forge', 'forgejo'], {
        env: { GITHUB_TOKEN: 'secret-token-value' }
      })
      expect(r.status).toBe(2)
      expect(r.stderr).not.toContain("Input 'token' is empty")
      expect(r.stderr).not.toContain('GITHUB_REPOSITORY')
      expect(r.stderr).toContain("No API URL: set the input 'api-url'")
      expect(r.stderr).toContain(
        "git ls-remote failed (exit 128) with remote 'origin' (http://127.0.0.1:9/fleet-org/fleet.git)"
      )
      expect(r.stderr).not.toContain('secret-token-value')
      expect(r.stderr).not.toMatch(/Discover hosts|Build before/)
    } finally {
      git(['remote', 'remove', 'origin'])
    }
  })

  test('--publish: the base branch defaults to the checked-out one, and must exist on the remote', async () => {
    const bare = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-cli-bare-'))
    const git = (args: string[], cwd = fleet.fleetDir): string =>
      execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    const branch = git(['symbolic-ref', '--short', 'HEAD']).trim()
    git(['init', '-q', '--bare', bare], os.tmpdir())
    git(['push', '-q', bare, `HEAD:refs/heads/${branch}`])
    git(['remote', 'add', 'origin', bare])
    git(['checkout', '-q', '-b', 'feature'])
    try {
      const r = await cli(
        ['--flake', fleet.fleetDir, '--publish', '--api-url', 'http://127.0.0.1:9/api/v1'],
        {
          env: { GITHUB_TOKEN: 't0ken', GITHUB_REPOSITORY: 'fleet-org/fleet' }
        }
      )
      expect(r.status).toBe(2)
      expect(r.stderr).toContain("The base branch 'feature' does not exist on origin")
      expect(r.stderr).not.toMatch(/Discover hosts|Build before/)
    } finally {
      git(['checkout', '-q', branch])
      git(['branch', '-q', '-D', 'feature'])
      git(['remote', 'remove', 'origin'])
      fs.rmSync(bare, { recursive: true, force: true })
    }
  })

  test('an unreachable binary cache is named once, with how to set substituters; the run still works', async () => {
    // A fleet of its own, so that its systems are not in the store and Nix asks the cache for them.
    const salt = `cli-cache-${process.pid}-${Date.now()}`
    const own = createFleet(uniquePackageSet(examplePackageSets().before, salt), [HOSTS[0]])
    try {
      const nixConfig = `${process.env.NIX_CONFIG ?? ''}\nsubstituters = http://127.0.0.1:9`
      const r = await cli(['--flake', own.fleetDir], { env: { NIX_CONFIG: nixConfig } })
      expect(r.status).toBe(0)
      const notes = r.stderr
        .split('\n')
        .filter(l => l.includes('binary cache http://127.0.0.1:9 is unreachable'))
      expect(notes).toHaveLength(1)
      expect(notes[0]).toContain("NIX_CONFIG='substituters ='")
      expect(r.stdout).toContain('NixOS fleet update: 1 host (dry run)')
    } finally {
      own.remove()
    }
  })
})

describe('the command line on two flakes of one repository', () => {
  let fleet: Fleet
  let sets: { before: PackageSet; after: PackageSet }

  beforeAll(() => {
    const salt = `cli-flakes-${process.pid}-${Date.now()}`
    sets = workingPackageSets(salt)
    fleet = createFleet(sets.before, [{ name: 'web', packages: ['curl'] }])
    const lab = path.join(fleet.fleetDir, 'lab')
    fs.mkdirSync(lab)
    fs.writeFileSync(
      path.join(lab, 'flake.nix'),
      fleetFlake(fleet.pkgsDir, [{ name: 'laptop', packages: ['htop'] }])
    )
    commitLockedFlake(fleet.fleetDir, lab, 'lab flake')
  })
  afterAll(() => fleet.remove())

  test('--flake with a list: a part per flake in the report and report.json, both locks put back', async () => {
    fleet.bump(sets.after)
    const locks = ['flake.lock', 'lab/flake.lock'].map(f =>
      fs.readFileSync(path.join(fleet.fleetDir, f), 'utf8')
    )
    // From outside the repository, the second flake named through its own path.
    const json = path.join(fleet.root, 'report.json')
    const r = await cli(
      ['--flake', `${fleet.fleetDir},${path.join(fleet.fleetDir, 'lab')}`, '--json', json],
      {
        cwd: os.tmpdir()
      }
    )
    expect(r.stderr).not.toMatch(/^error:/m)
    expect(r.status).toBe(0)
    expect(r.stdout).toMatch(/^## NixOS fleet update: 2 flakes, 2 hosts/m)
    expect(r.stdout).toContain('### `.`: 1 host')
    expect(r.stdout).toContain('### `./lab`: 1 host')
    const report = JSON.parse(fs.readFileSync(json, 'utf8')) as { flakes: { flakeRef: string }[] }
    expect(report.flakes.map(f => f.flakeRef)).toEqual(['.', './lab'])
    expect(
      ['flake.lock', 'lab/flake.lock'].map(f => fs.readFileSync(path.join(fleet.fleetDir, f), 'utf8'))
    ).toEqual(locks)
  })

  test("a flake outside the first one's repository is refused, naming the input", async () => {
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-cli-other-'))
    try {
      fs.writeFileSync(path.join(other, 'flake.nix'), '{ outputs = _: { }; }\n')
      const r = await cli(['--flake', `${fleet.fleetDir},${other}`], { cwd: os.tmpdir() })
      expect(r.status).toBe(2)
      expect(r.stderr).toMatch(/Input 'flake' must be inside the workspace/)
    } finally {
      fs.rmSync(other, { recursive: true, force: true })
    }
  })
})

describe('the bundle run directly with INPUT_ variables, outside a runner', () => {
  let fleet: Fleet

  beforeAll(() => {
    const salt = `direct-${process.pid}-${Date.now()}`
    fleet = createFleet(uniquePackageSet(examplePackageSets().before, salt), HOSTS)
  })
  afterAll(() => fleet.remove())

  /** Runs the action's entry as `env INPUT_…=… node dist/index.js` would, in the fleet's directory. */
  async function direct(env: Record<string, string>): Promise<{ log: string; exitCode: number }> {
    const saved = process.env
    const cwd = process.cwd()
    process.env = {
      ...Object.fromEntries(Object.entries(saved).filter(([k]) => !RUNNER_VARIABLE.test(k))),
      ...env
    }
    const runnerTemp = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-direct-'))
    process.env.RUNNER_TEMP = runnerTemp
    let log = ''
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      log += chunk.toString()
      return true
    })
    try {
      process.chdir(fleet.fleetDir)
      await run({ log: runnerLog(), context: runnerContext() })
      return { log, exitCode: Number(process.exitCode ?? 0) }
    } finally {
      spy.mockRestore()
      process.chdir(cwd)
      process.env = saved
      process.exitCode = 0
      fs.rmSync(runnerTemp, { recursive: true, force: true })
    }
  }

  test("absent inputs take action.yml's defaults, and outputs are not dumped as ::set-output lines", async () => {
    const r = await direct({ 'INPUT_DRY-RUN': 'true' })
    expect(r.exitCode).toBe(0)
    expect(r.log).toContain('Hosts: db, legacy, web (excluded: installer-minimal)')
    expect(r.log).not.toContain('::set-output')
  })

  test('INPUT_DRY_RUN is not dry-run: a warning says so, and the publishing checks stop the run before any build', async () => {
    const lockBefore = fleet.lock()
    const r = await direct({ INPUT_DRY_RUN: 'true' })
    expect(r.log).toContain(
      "::warning::INPUT_DRY_RUN is ignored: the input 'dry-run' is read from INPUT_DRY-RUN"
    )
    expect(r.exitCode).toBe(1)
    expect(r.log).toContain("Input 'token' is empty")
    expect(r.log).not.toContain('Build before the update')
    expect(fleet.lock()).toBe(lockBefore)
  })

  test('a GITHUB_OUTPUT that does not exist fails at once, not after the work', async () => {
    const missing = path.join(os.tmpdir(), `nfu-no-such-dir-${process.pid}`, 'output')
    const r = await direct({ 'INPUT_DRY-RUN': 'true', GITHUB_OUTPUT: missing })
    expect(r.exitCode).toBe(1)
    expect(r.log).toContain(`GITHUB_OUTPUT is ${missing}, which does not exist`)
    expect(r.log).not.toContain('Discover hosts')
  })
})
