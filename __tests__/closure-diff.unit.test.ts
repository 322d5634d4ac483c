import { PathInfoMap } from '../src/nix/closure'
import { ClosureDiff, ClosureSide, PackageChange, countKinds, diffClosures } from '../src/nix/closure-diff'
import { formatVersions, nvdText } from '../src/report/nvd'

const NIX32 = '0123456789abcdfghijklmnpqrsvwxyz'

// Distinct, stable store path hashes: a rebuild of the same name and version is told apart by its `build` tag.
function hashOf(seed: string): string {
  let h = 2166136261
  let out = ''
  for (let i = 0; out.length < 32; i++) {
    h = Math.imul(h ^ seed.charCodeAt(i % Math.max(seed.length, 1)) ^ i, 16777619) >>> 0
    out += NIX32[h % 32]
  }
  return out
}

const sp = (name: string, build = ''): string => `/nix/store/${hashOf(`${name}#${build}`)}-${name}`

function side(paths: string[], selected: string[] = []): ClosureSide {
  return { paths: new Set(paths), selected: new Set(selected) }
}

const change = (
  name: string,
  kind: PackageChange['kind'],
  before: string[],
  after: string[],
  selection: PackageChange['selection'],
  bytes: [number, number] = [0, 0]
): PackageChange => ({ name, kind, before, after, selection, bytesBefore: bytes[0], bytesAfter: bytes[1] })

describe('diffClosures: one package at a time', () => {
  // Packages that stay as they are on both sides, so every case is diffed inside a whole closure.
  const glibc = sp('glibc-2.39-52')
  const bash = sp('bash-5.2p26')
  const common = [glibc, bash]

  interface Case {
    before: string[]
    after: string[]
    selectedBefore?: string[]
    selectedAfter?: string[]
    changed?: PackageChange[]
    selectionChanged?: PackageChange[]
    added?: PackageChange[]
    removed?: PackageChange[]
  }

  const cases: [string, Case][] = [
    [
      'upgrade of a selected package',
      {
        before: [sp('openssl-3.0.13')],
        after: [sp('openssl-3.0.14')],
        selectedBefore: [sp('openssl-3.0.13')],
        selectedAfter: [sp('openssl-3.0.14')],
        changed: [change('openssl', 'upgrade', ['3.0.13'], ['3.0.14'], '*')]
      }
    ],
    [
      'upgrade by Nix version order, not text order',
      {
        before: [sp('linux-6.6.9')],
        after: [sp('linux-6.6.30')],
        changed: [change('linux', 'upgrade', ['6.6.9'], ['6.6.30'], '.')]
      }
    ],
    [
      'upgrade of a patch release (`2.39-52` → `2.39-100`)',
      {
        before: [sp('glibc-locales-2.39-52')],
        after: [sp('glibc-locales-2.39-100')],
        changed: [change('glibc-locales', 'upgrade', ['2.39-52'], ['2.39-100'], '.')]
      }
    ],
    [
      'downgrade of a dependency',
      {
        before: [sp('zlib-1.3.1')],
        after: [sp('zlib-1.3')],
        changed: [change('zlib', 'downgrade', ['1.3.1'], ['1.3'], '.')]
      }
    ],
    [
      'a pre-release is older than the release',
      {
        before: [sp('firefox-126.0')],
        after: [sp('firefox-126.0pre1')],
        changed: [change('firefox', 'downgrade', ['126.0'], ['126.0pre1'], '.')]
      }
    ],
    [
      'same version, newly selected',
      {
        before: [sp('htop-3.3.0')],
        after: [sp('htop-3.3.0')],
        selectedAfter: [sp('htop-3.3.0')],
        selectionChanged: [change('htop', 'changed', ['3.3.0'], ['3.3.0'], '+')]
      }
    ],
    [
      'same version, no longer selected',
      {
        before: [sp('htop-3.3.0')],
        after: [sp('htop-3.3.0', 'rebuilt')],
        selectedBefore: [sp('htop-3.3.0')],
        selectionChanged: [change('htop', 'changed', ['3.3.0'], ['3.3.0'], '-')]
      }
    ],
    [
      'versions differ but the newest is the same',
      {
        before: [sp('python3-3.11.9'), sp('python3-3.12.3')],
        after: [sp('python3-3.12.3')],
        changed: [change('python3', 'changed', ['3.11.9', '3.12.3'], ['3.12.3'], '.')]
      }
    ],
    [
      'a second copy of the same version',
      {
        before: [sp('perl-5.38.2')],
        after: [sp('perl-5.38.2'), sp('perl-5.38.2', 'env')],
        changed: [change('perl', 'changed', ['5.38.2'], ['5.38.2', '5.38.2'], '.')]
      }
    ],
    [
      'several versions, only the newest moves up: a change, not an upgrade',
      {
        before: [sp('openssl-3.0.13'), sp('openssl-1.1.1w')],
        after: [sp('openssl-1.1.1w'), sp('openssl-3.0.14')],
        changed: [change('openssl', 'changed', ['1.1.1w', '3.0.13'], ['1.1.1w', '3.0.14'], '.')]
      }
    ],
    [
      'several versions, every new one above every old one',
      {
        before: [sp('openssl-3.0.13'), sp('openssl-3.0.13-bin')],
        after: [sp('openssl-3.0.14-bin'), sp('openssl-3.0.14')],
        changed: [change('openssl', 'upgrade', ['3.0.13', '3.0.13-bin'], ['3.0.14', '3.0.14-bin'], '.')]
      }
    ],
    [
      'several versions, every new one below every old one',
      {
        before: [sp('foo-2.1'), sp('foo-2.0')],
        after: [sp('foo-1.0'), sp('foo-1.5')],
        changed: [change('foo', 'downgrade', ['2.0', '2.1'], ['1.0', '1.5'], '.')]
      }
    ],
    [
      'a version joins the old one: a change',
      {
        before: [sp('zlib-1.0')],
        after: [sp('zlib-1.0'), sp('zlib-1.1')],
        changed: [change('zlib', 'changed', ['1.0'], ['1.0', '1.1'], '.')]
      }
    ],
    [
      'versions Nix finds equal are no change (`1.01` → `1.1`, `1.0` → `1-0`, `5.2p26` → `5.2-p26`)',
      {
        before: [sp('foo-1.01'), sp('bar-1.0'), sp('bash-interactive-5.2p26')],
        after: [sp('foo-1.1'), sp('bar-1-0'), sp('bash-interactive-5.2-p26')]
      }
    ],
    [
      'a version that differs only in punctuation Nix keeps (`1.0+git` → `1.0.git`) is a change',
      {
        before: [sp('baz-1.0+git')],
        after: [sp('baz-1.0.git')],
        changed: [change('baz', 'upgrade', ['1.0+git'], ['1.0.git'], '.')]
      }
    ],
    [
      'a pre-release without a number is older than the release (`2.24pre-git` → `2.24`)',
      {
        before: [sp('nix-2.24pre-git')],
        after: [sp('nix-2.24')],
        changed: [change('nix', 'upgrade', ['2.24pre-git'], ['2.24'], '.')]
      }
    ],
    [
      'a dash not followed by a digit stays in the name',
      {
        before: [sp('unit--.slice')],
        after: [sp('unit--.slice'), sp('unit--.mount')],
        added: [change('unit--.mount', 'added', [], [''], '.')]
      }
    ],
    [
      'versions sorted oldest first, repeats kept',
      {
        before: [sp('gcc-13.2.0-lib'), sp('gcc-12.3.0-lib'), sp('gcc-13.2.0-lib', 'cross')],
        after: [sp('gcc-13.2.0-lib')],
        changed: [change('gcc', 'changed', ['12.3.0-lib', '13.2.0-lib', '13.2.0-lib'], ['13.2.0-lib'], '.')]
      }
    ],
    [
      'added and selected',
      {
        before: [],
        after: [sp('ripgrep-14.1.0')],
        selectedAfter: [sp('ripgrep-14.1.0')],
        added: [change('ripgrep', 'added', [], ['14.1.0'], '+')]
      }
    ],
    [
      'added as a dependency',
      { before: [], after: [sp('pcre2-10.43')], added: [change('pcre2', 'added', [], ['10.43'], '.')] }
    ],
    [
      'added with two versions',
      {
        before: [],
        after: [sp('python3-3.12.3'), sp('python3-3.11.9')],
        added: [change('python3', 'added', [], ['3.11.9', '3.12.3'], '.')]
      }
    ],
    [
      'removed, was selected',
      {
        before: [sp('rsync-3.2.7')],
        after: [],
        selectedBefore: [sp('rsync-3.2.7')],
        removed: [change('rsync', 'removed', ['3.2.7'], [], '-')]
      }
    ],
    [
      'removed, was a dependency',
      {
        before: [sp('libidn2-2.3.7')],
        after: [],
        removed: [change('libidn2', 'removed', ['2.3.7'], [], '.')]
      }
    ],
    [
      'a package without a version',
      {
        before: [sp('system-path')],
        after: [],
        removed: [change('system-path', 'removed', [''], [], '.')]
      }
    ],
    [
      'a rebuild of the same version and selection is no change',
      { before: [sp('etc')], after: [sp('etc', 'new')] }
    ],
    [
      'selected on both sides is no change',
      {
        before: [sp('curl-8.7.1')],
        after: [sp('curl-8.7.1')],
        selectedBefore: [sp('curl-8.7.1')],
        selectedAfter: [sp('curl-8.7.1')]
      }
    ]
  ]

  test.each(cases)('%s', (_label, c) => {
    const diff = diffClosures(
      side([...common, ...c.before], c.selectedBefore),
      side([...common, ...c.after], c.selectedAfter),
      new Map()
    )
    expect(diff.changed).toEqual(c.changed ?? [])
    expect(diff.selectionChanged).toEqual(c.selectionChanged ?? [])
    expect(diff.renamed).toEqual([])
    expect(diff.added).toEqual(c.added ?? [])
    expect(diff.removed).toEqual(c.removed ?? [])
  })
})

// One host's update, used for the counts, the sizes and the exact nvd text.
const before = {
  system: sp('nixos-system-web-24.05'),
  systemPath: sp('system-path'),
  etc: sp('etc'),
  openssl: sp('openssl-3.0.13'),
  curl: sp('curl-8.7.1'),
  htop: sp('htop-3.3.0'),
  rsync: sp('rsync-3.2.7'),
  libidn2: sp('libidn2-2.3.7'),
  zlib: sp('zlib-1.3.1'),
  glibc: sp('glibc-2.39-52')
}
const after = {
  system: sp('nixos-system-web-24.05', 'after'),
  systemPath: sp('system-path', 'after'),
  etc: before.etc,
  openssl: sp('openssl-3.0.14'),
  curl: before.curl,
  htop: before.htop,
  ripgrep: sp('ripgrep-14.1.0'),
  pcre2: sp('pcre2-10.43'),
  zlib: sp('zlib-1.3'),
  glibc: before.glibc
}
const sizes: [string, number][] = [
  [before.system, 1536],
  [before.systemPath, 656],
  [before.etc, 568],
  [before.openssl, 6_500_000],
  [before.curl, 1_100_000],
  [before.htop, 300_000],
  [before.rsync, 900_000],
  [before.libidn2, 360_000],
  [before.zlib, 130_000],
  [before.glibc, 29_000_000],
  [after.system, 1536],
  [after.systemPath, 700],
  [after.openssl, 6_510_000],
  [after.ripgrep, 5_000_000],
  [after.pcre2, 700_000],
  [after.zlib, 128_000]
]
const infos: PathInfoMap = new Map(sizes.map(([p, narSize]) => [p, { narSize, references: [] }]))
const hostDiff = diffClosures(
  side(Object.values(before), [before.openssl, before.curl, before.rsync]),
  side(Object.values(after), [after.openssl, after.curl, after.htop, after.ripgrep]),
  infos
)

describe('diffClosures: a whole host', () => {
  test('lists every change once, by name', () => {
    expect(hostDiff.changed).toEqual([
      change('openssl', 'upgrade', ['3.0.13'], ['3.0.14'], '*', [6_500_000, 6_510_000]),
      change('zlib', 'downgrade', ['1.3.1'], ['1.3'], '.', [130_000, 128_000])
    ])
    expect(hostDiff.selectionChanged).toEqual([
      change('htop', 'changed', ['3.3.0'], ['3.3.0'], '+', [300_000, 300_000])
    ])
    expect(hostDiff.renamed).toEqual([])
    expect(hostDiff.added).toEqual([
      change('pcre2', 'added', [], ['10.43'], '.', [0, 700_000]),
      change('ripgrep', 'added', [], ['14.1.0'], '+', [0, 5_000_000])
    ])
    expect(hostDiff.removed).toEqual([
      change('libidn2', 'removed', ['2.3.7'], [], '.', [360_000, 0]),
      change('rsync', 'removed', ['3.2.7'], [], '-', [900_000, 0])
    ])
  })

  test('counts store paths on both sides and those added and removed', () => {
    expect({
      pathsBefore: hostDiff.pathsBefore,
      pathsAfter: hostDiff.pathsAfter,
      pathsAdded: hostDiff.pathsAdded,
      pathsRemoved: hostDiff.pathsRemoved
    }).toEqual({ pathsBefore: 10, pathsAfter: 10, pathsAdded: 6, pathsRemoved: 6 })
  })

  test('sums NAR sizes of each closure', () => {
    expect(hostDiff.bytesBefore).toBe(
      1536 + 656 + 568 + 6_500_000 + 1_100_000 + 300_000 + 900_000 + 360_000 + 130_000 + 29_000_000
    )
    expect(hostDiff.bytesAfter).toBe(
      1536 + 700 + 568 + 6_510_000 + 1_100_000 + 300_000 + 5_000_000 + 700_000 + 128_000 + 29_000_000
    )
  })

  test('a path missing from the map adds no bytes but still counts as a path', () => {
    const a = sp('hello-2.12.1')
    const d = diffClosures(side([]), side([a]), new Map())
    expect(d).toMatchObject({ pathsAfter: 1, pathsAdded: 1, bytesAfter: 0 })
  })

  test('identical closures', () => {
    const paths = Object.values(before)
    const d = diffClosures(side(paths, [before.openssl]), side(paths, [before.openssl]), infos)
    expect(d).toEqual({
      changed: [],
      renamed: [],
      selectionChanged: [],
      added: [],
      removed: [],
      pathsBefore: 10,
      pathsAfter: 10,
      pathsAdded: 0,
      pathsRemoved: 0,
      bytesBefore: 38_292_760,
      bytesAfter: 38_292_760
    })
  })
})

describe('countKinds', () => {
  test('counts each class', () => {
    expect(countKinds(hostDiff)).toEqual({ upgrade: 1, downgrade: 1, changed: 1, added: 2, removed: 2 })
  })

  test('an empty diff counts zero everywhere', () => {
    const empty: ClosureDiff = {
      changed: [],
      renamed: [],
      selectionChanged: [],
      added: [],
      removed: [],
      pathsBefore: 0,
      pathsAfter: 0,
      pathsAdded: 0,
      pathsRemoved: 0,
      bytesBefore: 0,
      bytesAfter: 0
    }
    expect(countKinds(empty)).toEqual({ upgrade: 0, downgrade: 0, changed: 0, added: 0, removed: 0 })
  })

  test('several upgrades and downgrades', () => {
    const d: ClosureDiff = {
      ...hostDiff,
      changed: [
        change('a', 'upgrade', ['1'], ['2'], '.'),
        change('b', 'upgrade', ['1'], ['2'], '*'),
        change('c', 'downgrade', ['2'], ['1'], '.'),
        change('d', 'upgrade', ['1'], ['3'], '.')
      ],
      selectionChanged: [],
      added: [],
      removed: [change('e', 'removed', ['1'], [], '.')]
    }
    expect(countKinds(d)).toEqual({ upgrade: 3, downgrade: 1, changed: 0, added: 0, removed: 1 })
  })
})

describe('formatVersions', () => {
  test.each([
    [['3.0.14'], '3.0.14'],
    [['1.0', '1.0', '1.1'], '1.0 x2, 1.1'],
    [['5.38.2', '5.38.2', '5.38.2'], '5.38.2 x3'],
    [['3.11.9', '3.12.3'], '3.11.9, 3.12.3'],
    [[''], '<none>'],
    [['', ''], '<none> x2'],
    [['', '1.0'], '<none>, 1.0'],
    [[], '']
  ])('%j → %j', (versions, text) => {
    expect(formatVersions(versions)).toBe(text)
  })
})

describe('nvdText', () => {
  test('a host with every kind of change, each line with its size change', () => {
    expect(nvdText(hostDiff, before.system, after.system)).toBe(
      [
        `<<< ${before.system}`,
        `>>> ${after.system}`,
        'Version changes:',
        '[U*]  #1  openssl  +9.8KiB  3.0.13 -> 3.0.14',
        '[D.]  #2  zlib     -2.0KiB  1.3.1 -> 1.3',
        'Selection state changes:',
        '[C+]  #1  htop  293.0KiB  3.3.0',
        'Added packages:',
        '[A.]  #1  pcre2    +683.6KiB  10.43',
        '[A+]  #2  ripgrep    +4.8MiB  14.1.0',
        'Removed packages:',
        '[R.]  #1  libidn2  -351.6KiB  2.3.7',
        '[R-]  #2  rsync    -878.9KiB  3.2.7',
        'Closure size: 10 -> 10 (6 paths added, 6 paths removed, delta +0, disk usage +4.2MiB).'
      ].join('\n')
    )
  })

  test('nothing but rebuilds', () => {
    const d = diffClosures(
      side([sp('etc'), sp('glibc-2.39-52')]),
      side([sp('etc', 'new'), sp('glibc-2.39-52')]),
      new Map()
    )
    expect(nvdText(d, '/run/current-system', './result')).toBe(
      [
        '<<< /run/current-system',
        '>>> ./result',
        'No version or selection state changes.',
        'Closure size: 2 -> 2 (1 paths added, 1 paths removed, delta +0, disk usage +0B).'
      ].join('\n')
    )
  })

  test('index padded to the width of the count, names to the longest name', () => {
    const names = ['a', 'bb', 'ccc', 'dddd', 'e', 'f', 'g', 'h', 'i', 'linux-firmware']
    const d = diffClosures(side([]), side(names.map(n => sp(`${n}-1.0`))), new Map())
    expect(nvdText(d)).toBe(
      [
        'Added packages:',
        '[A.]  #01  a               +0B  1.0',
        '[A.]  #02  bb              +0B  1.0',
        '[A.]  #03  ccc             +0B  1.0',
        '[A.]  #04  dddd            +0B  1.0',
        '[A.]  #05  e               +0B  1.0',
        '[A.]  #06  f               +0B  1.0',
        '[A.]  #07  g               +0B  1.0',
        '[A.]  #08  h               +0B  1.0',
        '[A.]  #09  i               +0B  1.0',
        '[A.]  #10  linux-firmware  +0B  1.0',
        'Closure size: 0 -> 10 (10 paths added, 0 paths removed, delta +10, disk usage +0B).'
      ].join('\n')
    )
  })

  test('repeats and missing versions in the version columns', () => {
    const d = diffClosures(
      side([sp('perl-5.38.2'), sp('unit-script')]),
      side([sp('perl-5.38.2'), sp('perl-5.38.2', 'env')]),
      new Map([
        [sp('perl-5.38.2'), { narSize: 60_000_000, references: [] }],
        [sp('perl-5.38.2', 'env'), { narSize: 2867, references: [] }],
        [sp('unit-script'), { narSize: 1_261_158, references: [] }]
      ])
    )
    expect(nvdText(d)).toBe(
      [
        'Version changes:',
        '[C.]  #1  perl  +2.8KiB  5.38.2 -> 5.38.2 x2',
        'Removed packages:',
        '[R.]  #1  unit-script  -1.2MiB  <none>',
        'Closure size: 2 -> 2 (1 paths added, 1 paths removed, delta +0, disk usage -1.2MiB).'
      ].join('\n')
    )
  })

  test('a shrinking closure has a negative delta', () => {
    const d = diffClosures(side([sp('a-1'), sp('b-1'), sp('c-1')]), side([sp('a-1')]), new Map())
    expect(nvdText(d).split('\n').pop()).toBe(
      'Closure size: 3 -> 1 (0 paths added, 2 paths removed, delta -2, disk usage +0B).'
    )
  })
})
