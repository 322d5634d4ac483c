import { ClosureDiff, PackageChange } from '../src/nix/closure-diff'
import { LockChange } from '../src/nix/lock'
import { HostBuild } from '../src/types'
import { clean, codeBlock, inline } from '../src/report/escape'
import { REPORT_LIMIT, renderReport, renderSeveral } from '../src/report/markdown'
import { FleetReport, HostReport } from '../src/report/model'
import { nvdText } from '../src/report/nvd'
import { NVD_LEGEND } from '../src/report/sections'
import { parseFences } from './fixtures/markdown'
import { fleetReport } from './fixtures/report'

const WJ = '\u2060'

/** The rows of the Markdown table that follows `header`, up to the first line that is not a row. */
function tableRows(md: string, header: string): string[] {
  const lines = md.split('\n')
  const start = lines.indexOf(header)
  expect(start).toBeGreaterThanOrEqual(0)
  const rows: string[] = []
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break
    rows.push(line)
  }
  return rows
}

const pipes = (line: string): number => line.split('|').length - 1

describe('inline', () => {
  test.each([
    ['plain text', 'plain text'],
    ['a|b', 'a&#124;b'],
    ['<b>&</b>', '&lt;b&gt;&amp;&lt;/b&gt;'],
    ['<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
    ['*bold* _it_', '\\*bold\\* \\_it\\_'],
    ['back\\slash', 'back\\\\slash'],
    ['trailing\\', 'trailing\\\\'],
    ['`code`', '\\`code\\`'],
    ['[x](https://evil.example)', `\\[x\\](https:${WJ}//evil.example)`],
    ['~~strike~~', '\\~\\~strike\\~\\~'],
    ['@everyone', `@${WJ}everyone`],
    ['ping @octocat and @org/team', `ping @${WJ}octocat and @${WJ}org/team`],
    ['ops@example.org', `ops@${WJ}example.org`],
    ['&#124; and &amp;', `&amp;#${WJ}124; and &amp;amp;`],
    ['tab\tnew\nline  and   spaces', 'tab new line and spaces'],
    ['  trimmed \n', 'trimmed'],
    ['\u001b[1;31merror:\u001b[0m boom', 'error: boom'],
    ['bell\u0007 nul\u0000 del\u007f', 'bell nul del'],
    ['cr\r\nlf', 'cr lf'],
    ['rtl \u202eevil\u202c', 'rtl evil'],
    ['zero\u200bwidth', 'zerowidth'],
    ['openssl 3.0.13 → 3.0.14', 'openssl 3.0.13 → 3.0.14']
  ])('%j → %j', (text, escaped) => {
    expect(inline(text)).toBe(escaped)
  })

  test.each([
    ['a'.repeat(200), 200, 'a'.repeat(200)],
    ['a'.repeat(201), 200, `${'a'.repeat(199)}…`],
    ['a'.repeat(5000), 200, `${'a'.repeat(199)}…`],
    ['abcdefghijklmnop', 10, 'abcdefghi…'],
    ['abcdefghij', 10, 'abcdefghij']
  ])('cut to the width (%#)', (text, max, cut) => {
    expect(inline(text, max)).toBe(cut)
  })
})

describe('codeBlock', () => {
  test.each([
    ['hello', 'text', '```text\nhello\n```'],
    ['let x = 1;', 'nix', '```nix\nlet x = 1;\n```'],
    ['`one` ``two``', 'text', '```text\n`one` ``two``\n```'],
    ['a ``` b', 'text', '````text\na ``` b\n````'],
    ['```\nclosed?\n```', 'text', '````text\n```\nclosed?\n```\n````'],
    ['``````', 'text', '```````text\n``````\n```````'],
    ['log\n\n   \n', 'text', '```text\nlog\n```'],
    ['\u001b[31mred\u001b[0m\r\nline', 'text', '```text\nred\nline\n```']
  ])('%j', (text, info, block) => {
    expect(codeBlock(text, info)).toBe(block)
  })

  test('defaults to text', () => {
    expect(codeBlock('x')).toBe('```text\nx\n```')
  })

  test.each([
    '```',
    '````',
    'x\n```\ny',
    'x\n   ```\ny',
    '```` ```` ``````',
    '````` \n``` text\n`',
    '</details>\n```\n<script>alert(1)</script>\n```'
  ])('nothing in %j closes the block', text => {
    const { blocks, outside } = parseFences(codeBlock(text))
    expect(blocks).toEqual([{ info: 'text', body: clean(text).replace(/\s+$/, ''), closed: true }])
    expect(outside).toEqual([])
  })
})

// Hand-built host results, as the pipeline hands them to the report.
const SYSTEM = '/nix/store/4a5d3gdrz331ilmr9scnhn6d6dfx360w-nixos-system'
const built = (host: string, side: string): HostBuild => ({
  host,
  status: 'built',
  drvPath: `${SYSTEM}-${side}-${host.length}.drv`,
  outPath: `${SYSTEM}-${side}-${host.length}`
})
const change = (
  name: string,
  kind: PackageChange['kind'],
  before: string[],
  after: string[],
  selection: PackageChange['selection']
): PackageChange => ({ name, kind, before, after, selection, bytesBefore: 0, bytesAfter: 0 })

function diffOf(
  changed: PackageChange[],
  added: PackageChange[] = [],
  removed: PackageChange[] = [],
  bytes: [number, number] = [1_000_000, 1_000_000]
): ClosureDiff {
  return {
    changed,
    renamed: [],
    selectionChanged: [],
    added,
    removed,
    pathsBefore: 1200,
    pathsAfter: 1200 + added.length - removed.length,
    pathsAdded: changed.length + added.length,
    pathsRemoved: changed.length + removed.length,
    bytesBefore: bytes[0],
    bytesAfter: bytes[1]
  }
}

function updated(host: string, diff: ClosureDiff, reboot: string[] = []): HostReport {
  return { host, status: 'updated', before: built(host, 'before'), after: built(host, 'after'), diff, reboot }
}

function regressed(host: string, logTail: string, error = 'failed to build: rsync-3.2.7'): HostReport {
  return {
    host,
    status: 'regressed',
    before: built(host, 'before'),
    after: { host, status: 'build-failed', drvPath: `${SYSTEM}-${host}.drv`, error, logTail },
    reboot: []
  }
}

const NIXPKGS: LockChange = {
  input: 'nixpkgs',
  old: {
    type: 'github',
    owner: 'NixOS',
    repo: 'nixpkgs',
    rev: 'e637e908dbc0f08e0fae8c96fe7b8b373e217f78',
    narHash: 'sha256-5/VC03zjzmNcaj2+I2hmeDnVHFXQStpcGl0feP1gNgg=',
    lastModified: 1716736760
  },
  new: {
    type: 'github',
    owner: 'NixOS',
    repo: 'nixpkgs',
    rev: 'bb36f33536f3a2ff97a5b80e796d41d9b4c02309',
    narHash: 'sha256-cNmXLTfqQnjlsD4V3DMITbmiUZfJb+tCPEJOh1WHxhA=',
    lastModified: 1717113600
  },
  compareUrl:
    'https://github.com/NixOS/nixpkgs/compare/e637e908dbc0f08e0fae8c96fe7b8b373e217f78...bb36f33536f3a2ff97a5b80e796d41d9b4c02309'
}

function fleet(hosts: HostReport[], extra: Partial<FleetReport> = {}): FleetReport {
  return fleetReport(hosts, { lockChanges: [NIXPKGS], ...extra })
}

const OPENSSL = change('openssl', 'upgrade', ['3.0.13'], ['3.0.14'], '*')
const DB_LOG = [
  "building '/nix/store/3ad74lwr2zi6li06i2xijaj5vqfr07vi-rsync-3.2.7.drv'...",
  'rsync.c:1: error: boom',
  'make: *** [Makefile:10: rsync] Error 1'
].join('\n')

describe('renderReport', () => {
  const web = updated(
    'web',
    diffOf(
      [change('linux', 'upgrade', ['6.6.30'], ['6.6.31'], '.'), OPENSSL],
      [change('ripgrep', 'added', [], ['14.1.0'], '+')],
      [],
      [1_000_000, 1_002_867]
    ),
    ['kernel', 'kernel-modules']
  )
  const mail = updated(
    'mail',
    diffOf(
      [{ ...OPENSSL, selection: '.' }],
      [],
      [change('rsync', 'removed', ['3.2.7'], [], '-')],
      [2_000_000, 1_997_952]
    )
  )
  const db = regressed('db', DB_LOG)
  const small = fleet([web, mail, db], {
    excluded: ['iso-minimal'],
    timings: [
      { phase: 'evaluate', seconds: 12.34 },
      { phase: 'build', seconds: 301 }
    ]
  })

  test('a small fleet, exactly', () => {
    const webDiff = web.diff as ClosureDiff
    const mailDiff = mail.diff as ClosureDiff
    expect(renderReport(small)).toBe(
      [
        '## NixOS fleet update: 3 hosts',
        '',
        '1 input updated · 2 updated · 1 regressed · 1 needs a reboot',
        '',
        '### Inputs',
        '',
        '| input | from | to | last modified | changes |',
        '|---|---|---|---|---|',
        `| nixpkgs | \`e637e908dbc0\` | \`bb36f33536f3\` | 2024-05-26 → 2024-05-31 | [compare](${NIXPKGS.compareUrl}) |`,
        '',
        '### Hosts',
        '',
        '| host | status | upgrades | downgrades | added | removed | disk usage | reboot |',
        '|---|---|---|---|---|---|---|---|',
        '| web | ✅ updated | 2 | 0 | 1 | 0 | +2.8KiB | yes (kernel, kernel-modules) |',
        '| mail | ✅ updated | 1 | 0 | 0 | 1 | -2.0KiB | no |',
        '| db | ❌ regressed | – | – | – | – | – | – |',
        '',
        '### Changes on several hosts',
        '',
        '- openssl 3.0.13 → 3.0.14 on 2 of 3 hosts (web, mail)',
        '',
        '### Failed hosts (1)',
        '',
        '<details><summary>db (regressed): build failed after the update · failed to build: rsync-3.2.7</summary>',
        '',
        'Would have received: nixpkgs `e637e90` → `bb36f33`.',
        '',
        'Reproduce: `nix build .#nixosConfigurations.db.config.system.build.toplevel`',
        '',
        '```text',
        DB_LOG,
        '```',
        '',
        '</details>',
        '',
        '',
        '### Package changes per host',
        '',
        `_${NVD_LEGEND}_`,
        '',
        '<details><summary>web: 2 upgraded, 1 added · reboot needed</summary>',
        '',
        '```text',
        nvdText(webDiff, web.before?.outPath, web.after?.outPath),
        '```',
        '',
        '</details>',
        '',
        '<details><summary>mail: 1 upgraded, 1 removed</summary>',
        '',
        '```text',
        nvdText(mailDiff, mail.before?.outPath, mail.after?.outPath),
        '```',
        '',
        '</details>',
        '',
        '',
        '<sub>Nix 2.8.0 · excluded: iso-minimal · evaluate 12.3 s, build 301.0 s</sub>',
        ''
      ].join('\n')
    )
  })

  test('the nvd text inside each host block', () => {
    const { blocks } = parseFences(renderReport(small))
    expect(blocks[0].body).toBe(DB_LOG)
    // The first two lines are the <<< and >>> store paths.
    expect(blocks.slice(1).map(b => b.body.split('\n').slice(2).join('\n'))).toEqual([
      [
        'Version changes:',
        '[U.]  #1  linux    +0B  6.6.30 -> 6.6.31',
        '[U*]  #2  openssl  +0B  3.0.13 -> 3.0.14',
        'Added packages:',
        '[A+]  #1  ripgrep  +0B  14.1.0',
        'Closure size: 1200 -> 1201 (3 paths added, 2 paths removed, delta +1, disk usage +2.8KiB).'
      ].join('\n'),
      [
        'Version changes:',
        '[U.]  #1  openssl  +0B  3.0.13 -> 3.0.14',
        'Removed packages:',
        '[R-]  #1  rsync  +0B  3.2.7',
        'Closure size: 1200 -> 1199 (1 paths added, 2 paths removed, delta -1, disk usage -2.0KiB).'
      ].join('\n')
    ])
  })

  test('one row per host in the fleet table', () => {
    const rows = tableRows(
      renderReport(small),
      '| host | status | upgrades | downgrades | added | removed | disk usage | reboot |'
    )
    expect(rows.map(r => r.split(' | ')[0].slice(2))).toEqual(['web', 'mail', 'db'])
  })

  test('a change on one host only is not listed as shared', () => {
    const text = renderReport(small)
    expect(text).not.toContain('linux 6.6.30 → 6.6.31 on')
    expect(text).not.toContain('rsync 3.2.7 removed on')
  })

  test('shared additions and removals are listed once, most common first', () => {
    const hosts = ['a', 'b', 'c'].map(h =>
      updated(
        h,
        diffOf(
          h === 'c' ? [] : [OPENSSL],
          [change('ripgrep', 'added', [], ['14.1.0'], '+')],
          [change('libidn2', 'removed', ['2.3.7'], [], '.')]
        )
      )
    )
    const lines = renderReport(fleet(hosts)).split('\n')
    const start = lines.indexOf('### Changes on several hosts')
    expect(lines.slice(start + 2, start + 5)).toEqual([
      '- libidn2 2.3.7 removed on all 3 hosts',
      '- ripgrep 14.1.0 added on all 3 hosts',
      '- openssl 3.0.13 → 3.0.14 on 2 of 3 hosts (a, b)'
    ])
  })

  test('an added or removed input is marked (new) or (removed), without a compare link', () => {
    const added: LockChange = {
      input: 'disko',
      new: { type: 'github', rev: '20927c4aee9ae3797303941f8584cdcff32e8103' }
    }
    const removed: LockChange = {
      input: 'flake-utils',
      old: { type: 'github', rev: 'ddbc4e272b36cab2e52d82c3ed5ea6b0b437b68f', lastModified: 1710146030 }
    }
    const rows = tableRows(
      renderReport(fleet([], { lockChanges: [added, removed, NIXPKGS], built: false })),
      '| input | from | to | last modified | changes |'
    )
    expect(rows).toEqual([
      '| disko | – | `20927c4aee9a` |  | (new) |',
      '| flake-utils | `ddbc4e272b36` | – | 2024-03-11 → – | (removed) |',
      `| nixpkgs | \`e637e908dbc0\` | \`bb36f33536f3\` | 2024-05-26 → 2024-05-31 | [compare](${NIXPKGS.compareUrl}) |`
    ])
  })

  test('a created lock file says so in the summary line', () => {
    const md = renderReport(fleet([], { lockChanges: [NIXPKGS], lockCreated: true, built: false }))
    expect(md.split('\n')[2]).toBe('lock file created (1 input locked)')
  })

  test('an input with only a content hash shows the hash', () => {
    const channel: LockChange = {
      input: 'nixos-channel',
      old: { type: 'tarball', narHash: 'sha256-z5Q67ZLZzhQyg3tCuc+i0bkxwxdOQC//W9Lg+kjwe40=' },
      new: { type: 'tarball', narHash: 'sha256-WzMIqnRjmymeZ/9aZ5JcZvLaaolzoWhY+XMm1O6oSyc=' }
    }
    const rows = tableRows(
      renderReport(fleet([], { lockChanges: [channel], built: false })),
      '| input | from | to | last modified | changes |'
    )
    expect(rows).toEqual([
      '| nixos-channel | `z5Q67ZLZzhQy` | `WzMIqnRjmyme` |  | narHash `z5Q67ZLZzhQy` → `WzMIqnRjmyme` |'
    ])
  })

  test('an unchanged lock gives the short text', () => {
    const hosts: HostReport[] = ['web', 'mail'].map(host => ({ host, status: 'not-built', reboot: [] }))
    expect(renderReport(fleet(hosts, { changed: false, built: false, lockChanges: [] }))).toBe(
      [
        '## NixOS fleet update: 2 hosts',
        '',
        'flake.lock is up to date: no input has a newer revision, nothing was rebuilt.',
        '',
        '<sub>Nix 2.8.0</sub>',
        ''
      ].join('\n')
    )
  })

  test('a dry run of one host says so', () => {
    const text = renderReport(fleet([updated('web', diffOf([OPENSSL]))], { dryRun: true }))
    expect(text.split('\n')[0]).toBe('## NixOS fleet update: 1 host (dry run)')
  })

  test('an update without builds has the inputs but no host table', () => {
    const text = renderReport(fleet([{ host: 'web', status: 'not-built', reboot: [] }], { built: false }))
    expect(text).toContain('### Inputs')
    expect(text).not.toContain('### Hosts')
  })

  describe('hostile names', () => {
    const names = [
      'a|b',
      '`rm -rf /`',
      '<script>alert(1)</script>',
      '@everyone',
      'x'.repeat(5000),
      '| --- | --- |',
      'line\nbreak',
      '\u001b[31mred\u001b[0m',
      '[click](https://evil.example)',
      'back\\slash\\'
    ]
    const evilPackage = change('pkg|`x`<b>@everyone', 'upgrade', ['1'], ['2'], '*')
    const log = [
      'building...',
      '```',
      '</details>',
      '<script>alert(1)</script>',
      '@everyone ```` `````',
      '``````',
      'error: done'
    ].join('\n')
    const hosts = [
      ...names.map(n => updated(n, diffOf([evilPackage, OPENSSL]), ['kernel'])),
      regressed('evil`host|<i>', log, 'failed to build: `x`|<y>')
    ]
    const lockChanges: LockChange[] = [{ ...NIXPKGS, input: 'evil|input`<b>' }]
    const text = renderReport(fleet(hosts, { lockChanges, excluded: ['@here', '<img src=x>'] }))
    const { blocks, outside } = parseFences(text)

    test('every row of the host table keeps its nine pipes', () => {
      const rows = tableRows(
        text,
        '| host | status | upgrades | downgrades | added | removed | disk usage | reboot |'
      )
      expect(rows).toHaveLength(hosts.length)
      for (const row of rows) expect(pipes(row)).toBe(9)
    })

    test('every row of the input table keeps its six pipes', () => {
      const rows = tableRows(text, '| input | from | to | last modified | changes |')
      expect(rows).toHaveLength(1)
      expect(pipes(rows[0])).toBe(6)
      expect(rows[0].startsWith('| evil&#124;input\\`&lt;b&gt; | ')).toBe(true)
    })

    test('escaped cells', () => {
      const rows = tableRows(
        text,
        '| host | status | upgrades | downgrades | added | removed | disk usage | reboot |'
      )
      expect(rows.map(r => r.slice(2).split(' | ')[0])).toEqual([
        'a&#124;b',
        '\\`rm -rf /\\`',
        '&lt;script&gt;alert(1)&lt;/script&gt;',
        `@${WJ}everyone`,
        `${'x'.repeat(199)}…`,
        '&#124; --- &#124; --- &#124;',
        'line break',
        'red',
        `\\[click\\](https:${WJ}//evil.example)`,
        'back\\\\slash\\\\',
        'evil\\`host&#124;&lt;i&gt;'
      ])
    })

    test('the shared change is listed once, escaped', () => {
      const line = (prefix: string): string | undefined => outside.find(l => l.startsWith(prefix))
      // 10 of the 11 hosts were compared; the names in the list are escaped like anywhere else.
      expect(
        line(
          `- pkg&#124;\\\`x\\\`&lt;b&gt;@${WJ}everyone 1 → 2 on 10 of 11 hosts (a&#124;b, \\\`rm -rf /\\\`, `
        )
      ).toBeDefined()
      expect(line('- openssl 3.0.13 → 3.0.14 on 10 of 11 hosts (')).toBeDefined()
    })

    test('no HTML, no mention and no raw link outside code blocks', () => {
      const prose = outside.join('\n')
      expect(prose).not.toMatch(/<(script|img|i|b)\b/)
      expect(prose).not.toMatch(new RegExp(`@(?!${WJ})`))
      expect(prose).not.toMatch(/(?<!\\)\]\(https:\/\/evil\.example\)/)
      expect(prose).not.toContain('x'.repeat(200))
    })

    test('the log cannot close its code block', () => {
      expect(blocks.every(b => b.closed)).toBe(true)
      expect(blocks.map(b => b.body)).toContain(log)
    })

    test('every <details> is closed outside the code blocks', () => {
      const prose = outside.join('\n')
      expect(prose.split('<details>').length).toBe(hosts.length + 1)
      expect(prose.split('</details>').length).toBe(hosts.length + 1)
    })
  })

  describe('size limit', () => {
    const versionsOf = (i: number): [string[], string[]] => [[`1.${i}`], [`1.${i + 1}`]]

    function bigHost(n: number): HostReport {
      const changed = Array.from({ length: 150 }, (_, i) => {
        const [b, a] = versionsOf(i + (i % 3 === 0 ? n : 0))
        return change(`python3.12-package-number-${i}`, 'upgrade', b, a, '.')
      })
      const added = Array.from({ length: 40 }, (_, i) => change(`added-${n}-${i}`, 'added', [], ['1.0'], '.'))
      const removed = Array.from({ length: 40 }, (_, i) =>
        change(`removed-${i}`, 'removed', ['0.9'], [], '.')
      )
      return updated(`host${String(n).padStart(3, '0')}`, diffOf(changed, added, removed), [
        'kernel',
        'initrd'
      ])
    }

    const longLog = Array.from({ length: 60 }, (_, i) => `line ${i}: ${'compiler output '.repeat(6)}`).join(
      '\n'
    )

    test('300 hosts with big diffs stay under the limit and say they were shortened', () => {
      const hosts = Array.from({ length: 300 }, (_, n) =>
        n % 15 === 14 ? regressed(`host${n}`, longLog) : bigHost(n)
      )
      const text = renderReport(fleet(hosts))
      expect(text.length).toBeLessThanOrEqual(REPORT_LIMIT)
      expect(REPORT_LIMIT).toBe(60000)
      expect(text).toMatch(/size limit/)
      const rows = tableRows(
        text,
        '| host | status | upgrades | downgrades | added | removed | disk usage | reboot |'
      )
      expect(rows).toHaveLength(300)
      const { blocks, outside } = parseFences(text)
      expect(blocks.every(b => b.closed)).toBe(true)
      const prose = outside.join('\n')
      expect(prose.split('<details>').length).toBe(prose.split('</details>').length)
    })

    // A nixpkgs update that breaks a package every host uses: 300 long build logs, more than any step of
    // shortening can fit, so the text is cut. What is left must still be well-formed Markdown.
    test('300 failing hosts with long logs: cut, said so, and still well-formed', () => {
      const wide = Array.from({ length: 40 }, (_, i) => `${i}: ${'x'.repeat(280)}`).join('\n')
      const hosts = Array.from({ length: 300 }, (_, n) => regressed(`host${n}`, wide))
      const text = renderReport(fleet(hosts))
      expect(text.length).toBeLessThanOrEqual(REPORT_LIMIT)
      expect(text).toMatch(/size limit/)
      const { blocks, outside } = parseFences(text)
      expect(blocks.every(b => b.closed)).toBe(true)
      const prose = outside.join('\n')
      expect(prose.split('<details>').length).toBe(prose.split('</details>').length)
      expect(prose).toMatch(/size limit/)
    })

    test('several flakes: a heading with a line each, each part a level lower, all within the limit', () => {
      const big = Array.from({ length: 200 }, (_, n) => bigHost(n))
      const parts = [
        fleet(big, { flakeRef: '.' }),
        fleet([bigHost(900)], { flakeRef: './lab' }),
        fleet([], { flakeRef: './home', changed: false, built: false })
      ]
      const text = renderSeveral(parts)
      expect(text.length).toBeLessThanOrEqual(REPORT_LIMIT)
      expect(text).toMatch(/^## NixOS fleet update: 3 flakes, 201 hosts$/m)
      expect(text).toContain('- `./home`: up to date')
      for (const ref of ['.', './lab', './home']) expect(text).toContain(`### \`${ref}\`: `)
      // The big flake is shortened within its share; the small one is not.
      const lab = text.slice(text.indexOf('### `./lab`'))
      expect(text.slice(0, text.indexOf('### `./lab`'))).toMatch(/size limit/)
      expect(lab.slice(0, lab.indexOf('### `./home`'))).not.toMatch(/size limit/)
      expect(text.split('\n').filter(l => /^#{2,3} /.test(l) && !/^### `/.test(l))).toEqual([
        '## NixOS fleet update: 3 flakes, 201 hosts'
      ])
      const { blocks } = parseFences(text)
      expect(blocks.every(b => b.closed)).toBe(true)
    })

    test('a report under the limit is not shortened', () => {
      const text = renderReport(fleet([bigHost(1), bigHost(2)]))
      expect(text).not.toMatch(/size limit/)
      expect(parseFences(text).blocks.map(b => b.body.split('\n').length)).toEqual([236, 236])
    })
  })
})
