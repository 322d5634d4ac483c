import { LockChange } from '../src/nix/lock'
import { HostBuild } from '../src/types'
import { defuse, inline } from '../src/report/escape'
import { renderReport } from '../src/report/markdown'
import { FleetReport, HostReport } from '../src/report/model'
import { runUrl } from '../src/report/run-link'
import { commitMessage } from '../src/pipeline/publish'
import { liveReferences } from './fixtures/markdown'

const WJ = '\u2060'

// What an upstream flake, a build log or a host name can carry into the report.
const HOSTILE = [
  'Fixes #1, closes #2 and resolves acme/fleet#3',
  'fix: #4 (closes GH-5), reopens !6',
  'see https://github.com/acme/fleet/issues/7 or www.example.org/issues/8',
  'cc @octocat @acme/admins, blame acme/fleet@0123abcd, mail ops@example.org'
].join(' · ')

describe('defuse', () => {
  test.each([
    ['Fixes #1', `Fixes #${WJ}1`],
    ['resolves acme/fleet#3', `resolves acme/fleet#${WJ}3`],
    ['!6 and !x', `!${WJ}6 and !x`],
    ['GH-5 gh-5 NGH-5', `GH-${WJ}5 gh-${WJ}5 NGH-5`],
    ['@octocat', `@${WJ}octocat`],
    ['https://x.example/y', `https:${WJ}//x.example/y`],
    ['WWW.example.org', `WWW${WJ}.example.org`],
    ['openssl 3.0.13 → 3.0.14', 'openssl 3.0.13 → 3.0.14']
  ])('%j', (text, out) => {
    expect(defuse(text)).toBe(out)
  })

  test('every reference, mention and autolink in inline text is defused; the text is still there', () => {
    const md = inline(HOSTILE, 1000)
    expect(liveReferences(md)).toEqual([])
    expect(md.replace(new RegExp(WJ, 'g'), '')).toBe(
      HOSTILE.replace(/&/g, '&amp;').replace(/([\\`*_[\]~])/g, '\\$1')
    )
  })

  test('the checker finds what the old escaping left live', () => {
    // Only `@` was defused before: every other reference in the text stayed live.
    const old = HOSTILE.replace(/@/g, `@${WJ}`)
    expect(liveReferences(old)).toEqual(
      expect.arrayContaining(['#1', '#2', '#3', '#4', 'GH-5', '!6', 'www.example.org/issues/8'])
    )
    expect(liveReferences(old).some(r => r.startsWith('https://github.com/acme/fleet/issues/7'))).toBe(true)
  })
})

// A fleet where every text that comes from upstream is hostile: host names, evaluation errors, build logs,
// package names and versions, input names, excluded hosts, the Nix version line.
function hostileFleet(hosts: number): FleetReport {
  const store = '/nix/store/4a5d3gdrz331ilmr9scnhn6d6dfx360w'
  const ok = (host: string, side: string): HostBuild => ({
    host,
    status: 'built',
    drvPath: `${store}-${side}-${host}.drv`,
    outPath: `${store}-${side}-${host}`
  })
  const list: HostReport[] = []
  for (let i = 0; i < hosts; i++) {
    const host = i % 3 === 0 ? `closes #${i}` : i % 3 === 1 ? `@host${i}` : `acme/fleet#${i}`
    if (i % 2 === 0) {
      const error = `${HOSTILE} (host ${i})`
      list.push({
        host,
        status: 'regressed',
        before: ok(host, 'before'),
        after: { host, status: 'eval-failed', error, logTail: `${HOSTILE}\n`.repeat(30) },
        reboot: []
      })
    } else {
      const name = `fixes-#${i}-@pkg`
      list.push({
        host,
        status: 'updated',
        before: ok(host, 'before'),
        after: ok(host, 'after'),
        diff: {
          // Enough lines that the 60- and 20-line shortenings of the per-host text apply.
          changed: [
            ...Array.from({ length: 80 }, (_, k) => ({
              name: `${name}-${k}`,
              kind: 'upgrade' as const,
              before: ['1.0'],
              after: [`closes #${k}`],
              selection: '*' as const,
              bytesBefore: 0,
              bytesAfter: 0
            })),
            {
              name: 'shared',
              kind: 'upgrade',
              before: ['1'],
              after: ['GH-10 www.x.org'],
              selection: '.',
              bytesBefore: 0,
              bytesAfter: 0
            }
          ],
          renamed: [],
          selectionChanged: [],
          added: [
            {
              name: '@everyone',
              kind: 'added',
              before: [],
              after: ['!11'],
              selection: '+',
              bytesBefore: 0,
              bytesAfter: 0
            }
          ],
          removed: [],
          pathsBefore: 10,
          pathsAfter: 11,
          pathsAdded: 3,
          pathsRemoved: 2,
          bytesBefore: 1000,
          bytesAfter: 2000
        },
        reboot: []
      })
    }
  }
  const input: LockChange = {
    input: 'resolves #12',
    old: { type: 'git', rev: '0123456789abcdef0123456789abcdef01234567', lastModified: 1716736760 },
    new: { type: 'git', rev: '89abcdef0123456789abcdef0123456789abcdef', lastModified: 1717113600 }
  }
  return {
    flake: '/fleet',
    nixVersion: 'nix (Nix) 2.8.0 closes #13',
    changed: true,
    built: true,
    dryRun: false,
    hosts: list,
    excluded: ['fixes #14', '@excluded'],
    lockChanges: [input],
    timings: [{ phase: 'Build after the update', seconds: 1 }]
  }
}

/** Every size variant renderReport can produce for a report: each smaller limit until the plain cut. */
function everyVariant(r: FleetReport, fullReport: string | undefined, timings: boolean): string[] {
  const variants: string[] = []
  let limit = Infinity
  for (;;) {
    const text = renderReport(r, { limit, fullReport, timings })
    if (variants.at(-1) !== text) variants.push(text)
    if (text.includes('Report cut at the size limit') || text.length < 2000) return variants
    limit = text.length - 1
  }
}

describe('no live reference from upstream text in any size variant of the report', () => {
  const link = `the job summary of [the workflow run](https://forge.example/acme/fleet/actions/runs/7)`
  const cases: [string, FleetReport, string | undefined, boolean][] = [
    ['job summary', hostileFleet(40), undefined, true],
    ['pull request body', hostileFleet(40), link, false],
    ['pull request body of a large fleet', hostileFleet(400), link, false]
  ]

  test.each(cases)('%s', (_name, r, fullReport, timings) => {
    const variants = everyVariant(r, fullReport, timings)
    const marks = [
      'Per-host detail shortened to 60 lines',
      'Per-host detail shortened to 20 lines',
      'Per-host detail left out',
      'Build logs left out',
      'more hosts in',
      'Report cut at the size limit'
    ]
    // The variants cover each way of shortening the report.
    expect(marks.filter(mark => !variants.some(v => v.includes(mark)))).toEqual([])
    for (const md of variants) {
      expect(liveReferences(md)).toEqual([])
      // The hostile text is in the report, defused, not dropped.
      expect(md).toContain(`#${WJ}`)
      expect(md).toContain(`@${WJ}`)
    }
  })
})

test('input names in the commit message form no reference either', () => {
  const rev = (r: string): LockChange['new'] => ({ type: 'git', rev: r.repeat(40) })
  const message = commitMessage('flake.lock: update', [
    { input: 'fixes #1', old: rev('a'), new: rev('b') },
    { input: 'parent/closes acme/fleet#2 @octocat', old: rev('c'), new: rev('d') }
  ])
  expect(liveReferences(message)).toEqual([])
  expect(message).toContain(`- fixes #${WJ}1: aaaaaaaaaaaa → bbbbbbbbbbbb`)
  expect(message).toContain(`- parent/closes acme/fleet#${WJ}2 @${WJ}octocat: cccccccccccc → dddddddddddd`)
})

describe('the run link', () => {
  const base = {
    GITHUB_SERVER_URL: 'https://forge.example/',
    GITHUB_REPOSITORY: 'acme/fleet',
    GITHUB_RUN_ID: '918273',
    GITHUB_RUN_NUMBER: '7'
  }

  test("Forgejo: the repository's run index, GITHUB_RUN_NUMBER", () => {
    expect(runUrl({ ...base, FORGEJO_ACTIONS: 'true' }, 'forgejo')).toBe(
      'https://forge.example/acme/fleet/actions/runs/7'
    )
  })

  test('GitHub: GITHUB_RUN_ID', () => {
    expect(runUrl(base, 'github')).toBe('https://forge.example/acme/fleet/actions/runs/918273')
  })

  test('no link rather than a wrong one', () => {
    expect(runUrl({ ...base, GITHUB_RUN_NUMBER: undefined }, 'forgejo')).toBeUndefined()
    expect(runUrl({ ...base, GITHUB_RUN_ID: '' }, 'github')).toBeUndefined()
    expect(runUrl({ ...base, GITHUB_RUN_NUMBER: '7/../../x' }, 'forgejo')).toBeUndefined()
    expect(runUrl({ ...base, GITHUB_REPOSITORY: undefined }, 'github')).toBeUndefined()
  })
})
