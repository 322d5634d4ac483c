import { ClosureDiff, PackageChange } from '../nix/diff'

const KIND_LETTER = { upgrade: 'U', downgrade: 'D', changed: 'C', added: 'A', removed: 'R' } as const

/** `1.0 x2, 1.1`: versions joined with ", ", repeats counted, an empty version shown as `<none>`. */
export function formatVersions(versions: string[]): string {
  const counts = new Map<string, number>()
  for (const v of versions) counts.set(v, (counts.get(v) ?? 0) + 1)
  return [...counts].map(([v, n]) => `${v === '' ? '<none>' : v}${n > 1 ? ` x${n}` : ''}`).join(', ')
}

/** Bytes as nvd prints them: `+0B`, `+2.8KiB`, `-1.2MiB`. */
export function formatBytes(bytes: number, signed = false): string {
  const sign = bytes < 0 ? '-' : signed ? '+' : ''
  let n = Math.abs(bytes)
  if (n < 1024) return `${sign}${n}B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let u = -1
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024
    u++
  }
  return `${sign}${n.toFixed(1)}${units[u]}`
}

function signed(n: number): string {
  return n >= 0 ? `+${n}` : `${n}`
}

function section(title: string, list: PackageChange[], width: number): string[] {
  if (list.length === 0) return []
  const digits = String(list.length).length
  const nameWidth = Math.max(...list.map(c => c.name.length))
  const lines = [title]
  list.forEach((c, i) => {
    const versions =
      c.kind === 'added'
        ? formatVersions(c.after)
        : c.kind === 'removed'
          ? formatVersions(c.before)
          : `${formatVersions(c.before)} -> ${formatVersions(c.after)}`
    const index = String(i + 1).padStart(digits, '0')
    lines.push(
      `[${KIND_LETTER[c.kind]}${c.selection}]  #${index}  ${c.name.padEnd(Math.max(nameWidth, width))}  ${versions}`
    )
  })
  return lines
}

/** The nvd text users know, for one host's diff. */
export function nvdText(diff: ClosureDiff, before?: string, after?: string): string {
  const lines: string[] = []
  if (before) lines.push(`<<< ${before}`)
  if (after) lines.push(`>>> ${after}`)
  if (diff.changed.length + diff.added.length + diff.removed.length === 0) {
    lines.push('No version or selection state changes.')
  } else {
    lines.push(...section('Version changes:', diff.changed, 0))
    lines.push(...section('Added packages:', diff.added, 0))
    lines.push(...section('Removed packages:', diff.removed, 0))
  }
  lines.push(
    `Closure size: ${diff.pathsBefore} -> ${diff.pathsAfter} (${diff.pathsAdded} paths added, ${diff.pathsRemoved} paths removed, delta ${signed(diff.pathsAfter - diff.pathsBefore)}, disk usage ${formatBytes(diff.bytesAfter - diff.bytesBefore, true)}).`
  )
  return lines.join('\n')
}
