import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as path from 'path'
import { ActionRun, runAction } from './fixtures/action'
import { Fleet, createFleet, examplePackageSets, git, uniquePackageSet } from '../testkit/fleet'
import { ForgeKind, TestForge, startForge } from '../testkit/forge/server'

// `mode: rollout` end to end: each host's wave evaluated by real Nix from the fixture fleet, the hosts' reports
// and the gates as commit statuses on the test forge (real HTTP), the gates posted through each forge's API.
const TOKEN = 'tok_rollout_5b2d7f'
const H = 3600000

interface Setup {
  fleet: Fleet
  forge: TestForge
  /** Base-branch commits, oldest first. */
  c1: string
  c2: string
  c3: string
  run(inputs?: Record<string, string>): Promise<ActionRun>
  /** A host's report, `hoursAgo` hours ago. */
  report(
    host: string,
    commit: string,
    state: 'success' | 'failure',
    hoursAgo: number,
    description?: string
  ): void
  /** The gates posted so far, as `context state sha`. */
  posted(): string[]
}

async function setup(kind: ForgeKind): Promise<Setup> {
  const salt = `rollout-${kind}-${process.pid}-${Date.now()}`
  const fleet = createFleet(uniquePackageSet(examplePackageSets().before, salt), [
    // No option at all: wave 0, as a host without the module.
    { name: 'canary', packages: ['curl'] },
    { name: 'edge', packages: ['curl'], wave: '0' },
    { name: 'web', packages: ['htop'], wave: '1' },
    { name: 'db', packages: ['htop'], wave: '2' },
    // Never reports; its wave throws (caught by tryEval) or is a type error (it is not): both count as wave 0.
    { name: 'lab', packages: ['curl'], wave: 'throw "lab: no wave yet"' },
    { name: 'typo', packages: ['curl'], wave: '1 + "a"' }
  ])
  const bare = path.join(fleet.root, 'remote', 'fleet.git')
  fs.mkdirSync(path.dirname(bare), { recursive: true })
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare])
  const commit = (message: string): string => {
    fs.appendFileSync(path.join(fleet.fleetDir, 'README'), `${message}\n`)
    git(fleet.fleetDir, ['add', 'README'])
    git(fleet.fleetDir, ['commit', '-qm', message])
    return git(fleet.fleetDir, ['rev-parse', 'HEAD']).trim()
  }
  const c1 = commit('one')
  const c2 = commit('two')
  const c3 = commit('three')
  git(fleet.fleetDir, ['push', '-q', bare, 'main:main'])
  const forge = await startForge({ kind, bareRepo: bare, owner: 'infra', repo: 'fleet', token: TOKEN })
  return {
    fleet,
    forge,
    c1,
    c2,
    c3,
    run: inputs =>
      runAction(
        fleet.fleetDir,
        { token: TOKEN, mode: 'rollout', 'base-branch': 'main', 'rollout-soak': '6h', ...inputs },
        {
          GITHUB_REPOSITORY: 'infra/fleet',
          GITHUB_SERVER_URL: forge.serverUrl,
          GITHUB_API_URL: forge.apiUrl,
          ...(kind === 'forgejo' ? { FORGEJO_ACTIONS: 'true' } : {})
        }
      ),
    report(host, sha, state, hoursAgo, description) {
      forge.statuses.add({
        sha,
        state,
        context: `nixos-upgrade/${host}`,
        description: description ?? (state === 'success' ? `running ${sha.slice(0, 7)}` : 'upgrade failed'),
        targetUrl: '',
        createdAt: new Date(Date.now() - hoursAgo * H).toISOString()
      })
    },
    posted: () =>
      forge.statuses.statuses
        .filter(s => s.context.startsWith('nixos-rollout/'))
        .map(s => `${s.context} ${s.state} ${s.sha}`)
  }
}

const gates = (r: ActionRun): { wave: number; commit: string; posted: boolean }[] =>
  JSON.parse(r.outputs['rollout-gates']) as { wave: number; commit: string; posted: boolean }[]

describe.each<ForgeKind>(['github', 'forgejo'])('mode rollout on %s', kind => {
  test('gates advance wave by wave as the hosts report; soak respected; never-reported hosts', async () => {
    const s = await setup(kind)
    const { c1, c2, c3 } = s
    try {
      // Every reporting host ran c1 for two days.
      for (const h of ['canary', 'edge', 'web', 'db']) s.report(h, c1, 'success', 50)

      // rollout-require-all: lab and typo (wave 0, never reported) block every wave above them.
      let r = await s.run({ 'rollout-require-all': 'true' })
      expect(r.exitCode).toBe(0)
      expect(s.posted()).toEqual([])
      expect(gates(r)).toEqual([])
      expect(r.summary).toContain('waiting for lab, typo, which never reported (rollout-require-all)')
      // The waves came from each host's configuration; the two that do not evaluate are named and count as 0.
      expect(JSON.parse(r.outputs.hosts)).toEqual(['canary', 'db', 'edge', 'lab', 'typo', 'web'])
      expect(r.log).toMatch(/::warning::The rollout wave of lab could not be evaluated.*lab: no wave yet/)
      expect(r.log).toMatch(/::warning::The rollout wave of typo could not be evaluated/)
      expect(r.log).toContain(
        'canary: wave 0, db: wave 2, edge: wave 0, lab: wave 0, typo: wave 0, web: wave 1'
      )

      // Without it they do not block: both waves get c1, which every host ran.
      r = await s.run()
      expect(r.exitCode).toBe(0)
      expect(s.posted()).toEqual([`nixos-rollout/wave-1 success ${c1}`, `nixos-rollout/wave-2 success ${c1}`])
      expect(gates(r)).toEqual([
        { wave: 1, commit: c1, posted: true },
        { wave: 2, commit: c1, posted: true }
      ])
      expect(r.outputs['rollout-halted']).toBe('')
      expect(r.summary).toContain('### Rollout')
      expect(r.summary).toMatch(/\| 0 \| `[0-9a-f]{7}` \| .* \| — \| canary, edge \| — \| lab, typo \|/)

      // Wave 0 ran c2 seven hours ago and c3 for one hour: c2 has soaked, c3 has not.
      for (const h of ['canary', 'edge']) {
        s.report(h, c2, 'success', 7)
        s.report(h, c3, 'success', 1)
      }
      r = await s.run()
      expect(r.exitCode).toBe(0)
      expect(gates(r)).toEqual([
        { wave: 1, commit: c2, posted: true },
        { wave: 2, commit: c1, posted: false }
      ])
      expect(s.posted().slice(2)).toEqual([`nixos-rollout/wave-1 success ${c2}`])
      expect(r.summary).toContain(`${c3.slice(0, 7)} (newest): soaking until`)

      // Wave 1 ran c2 for six and a half hours: wave 2 gets c2; c3 still soaks.
      s.report('web', c2, 'success', 6.5)
      r = await s.run()
      expect(gates(r)).toEqual([
        { wave: 1, commit: c2, posted: false },
        { wave: 2, commit: c2, posted: true }
      ])
      expect(s.posted().slice(3)).toEqual([`nixos-rollout/wave-2 success ${c2}`])

      // Nothing new: nothing posted again.
      const before = s.forge.requests.filter(q => q.method === 'POST').length
      r = await s.run()
      expect(r.exitCode).toBe(0)
      expect(s.forge.requests.filter(q => q.method === 'POST')).toHaveLength(before)
      expect(r.summary).toContain('Every gate was already in place: nothing posted.')

      // The gates carry what both forges read back: the state under its own name, the context, a description.
      const gate = s.forge.requests.find(q => q.method === 'POST' && q.path.includes('/statuses/'))
      expect(gate?.body).toMatchObject({ state: 'success', context: 'nixos-rollout/wave-1' })
      expect(gate?.headers.authorization).toBe(`token ${TOKEN}`)
    } finally {
      await s.forge.close()
      s.fleet.remove()
    }
  })

  test('a wave-0 failure halts wave 1: no gate on that commit or after it, its gate withdrawn', async () => {
    const s = await setup(kind)
    const { c1, c2, c3 } = s
    try {
      for (const h of ['canary', 'edge', 'web', 'db']) s.report(h, c1, 'success', 50)
      // Wave 1 got c2 yesterday; since then canary rolled back from c2 and edge went on to c3.
      s.forge.statuses.add({
        sha: c2,
        state: 'success',
        context: 'nixos-rollout/wave-1',
        description: 'gate',
        targetUrl: '',
        createdAt: new Date(Date.now() - 20 * H).toISOString()
      })
      s.report('canary', c2, 'failure', 10, `rolled back from ${c2.slice(0, 7)}: ping-gateway failed`)
      s.report('edge', c3, 'success', 9)

      // A dry run says what it would do and posts nothing.
      let r = await s.run({ 'dry-run': 'true' })
      expect(r.exitCode).toBe(0)
      expect(s.forge.requests.filter(q => q.method === 'POST')).toHaveLength(0)
      expect(r.summary).toContain('To post (dry run, nothing posted):')

      r = await s.run()
      expect(r.exitCode).toBe(0)
      expect(JSON.parse(r.outputs['rollout-halted'])).toEqual({
        wave: 0,
        commit: c2,
        hosts: ['canary'],
        reason: `canary: rolled back from ${c2.slice(0, 7)}: ping-gateway failed`
      })
      expect(s.posted().slice(1)).toEqual([
        `nixos-rollout/wave-1 failure ${c2}`,
        `nixos-rollout/wave-1 success ${c1}`,
        `nixos-rollout/wave-2 success ${c1}`
      ])
      expect(gates(r)).toEqual([
        { wave: 1, commit: c1, posted: true },
        { wave: 2, commit: c1, posted: true }
      ])
      expect(r.summary).toContain(`**Halted** at \`${c2.slice(0, 7)}\` by wave 0: canary: rolled back from`)
      expect(r.log).toMatch(/::warning title=Rollout halted::The rollout is halted at/)
      expect(s.posted().some(x => x.endsWith(c3))).toBe(false)

      // canary upgrades to c3 successfully seven hours ago: the halt is lifted, wave 1 gets c3.
      s.report('canary', c3, 'success', 7)
      // The forge refuses the gate (a token without the right to post statuses): every output and the summary
      // are written, then the step fails saying what the token lacks; the gate is posted on the next run.
      s.forge.failNext({ method: 'POST', path: /\/statuses\// }, [
        kind === 'github'
          ? {
              status: 403,
              body: {
                message: 'Resource not accessible by integration',
                documentation_url: 'https://docs.github.com/rest/commits/statuses#create-a-commit-status',
                status: '403'
              }
            }
          : {
              status: 403,
              body: { message: 'token does not have at least one of required scope(s): [write:repository]' }
            }
      ])
      r = await s.run()
      expect(r.exitCode).toBe(1)
      expect(r.outputs['rollout-halted']).toBe('')
      // The wave stays on the gate it had: c2's was withdrawn, c1's stands.
      expect(gates(r)[0]).toEqual({ wave: 1, commit: c1, posted: false })
      expect(r.summary).toContain('Not posted (the forge refused them, see the log):')
      expect(r.log).toMatch(
        kind === 'github'
          ? /::error::Could not post nixos-rollout\/wave-1 on [0-9a-f]{40}: Posting a commit status failed: .* 403: Resource not accessible by integration \(the token may not write commit statuses: give the workflow `permissions: statuses: write`/
          : /::error::Could not post nixos-rollout\/wave-1 on [0-9a-f]{40}: Posting a commit status failed: .* 403: token does not have .* \(the token may not write commit statuses: use a token with write:repository/
      )
      r = await s.run()
      expect(r.exitCode).toBe(0)
      expect(r.outputs['rollout-halted']).toBe('')
      expect(gates(r)[0]).toEqual({ wave: 1, commit: c3, posted: true })
    } finally {
      await s.forge.close()
      s.fleet.remove()
    }
  })
})

test('a bad mode, and mode rollout without a token or a repository, fail naming what is missing', async () => {
  const fleet = createFleet(uniquePackageSet(examplePackageSets().before, `rollout-input-${process.pid}`), [
    { name: 'web', packages: ['curl'] }
  ])
  try {
    let r = await runAction(fleet.fleetDir, { mode: 'deploy' })
    expect(r.exitCode).toBe(1)
    expect(r.log).toContain(
      `::error::Input 'mode' must be update, review, cache, rollout or empty (chosen from the event), got "deploy"`
    )
    r = await runAction(fleet.fleetDir, { mode: 'rollout', 'rollout-soak': '6 hours' })
    expect(r.log).toContain(
      `::error::Input 'rollout-soak' must be a duration such as 6h, 1d or 90m (or 0), got "6 hours"`
    )
    r = await runAction(fleet.fleetDir, { mode: 'rollout' })
    expect(r.exitCode).toBe(1)
    expect(r.log).toContain("::error::Input 'token' is empty: mode rollout reads and posts commit statuses")
    r = await runAction(fleet.fleetDir, { mode: 'rollout', token: TOKEN })
    expect(r.exitCode).toBe(1)
    expect(r.log).toContain('::error::mode rollout needs the repository (GITHUB_REPOSITORY as OWNER/NAME)')
  } finally {
    fleet.remove()
  }
})
