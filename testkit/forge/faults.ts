/**
 * Injected faults: the next matching requests get a chosen status and body, a delay, extra headers, or a reset
 * connection, before the forge itself sees them. Tests use this for what a healthy test forge never does.
 */
import * as http from 'http'
import { Reply, send, sleep } from './repository'

export interface FaultResponse {
  status?: number
  body?: unknown
  rawBody?: string
  headers?: Record<string, string>
  delayMs?: number
  reset?: boolean
  /** After the forge handled the request normally, drop the connection instead of answering. */
  resetAfter?: boolean
}

export interface FaultMatch {
  method?: string
  path?: RegExp
}

interface Fault extends FaultMatch {
  responses: FaultResponse[]
}

/** What the server does with a request after the faults had their turn. */
export type FaultOutcome =
  { kind: 'answered' } | { kind: 'forward'; headers: Record<string, string>; resetAfter: boolean }

export class Faults {
  private readonly queue: Fault[] = []

  add(match: FaultMatch, responses: FaultResponse[]): void {
    this.queue.push({ method: match.method, path: match.path, responses: [...responses] })
  }

  private take(method: string, pathname: string): FaultResponse | undefined {
    for (let i = 0; i < this.queue.length; i++) {
      const f = this.queue[i]
      if (f.method && f.method.toUpperCase() !== method) continue
      if (f.path) {
        f.path.lastIndex = 0
        if (!f.path.test(pathname)) continue
      }
      const r = f.responses.shift()
      if (f.responses.length === 0) this.queue.splice(i, 1)
      if (r) return r
    }
    return undefined
  }

  /** Applies the next fault for this request, if any: answers it itself, or lets the forge answer. */
  async apply(
    method: string,
    pathname: string,
    req: http.IncomingMessage,
    res: http.ServerResponse
  ): Promise<FaultOutcome> {
    const fault = this.take(method, pathname)
    if (!fault) return { kind: 'forward', headers: {}, resetAfter: false }
    if (fault.delayMs) await sleep(fault.delayMs)
    if (fault.reset) {
      req.socket.destroy()
      return { kind: 'answered' }
    }
    if (fault.status !== undefined || fault.body !== undefined || fault.rawBody !== undefined) {
      const status = fault.status ?? 500
      if (fault.rawBody !== undefined) {
        res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', ...(fault.headers ?? {}) })
        res.end(fault.rawBody)
      } else {
        const reply: Reply = { status, body: fault.body, headers: fault.headers }
        send(res, reply)
      }
      return { kind: 'answered' }
    }
    return { kind: 'forward', headers: fault.headers ?? {}, resetAfter: fault.resetAfter === true }
  }
}
