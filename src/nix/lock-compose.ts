/**
 * Lock files made of two: the new flake.lock with some inputs held back at the old one's revision, and the
 * `--override-input` arguments that make Nix evaluate such a lock without writing it anywhere.
 */

type NodeRef = string | string[]

interface Node {
  inputs?: Record<string, NodeRef>
  locked?: Record<string, unknown>
  [key: string]: unknown
}

interface Lock {
  nodes: Record<string, Node>
  root: string
  version?: number
  [key: string]: unknown
}

function parse(text: string, label: string): Lock {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (e) {
    throw new Error(`${label} is not valid JSON: ${(e as Error).message}`)
  }
  const lock = data as Partial<Lock> | null
  if (!lock || typeof lock !== 'object' || typeof lock.nodes !== 'object' || typeof lock.root !== 'string') {
    throw new Error(`${label} has no "nodes" and "root": not a flake.lock of version 5 or later`)
  }
  return lock as Lock
}

/** The node key a top-level input points to, when it is a node of its own (not a `follows`). */
function rootTarget(lock: Lock, input: string): string | undefined {
  const t = lock.nodes[lock.root]?.inputs?.[input]
  return typeof t === 'string' ? t : undefined
}

/** Node keys reachable from `start` through node references (`follows` paths name inputs, not nodes). */
function reachable(lock: Lock, start: string): Set<string> {
  const seen = new Set<string>()
  const todo = [start]
  while (todo.length > 0) {
    const key = todo.pop() as string
    if (seen.has(key) || !lock.nodes[key]) continue
    seen.add(key)
    for (const t of Object.values(lock.nodes[key].inputs ?? {})) if (typeof t === 'string') todo.push(t)
  }
  return seen
}

const stable = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : x
  )

/** Why `input` cannot be held back in `oldLock` → `newLock`, or undefined when it can. */
export function holdBackProblem(oldLock: string, newLock: string, input: string): string | undefined {
  const o = parse(oldLock, 'the old flake.lock')
  const n = parse(newLock, 'the new flake.lock')
  if (!rootTarget(o, input))
    return `${input} is not locked in the old flake.lock (a new input, or one that follows another)`
  if (!rootTarget(n, input)) return `${input} is not locked in the new flake.lock`
  return undefined
}

/**
 * The new lock with each of `inputs` (top-level names) back at its old node, with the nodes only it references
 * (its own inputs, locked as the old lock had them). Its `follows` stay paths from the root, so an input it
 * follows is the new lock's. Nodes nothing references any more are dropped; the text is formatted as Nix writes
 * lock files (two spaces, sorted keys, a final newline).
 */
export function holdBackInputs(oldLock: string, newLock: string, inputs: string[]): string {
  const o = parse(oldLock, 'the old flake.lock')
  const out = parse(newLock, 'the new flake.lock')
  for (const input of inputs) {
    const problem = holdBackProblem(oldLock, newLock, input)
    if (problem) throw new Error(`Cannot hold back ${input}: ${problem}`)
    const oldKey = rootTarget(o, input) as string
    // Old node keys → keys in the composed lock: the same key when free or holding the same node, else a new one.
    const rename = new Map<string, string>()
    const subtree = [...reachable(o, oldKey)]
    const taken = new Set(Object.keys(out.nodes))
    for (const key of subtree) {
      let k = key
      for (let i = 2; taken.has(k) && stable(out.nodes[k]) !== stable(o.nodes[key]); i++) k = `${key}_${i}`
      rename.set(key, k)
      taken.add(k)
    }
    for (const key of subtree) {
      const node = JSON.parse(JSON.stringify(o.nodes[key])) as Node
      if (node.inputs) {
        for (const [name, t] of Object.entries(node.inputs)) {
          if (typeof t === 'string') node.inputs[name] = rename.get(t) ?? t
        }
      }
      out.nodes[rename.get(key) as string] = node
    }
    const root = out.nodes[out.root]
    root.inputs = { ...root.inputs, [input]: rename.get(oldKey) as string }
  }
  const live = reachable(out, out.root)
  for (const key of Object.keys(out.nodes)) if (!live.has(key)) delete out.nodes[key]
  return `${JSON.stringify(JSON.parse(stable(out)), null, 2)}\n`
}

/** A query string of a lock entry's attributes (`rev=…&narHash=…`), in a stable order. */
function query(attrs: Record<string, unknown>, keep: string[]): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(attrs).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!keep.includes(k) || v === undefined || v === null) continue
    if (typeof v === 'boolean') q.set(k, v ? '1' : '0')
    else if (typeof v === 'string' || typeof v === 'number') q.set(k, String(v))
  }
  const s = q.toString()
  return s === '' ? '' : `?${s}`
}

/**
 * A lock entry's `locked` attributes as a flake reference that Nix 2.8 and later parse back to the same locked
 * input: `git+file:///src?ref=main&rev=…`, `github:owner/repo/REV?narHash=…`. undefined for a kind it cannot name.
 */
export function lockedRef(locked: Record<string, unknown>): string | undefined {
  const str = (k: string): string | undefined => (typeof locked[k] === 'string' ? locked[k] : undefined)
  const type = str('type')
  const url = str('url')
  // Only the parameters each kind's URL parser takes (Nix 2.8's fetchers): git's passes any other one on to
  // the repository URL, and path's refuses it. `dir` is the flake reference's own.
  switch (type) {
    case 'git':
    case 'mercurial':
      if (!url || url.includes('?')) return undefined
      return `${type === 'git' ? 'git+' : 'hg+'}${url}${query(locked, ['rev', 'ref', 'submodules', 'shallow', 'dir'])}`
    case 'github':
    case 'gitlab':
    case 'sourcehut': {
      const owner = str('owner')
      const repo = str('repo')
      const rev = str('rev')
      if (!owner || !repo || !rev) return undefined
      return `${type}:${owner}/${repo}/${rev}${query(locked, ['host', 'dir'])}`
    }
    case 'path': {
      const p = str('path')
      return p
        ? `path:${p}${query(locked, ['rev', 'narHash', 'revCount', 'lastModified', 'dir'])}`
        : undefined
    }
    case 'tarball':
    case 'file':
      if (!url || url.includes('?')) return undefined
      return `${type}+${url}${query(locked, ['narHash', 'dir'])}`
    default:
      return undefined
  }
}

/**
 * `--override-input` arguments that make Nix evaluate the new lock with `input` at its node in the old lock, its
 * own inputs included (`input/child`). undefined when a node of it cannot be named as a flake reference.
 */
export function holdBackArgs(oldLock: string, input: string): string[] | undefined {
  const o = parse(oldLock, 'the old flake.lock')
  const key = rootTarget(o, input)
  if (!key) return undefined
  const args: string[] = []
  const walk = (k: string, pathName: string, depth: number): boolean => {
    const node = o.nodes[k]
    const ref = node?.locked ? lockedRef(node.locked) : undefined
    if (!ref || depth > 8) return false
    args.push('--override-input', pathName, ref)
    for (const [name, t] of Object.entries(node.inputs ?? {})) {
      if (typeof t === 'string' && !walk(t, `${pathName}/${name}`, depth + 1)) return false
    }
    return true
  }
  return walk(key, input, 0) ? args : undefined
}

/** `--override-input` arguments that put a git-based input at another revision (bisecting it). */
export function revisionArgs(newLock: string, input: string, rev: string): string[] | undefined {
  const n = parse(newLock, 'the new flake.lock')
  const key = rootTarget(n, input)
  const locked = key ? n.nodes[key]?.locked : undefined
  if (!locked) return undefined
  const ref = lockedRef({ ...stripContent(locked), rev })
  return ref ? ['--override-input', input, ref] : undefined
}

/** A locked entry without what belongs to one revision only (its content hash, dates and counts). */
function stripContent(locked: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(locked).filter(([k]) => !['narHash', 'lastModified', 'revCount'].includes(k))
  )
}
