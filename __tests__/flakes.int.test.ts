import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as path from 'path'
import { lockedInputs } from '../src/nix/lock'
import { runAction } from './fixtures/action'
import { checkoutOnForge, forgeEnv, syncCheckout } from './fixtures/checkout'
import {
  Fleet,
  HostSpec,
  commitLockedFlake,
  createFleet,
  fleetFlake,
  git,
  workingPackageSets
} from '../testkit/fleet'
import { ForgeKind, TestForge } from '../testkit/forge/server'

const TOKEN = 'tok_7c2a9e4b1d0f3a6c8e5b2d9f0a1c4e7b'

const packageSet = workingPackageSets

const ROOT_HOSTS: HostSpec[] = [
  { name: 'web', packages: ['curl', 'htop'], services: ['nginx'] },
  { name: 'db', packages: ['curl', 'rsync'], extraPackages: ['check "schema-check" (value "tools")'] }
]
// The second flake's host is named like one of the first's: the outputs tell them apart by their flake.
const LAB_HOSTS: HostSpec[] = [
  { name: 'web', packages: ['curl'] },
  { name: 'laptop', packages: ['htop'] }
]

/**
 * A repository with two flakes: the fleet's at the top (inputs pkgs and tools) and `lab/` (input pkgs only),
 * both locked and committed.
 */
function twoFlakes(salt: string): { fleet: Fleet; sets: ReturnType<typeof packageSet> } {
  const sets = packageSet(salt)
  const fleet = createFleet(sets.before, ROOT_HOSTS, { inputs: { tools: `ok ${salt}` } })
  const lab = path.join(fleet.fleetDir, 'lab')
  fs.mkdirSync(lab)
  fs.writeFileSync(path.join(lab, 'flake.nix'), fleetFlake(fleet.pkgsDir, LAB_HOSTS))
  commitLockedFlake(fleet.fleetDir, lab, 'lab flake')
  return { fleet, sets }
}

const show = (bare: string, spec: string): string =>
  execFileSync('git', ['--git-dir', bare, 'show', spec], { encoding: 'utf8' })
const headOf = (dir: string): string =>
  execFileSync('git', ['-C', dir, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim()

describe.each<ForgeKind>(['github', 'forgejo'])('%s: several flakes in one repository', kind => {
  const salt = `flakes-${kind}-${process.pid}-${Date.now()}`
  let fleet: Fleet
  let sets: ReturnType<typeof packageSet>
  let forge: TestForge
  let checkout: string
  let bare: string
  const env = (): Record<string, string> => forgeEnv(forge, { owner: 'infra', repo: 'fleet', kind }, '11')

  beforeAll(async () => {
    ;({ fleet, sets } = twoFlakes(salt))
    const c = await checkoutOnForge(fleet, { kind, owner: 'infra', repo: 'fleet', token: TOKEN })
    forge = c.forge
    checkout = c.checkout
    bare = c.bare
  })
  afterAll(async () => {
    await forge.close()
    fleet.remove()
  })

  test('one run, one commit with both locks, one pull request with a part per flake', async () => {
    const base = headOf(checkout)
    fleet.bump(sets.after, 'pkgs: upgrades')
    const r = await runAction(checkout, { token: TOKEN, 'base-branch': 'main', flake: '.\nlab' }, env())
    expect(r.exitCode).toBe(0)
    expect(r.outputs['pr-operation']).toBe('created')
    expect(r.outputs.changed).toBe('true')
    // Names in the list outputs carry their flake: the two `web` hosts stay apart.
    expect(JSON.parse(r.outputs.hosts)).toEqual(['.#db', '.#web', './lab#laptop', './lab#web'])
    expect(JSON.parse(r.outputs['updated-inputs'])).toEqual(['.#pkgs', './lab#pkgs'])
    expect(JSON.parse(r.outputs['regressed-hosts'])).toEqual([])
    const json = JSON.parse(fs.readFileSync(r.outputs['report-json'], 'utf8')) as {
      changed: boolean
      flakes: { flakeRef: string; hosts: { host: string }[] }[]
    }
    expect(json.changed).toBe(true)
    expect(json.flakes.map(f => f.flakeRef)).toEqual(['.', './lab'])
    expect(json.flakes[1].hosts.map(h => h.host).sort()).toEqual(['laptop', 'web'])

    // One commit on top of the base, holding both new locks and nothing else.
    const commit = r.outputs.commit
    expect(show(bare, `${commit}^`).split('\n')[0]).toBe(`commit ${base}`)
    const changed = execFileSync('git', ['--git-dir', bare, 'diff', '--name-only', base, commit], {
      encoding: 'utf8'
    })
    expect(changed.trim().split('\n')).toEqual(['flake.lock', 'lab/flake.lock'])
    const pkgsHead = headOf(fleet.pkgsDir)
    for (const file of ['flake.lock', 'lab/flake.lock']) {
      expect(lockedInputs(show(bare, `${commit}:${file}`)).get('pkgs')?.rev).toBe(pkgsHead)
    }
    const message = execFileSync('git', ['--git-dir', bare, 'log', '-1', '--format=%B', commit], {
      encoding: 'utf8'
    })
    expect(message).toMatch(/^\.: updated inputs:\n- pkgs: [0-9a-f]{12} → [0-9a-f]{12}/m)
    expect(message).toMatch(/^\.\/lab: updated inputs:\n- pkgs: [0-9a-f]{12} → [0-9a-f]{12}/m)

    // The pull request: a heading for the run, a part per flake with its own sections.
    const pulls = forge.pulls.filter(p => p.head === 'auto/flake-update')
    expect(pulls).toHaveLength(1)
    for (const text of [pulls[0].body, r.summary]) {
      expect(text).toMatch(/^## NixOS fleet update: 2 flakes, 4 hosts$/m)
      expect(text).toContain('- `.`: 1 input updated')
      expect(text).toContain('- `./lab`: 1 input updated')
      expect(text).toMatch(/^### `\.`: 2 hosts$/m)
      expect(text).toMatch(/^### `\.\/lab`: 2 hosts$/m)
      expect(text).toMatch(/^#### Hosts$/m)
      expect(text).not.toMatch(/^### Hosts$/m)
      expect(text.indexOf('### `./lab`')).toBeGreaterThan(text.indexOf('### `.`'))
      expect(text).toMatch(/\| laptop \| ✅ updated \|/)
    }
    // The workspace holds the new locks, as after any update; a new workflow run starts from a clean checkout.
    expect(git(checkout, ['status', '--porcelain']).split('\n').filter(Boolean)).toEqual([
      ' M flake.lock',
      ' M lab/flake.lock'
    ])
    git(checkout, ['checkout', '-q', '--', '.'])

    // The same update again: nothing new to push, the pull request stays.
    const again = await runAction(checkout, { token: TOKEN, 'base-branch': 'main', flake: '.\nlab' }, env())
    expect(again.exitCode).toBe(0)
    expect(again.log).toContain('already holds these lock files: nothing to push')
    expect(again.outputs.commit).toBe(commit)
  })

  test('a flake whose every changed input is held back is left out; with the other up to date, no pull request', async () => {
    // The pull request of the first test is merged (fast-forward).
    const merged = execFileSync('git', ['--git-dir', bare, 'rev-parse', 'auto/flake-update'], {
      encoding: 'utf8'
    })
    execFileSync('git', ['--git-dir', bare, 'update-ref', 'refs/heads/main', merged.trim()])
    syncCheckout({ bare, checkout })
    const base = headOf(checkout)
    // tools (only the top flake has it) breaks db; the lab flake is up to date.
    fleet.bumpInput('tools', `broken ${salt}`, 'tools: the schema breaks')
    const r = await runAction(
      checkout,
      { token: TOKEN, 'base-branch': 'main', flake: '.,lab', branch: 'auto/tools' },
      env()
    )
    // db still fails with the only change there is: fail-on-regression fails the step, as with one flake.
    expect(r.exitCode).toBe(1)
    expect(r.log).toContain('::error::Hosts that built before the update fail after it: .#db')
    expect(r.log).toContain('No pull request for .: every changed input breaks a host and is held back')
    expect(r.outputs['pr-operation']).toBe('none')
    expect(JSON.parse(r.outputs['held-back-inputs'])).toEqual([
      expect.objectContaining({ flake: '.', input: 'tools', hosts: ['db'] })
    ])
    expect(r.summary).toContain('- `./lab`: up to date')
    expect(forge.pulls.filter(p => p.head === 'auto/tools')).toHaveLength(0)
    expect(headOf(checkout)).toBe(base)
    // The lab flake's lock was not touched.
    expect(git(checkout, ['status', '--porcelain'])).toBe(' M flake.lock\n')
  })
})

describe('several flakes: what is refused', () => {
  let fleet: Fleet
  beforeAll(() => {
    fleet = twoFlakes(`flakes-refused-${process.pid}-${Date.now()}`).fleet
  })
  afterAll(() => fleet.remove())

  test('modes other than update take one flake', async () => {
    const r = await runAction(fleet.fleetDir, { flake: '.\nlab', mode: 'review', 'dry-run': 'true' })
    expect(r.exitCode).toBe(1)
    expect(r.log).toMatch(/Input 'flake' names 2 directories; mode review works on one flake/)
  })

  test('flakes in different git repositories cannot share one commit', async () => {
    const other = path.join(fleet.fleetDir, 'vendored')
    fs.mkdirSync(other)
    fs.writeFileSync(path.join(other, 'flake.nix'), fleetFlake(fleet.pkgsDir, LAB_HOSTS))
    git(other, ['init', '-q', '-b', 'main'])
    commitLockedFlake(other, other, 'vendored')
    try {
      const r = await runAction(fleet.fleetDir, { flake: '.\nvendored', 'dry-run': 'true' })
      expect(r.exitCode).toBe(1)
      expect(r.log).toMatch(/the flakes of one run must share a repository/)
    } finally {
      fs.rmSync(other, { recursive: true, force: true })
    }
  })

  test('a dry run on both puts both locks back', async () => {
    const before = ['flake.lock', 'lab/flake.lock'].map(f =>
      fs.readFileSync(path.join(fleet.fleetDir, f), 'utf8')
    )
    fleet.bump(packageSet(`dry-${process.pid}`).after, 'pkgs: next')
    const r = await runAction(fleet.fleetDir, { flake: '.\nlab', 'dry-run': 'true' })
    expect(r.exitCode).toBe(0)
    expect(JSON.parse(r.outputs['updated-inputs'])).toEqual(['.#pkgs', './lab#pkgs'])
    expect(r.summary).toMatch(/^## NixOS fleet update: 2 flakes, 4 hosts \(dry run\)$/m)
    const after = ['flake.lock', 'lab/flake.lock'].map(f =>
      fs.readFileSync(path.join(fleet.fleetDir, f), 'utf8')
    )
    expect(after).toEqual(before)
    expect(git(fleet.fleetDir, ['status', '--porcelain'])).toBe('')
  })

  test("hosts: a plain name selects that host wherever it is, flake#name one flake's; a flake with none keeps its lock", async () => {
    fleet.bump(packageSet(`hosts-${process.pid}`).after, 'pkgs: next again')
    // laptop is only in lab: the top flake has none of the hosts named and is not updated or built.
    const one = await runAction(fleet.fleetDir, { flake: '.\nlab', hosts: 'laptop', 'dry-run': 'true' })
    expect(one.exitCode).toBe(0)
    expect(JSON.parse(one.outputs.hosts)).toEqual(['./lab#laptop'])
    expect(JSON.parse(one.outputs['updated-inputs'])).toEqual(['./lab#pkgs'])
    expect(one.log).toContain(".: input 'hosts' names none of its hosts, so its lock is left as it is")
    expect(one.log).not.toMatch(/^::group::\.: /m)
    expect(one.log).toMatch(/^::group::\.\/lab: Build after the update$/m)

    // web is in both: `.#web` takes the top flake's only; db (top only) and lab's laptop by name.
    const two = await runAction(fleet.fleetDir, {
      flake: '.\nlab',
      hosts: '.#web, db, lab#laptop',
      'dry-run': 'true'
    })
    expect(two.exitCode).toBe(0)
    expect(JSON.parse(two.outputs.hosts)).toEqual(['.#db', '.#web', './lab#laptop'])
    expect(git(fleet.fleetDir, ['status', '--porcelain'])).toBe('')
  })

  test('hosts: a name no flake has, or a host of another flake than the one named, is refused before any build', async () => {
    for (const [hosts, message] of [
      ['mail', `Input 'hosts' names "mail", in nixosConfigurations of none of the flakes ., ./lab`],
      [
        './lab#db',
        `Input 'hosts' names "./lab#db", not in nixosConfigurations of ./lab (it has: laptop, web)`
      ]
    ]) {
      const r = await runAction(fleet.fleetDir, { flake: '.\nlab', hosts, 'dry-run': 'true' })
      expect(r.exitCode).toBe(1)
      expect(r.log).toContain(message)
      expect(r.log).not.toMatch(/Build before the update/)
    }
  })
})
