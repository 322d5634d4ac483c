import * as fs from 'fs'
import * as path from 'path'
import { parsePathInfo } from '../src/nix/closure'
import { ClosureDiff, diffClosures } from '../src/nix/closure-diff'
import { closureSides } from '../src/pipeline/diff'
import { sharedChanges } from '../src/report/markdown'
import { HostReport } from '../src/report/model'
import { formatBytes, nvdText } from '../src/report/nvd'

/**
 * nvd's text for each case of fixtures/nvd-cases.nix, recorded by scripts/record-nvd.sh: nvd 0.2.5
 * (github:azuwis/nvd) run on the real store paths under Nix 2.26, with the store data the diff needs (NAR sizes,
 * references, `sw` links). Nix 2.8 builds the very same paths; nvd there prints the same text without its size
 * column, which needs `nix path-info --stdin` (Nix 2.19+).
 */
interface RecordedCase {
  before: string
  after: string
  sw: Record<string, string>
  pathInfo: Record<string, { narSize: number; references: string[] }>
  nvd: string
}
const recorded = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures/nvd-recorded.json'), 'utf8')) as {
  nix: string
  nvd: string
  cases: Record<string, RecordedCase>
}

function diffOf(c: RecordedCase): ClosureDiff {
  const infos = parsePathInfo(JSON.stringify(c.pathInfo))
  const read = (p: string): string | undefined => c.sw[path.dirname(p)]
  return diffClosures(...closureSides(c.before, c.after, infos, read), infos)
}

const textOf = (name: string): string => {
  const c = recorded.cases[name]
  return nvdText(diffOf(c), c.before, c.after)
}
const nvdOf = (name: string): string => recorded.cases[name].nvd.replace(/\n$/, '')

test('the recordings come from nvd on Nix 2.19 or later, with its size column', () => {
  expect(recorded.nvd).toBe('nvd 0.2.5')
  expect(recorded.nix).toMatch(/^nix \(Nix\) 2\.(19|[2-9][0-9])\./)
  expect(Object.keys(recorded.cases).sort()).toEqual(
    [
      'bytes',
      'departures',
      'equal',
      'multiversion',
      'names',
      'nosw',
      'rebuild',
      'renames',
      'selection'
    ].sort()
  )
})

describe('per-host text equals recorded nvd output', () => {
  test('selection-only changes get their own section', () => {
    expect(textOf('selection')).toBe(nvdOf('selection'))
    expect(nvdOf('selection')).toContain(
      ['Selection state changes:', '[C-]  #1  bar  1.8KiB  2.0', '[C+]  #2  foo  1.2KiB  1.0'].join('\n')
    )
    // A version change and a selection change together are a version change.
    expect(nvdOf('selection')).toContain('Version changes:\n[U+]  #1  htop  +8B  3.3.0 -> 3.3.1')
  })

  test('several versions: U only when every new version is above every old one, D the reverse, else C', () => {
    expect(textOf('multiversion')).toBe(nvdOf('multiversion'))
    for (const line of [
      '[C*]  #1  curl     -584B  8.7.1, 8.7.1-bin -> 8.7.1',
      '[D.]  #2  foo        +0B  2.0, 2.1 -> 1.0, 1.5',
      '[C.]  #3  gnutls    -16B  3.6.15 x3 -> 3.6.15, 3.7.1 x2',
      '[U.]  #4  openssl    +0B  3.0.13, 3.0.13-bin -> 3.0.14, 3.0.14-bin',
      '[C*]  #6  zlib     +384B  1.0 -> 1.0, 1.1'
    ]) {
      expect(nvdOf('multiversion')).toContain(line)
    }
  })

  test('the name ends at the first dash followed by a digit', () => {
    expect(textOf('names')).toBe(nvdOf('names'))
    expect(nvdOf('names')).toContain('[A.]  #3  unit--.mount                +344B  <none>')
    expect(nvdOf('names')).toContain('[U.]  #1  linux  +0B  6.6.30-modules -> 6.6.31-modules')
  })

  test('versions builtins.compareVersions finds equal are no change', () => {
    expect(textOf('equal')).toBe(nvdOf('equal'))
    expect(nvdOf('equal')).toContain('No version or selection state changes.')
  })

  test('bytes: thousands separators, ties rounded half to even, a size column on every line', () => {
    expect(textOf('bytes')).toBe(nvdOf('bytes'))
    for (const line of [
      '[U*]  #1  a      +1,000B  1.0 -> 1.1',
      '[U*]  #2  b      +1.2KiB  1.0 -> 1.1',
      '[U*]  #3  c  +1,000.6KiB  1.0 -> 1.1',
      '[U.]  #5  h      +1.2MiB  1.0 -> 1.1',
      '[A+]  #1  d  +2.9MiB  1.0',
      '[R-]  #1  e  -1.0MiB  1.0'
    ]) {
      expect(nvdOf('bytes')).toContain(line)
    }
  })

  test('renames paired as nvd pairs them, in a diff with every section', () => {
    expect(textOf('renames')).toBe(nvdOf('renames'))
    expect(nvdOf('renames')).toContain(
      [
        'Pname changes:',
        '[U*]  #1  gcc{12->13}                +0B  12.3.0 -> 13.2.0',
        // The first added name in name order that fits wins: lua5.10-lpeg, not lua5.4-lpeg.
        '[U.]  #2  lua5.{3->10}-lpeg          +0B  1.0 -> 1.0',
        '[U.]  #3  python3.{11->12}-requests  +0B  2.31.0 -> 2.31.0',
        '[U.*]  #4  python3.{11->12}-six       +0B  1.16.0 -> 1.16.0',
        '[U.]  #5  python3.{11->12}-urllib3   +0B  2.2.1 -> 2.2.2',
        // Always U, even when the version goes down.
        '[U.]  #6  python3.{11->12}-x         +0B  2.0 -> 1.0'
      ].join('\n')
    )
    expect(nvdOf('renames')).toContain('[A.]  #2  lua5.4-lpeg  +344B  1.0')
    expect(nvdOf('renames')).toContain('[R.]  #2  qt5-base  -344B  5.15.14')
  })

  test('one system without sw: both sides select their own direct references', () => {
    expect(textOf('nosw')).toBe(nvdOf('nosw'))
    expect(nvdOf('nosw')).toContain('Selection state changes:\n[C+]  #1  hello  1.1KiB  2.12.1')
  })

  test('nothing but rebuilds', () => {
    expect(textOf('rebuild')).toBe(nvdOf('rebuild'))
  })

  test('where nvd departs from builtins.compareVersions, the text follows Nix', () => {
    // nvd drops characters other than letters and digits before comparing, and sorts `2.24pre-git` after `2.24`
    // and 99999999999 below 100000000000; Nix keeps `+` and `_`, puts `pre` first and compares digits that do
    // not fit an int as text.
    expect(nvdOf('departures')).toContain(
      [
        'Version changes:',
        '[U.]  #1  big  +0B  1.99999999999 -> 1.100000000000',
        '[D.]  #2  nix  +0B  2.24pre-git -> 2.24',
        'Closure size:'
      ].join('\n')
    )
    const c = recorded.cases.departures
    expect(textOf('departures')).toBe(
      [
        `<<< ${c.before}`,
        `>>> ${c.after}`,
        'Version changes:',
        '[U.]  #1  baz    +0B  1.0+git -> 1.0.git',
        '[D.]  #2  big    +0B  1.99999999999 -> 1.100000000000',
        '[U.]  #3  nix    +0B  2.24pre-git -> 2.24',
        '[U.]  #4  under  +0B  1.0_1 -> 1.0.1',
        nvdOf('departures').split('\n').pop()
      ].join('\n')
    )
  })
})

test('a rename on several hosts is one shared change', () => {
  const diff = diffOf(recorded.cases.renames)
  const host = (name: string): HostReport => ({ host: name, status: 'updated', diff, reboot: [] })
  expect(sharedChanges([host('web'), host('mail')]).map(s => s.text)).toContain(
    'python3.{11->12}-requests 2.31.0 → 2.31.0'
  )
})

// nvd's render_bytes on each value: [bytes, with a sign, without].
describe('formatBytes', () => {
  test.each([
    [0, '+0B', '0B'],
    [1, '+1B', '1B'],
    [512, '+512B', '512B'],
    [-512, '-512B', '-512B'],
    [999, '+999B', '999B'],
    [1000, '+1,000B', '1,000B'],
    [-1000, '-1,000B', '-1,000B'],
    [1023, '+1,023B', '1,023B'],
    [1024, '+1.0KiB', '1.0KiB'],
    [1280, '+1.2KiB', '1.2KiB'],
    [-1280, '-1.2KiB', '-1.2KiB'],
    [1331, '+1.3KiB', '1.3KiB'],
    [1332, '+1.3KiB', '1.3KiB'],
    [2816, '+2.8KiB', '2.8KiB'],
    [2867, '+2.8KiB', '2.8KiB'],
    [1536, '+1.5KiB', '1.5KiB'],
    [1024614, '+1,000.6KiB', '1,000.6KiB'],
    [1024616, '+1,000.6KiB', '1,000.6KiB'],
    [1048524, '+1,023.9KiB', '1,023.9KiB'],
    [1048525, '+1,024.0KiB', '1,024.0KiB'],
    [1048552, '+1,024.0KiB', '1,024.0KiB'],
    [1048576, '+1.0MiB', '1.0MiB'],
    [1258291, '+1.2MiB', '1.2MiB'],
    [-1258291, '-1.2MiB', '-1.2MiB'],
    [1310720, '+1.2MiB', '1.2MiB'],
    [1835008, '+1.8MiB', '1.8MiB'],
    [4448044, '+4.2MiB', '4.2MiB'],
    [5368709120, '+5.0GiB', '5.0GiB'],
    [3298534883328, '+3.0TiB', '3.0TiB'],
    [2251799813685248, '+2.0PiB', '2.0PiB'],
    [1688849860263936000, '+1.5EiB', '1.5EiB'],
    [3458764513820540928, '+3.0EiB', '3.0EiB']
  ])('%d → %s / %s', (bytes, withSign, without) => {
    expect(formatBytes(bytes, true)).toBe(withSign)
    expect(formatBytes(bytes)).toBe(without)
  })
})
