/** The name part of a store path: `/nix/store/<hash>-openssl-3.0.14` → `openssl-3.0.14`. */
export function storePathName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1)
  // Store path hashes are 32 characters of Nix's base-32 followed by a dash.
  return /^[0-9a-df-np-sv-z]{32}-/.test(base) ? base.slice(33) : base
}

export interface DrvName {
  name: string
  version: string
}

/**
 * Splits a derivation name like `builtins.parseDrvName`: the version starts after the first dash that is
 * followed by a character that is not a letter (`openssl-3.0.14` → openssl / 3.0.14, `xorg-server-21.1` →
 * xorg-server / 21.1, `system-path` → system-path / "").
 */
export function parseDrvName(full: string): DrvName {
  for (let i = 0; i < full.length; i++) {
    if (full[i] === '-' && i + 1 < full.length && !/[A-Za-z]/.test(full[i + 1])) {
      return { name: full.slice(0, i), version: full.slice(i + 1) }
    }
  }
  return { name: full, version: '' }
}

/** Splits a version into components as Nix does: runs of digits, or runs of other characters; `.` and `-` separate. */
export function versionComponents(version: string): string[] {
  const parts: string[] = []
  let i = 0
  while (i < version.length) {
    const c = version[i]
    if (c === '.' || c === '-') {
      i++
      continue
    }
    let j = i
    if (/[0-9]/.test(c)) while (j < version.length && /[0-9]/.test(version[j])) j++
    else while (j < version.length && !/[0-9.-]/.test(version[j])) j++
    parts.push(version.slice(i, j))
    i = j
  }
  return parts
}

function componentLess(a: string, b: string): boolean {
  const an = /^[0-9]+$/.test(a)
  const bn = /^[0-9]+$/.test(b)
  if (an && bn) return compareDigits(a, b) < 0
  if (a === '' && bn) return true
  if (a === 'pre' && b !== 'pre') return true
  if (b === 'pre') return false
  // Nix treats `2.3a` as older than `2.3.1`.
  if (bn) return true
  if (an) return false
  return a < b
}

function compareDigits(a: string, b: string): number {
  const x = a.replace(/^0+(?=.)/, '')
  const y = b.replace(/^0+(?=.)/, '')
  if (x.length !== y.length) return x.length - y.length
  return x < y ? -1 : x > y ? 1 : 0
}

/** `builtins.compareVersions`: -1, 0 or 1. */
export function compareVersions(a: string, b: string): number {
  const ca = versionComponents(a)
  const cb = versionComponents(b)
  for (let i = 0; i < Math.max(ca.length, cb.length); i++) {
    const x = ca[i] ?? ''
    const y = cb[i] ?? ''
    if (componentLess(x, y)) return -1
    if (componentLess(y, x)) return 1
  }
  return 0
}
