/** The name part of a store path: `/nix/store/<hash>-openssl-3.0.14` → `openssl-3.0.14`. */
export function storePathName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1)
  // Store path hashes are 32 characters of Nix's base-32 followed by a dash.
  return /^[0-9a-df-np-sv-z]{32}-/.test(base) ? base.slice(33) : base
}

export interface PackageName {
  name: string
  /** Empty when the store name has no version. */
  version: string
}

/**
 * Splits a store name into package name and version as nvd does: the version starts after the first dash that is
 * followed by a digit, and a `.drv` suffix is dropped (`openssl-3.0.14` → openssl / 3.0.14, `xorg-server-21.1` →
 * xorg-server / 21.1). Unlike `builtins.parseDrvName`, a dash followed by anything else stays in the name: NixOS's
 * `unit--.slice` and `unit-systemd-fsck-.service` are packages without a version.
 */
export function splitPackageName(full: string): PackageName {
  const m = /^(.+?)(?:-([0-9].*?))?(?:\.drv)?$/.exec(full)
  return m ? { name: m[1], version: m[2] ?? '' } : { name: full, version: '' }
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

/** A component's value when Nix reads it as a number: digits that fit a C `int`; others compare as text. */
function componentNumber(c: string): number | undefined {
  if (!/^[0-9]+$/.test(c)) return undefined
  const digits = c.replace(/^0+(?=.)/, '')
  if (digits.length > 10 || (digits.length === 10 && digits > '2147483647')) return undefined
  return Number(digits)
}

function componentLess(a: string, b: string): boolean {
  const an = componentNumber(a)
  const bn = componentNumber(b)
  if (an !== undefined && bn !== undefined) return an < bn
  if (a === '' && bn !== undefined) return true
  if (a === 'pre' && b !== 'pre') return true
  if (b === 'pre') return false
  // Nix treats `2.3a` as older than `2.3.1`.
  if (bn !== undefined) return true
  if (an !== undefined) return false
  return a < b
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

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9'

/**
 * nvd's name for a package renamed by a version-like part of its name: `python3.11-requests` and
 * `python3.12-requests` give `python3.{11->12}-requests`; unrelated names give undefined. The two names must share
 * a prefix; the parts that differ (widened to whole runs of digits) must each hold a digit and no `-` or `_`.
 */
export function mergeRenamed(before: string, after: string): string | undefined {
  if (before === after) return undefined
  let lcp = 0
  while (lcp < before.length && lcp < after.length && before[lcp] === after[lcp]) lcp++
  if (lcp === 0) return undefined
  let prefix = before.slice(0, lcp)
  const restA = before.slice(lcp)
  const restB = after.slice(lcp)
  let lcs = 0
  while (
    lcs < restA.length &&
    lcs < restB.length &&
    restA[restA.length - 1 - lcs] === restB[restB.length - 1 - lcs]
  ) {
    lcs++
  }
  let suffix = restA.slice(restA.length - lcs)
  let midA = restA.slice(0, restA.length - lcs)
  let midB = restB.slice(0, restB.length - lcs)
  if (midA === '' || midB === '') return undefined
  while (isDigit(prefix[prefix.length - 1])) {
    midA = prefix[prefix.length - 1] + midA
    midB = prefix[prefix.length - 1] + midB
    prefix = prefix.slice(0, -1)
  }
  while (isDigit(suffix[0])) {
    midA += suffix[0]
    midB += suffix[0]
    suffix = suffix.slice(1)
  }
  if (midA === midB) return undefined
  if (![...midA].some(c => isDigit(c)) || ![...midB].some(c => isDigit(c))) return undefined
  if (prefix === '' && suffix === '') return undefined
  if (/[-_]/.test(midA) || /[-_]/.test(midB)) return undefined
  return `${prefix}{${midA}->${midB}}${suffix}`
}
