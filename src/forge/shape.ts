import { IssueComment, PullRequest } from './pull'
import { ApiResponse, ForgeError } from './http'

type Kind = 'string' | 'number' | 'object'

/** An answer that parsed but lacks what the action reads: names the operation, the path and the field. */
export function shapeError(r: ApiResponse, problem: string): ForgeError {
  return new ForgeError(r.operation, r.method, r.path, r.status, `unexpected answer: ${problem}`, r.body)
}

const article = (kind: Kind): string => (kind === 'object' ? 'an object' : `a ${kind}`)

/**
 * Reads `dotted.path` from `value` (part of answer `r`, described as `where`) and checks its type; a missing or
 * mistyped field is an error naming it, never a `Cannot read properties of undefined`.
 */
export function need(r: ApiResponse, value: unknown, dotted: string, kind: 'string', where?: string): string
export function need(r: ApiResponse, value: unknown, dotted: string, kind: 'number', where?: string): number
export function need(
  r: ApiResponse,
  value: unknown,
  dotted: string,
  kind: 'object',
  where?: string
): Record<string, unknown>
export function need(
  r: ApiResponse,
  value: unknown,
  dotted: string,
  kind: Kind,
  where = 'the answer'
): unknown {
  let cur: unknown = value
  for (const key of dotted.split('.')) {
    cur = isRecord(cur) ? cur[key] : undefined
  }
  const ok = kind === 'object' ? isRecord(cur) : typeof cur === kind
  if (!ok) {
    const got = cur === undefined ? 'missing' : cur === null ? 'null' : `${typeof cur}`
    throw shapeError(r, `${where} has no ${dotted} (${article(kind)} expected, ${got})`)
  }
  return cur
}

/** The answer as a list, or an error naming the request. */
export function needList(r: ApiResponse): unknown[] {
  if (!Array.isArray(r.body)) throw shapeError(r, `a list was expected, got ${describe(r.body)}`)
  return r.body
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function describe(v: unknown): string {
  if (v === undefined) return 'an empty answer'
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'a list'
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`
}

/** The pull request fields both forges name alike (`html_url`, `head.ref`, ...), every one checked. */
export function readPullFields(r: ApiResponse, v: unknown, where?: string): PullRequest {
  const body = isRecord(v) ? v.body : undefined
  return {
    number: need(r, v, 'number', 'number', where),
    url: need(r, v, 'html_url', 'string', where),
    title: need(r, v, 'title', 'string', where),
    // GitHub sends null for an empty body.
    body: typeof body === 'string' ? body : '',
    state: need(r, v, 'state', 'string', where) === 'open' ? 'open' : 'closed',
    head: need(r, v, 'head.ref', 'string', where),
    base: need(r, v, 'base.ref', 'string', where)
  }
}

/** An issue comment: `id`, `html_url` and `body` are named alike on both forges. */
export function readComment(r: ApiResponse, v: unknown, where?: string): IssueComment {
  const body = isRecord(v) ? v.body : undefined
  return {
    id: need(r, v, 'id', 'number', where),
    url: need(r, v, 'html_url', 'string', where),
    body: typeof body === 'string' ? body : ''
  }
}
