import { ClosureDiff, PackageChange, PackageRename } from '../nix/closure-diff'
import { compareVersions } from '../nix/names'

/**
 * `1.0 x2, 1.1`: versions (sorted oldest first) joined with ", ", neighbours Nix finds equal counted as repeats of
 * the last of them, an empty version shown as `<none>`.
 */
export function formatVersions(versions: string[]): string {
  const items: string[] = []
  let i = versions.length - 1
  while (i >= 0) {
    const v = versions[i]
    let n = 1
    while (i - n >= 0 && compareVersions(versions[i - n], v) === 0) n++
    items.unshift(`${v === '' ? '<none>' : v}${n > 1 ? ` x${n}` : ''}`)
    i -= n
  }
  return items.join(', ')
}

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB']

const thousands = (digits: string): string => digits.replace(/\B(?=(\d{3})+$)/g, ',')

/**
 * Bytes as nvd prints them: `+0B`, `+1,000B`, `+2.8KiB`, `-1.2MiB`: thousands separated by commas, one decimal from
 * KiB on, a tie rounded to the even digit (`+1.2KiB` for 1,280 bytes), as Python's formatting does.
 */
export function formatBytes(bytes: number, signed = false): string {
  const sign = bytes < 0 ? '-' : signed ? '+' : ''
  const n = BigInt(Math.abs(Math.round(bytes)))
  let unit = 0
  let scale = 1n
  while (unit < UNITS.length && n >= scale * 1024n) {
    scale *= 1024n
    unit++
  }
  if (unit === 0) return `${sign}${thousands(n.toString())}B`
  let tenths = (n * 10n) / scale
  const twice = ((n * 10n) % scale) * 2n
  if (twice > scale || (twice === scale && tenths % 2n === 1n)) tenths++
  return `${sign}${thousands((tenths / 10n).toString())}.${tenths % 10n}${UNITS[unit - 1]}`
}

interface Row {
  mark: string
  name: string
  size: string
  versions: string
}

/** One section: index padded to the count's width, names to the longest, sizes aligned right. */
function section(title: string, rows: Row[]): string[] {
  if (rows.length === 0) return []
  const digits = String(rows.length).length
  const nameWidth = Math.max(...rows.map(r => r.name.length))
  const sizeWidth = Math.max(...rows.map(r => r.size.length))
  return [
    title,
    ...rows.map(
      (r, i) =>
        `${r.mark}  #${String(i + 1).padStart(digits, '0')}  ${r.name.padEnd(nameWidth)}  ${r.size.padStart(sizeWidth)}  ${r.versions}`
    )
  ]
}

const KIND_LETTER = { upgrade: 'U', downgrade: 'D', changed: 'C', added: 'A', removed: 'R' } as const

const row = (c: PackageChange | PackageRename, letter: string, size: string, versions: string): Row => ({
  mark: `[${letter}${c.selection}]`,
  name: c.name,
  size,
  versions
})

const versionRow = (c: PackageChange | PackageRename, letter: string): Row =>
  row(
    c,
    letter,
    formatBytes(c.bytesAfter - c.bytesBefore, true),
    `${formatVersions(c.before)} -> ${formatVersions(c.after)}`
  )

const signed = (n: number): string => (n >= 0 ? `+${n}` : `${n}`)

/**
 * The nvd text users know, for one host's diff. Each package line carries its size change, as nvd prints it with
 * Nix 2.19 and later: a version change its delta, an added package its size, a removed one its size negated, a
 * selection change its (unchanged) size.
 */
export function nvdText(diff: ClosureDiff, before?: string, after?: string): string {
  const packages = [
    ...section(
      'Version changes:',
      diff.changed.map(c => versionRow(c, KIND_LETTER[c.kind]))
    ),
    ...section(
      'Pname changes:',
      diff.renamed.map(r => versionRow(r, 'U'))
    ),
    ...section(
      'Selection state changes:',
      diff.selectionChanged.map(c => row(c, 'C', formatBytes(c.bytesBefore), formatVersions(c.before)))
    ),
    ...section(
      'Added packages:',
      diff.added.map(c => row(c, 'A', formatBytes(c.bytesAfter, true), formatVersions(c.after)))
    ),
    ...section(
      'Removed packages:',
      diff.removed.map(c => row(c, 'R', formatBytes(-c.bytesBefore, true), formatVersions(c.before)))
    )
  ]
  return [
    ...(before ? [`<<< ${before}`] : []),
    ...(after ? [`>>> ${after}`] : []),
    ...(packages.length > 0 ? packages : ['No version or selection state changes.']),
    `Closure size: ${diff.pathsBefore} -> ${diff.pathsAfter} (${diff.pathsAdded} paths added, ${diff.pathsRemoved} paths removed, delta ${signed(diff.pathsAfter - diff.pathsBefore)}, disk usage ${formatBytes(diff.bytesAfter - diff.bytesBefore, true)}).`
  ].join('\n')
}
