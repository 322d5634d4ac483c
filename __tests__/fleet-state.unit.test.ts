import {
  BranchCommit,
  CommitStatus,
  fleetState,
  parseCommits,
  parseStatuses,
  pendingReboot
} from '../src/forge/fleet-state'
import { failedUpgrades, fleetStateLines, staleHosts } from '../src/report/fleet-state'
import { parseDuration } from '../src/inputs/parse'

const NOW = new Date('2026-12-02T06:00:00Z')
const DAY = 86400000
const sha = (c: string): string => c.repeat(40)
const ago = (ms: number): string => new Date(NOW.getTime() - ms).toISOString()

describe('parseDuration', () => {
  test.each([
    ['2d', 2 * DAY],
    ['36h', 36 * 3600000],
    ['90m', 90 * 60000],
    ['1d12h', 1.5 * DAY],
    [' 3d ', 3 * DAY]
  ])('%j', (text, ms) => expect(parseDuration(text)).toBe(ms))
  test.each(['', '2', 'd', '2 days', '-1d', '0d', '1.5d', '2w'])('%j is not a duration', text =>
    expect(parseDuration(text)).toBeUndefined()
  )
})

describe('parsing the forges', () => {
  test('commits: committer date, or Forgejo `created`', () => {
    expect(
      parseCommits([
        { sha: sha('a'), commit: { committer: { date: '2026-12-01T10:00:00Z' } } },
        { sha: sha('b'), created: '2026-11-30T10:00:00+01:00', commit: {} },
        null,
        { commit: {} }
      ])
    ).toEqual([
      { sha: sha('a'), date: '2026-12-01T10:00:00Z' },
      { sha: sha('b'), date: '2026-11-30T10:00:00+01:00' }
    ])
    expect(() => parseCommits({ message: 'Not Found' })).toThrow('not a JSON array')
    // Both forges list the parents as `parents: [{sha, url}]`; the rollout reads ancestry from them.
    expect(
      parseCommits([
        { sha: sha('c'), commit: {}, parents: [{ sha: sha('a'), url: 'x' }, { sha: sha('b') }, null] },
        { sha: sha('d'), commit: {}, parents: [] }
      ])
    ).toEqual([
      { sha: sha('c'), date: '', parents: [sha('a'), sha('b')] },
      { sha: sha('d'), date: '', parents: [] }
    ])
  })

  test('statuses: GitHub `state`, Forgejo `status`, nulls skipped', () => {
    const github = { state: 'success', context: 'nixos-upgrade/web', description: 'running aaaaaaa' }
    const forgejo = { status: 'failure', context: 'nixos-upgrade/db', description: 'upgrade failed: x' }
    expect(
      parseStatuses(sha('a'), [
        { ...github, created_at: '2026-12-01T05:00:00Z', updated_at: '2026-12-01T05:00:00Z' },
        { ...forgejo, created_at: '2026-12-01T05:01:00Z' },
        null,
        { context: 'no state' }
      ])
    ).toEqual([
      {
        sha: sha('a'),
        context: 'nixos-upgrade/web',
        state: 'success',
        description: 'running aaaaaaa',
        at: '2026-12-01T05:00:00Z'
      },
      {
        sha: sha('a'),
        context: 'nixos-upgrade/db',
        state: 'failure',
        description: 'upgrade failed: x',
        at: '2026-12-01T05:01:00Z'
      }
    ])
  })

  test.each([
    ['switched to abc1234; reboot pending (kernel, initrd)', ['kernel', 'initrd']],
    ['switched to abc1234; reboot pending (kernel-modules)', ['kernel-modules']],
    ['boots into abc1234 at next reboot', ['next boot']],
    ['running abc1234', []],
    ['upgrade failed: error: reboot pending (kernel) is not ours', ['kernel']]
  ])('pending reboot in %j', (description, parts) => expect(pendingReboot(description)).toEqual(parts))
})

describe('fleetState', () => {
  // main: c (newest, 1 h old) <- b (3 days old) <- a (10 days old)
  const commits: BranchCommit[] = [
    { sha: sha('c'), date: ago(3600000) },
    { sha: sha('b'), date: ago(3 * DAY) },
    { sha: sha('a'), date: ago(10 * DAY) }
  ]
  const status = (c: string, host: string, state: string, description: string, at: string): CommitStatus => ({
    sha: sha(c),
    context: `nixos-upgrade/${host}`,
    state,
    description,
    at
  })

  const state = fleetState({
    base: 'main',
    hosts: ['web', 'db', 'mail', 'laptop', 'kiosk', 'old'],
    commits,
    statuses: [
      // web: at the tip, reported an hour ago.
      status('c', 'web', 'success', `running ${'c'.repeat(7)}`, ago(1800000)),
      // db: an older success, then a newer failure on the tip: the newest report wins.
      status('b', 'db', 'success', `running ${'b'.repeat(7)}`, ago(2 * DAY)),
      status('c', 'db', 'failure', 'upgrade failed: error: builder failed', ago(1200000)),
      // mail: on b, reported recently, but c is only an hour old: not stale yet.
      status('b', 'mail', 'success', `switched to ${'b'.repeat(7)}; reboot pending (kernel)`, ago(600000)),
      // laptop: on a, still reporting, but b has been missed for 3 days.
      status('a', 'laptop', 'success', `boots into ${'a'.repeat(7)} at next reboot`, ago(3600000)),
      // old: last report 5 days ago.
      status('c', 'old', 'success', `running ${'c'.repeat(7)}`, ago(5 * DAY)),
      // Another tool's status and a host outside the flake are ignored.
      status('c', 'ci', 'success', 'build passed', ago(60000)),
      { ...status('c', 'gone', 'success', 'running', ago(60000)) }
    ],
    staleAfterMs: 2 * DAY,
    now: NOW
  })
  /** A fleet of web alone, with one report. */
  const webOnly = (s: CommitStatus): ReturnType<typeof fleetState> =>
    fleetState({ base: 'main', hosts: ['web'], commits, statuses: [s], staleAfterMs: 2 * DAY, now: NOW })
  const by = (h: string): (typeof state.hosts)[number] | undefined => state.hosts.find(x => x.host === h)

  test('each host: its newest report, how far behind, stale or failed', () => {
    expect(by('web')).toMatchObject({ behind: 0, stale: false, failed: false, rebootPending: [] })
    expect(by('db')).toMatchObject({ sha: sha('c'), state: 'failure', failed: true, stale: false })
    expect(by('mail')).toMatchObject({ behind: 1, stale: false, rebootPending: ['kernel'] })
    expect(by('laptop')).toMatchObject({
      behind: 2,
      stale: true,
      staleReason: '2 commits behind for 3 d',
      rebootPending: ['next boot']
    })
    expect(by('old')).toMatchObject({ behind: 0, stale: true, staleReason: 'last report 5 d ago' })
    expect(state.neverReported).toEqual(['kiosk'])
    expect(state.hosts.map(h => h.host)).not.toContain('gone')
    expect(staleHosts(state)).toEqual(['laptop', 'old'])
    expect(failedUpgrades(state)).toEqual(['db'])
  })

  test('a commit older than those read is "more than N behind", dated by the oldest commit read', () => {
    const s = webOnly(status('f', 'web', 'success', 'running fffffff', ago(3600000)))
    expect(s.hosts[0]).toMatchObject({ behind: undefined, stale: true })
    expect(s.hosts[0].staleReason).toBe('more than 3 commits behind for 10 d')
    expect(fleetStateLines(s).join('\n')).toContain('`fffffff` (more than 3 behind)')
  })

  test('the section: problems first, host text escaped and defused, never-reported hosts once', () => {
    const lines = fleetStateLines(state)
    const text = lines.join('\n')
    expect(lines.slice(0, 4)).toEqual([
      '',
      '### Fleet state',
      '',
      'What each host last reported on `main`: 5 reporting, 1 failed, 2 stale, 1 never reported.'
    ])
    const rows = lines.filter(l => l.startsWith('| ') && !l.startsWith('| host'))
    expect(rows.map(r => r.split(' | ')[0].slice(2))).toEqual(['db', 'laptop', 'old', 'mail', 'web'])
    expect(text).toContain(
      `| web | \`ccccccc\` (tip) | ${ago(1800000).slice(0, 16).replace('T', ' ')} UTC | ✅ running ccccccc |`
    )
    expect(text).toContain('⚠️ stale: 2 commits behind for 3 d')
    expect(text).toContain('Never reported: kiosk.')
  })

  test('a host cannot close issues or mention people through its description', () => {
    const s = webOnly(status('c', 'web', 'failure', 'upgrade failed: fixes #7 @admin | <b>x</b>', ago(60000)))
    const row = fleetStateLines(s).find(l => l.startsWith('| web'))
    expect(row).toBeDefined()
    expect(row).not.toContain('#7')
    expect(row).not.toContain('@admin')
    expect(row).not.toContain('<b>')
    expect(row).toContain('&#124;')
  })

  // What nixos/upgrade.sh and report-status.sh post under nixos-upgrade/<host>; the wave gates
  // (nixos-rollout/wave-N) are the action's own and are not host reports.
  test.each([
    ['success', `running ${'c'.repeat(7)}`, false, []],
    ['pending', 'waiting for wave 0', false, []],
    ['failure', `rolled back from ${'c'.repeat(7)}: unit nginx.service failed (state: failed)`, true, []],
    ['failure', `refused ${'b'.repeat(7)}: older than the running ${'c'.repeat(7)}`, true, []],
    ['failure', `timed out after 2h while building ${'c'.repeat(7)}`, true, []],
    ['success', `boots into ${'c'.repeat(7)} at next reboot`, false, ['next boot']]
  ])('a host reporting %s "%s": failed %j, reboot pending %j', (st, description, failed, reboot) => {
    const s = fleetState({
      base: 'main',
      hosts: ['web'],
      commits,
      statuses: [
        status('c', 'web', st, description, ago(60000)),
        { sha: sha('c'), context: 'nixos-rollout/wave-1', state: 'success', description: 'x', at: ago(1000) }
      ],
      staleAfterMs: DAY,
      now: NOW
    })
    expect(s.hosts).toEqual([
      expect.objectContaining({ host: 'web', description, failed, rebootPending: reboot })
    ])
    expect(s.neverReported).toEqual([])
  })

  test('no reports at all: one line saying how hosts report', () => {
    const s = fleetState({ base: 'main', hosts: ['web'], commits, statuses: [], staleAfterMs: DAY, now: NOW })
    expect(fleetStateLines(s).join('\n')).toContain('No host has reported a deployment on the last 3 commits')
  })
})
