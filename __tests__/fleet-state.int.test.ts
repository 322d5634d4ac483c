import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as path from 'path'
import { runAction } from './fixtures/action'
import { createFleet, examplePackageSets, git, uniquePackageSet } from '../testkit/fleet'
import { makeHost, relink, report } from './fixtures/host'
import { ForgeKind, startForge } from '../testkit/forge/server'

// The loop closed: hosts report with the real nixos/report-status.sh, the action reads those statuses from the
// forge before building and shows them in the report and its outputs.
const TOKEN = 'tok_fleet_state_3a9e1c'

describe.each<ForgeKind>(['github', 'forgejo'])('fleet state on %s', kind => {
  test('reports from the hosts become the "Fleet state" section and the outputs', async () => {
    const salt = `fleet-state-${kind}-${process.pid}-${Date.now()}`
    const fleet = createFleet(uniquePackageSet(examplePackageSets().before, salt), [
      { name: 'web', packages: ['curl'] },
      { name: 'db', packages: ['htop'] },
      { name: 'mail', packages: ['curl'] },
      { name: 'kiosk', packages: ['htop'] }
    ])
    const bare = path.join(fleet.root, 'remote', 'fleet.git')
    fs.mkdirSync(path.dirname(bare), { recursive: true })
    execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare])
    const forge = await startForge({ kind, bareRepo: bare, owner: 'infra', repo: 'fleet', token: TOKEN })
    try {
      // Yesterday's fleet commit, which every host deployed or tried to; then a commit merged three days ago
      // that only web has deployed since.
      const day = 86400
      const at = (daysAgo: number): Record<string, string> => {
        const d = `${Math.floor(Date.now() / 1000) - daysAgo * day} +0000`
        return { GIT_COMMITTER_DATE: d, GIT_AUTHOR_DATE: d }
      }
      const commitAt = (daysAgo: number, message: string): string => {
        fs.appendFileSync(path.join(fleet.fleetDir, 'README'), `${message}\n`)
        git(fleet.fleetDir, ['add', 'README'])
        execFileSync(
          'git',
          ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'commit', '-qm', message],
          {
            cwd: fleet.fleetDir,
            env: { ...process.env, ...at(daysAgo) }
          }
        )
        return git(fleet.fleetDir, ['rev-parse', 'HEAD']).trim()
      }
      const old = commitAt(4, 'hosts: add kiosk')
      const merged = commitAt(3, 'flake.lock: update')
      git(fleet.fleetDir, ['push', '-q', bare, 'main:main'])

      const hostRun = async (
        name: string,
        rev: string,
        opts: { result: string; journal?: string; newKernel?: boolean }
      ): Promise<void> => {
        const dir = fs.mkdtempSync(path.join(fleet.root, `host-${name}-`))
        const host = makeHost(dir, rev, { configurationRevision: rev, journal: opts.journal, token: TOKEN })
        if (opts.newKernel) relink(host.current, 'kernel', path.join(dir, 'store', 'linux-new'))
        const r = await report(
          host,
          forge.apiUrl,
          ['--result', opts.result],
          {},
          { context: `nixos-upgrade/${name}` }
        )
        expect(r.status).toBe(0)
      }
      await hostRun('web', merged, { result: 'success', newKernel: true })
      await hostRun('db', old, { result: 'success' })
      await hostRun('db', old, { result: 'failure', journal: 'error: builder for rsync failed (closes #1)' })
      await hostRun('mail', old, { result: 'success' })
      expect(forge.statuses.statuses).toHaveLength(4)

      const r = await runAction(
        fleet.fleetDir,
        { token: TOKEN, 'dry-run': 'true', 'base-branch': 'main', 'stale-after': '2d' },
        {
          GITHUB_REPOSITORY: 'infra/fleet',
          GITHUB_SERVER_URL: forge.serverUrl,
          GITHUB_API_URL: forge.apiUrl,
          ...(kind === 'forgejo' ? { FORGEJO_ACTIONS: 'true' } : {})
        }
      )
      expect(r.exitCode).toBe(0)
      expect(JSON.parse(r.outputs['stale-hosts'])).toEqual(['db', 'mail'])
      expect(JSON.parse(r.outputs['failed-upgrades'])).toEqual(['db'])
      const report_ = r.outputs.report
      expect(report_).toContain('### Fleet state')
      expect(report_).toContain(
        'What each host last reported on `main`: 3 reporting, 1 failed, 2 stale, 1 never reported.'
      )
      expect(report_).toContain(`| web | \`${merged.slice(0, 7)}\` (tip) |`)
      expect(report_).toContain(`switched to ${merged.slice(0, 7)}; reboot pending (kernel)`)
      expect(report_).toMatch(
        /\| db \| `[0-9a-f]{7}` \(1 behind\) \| .* \| ❌ upgrade failed: error: builder for rsync failed \(closes #\u20601\) · ⚠️ stale: 1 commit behind for 3 d \|/
      )
      expect(report_).toContain('Never reported: kiosk.')
      const json = JSON.parse(fs.readFileSync(r.outputs['report-json'], 'utf8')) as {
        fleetState: { hosts: { host: string; stale: boolean; failed: boolean }[]; neverReported: string[] }
      }
      expect(json.fleetState.neverReported).toEqual(['kiosk'])
      expect(json.fleetState.hosts.find(h => h.host === 'db')).toMatchObject({ stale: true, failed: true })
      // Reading is all it does: no status, branch or pull request was written.
      expect(forge.requests.filter(q => q.method !== 'GET')).toHaveLength(4)
    } finally {
      await forge.close()
      fleet.remove()
    }
  })

  test('a forge that fails while reading is a warning, never a failed run', async () => {
    const salt = `fleet-state-fail-${kind}-${process.pid}-${Date.now()}`
    const fleet = createFleet(uniquePackageSet(examplePackageSets().before, salt), [
      { name: 'web', packages: ['curl'] }
    ])
    const bare = path.join(fleet.root, 'remote', 'fleet.git')
    fs.mkdirSync(path.dirname(bare), { recursive: true })
    execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare])
    git(fleet.fleetDir, ['push', '-q', bare, 'main:main'])
    const forge = await startForge({ kind, bareRepo: bare, owner: 'infra', repo: 'fleet', token: TOKEN })
    try {
      forge.failNext({ method: 'GET', path: /\/commits$/ }, [{ status: 500 }, { status: 500 }])
      const r = await runAction(
        fleet.fleetDir,
        { token: TOKEN, 'dry-run': 'true', 'base-branch': 'main' },
        {
          GITHUB_REPOSITORY: 'infra/fleet',
          GITHUB_SERVER_URL: forge.serverUrl,
          GITHUB_API_URL: forge.apiUrl,
          ...(kind === 'forgejo' ? { FORGEJO_ACTIONS: 'true' } : {})
        }
      )
      expect(r.exitCode).toBe(0)
      expect(r.log).toMatch(
        /::warning::Fleet state not read \(the report goes on without it\): Reading the base branch commits failed/
      )
      expect(r.outputs['stale-hosts']).toBe('[]')
      expect(r.outputs.report).not.toContain('### Fleet state')
    } finally {
      await forge.close()
      fleet.remove()
    }
  })
})
