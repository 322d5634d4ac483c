import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as http from 'http'
import * as net from 'net'
import * as os from 'os'
import * as path from 'path'
import { UpgradeHost, hostLog, makeUpgradeHost, runService, systemRev } from './fixtures/upgrade-host'
import { ForgeKind, TestForge, startForge } from '../testkit/forge/server'

// nixos/upgrade.sh and nixos/report-status.sh as nixos-upgrade.service runs them, on a host made of stand-ins
// (fixtures/upgrade-host.ts), against a fleet repository that real Nix fetches and the test forge serves.
const TOKEN = 'tok_rollout_host_51e0a9'

interface Fleet {
  bare: string
  /** Commits of main, oldest first, a day apart. */
  revs: string[]
  flake: string
}

function makeFleet(dir: string, count: number): Fleet {
  const bare = path.join(dir, 'fleet.git')
  const work = path.join(dir, 'work')
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare])
  execFileSync('git', ['init', '-q', '-b', 'main', work])
  const revs: string[] = []
  for (let i = 0; i < count; i++) {
    const date = `2026-11-0${i + 1}T04:00:00Z`
    const g = (args: string[]): string =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], {
        cwd: work,
        encoding: 'utf8',
        env: { ...process.env, GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date }
      }).trim()
    fs.writeFileSync(path.join(work, 'flake.nix'), `{ outputs = { self }: { generation = ${i}; }; }\n`)
    g(['add', '-A'])
    g(['commit', '-qm', `fleet ${i}`])
    revs.push(g(['rev-parse', 'HEAD']))
  }
  execFileSync('git', ['-C', work, 'push', '-q', bare, 'main'])
  return { bare, revs, flake: `git+file://${bare}?ref=main#web` }
}

interface World {
  forge: TestForge
  fleet: Fleet
  host: UpgradeHost
  config: Record<string, unknown>
}

/** A fleet of `count` commits on main, its forge, and a host running commit `runs` (an index into revs). */
async function withWorld(
  kind: ForgeKind,
  opts: { count?: number; runs?: number; config?: Record<string, unknown> },
  fn: (w: World) => Promise<void>
): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-upgrade-'))
  const fleet = makeFleet(dir, opts.count ?? 3)
  const forge = await startForge({ kind, bareRepo: fleet.bare, owner: 'infra', repo: 'fleet', token: TOKEN })
  const host = makeUpgradeHost(path.join(dir, 'host'), fleet.revs[opts.runs ?? 0], TOKEN)
  const config = {
    flake: fleet.flake,
    operation: 'switch',
    allowReboot: false,
    rebootWindow: null,
    extraFlags: ['-L'],
    wave: 0,
    branch: null,
    forge: { apiUrl: forge.apiUrl, repository: 'infra/fleet', tokenFile: host.tokenFile },
    healthChecks: { units: [], commands: [], urls: [], timeout: 2 },
    timeLimit: 600,
    timeLimitText: '10min',
    ...opts.config
  }
  try {
    await fn({ forge, fleet, host, config })
  } finally {
    await forge.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const short = (rev: string): string => rev.slice(0, 7)

/** The wave gate as the action sets it: a commit status on a fleet commit. */
function gate(forge: TestForge, sha: string, wave: number, state = 'success'): void {
  forge.statuses.add({
    sha,
    state,
    context: `nixos-rollout/wave-${wave}`,
    description: `wave ${wave - 1} healthy`,
    targetUrl: ''
  })
}

function hostStatuses(forge: TestForge): { sha: string; state: string; description: string }[] {
  return forge.statuses.statuses
    .filter(s => s.context === 'nixos-upgrade/web')
    .map(s => ({ sha: s.sha, state: s.state, description: s.description }))
}

/** An HTTP health endpoint on 127.0.0.1 answering `status`, counting its requests. */
async function healthServer(status: number): Promise<{ url: string; hits: () => number; close: () => void }> {
  let hits = 0
  const server = http.createServer((_req, res) => {
    hits++
    res.writeHead(status).end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  const port = (server.address() as net.AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}/healthz`,
    hits: () => hits,
    close: () => {
      server.closeAllConnections()
      server.close()
    }
  }
}

describe.each<ForgeKind>(['github', 'forgejo'])('upgrade.sh with %s', kind => {
  test('wave 0 follows the branch tip, pinned with rev=, checks pass, "running <rev>"', async () => {
    const health = await healthServer(200)
    try {
      await withWorld(
        kind,
        {
          config: {
            healthChecks: { units: ['nginx.service'], commands: [['true']], urls: [health.url], timeout: 5 }
          }
        },
        async ({ forge, fleet, host, config }) => {
          const tip = fleet.revs[2]
          const run = await runService(host, config, { apiUrl: forge.apiUrl })
          expect(run.status).toBe(0)
          expect(hostLog(host)).toEqual([
            `nixos-rebuild build --flake git+file://${fleet.bare}?ref=main&rev=${tip}#web --no-update-lock-file -L`,
            `nix-env --profile ${host.profile} --set ${host.store}/system-${tip}`,
            `switch-to-configuration ${short(tip)} switch`
          ])
          expect(systemRev(host.current)).toBe(tip)
          expect(systemRev(host.profile)).toBe(tip)
          expect(health.hits()).toBeGreaterThan(0)
          expect(hostStatuses(forge)).toEqual([
            { sha: tip, state: 'success', description: `running ${short(tip)}` }
          ])
          // Wave 0 never asks the forge for gates; only the report is sent.
          expect(forge.requests.filter(r => r.method === 'GET')).toEqual([])
          expect(run.stderr + run.report.stderr).not.toContain(TOKEN)
        }
      )
    } finally {
      health.close()
    }
  })

  test('wave 1 without a gate changes nothing and reports "waiting for wave 0"', async () => {
    await withWorld(kind, { config: { wave: 1 } }, async ({ forge, fleet, host, config }) => {
      // A gate of another wave, and a wave-1 gate that was not success, open nothing.
      gate(forge, fleet.revs[2], 2)
      gate(forge, fleet.revs[1], 1, 'failure')
      const run = await runService(host, config, { apiUrl: forge.apiUrl })
      expect(run.status).toBe(0)
      expect(hostLog(host)).toEqual([])
      expect(systemRev(host.current)).toBe(fleet.revs[0])
      expect(hostStatuses(forge)).toEqual([
        { sha: fleet.revs[0], state: 'pending', description: 'waiting for wave 0' }
      ])
      const gets = forge.requests.filter(r => r.method === 'GET')
      expect(gets[0].query.sha).toBe('main')
      expect(gets.every(r => r.headers.authorization === `token ${TOKEN}`)).toBe(true)
      expect(run.stderr).not.toContain(TOKEN)
    })
  })

  test('wave 1 with a gate on commit C upgrades to ?rev=C, not to the newer tip', async () => {
    await withWorld(kind, { config: { wave: 1 } }, async ({ forge, fleet, host, config }) => {
      const c = fleet.revs[1]
      gate(forge, c, 1)
      gate(forge, fleet.revs[2], 2)
      const run = await runService(host, config, { apiUrl: forge.apiUrl })
      expect(run.status).toBe(0)
      expect(hostLog(host)[0]).toBe(
        `nixos-rebuild build --flake git+file://${fleet.bare}?ref=main&rev=${c}#web --no-update-lock-file -L`
      )
      expect(systemRev(host.current)).toBe(c)
      expect(hostStatuses(forge)).toEqual([{ sha: c, state: 'success', description: `running ${short(c)}` }])
    })
  })

  test('a gate pushed past the first page of statuses by host reports is still found', async () => {
    await withWorld(kind, { config: { wave: 1 } }, async ({ forge, fleet, host, config }) => {
      const c = fleet.revs[1]
      gate(forge, c, 1)
      const t = Date.now()
      for (let i = 0; i < 120; i++) {
        forge.statuses.add({
          sha: c,
          state: 'success',
          context: `nixos-upgrade/h${i}`,
          description: `running ${short(c)}`,
          targetUrl: '',
          createdAt: new Date(t + 1000 + i).toISOString()
        })
      }
      const run = await runService(host, config, { apiUrl: forge.apiUrl })
      expect(run.status).toBe(0)
      expect(systemRev(host.current)).toBe(c)
      const pages = forge.requests
        .filter(r => r.path.endsWith(`/commits/${c}/statuses`))
        .map(r => r.query.page)
      // GitHub: 100 a page, no total; Forgejo: 50 a page (the server's cap), X-Total-Count.
      expect(pages).toEqual(kind === 'github' ? ['1', '2'] : ['1', '2', '3'])
    })
  })

  test('a failed health check rolls back the switch and the profile: "rolled back from <rev>: ..."', async () => {
    const health = await healthServer(200)
    try {
      await withWorld(
        kind,
        {
          config: { healthChecks: { units: ['nginx.service'], commands: [], urls: [health.url], timeout: 2 } }
        },
        async ({ forge, fleet, host, config }) => {
          const tip = fleet.revs[2]
          const run = await runService(host, config, { apiUrl: forge.apiUrl, env: { NFU_TEST_BROKEN: tip } })
          expect(run.status).toBe(1)
          expect(hostLog(host)).toEqual([
            expect.stringMatching(/^nixos-rebuild build /),
            `nix-env --profile ${host.profile} --set ${host.store}/system-${tip}`,
            `switch-to-configuration ${short(tip)} switch`,
            `nix-env --profile ${host.profile} --rollback`,
            `switch-to-configuration ${short(fleet.revs[0])} switch`
          ])
          expect(systemRev(host.current)).toBe(fleet.revs[0])
          expect(systemRev(host.profile)).toBe(fleet.revs[0])
          // The unit check failed first: the URL was never asked.
          expect(health.hits()).toBe(0)
          expect(hostStatuses(forge)).toEqual([
            {
              sha: tip,
              state: 'failure',
              description: `rolled back from ${short(tip)}: unit nginx.service failed (state: failed)`
            }
          ])
        }
      )
    } finally {
      health.close()
    }
  })
})

describe('upgrade.sh', () => {
  test('a gate on a commit older than the running one is refused: "refused <rev>: older than the running <rev>"', async () => {
    await withWorld('forgejo', { runs: 2, config: { wave: 1 } }, async ({ forge, fleet, host, config }) => {
      gate(forge, fleet.revs[1], 1)
      const run = await runService(host, config, { apiUrl: forge.apiUrl })
      expect(run.status).toBe(1)
      expect(hostLog(host)).toEqual([])
      expect(systemRev(host.profile)).toBe(fleet.revs[2])
      expect(hostStatuses(forge)).toEqual([
        {
          sha: fleet.revs[1],
          state: 'failure',
          description: `refused ${short(fleet.revs[1])}: older than the running ${short(fleet.revs[2])}`
        }
      ])

      // The next run cannot read the gate: its own failure, on the running commit, not the last run's outcome.
      forge.failNext({ method: 'GET', path: /\/commits$/ }, [{ status: 404, body: { message: 'Not Found' } }])
      expect((await runService(host, config, { apiUrl: forge.apiUrl })).status).toBe(1)
      const second = hostStatuses(forge)[1]
      expect(second).toMatchObject({ sha: fleet.revs[2], state: 'failure' })
      expect(second.description).toMatch(
        /^upgrade failed: .*cannot read the wave 1 gate .*: changing nothing$/
      )
    })
  })

  test('a branch moved back to an older commit is refused (the commit deployed is remembered)', async () => {
    await withWorld('github', {}, async ({ forge, fleet, host, config }) => {
      expect((await runService(host, config, { apiUrl: forge.apiUrl })).status).toBe(0)
      expect(systemRev(host.current)).toBe(fleet.revs[2])
      // The running system no longer names its commit: the record upgrade.sh keeps does.
      fs.rmSync(path.join(fs.realpathSync(host.current), 'rev'))
      execFileSync('git', ['-C', fleet.bare, 'update-ref', 'refs/heads/main', fleet.revs[1]])
      const run = await runService(host, config, { apiUrl: forge.apiUrl })
      expect(run.status).toBe(1)
      expect(hostStatuses(forge)[1]).toEqual({
        sha: fleet.revs[1],
        state: 'failure',
        description: `refused ${short(fleet.revs[1])}: older than the running ${short(fleet.revs[2])}`
      })
      expect(hostLog(host).filter(l => l.startsWith('nixos-rebuild'))).toHaveLength(1)
    })
  })

  test('a build that outlasts the time limit is stopped and reported as timed out; nothing changes', async () => {
    await withWorld(
      'forgejo',
      { config: { timeLimit: 3, timeLimitText: '3s' } },
      async ({ forge, fleet, host, config }) => {
        const start = Date.now()
        const run = await runService(host, config, {
          apiUrl: forge.apiUrl,
          env: { NFU_TEST_BUILD_SLEEP: '120' }
        })
        expect(Date.now() - start).toBeLessThan(60000)
        expect(run.status).toBe(124)
        expect(systemRev(host.profile)).toBe(fleet.revs[0])
        expect(systemRev(host.current)).toBe(fleet.revs[0])
        expect(hostStatuses(forge)).toEqual([
          {
            sha: fleet.revs[2],
            state: 'failure',
            description: `timed out after 3s while building ${short(fleet.revs[2])}`
          }
        ])
      }
    )
  })

  test('a failed build is reported with its last line, on the commit it tried', async () => {
    await withWorld('github', {}, async ({ forge, fleet, host, config }) => {
      const line = "error: builder for '/nix/store/abc-rsync-3.2.7.drv' failed with exit code 1"
      const run = await runService(host, config, {
        apiUrl: forge.apiUrl,
        env: { NFU_TEST_BUILD_ERROR: line }
      })
      expect(run.status).toBe(1)
      expect(systemRev(host.profile)).toBe(fleet.revs[0])
      expect(hostStatuses(forge)).toEqual([
        { sha: fleet.revs[2], state: 'failure', description: `upgrade failed: ${line}` }
      ])
    })
  })

  test('a URL that does not answer 2xx, a command that fails: rolled back, naming the check', async () => {
    const health = await healthServer(503)
    try {
      await withWorld('forgejo', {}, async ({ forge, fleet, host, config }) => {
        const tip = short(fleet.revs[2])
        const urlRun = await runService(
          host,
          { ...config, healthChecks: { units: [], commands: [], urls: [health.url], timeout: 2 } },
          { apiUrl: forge.apiUrl }
        )
        expect(urlRun.status).toBe(1)
        expect(health.hits()).toBeGreaterThan(1)
        const commandRun = await runService(
          host,
          {
            ...config,
            healthChecks: { units: [], commands: [['sh', '-c', 'exit 3']], urls: [], timeout: 1 }
          },
          { apiUrl: forge.apiUrl }
        )
        expect(commandRun.status).toBe(1)
        expect(systemRev(host.current)).toBe(fleet.revs[0])
        expect(systemRev(host.profile)).toBe(fleet.revs[0])
        expect(hostStatuses(forge).map(s => s.description)).toEqual([
          `rolled back from ${tip}: url ${health.url} failed (HTTP 503)`,
          `rolled back from ${tip}: command sh failed (exit 3)`
        ])
      })
    } finally {
      health.close()
    }
  })

  test('operation boot: checked once the installed system has booted, rolled back when a check fails', async () => {
    const checks = { units: ['nginx.service'], commands: [], urls: [], timeout: 2 }
    await withWorld(
      'github',
      { config: { operation: 'boot', healthChecks: checks } },
      async ({ forge, fleet, host, config }) => {
        const tip = fleet.revs[2]
        const run = await runService(host, config, { apiUrl: forge.apiUrl, env: { NFU_TEST_BROKEN: tip } })
        expect(run.status).toBe(0)
        expect(hostLog(host).slice(1)).toEqual([
          `nix-env --profile ${host.profile} --set ${host.store}/system-${tip}`,
          `switch-to-configuration ${short(tip)} boot`
        ])
        expect(systemRev(host.current)).toBe(fleet.revs[0])
        expect(hostStatuses(forge)).toEqual([
          { sha: tip, state: 'success', description: `boots into ${short(tip)} at next reboot` }
        ])

        // A boot of the old system (before the reboot): nothing to check, nothing reported.
        expect((await runService(host, config, { apiUrl: forge.apiUrl, bootCheck: true })).status).toBe(0)
        expect(hostStatuses(forge)).toHaveLength(1)

        // The reboot into the new system: its checks fail, the host goes back to the old one.
        for (const link of [host.booted, host.current]) {
          fs.rmSync(link)
          fs.symlinkSync(fs.realpathSync(host.profile), link)
        }
        const check = await runService(host, config, { apiUrl: forge.apiUrl, bootCheck: true })
        expect(check.status).toBe(1)
        expect(systemRev(host.current)).toBe(fleet.revs[0])
        expect(systemRev(host.profile)).toBe(fleet.revs[0])
        expect(hostLog(host).slice(-2)).toEqual([
          `nix-env --profile ${host.profile} --rollback`,
          `switch-to-configuration ${short(fleet.revs[0])} switch`
        ])
        expect(hostStatuses(forge)[1]).toEqual({
          sha: tip,
          state: 'failure',
          description: `rolled back from ${short(tip)}: unit nginx.service failed (state: failed)`
        })

        // Checked once: the next boot finds nothing to check.
        expect((await runService(host, config, { apiUrl: forge.apiUrl, bootCheck: true })).status).toBe(0)
        expect(hostStatuses(forge)).toHaveLength(2)
      }
    )
  })

  test('operation boot with healthy checks: "running <rev>" after the reboot', async () => {
    const checks = { units: ['nginx.service'], commands: [['true']], urls: [], timeout: 2 }
    await withWorld(
      'forgejo',
      { config: { operation: 'boot', healthChecks: checks } },
      async ({ forge, fleet, host, config }) => {
        const tip = fleet.revs[2]
        expect((await runService(host, config, { apiUrl: forge.apiUrl })).status).toBe(0)
        for (const link of [host.booted, host.current]) {
          fs.rmSync(link)
          fs.symlinkSync(fs.realpathSync(host.profile), link)
        }
        expect((await runService(host, config, { apiUrl: forge.apiUrl, bootCheck: true })).status).toBe(0)
        expect(systemRev(host.current)).toBe(tip)
        expect(hostStatuses(forge).map(s => s.description)).toEqual([
          `boots into ${short(tip)} at next reboot`,
          `running ${short(tip)}`
        ])
      }
    )
  })
})
