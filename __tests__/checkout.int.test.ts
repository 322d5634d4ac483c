import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as path from 'path'
import { runAction } from './fixtures/action'
import { Fleet, createFleet, examplePackageSets, fleetFlake, git, uniquePackageSet } from '../testkit/fleet'

const HOSTS = [{ name: 'web', packages: ['curl'] }]

function newFleet(tag: string): Fleet {
  const { before } = examplePackageSets()
  return createFleet(uniquePackageSet(before, `${tag}-${process.pid}-${Date.now()}`), HOSTS)
}

/** `git status` of the flake's files: empty when the checkout is as committed. */
function status(dir: string): string {
  return git(dir, ['status', '--porcelain', '--untracked-files=all', '--', 'flake.nix', 'flake.lock']).trim()
}

interface Report {
  lockChanges: { input: string; old?: unknown; new?: unknown }[]
  lockCreated?: boolean
}

describe('the lock file of the checked-out commit is the old one', () => {
  let fleet: Fleet
  beforeEach(() => {
    fleet = newFleet('lock')
  })
  afterEach(() => fleet.remove())

  test('an input that flake.nix names and flake.lock lacks is reported as new, and a dry run leaves no trace', async () => {
    // A second input, committed in flake.nix without locking it.
    const otherDir = path.join(fleet.root, 'other')
    fs.mkdirSync(otherDir)
    fs.writeFileSync(path.join(otherDir, 'README'), 'one\n')
    git(otherDir, ['init', '-q', '-b', 'main'])
    git(otherDir, ['add', '-A'])
    git(otherDir, ['commit', '-qm', 'other'])
    fs.writeFileSync(path.join(fleet.fleetDir, 'flake.nix'), fleetFlake(fleet.pkgsDir, HOSTS, otherDir))
    git(fleet.fleetDir, ['commit', '-qam', 'add an input'])
    const committed = fleet.lock()

    const r = await runAction(fleet.fleetDir, { 'dry-run': 'true' })
    expect(r.exitCode).toBe(0)
    expect(r.outputs.changed).toBe('true')
    expect(JSON.parse(r.outputs['updated-inputs'])).toEqual(['other'])
    expect(r.outputs.report).toMatch(/\| other \| – \| `[0-9a-f]{12}` \| – → [0-9-]{10} \| \(new\) \|/)
    const report = JSON.parse(fs.readFileSync(r.outputs['report-json'], 'utf8')) as Report
    expect(report.lockChanges.map(c => c.input)).toEqual(['other'])
    expect(fleet.lock()).toBe(committed)
    expect(status(fleet.fleetDir)).toBe('')
  })

  test('a commit without flake.lock: the lock file is created and reported; a dry run leaves none', async () => {
    git(fleet.fleetDir, ['rm', '-q', 'flake.lock'])
    git(fleet.fleetDir, ['commit', '-qm', 'no lock'])

    const r = await runAction(fleet.fleetDir, { 'dry-run': 'true' })
    expect(r.exitCode).toBe(0)
    expect(r.outputs.changed).toBe('true')
    expect(JSON.parse(r.outputs['updated-inputs'])).toEqual(['pkgs'])
    expect(r.summary).toContain('lock file created (1 input locked)')
    expect(r.summary).not.toContain('flake.lock is up to date')
    expect(r.outputs.report).toMatch(/\| pkgs \| – \| `[0-9a-f]{12}` \| – → [0-9-]{10} \| \(new\) \|/)
    const report = JSON.parse(fs.readFileSync(r.outputs['report-json'], 'utf8')) as Report
    expect(report.lockCreated).toBe(true)
    // Nix stages a lock file it creates; the dry run takes back both the file and the index entry.
    expect(fs.existsSync(path.join(fleet.fleetDir, 'flake.lock'))).toBe(false)
    expect(status(fleet.fleetDir)).toBe('')
    expect(git(fleet.fleetDir, ['ls-files', '--', 'flake.lock']).trim()).toBe('')
  })
})

describe('a checkout whose flake files differ from its commit is refused before any evaluation', () => {
  let fleet: Fleet
  beforeAll(() => {
    fleet = newFleet('dirty')
  })
  afterAll(() => fleet.remove())
  afterEach(() => git(fleet.fleetDir, ['reset', '-q', '--hard']))

  test.each<[string, () => void, string]>([
    [
      'flake.lock changed by an earlier step',
      () => fs.appendFileSync(path.join(fleet.fleetDir, 'flake.lock'), '\n'),
      'flake.lock in'
    ],
    [
      'flake.nix changed and staged',
      () => {
        fs.appendFileSync(path.join(fleet.fleetDir, 'flake.nix'), '# edited\n')
        git(fleet.fleetDir, ['add', 'flake.nix'])
      },
      'flake.nix in'
    ],
    [
      'both changed',
      () => {
        fs.appendFileSync(path.join(fleet.fleetDir, 'flake.nix'), '# edited\n')
        fs.rmSync(path.join(fleet.fleetDir, 'flake.lock'))
      },
      'flake.nix and flake.lock in'
    ]
  ])('%s', async (_label, change, files) => {
    change()
    const r = await runAction(fleet.fleetDir, { 'dry-run': 'true' })
    expect(r.exitCode).toBe(1)
    expect(r.log).toMatch(
      new RegExp(`::error::${files.replace(/\./g, '\\.')} .* from the checked-out commit [0-9a-f]{12}`)
    )
    expect(r.log).not.toContain('Discover hosts')
    expect(r.log).not.toContain('Update flake.lock')
  })

  test('other changed files do not matter', async () => {
    fs.writeFileSync(path.join(fleet.fleetDir, 'NOTES'), 'scratch\n')
    const r = await runAction(fleet.fleetDir, { 'dry-run': 'true', build: 'false' })
    expect(r.exitCode).toBe(0)
    fs.rmSync(path.join(fleet.fleetDir, 'NOTES'))
  })
})

describe('commits that the base branch does not have are refused before building', () => {
  let fleet: Fleet
  let bare: string
  beforeAll(() => {
    fleet = newFleet('ahead')
    bare = path.join(fleet.root, 'remote.git')
    execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare])
    git(fleet.fleetDir, ['push', '-q', bare, 'main:main'])
  })
  afterAll(() => fleet.remove())

  function clone(name: string, args: string[] = []): string {
    const dir = path.join(fleet.root, name)
    execFileSync('git', ['clone', '-q', ...args, `file://${bare}`, dir], { stdio: 'pipe' })
    return dir
  }

  /** Commits a file on main of the remote, through a clone of its own. */
  function advanceRemote(message: string): void {
    const dir = clone(`advance-${Date.now()}`)
    fs.writeFileSync(path.join(dir, 'NOTES'), `${message}\n`)
    git(dir, ['add', 'NOTES'])
    git(dir, ['commit', '-qm', message])
    git(dir, ['push', '-q', 'origin', 'main'])
  }

  const publishing = { 'dry-run': 'false', token: 'x', 'base-branch': 'main' }

  test('a checkout one commit ahead of the base names the commit and builds nothing', async () => {
    const dir = clone('staging', ['--depth', '1'])
    fs.writeFileSync(path.join(dir, 'hosts.txt'), 'staging only\n')
    git(dir, ['add', 'hosts.txt'])
    git(dir, ['commit', '-qm', 'Try a new host on staging'])
    const sha = git(dir, ['rev-parse', 'HEAD']).trim()
    const r = await runAction(dir, publishing, { GITHUB_REPOSITORY: 'infra/fleet' })
    expect(r.exitCode).toBe(1)
    expect(r.log).toContain(
      `::error::The checked-out commit ${sha.slice(0, 12)} has 1 commit that the base branch 'main' does not`
    )
    expect(r.log).toContain(`${sha.slice(0, 12)} Try a new host on staging`)
    expect(r.log).not.toContain('Discover hosts')
  })

  test('a shallow checkout behind the base is fine', async () => {
    const dir = clone('behind', ['--depth', '1'])
    advanceRemote('a later commit on main')
    advanceRemote('and another')
    const r = await runAction(dir, publishing, { GITHUB_REPOSITORY: 'infra/fleet' })
    expect(r.exitCode).toBe(0)
    expect(r.outputs.changed).toBe('false')
  })

  test('a base branch that the remote does not have is named', async () => {
    const dir = clone('nobase')
    const r = await runAction(
      dir,
      { ...publishing, 'base-branch': 'trunk' },
      { GITHUB_REPOSITORY: 'infra/fleet' }
    )
    expect(r.exitCode).toBe(1)
    // Named before anything is built (by the publishing pre-flight, or by the comparison itself).
    expect(r.log).toContain("The base branch 'trunk' does not exist on origin")
    expect(r.log).not.toContain('Discover hosts')
  })
})
