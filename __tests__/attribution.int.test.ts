import * as fs from 'fs'
import * as path from 'path'
import { lockedInputs } from '../src/nix/lock'
import { runAction } from './fixtures/action'
import { checkoutOnForge, forgeEnv } from './fixtures/checkout'
import { Fleet, HostSpec, createFleet, workingPackageSets } from '../testkit/fleet'
import { TestForge } from '../testkit/forge/server'

const TOKEN = 'tok_4e1f0c2b9a8d7e6f5a4b3c2d1e0f9a8b'

const packageSet = workingPackageSets

interface HeldBackOutput {
  input: string
  old: string
  new: string
  hosts: string[]
  firstBad: string | null
}

const heldBack = (outputs: Record<string, string>): HeldBackOutput[] =>
  JSON.parse(outputs['held-back-inputs']) as HeldBackOutput[]

describe('an input that breaks a host is named and held back; the rest is published', () => {
  const salt = `attr-${process.pid}-${Date.now()}`
  const sets = packageSet(salt)
  const hosts: HostSpec[] = [
    { name: 'web', packages: ['curl', 'htop'], services: ['nginx'] },
    { name: 'db', packages: ['curl', 'rsync'], extraPackages: ['check "schema-check" (value "tools")'] }
  ]
  let fleet: Fleet
  let forge: TestForge
  let checkout: string
  let bare: string

  beforeAll(async () => {
    fleet = createFleet(sets.before, hosts, { inputs: { tools: `ok ${salt}` } })
    const c = await checkoutOnForge(fleet, { kind: 'github', owner: 'infra', repo: 'fleet', token: TOKEN })
    forge = c.forge
    checkout = c.checkout
    bare = c.bare
  })
  afterAll(async () => {
    await forge.close()
    fleet.remove()
  })

  test('tools breaks db, pkgs upgrades every host: the pull request updates pkgs only', async () => {
    const oldLock = fleet.lock()
    fleet.bump(sets.after, 'pkgs: upgrades')
    const toolsNew = fleet.bumpInput('tools', `broken ${salt}`, 'tools: the schema breaks')
    const r = await runAction(
      checkout,
      { token: TOKEN, 'base-branch': 'main' },
      forgeEnv(forge, { owner: 'infra', repo: 'fleet', kind: 'github' }, '7')
    )
    expect(r.log).toContain('Held back tools: 1 of 1 regressed hosts build')
    expect(r.log).toContain('Held back pkgs: 0 of 1 regressed hosts build')
    // The proposed lock builds every host: nothing regressed in what the pull request proposes.
    expect(r.exitCode).toBe(0)
    expect(JSON.parse(r.outputs['regressed-hosts'])).toEqual([])
    expect(JSON.parse(r.outputs['updated-inputs'])).toEqual(['pkgs'])
    const held = heldBack(r.outputs)
    const old = lockedInputs(oldLock)
    expect(held).toEqual([
      { input: 'tools', old: old.get('tools')?.rev, new: toolsNew, hosts: ['db'], firstBad: null }
    ])

    // The branch's lock: tools at its old revision, pkgs at its new one.
    expect(r.outputs['pr-operation']).toBe('created')
    const { execFileSync } = await import('child_process')
    const branchLock = execFileSync('git', ['--git-dir', bare, 'show', 'auto/flake-update:flake.lock'], {
      encoding: 'utf8'
    })
    const locked = lockedInputs(branchLock)
    expect(locked.get('tools')?.rev).toBe(old.get('tools')?.rev)
    expect(locked.get('pkgs')?.rev).toBe(
      execFileSync('git', ['-C', fleet.pkgsDir, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim()
    )
    const message = execFileSync(
      'git',
      ['--git-dir', bare, 'log', '-1', '--format=%B', 'auto/flake-update'],
      {
        encoding: 'utf8'
      }
    )
    expect(message).toContain('- pkgs:')
    expect(message).not.toContain('- tools:')

    // The section, in the pull request's body and the summary alike.
    const body = forge.pulls[0].body
    for (const text of [body, r.summary]) {
      expect(text).toContain('### Held back (1)')
      expect(text).toMatch(/- \*\*tools\*\* `[0-9a-f]{12}` → `[0-9a-f]{12}`/)
      expect(text).toContain('db: fails to build `schema-check`')
      // Nix 2.8 locks `ref = "main"`, newer Nix `ref = "refs/heads/main"`: the reference keeps the lock's.
      const ref = `(main|refs%2Fheads%2Fmain)`
      expect(text).toMatch(
        new RegExp(
          `Reproduce: \`nix build \\.#nixosConfigurations\\.db\\.config\\.system\\.build\\.toplevel --override-input tools 'git\\+file://${fleet.inputDir('tools')}\\?ref=${ref}&rev=${toolsNew}'\``
        )
      )
    }
    // The fleet table shows the proposed lock: db gets the package upgrades, it is not regressed.
    expect(r.summary).toMatch(/\| db \| ✅ updated \|/)
    expect(r.summary).not.toContain('❌ regressed')
    expect(r.summary).toMatch(/\| pkgs \|/)
    expect(r.summary).not.toMatch(/\| tools \|/)
  })
})

describe('attribution in dry runs', () => {
  test('a regression that needs two inputs together is reported as such; both are held back', async () => {
    const salt = `together-${process.pid}-${Date.now()}`
    const sets = packageSet(salt)
    const fleet = createFleet(
      sets.before,
      [
        { name: 'web', packages: ['curl'] },
        {
          name: 'db',
          packages: ['curl'],
          extraPackages: [
            `check "pair-check" (if value "a" == "2" && value "b" == "2" then "broken ${salt}" else "ok ${salt}")`
          ]
        }
      ],
      { inputs: { a: '1', b: '1' } }
    )
    try {
      fleet.bump(sets.after, 'pkgs: upgrades')
      fleet.bumpInput('a', '2')
      fleet.bumpInput('b', '2')
      const r = await runAction(fleet.fleetDir, { 'dry-run': 'true', 'fail-on-regression': 'false' })
      // pkgs, a, b held back in turn: a and b each fix db, so db needs them together; no build of all-but-one.
      expect(r.log).toMatch(/Held back a: 1 of 1 regressed hosts build/)
      expect(r.log).toMatch(/Held back b: 1 of 1 regressed hosts build/)
      expect(r.log).toMatch(/Held back pkgs: 0 of 1 regressed hosts build/)
      expect(r.log).not.toContain('holding back all inputs but one')
      expect(heldBack(r.outputs).map(h => [h.input, h.hosts])).toEqual([
        ['a', ['db']],
        ['b', ['db']]
      ])
      expect(r.summary).toContain('db: fails to build `pair-check` (needs several inputs together: with b)')
      expect(r.summary).toContain('db: fails to build `pair-check` (needs several inputs together: with a)')
      expect(JSON.parse(r.outputs['updated-inputs'])).toEqual(['pkgs'])
      expect(JSON.parse(r.outputs['regressed-hosts'])).toEqual([])
    } finally {
      fleet.remove()
    }
  })

  test('hold-back: none names the input and proposes the whole update; attribution-max-builds: 0 searches nothing', async () => {
    const salt = `none-${process.pid}-${Date.now()}`
    const sets = packageSet(salt)
    const fleet = createFleet(
      sets.before,
      [
        { name: 'web', packages: ['curl'] },
        { name: 'db', packages: ['curl'], extraPackages: ['check "schema-check" (value "tools")'] }
      ],
      { inputs: { tools: `ok ${salt}` } }
    )
    try {
      fleet.bump(sets.after, 'pkgs: upgrades')
      fleet.bumpInput('tools', `broken ${salt}`)
      const r = await runAction(fleet.fleetDir, { 'dry-run': 'true', 'hold-back': 'none' })
      expect(r.log).toContain('Held back tools: 1 of 1 regressed hosts build')
      expect(r.exitCode).toBe(1)
      expect(JSON.parse(r.outputs['regressed-hosts'])).toEqual(['db'])
      expect(JSON.parse(r.outputs['updated-inputs'])).toEqual(['pkgs', 'tools'])
      expect(heldBack(r.outputs)).toEqual([])
      expect(r.summary).toContain('### Inputs that break hosts')
      expect(r.summary).toContain(
        'db: fails to build `schema-check`. Reproduce: `nix build .#nixosConfigurations.db.config.system.build.toplevel`'
      )
      expect(r.summary).not.toContain('### Held back')
      expect(r.summary).toMatch(/\| db \| ❌ regressed \|/)

      const off = await runAction(fleet.fleetDir, { 'dry-run': 'true', 'attribution-max-builds': '0' })
      expect(off.log).not.toContain('Held back')
      expect(off.summary).not.toMatch(/### (Held back|Inputs that break hosts)/)
      expect(JSON.parse(off.outputs['regressed-hosts'])).toEqual(['db'])
    } finally {
      fleet.remove()
    }
  })

  describe('bisecting a held-back input with 20 commits', () => {
    const salt = `bisect-${process.pid}-${Date.now()}`
    const sets = packageSet(salt)
    let fleet: Fleet
    let revs: string[]
    beforeAll(() => {
      fleet = createFleet(
        sets.before,
        [
          { name: 'web', packages: ['curl'] },
          { name: 'db', packages: ['curl'], extraPackages: ['check "schema-check" (value "tools")'] }
        ],
        { inputs: { tools: `ok 0 ${salt}` } }
      )
      // A linear history: commit 13 of 20 breaks the check.
      revs = Array.from({ length: 20 }, (_, i) =>
        fleet.bumpInput(
          'tools',
          `${i + 1 >= 13 ? 'broken' : 'ok'} ${i + 1} ${salt}`,
          `tools: change ${i + 1}`
        )
      )
    })
    afterAll(() => fleet.remove())

    test('one changed input is named without a build, and bisect finds its first bad commit', async () => {
      const r = await runAction(fleet.fleetDir, {
        'dry-run': 'true',
        'fail-on-regression': 'false',
        bisect: 'true'
      })
      expect(r.log).not.toMatch(/Held back tools:/)
      expect(r.log).toMatch(/Bisecting tools: 20 commits, at most 8 builds/)
      expect(heldBack(r.outputs)).toEqual([
        expect.objectContaining({ input: 'tools', hosts: ['db'], new: revs[19], firstBad: revs[12] })
      ])
      expect(r.summary).toContain(
        `First bad commit of tools for db: \`${revs[12].slice(0, 12)}\` tools: change 13 (20 commits, `
      )
      // Everything is held back: nothing left to propose.
      expect(r.summary).toContain('Every changed input breaks a host: nothing is left to update')
      expect(r.log).toContain('No pull request: every changed input breaks a host and is held back')
      const steps = (r.log.match(/Bisecting tools: [0-9a-f]{12} (builds|fails)/g) ?? []).length
      expect(steps).toBeLessThanOrEqual(5)
    })

    test('a bound too small for the history gives the range it narrowed to', async () => {
      const r = await runAction(fleet.fleetDir, {
        'dry-run': 'true',
        'fail-on-regression': 'false',
        bisect: 'true',
        'bisect-max-builds': '2'
      })
      // Steps: commit 10 (index 9) builds, commit 15 (index 14) fails: the first bad one is among 11..15.
      expect(r.summary).toContain(
        `Bisect of tools for db narrowed 20 commits to 5 after 2 builds (the bound): the first bad commit is after \`${revs[9].slice(0, 12)}\` and at or before \`${revs[14].slice(0, 12)}\`.`
      )
      expect(heldBack(r.outputs)[0].firstBad).toBeNull()
      expect(fs.existsSync(path.join(fleet.fleetDir, 'flake.lock'))).toBe(true)
    })
  })
})
