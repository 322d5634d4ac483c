/** One input's locked state, as much of it as the report shows. */
export interface LockedInput {
  type: string
  rev?: string
  narHash?: string
  lastModified?: number
  /** Where the input lives, for display and compare links. */
  owner?: string
  repo?: string
  host?: string
  url?: string
}

export interface LockChange {
  /** Input path from the root: `nixpkgs`, or `home-manager/nixpkgs` for an input's own input. */
  input: string
  old?: LockedInput
  new?: LockedInput
  /** A link showing the commits between both revisions, where the input's forge is known. */
  compareUrl?: string
}

interface LockNode {
  inputs?: Record<string, string | string[]>
  locked?: Record<string, unknown>
}

interface LockFile {
  nodes: Record<string, LockNode>
  root: string
  version?: number
}

function parseLock(text: string, label: string): LockFile {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (e) {
    throw new Error(`${label} is not valid JSON: ${(e as Error).message}`)
  }
  const lock = data as Partial<LockFile>
  if (!lock || typeof lock !== 'object' || typeof lock.nodes !== 'object' || typeof lock.root !== 'string') {
    throw new Error(`${label} has no "nodes" and "root": not a flake.lock of version 5 or later`)
  }
  return lock as LockFile
}

function toLocked(raw: Record<string, unknown>): LockedInput {
  const str = (k: string): string | undefined => (typeof raw[k] === 'string' ? raw[k] : undefined)
  return {
    type: str('type') ?? 'unknown',
    rev: str('rev'),
    narHash: str('narHash'),
    lastModified: typeof raw.lastModified === 'number' ? raw.lastModified : undefined,
    owner: str('owner'),
    repo: str('repo'),
    host: str('host'),
    url: str('url')
  }
}

/** Locked inputs by input path, walking from the root; inputs that `follow` another are skipped. */
export function lockedInputs(text: string, label = 'flake.lock'): Map<string, LockedInput> {
  const lock = parseLock(text, label)
  const out = new Map<string, LockedInput>()
  const walk = (nodeKey: string, prefix: string, depth: number, seen: Set<string>): void => {
    const node = lock.nodes[nodeKey]
    if (!node?.inputs || depth > 8) return
    for (const [name, target] of Object.entries(node.inputs)) {
      if (typeof target !== 'string' || seen.has(target)) continue
      const path = prefix ? `${prefix}/${name}` : name
      const child = lock.nodes[target]
      if (child?.locked) out.set(path, toLocked(child.locked))
      walk(target, path, depth + 1, new Set([...seen, target]))
    }
  }
  walk(lock.root, '', 0, new Set([lock.root]))
  return out
}

/** The top-level input names of a lock file. */
export function rootInputNames(text: string, label = 'flake.lock'): string[] {
  const lock = parseLock(text, label)
  return Object.keys(lock.nodes[lock.root]?.inputs ?? {})
}

function identity(l: LockedInput): string {
  return l.rev ?? l.narHash ?? JSON.stringify(l)
}

/** Inputs whose locked revision (or content hash, for inputs without one) differs between two lock files. */
export function compareLocks(oldText: string, newText: string): LockChange[] {
  const before = lockedInputs(oldText, 'the old flake.lock')
  const after = lockedInputs(newText, 'the new flake.lock')
  const names = [...new Set([...before.keys(), ...after.keys()])].sort()
  const changes: LockChange[] = []
  for (const input of names) {
    const o = before.get(input)
    const n = after.get(input)
    if (o && n && identity(o) === identity(n)) continue
    changes.push({ input, old: o, new: n, compareUrl: o && n ? compareUrl(o, n) : undefined })
  }
  return changes
}

const FORGEJO_LIKE = /(^|\.)(codeberg\.org)$|forgejo|gitea/i

/** A web link from the old to the new revision, for the forges whose URLs are known. */
export function compareUrl(o: LockedInput, n: LockedInput): string | undefined {
  if (!o.rev || !n.rev) return undefined
  if (!/^[0-9a-f]{7,64}$/.test(o.rev) || !/^[0-9a-f]{7,64}$/.test(n.rev)) return undefined
  const range = `${o.rev}...${n.rev}`
  const owner = n.owner === undefined ? undefined : n.owner.split('/').map(encodeURIComponent).join('/')
  const repo = n.repo === undefined ? undefined : encodeURIComponent(n.repo)
  const host = n.host === undefined || /^[A-Za-z0-9.-]+(:\d+)?$/.test(n.host) ? n.host : undefined
  switch (n.type) {
    case 'github':
      return owner && repo ? `https://${host ?? 'github.com'}/${owner}/${repo}/compare/${range}` : undefined
    case 'gitlab':
      return owner && repo ? `https://${host ?? 'gitlab.com'}/${owner}/${repo}/-/compare/${range}` : undefined
    case 'sourcehut':
      return owner && repo ? `https://${host ?? 'git.sr.ht'}/${owner}/${repo}/log/${n.rev}` : undefined
    case 'git':
    case 'tarball':
      return n.url ? urlCompare(n.url, o.rev, n.rev) : undefined
    default:
      return undefined
  }
}

function urlCompare(raw: string, oldRev: string, newRev: string): string | undefined {
  let url: URL
  try {
    url = new URL(raw.replace(/^git\+/, ''))
  } catch {
    return undefined
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:' && url.protocol !== 'ssh:') return undefined
  const host = url.hostname
  const path = url.pathname.replace(/\.git$/, '').replace(/\/+$/, '')
  if (!/^\/[^/]+\/[^/]+/.test(path)) return undefined
  const base = `https://${host}${path}`
  if (host === 'github.com') return `${base}/compare/${oldRev}...${newRev}`
  if (host === 'gitlab.com' || /(^|\.)gitlab\./.test(host)) return `${base}/-/compare/${oldRev}...${newRev}`
  if (host === 'git.sr.ht') return `${base}/log/${newRev}`
  if (FORGEJO_LIKE.test(host)) return `${base}/compare/${oldRev}...${newRev}`
  return undefined
}

/** `2024-05-31` from a lock file's lastModified (seconds since the epoch, UTC). */
export function lockDate(lastModified?: number): string | undefined {
  return lastModified === undefined ? undefined : new Date(lastModified * 1000).toISOString().slice(0, 10)
}
