import { execFileSync } from 'child_process'
import * as fs from 'fs'
import * as http from 'http'
import * as net from 'net'
import * as os from 'os'
import * as path from 'path'
import { Host, makeHost, relink, report } from './fixtures/host'
import { ForgeKind, TestForge, startForge } from '../testkit/forge/server'

// nixos/report-status.sh as nixos-upgrade.service runs it after an upgrade, against the test forge, with
// stand-ins for what a host has and a CI machine has not: nixos-version, nix, journalctl and the system links.
const TOKEN = 'tok_host_report_7d1c2b'

function makeRepo(dir: string): { bare: string; rev: string } {
  const bare = path.join(dir, 'fleet.git')
  const work = path.join(dir, 'work')
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare])
  execFileSync('git', ['init', '-q', '-b', 'main', work])
  const g = (args: string[]): string =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], {
      cwd: work,
      encoding: 'utf8'
    }).trim()
  fs.writeFileSync(path.join(work, 'flake.lock'), '{}\n')
  g(['add', '-A'])
  g(['commit', '-qm', 'fleet'])
  g(['push', '-q', bare, 'main'])
  return { bare, rev: g(['rev-parse', 'HEAD']) }
}

async function withForge(
  kind: ForgeKind,
  opts: { configurationRevision?: 'same' | 'none'; journal?: string },
  fn: (forge: TestForge, host: Host) => Promise<void>
): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-report-'))
  const { bare, rev } = makeRepo(dir)
  const forge = await startForge({ kind, bareRepo: bare, owner: 'infra', repo: 'fleet', token: TOKEN })
  const hostDir = path.join(dir, 'host')
  fs.mkdirSync(hostDir)
  const host = makeHost(hostDir, rev, {
    configurationRevision: opts.configurationRevision === 'none' ? '' : rev,
    journal: opts.journal,
    token: TOKEN
  })
  try {
    await fn(forge, host)
  } finally {
    await forge.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

describe.each<ForgeKind>(['github', 'forgejo'])('report-status.sh on %s', kind => {
  test('success: "running <rev>" on the deployed commit, token only in the header', async () => {
    await withForge(kind, {}, async (forge, host) => {
      const r = await report(host, forge.apiUrl, ['--result', 'success'])
      expect(r.status).toBe(0)
      expect(forge.statuses.statuses).toEqual([
        expect.objectContaining({
          sha: host.rev,
          state: 'success',
          context: 'nixos-upgrade/web',
          description: `running ${host.rev.slice(0, 7)}`
        })
      ])
      const post = forge.requests.find(q => q.method === 'POST')
      expect(post?.path).toBe(
        `/repos/infra/fleet/statuses/${host.rev}`.replace(/^/, kind === 'forgejo' ? '/api/v1' : '')
      )
      expect(post?.headers.authorization).toBe(`token ${TOKEN}`)
      expect(r.stderr).not.toContain(TOKEN)
    })
  })

  test('a new kernel after a switch: reboot pending, naming what differs', async () => {
    await withForge(kind, {}, async (forge, host) => {
      relink(host.current, 'kernel', path.join(host.dir, 'store', 'linux-6.6.31'))
      relink(host.current, 'kernel-modules', path.join(host.dir, 'store', 'mods-6.6.31'))
      expect((await report(host, forge.apiUrl, ['--result', 'success'])).status).toBe(0)
      expect(forge.statuses.statuses[0].description).toBe(
        `switched to ${host.rev.slice(0, 7)}; reboot pending (kernel, kernel-modules)`
      )
    })
  })

  test('a boot part neither system has is not pending', async () => {
    await withForge(kind, {}, async (forge, host) => {
      fs.rmSync(path.join(host.current, 'initrd'))
      fs.rmSync(path.join(host.booted, 'initrd'))
      expect((await report(host, forge.apiUrl, ['--result', 'success'])).status).toBe(0)
      expect(forge.statuses.statuses[0].description).toBe(`running ${host.rev.slice(0, 7)}`)
    })
  })

  test('operation boot: boots into the commit at the next reboot', async () => {
    await withForge(kind, { configurationRevision: 'none' }, async (forge, host) => {
      expect((await report(host, forge.apiUrl, ['--result', 'success', '--operation', 'boot'])).status).toBe(
        0
      )
      expect(forge.statuses.statuses[0]).toMatchObject({
        state: 'success',
        description: `boots into ${host.rev.slice(0, 7)} at next reboot`
      })
    })
  })

  test('failure (systemd SERVICE_RESULT): the last journal line, on the commit the flake resolves to', async () => {
    const line = "error: builder for '/nix/store/abc-rsync-3.2.7.drv' failed with exit code 1"
    await withForge(kind, { configurationRevision: 'none', journal: line }, async (forge, host) => {
      const r = await report(host, forge.apiUrl, [], { SERVICE_RESULT: 'exit-code' })
      expect(r.status).toBe(0)
      expect(forge.statuses.statuses[0]).toMatchObject({
        sha: host.rev,
        state: 'failure',
        description: `upgrade failed: ${line}`
      })
    })
  })

  test('a description with quotes, backslashes and control characters stays valid JSON, cut to 140', async () => {
    const line = `error: "quoted" back\\slash \u0007bell ${'x'.repeat(200)}`
    await withForge(kind, { configurationRevision: 'none', journal: line }, async (forge, host) => {
      expect((await report(host, forge.apiUrl, ['--result', 'failure'])).status).toBe(0)
      const d = forge.statuses.statuses[0].description
      expect(d.startsWith('upgrade failed: error: "quoted" back\\slash bell x')).toBe(true)
      expect(d.length).toBe(140)
    })
  })

  test('systemd stopped the run at its time limit: "timed out after …" while what upgrade.sh was doing', async () => {
    await withForge(kind, { configurationRevision: 'none' }, async (forge, host) => {
      const target = 'c'.repeat(40)
      const outcome = path.join(host.dir, 'outcome')
      fs.writeFileSync(outcome, `phase=resolving the target\nrev=${target}\nphase=checking ccccccc\n`)
      const r = await report(host, forge.apiUrl, ['--outcome-file', outcome, '--upgrade-timeout', '140min'], {
        SERVICE_RESULT: 'timeout'
      })
      expect(r.status).toBe(0)
      expect(forge.statuses.statuses).toEqual([
        expect.objectContaining({
          sha: target,
          state: 'failure',
          description: 'timed out after 140min while checking ccccccc'
        })
      ])
    })
  })

  test('the outcome upgrade.sh decided is posted as is; report=no posts nothing', async () => {
    await withForge(kind, {}, async (forge, host) => {
      const outcome = path.join(host.dir, 'outcome')
      fs.writeFileSync(outcome, `rev=${host.rev}\nstate=pending\ndescription=waiting for wave 1\n`)
      expect(
        (await report(host, forge.apiUrl, ['--outcome-file', outcome, '--result', 'success'])).status
      ).toBe(0)
      fs.writeFileSync(outcome, 'report=no\n')
      expect(
        (await report(host, forge.apiUrl, ['--outcome-file', outcome, '--result', 'success'])).status
      ).toBe(0)
      expect(forge.statuses.statuses).toEqual([
        expect.objectContaining({ sha: host.rev, state: 'pending', description: 'waiting for wave 1' })
      ])
    })
  })

  test('a bad token: refused once, no retry, the upgrade is not blamed (non-zero only for the report)', async () => {
    await withForge(kind, {}, async (forge, host) => {
      fs.writeFileSync(host.tokenFile, 'wrong-token\n')
      const r = await report(host, forge.apiUrl, ['--result', 'success'])
      expect(r.status).toBe(1)
      expect(r.stderr).toMatch(/refused the status \(HTTP 401\)/)
      expect(r.stderr).not.toContain('wrong-token')
      expect(forge.requests.filter(q => q.method === 'POST')).toHaveLength(1)
      expect(forge.statuses.statuses).toHaveLength(0)
    })
  })

  test('the forge failing then recovering: retried within the time limit', async () => {
    await withForge(kind, {}, async (forge, host) => {
      forge.failNext({ method: 'POST' }, [{ status: 502 }])
      const r = await report(host, forge.apiUrl, ['--result', 'success', '--time-limit', '20'])
      expect(r.status).toBe(0)
      expect(r.stderr).toMatch(/attempt 1 failed/)
      expect(forge.statuses.statuses).toHaveLength(1)
    })
  })
})

test('a forge that never answers: gives up within the time limit', async () => {
  const sockets: net.Socket[] = []
  const server = http.createServer(() => undefined)
  server.on('connection', s => sockets.push(s))
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-report-'))
  try {
    const host = makeHost(dir, 'a'.repeat(40), { configurationRevision: 'a'.repeat(40), token: TOKEN })
    const start = Date.now()
    const r = await report(host, `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, [
      '--result',
      'success'
    ])
    expect(r.status).toBe(1)
    expect(r.stderr).toMatch(/giving up after \d+ attempts in 3s/)
    expect(Date.now() - start).toBeLessThan(20000)
  } finally {
    for (const s of sockets) s.destroy()
    server.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('no readable token file: nothing is sent', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-report-'))
  try {
    const host = makeHost(dir, 'b'.repeat(40), { token: TOKEN })
    fs.rmSync(host.tokenFile)
    const r = await report(host, 'http://127.0.0.1:9', ['--result', 'success'])
    expect(r.status).toBe(1)
    expect(r.stderr).toMatch(/cannot read the token file/)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
