/** A forge API error: the operation, the URL path, the status and the forge's own message (never the token). */
export class ForgeError extends Error {
  constructor(
    readonly operation: string,
    readonly method: string,
    readonly path: string,
    readonly status: number | undefined,
    readonly forgeMessage: string,
    readonly body: unknown
  ) {
    super(
      `${operation} failed: ${method} ${path} answered ${status === undefined ? 'nothing' : status}${forgeMessage ? `: ${forgeMessage}` : ''}`
    )
  }
}

export interface HttpOptions {
  /** Attempts for 5xx, 429 and network errors (4xx other than 429 are never retried). */
  attempts?: number
  /** First backoff delay; doubled each retry. */
  baseDelayMs?: number
  /** Longest wait a Retry-After header may ask for. */
  maxDelayMs?: number
  /** Time-out of one request. */
  timeoutMs?: number
}

export interface ApiResponse {
  status: number
  headers: Headers
  body: unknown
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

function messageOf(body: unknown, raw: string): string {
  if (body && typeof body === 'object') {
    const o = body as { message?: unknown; errors?: unknown }
    const parts: string[] = []
    if (typeof o.message === 'string') parts.push(o.message)
    if (Array.isArray(o.errors)) {
      for (const e of o.errors) {
        if (e && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') {
          parts.push((e as { message: string }).message)
        } else if (typeof e === 'string') parts.push(e)
      }
    }
    if (parts.length > 0) return parts.join('; ')
  }
  return raw.replace(/\s+/g, ' ').trim().slice(0, 300)
}

/** A small JSON client: token in the header only, retries with backoff, every error naming what failed. */
export class ApiClient {
  private readonly attempts: number
  private readonly baseDelayMs: number
  private readonly maxDelayMs: number
  private readonly timeoutMs: number

  constructor(
    readonly baseUrl: string,
    private readonly token: string,
    options: HttpOptions = {}
  ) {
    this.attempts = options.attempts ?? 4
    this.baseDelayMs = options.baseDelayMs ?? 1000
    this.maxDelayMs = options.maxDelayMs ?? 30000
    this.timeoutMs = options.timeoutMs ?? 30000
  }

  /** The path relative to the API base, for messages. */
  async request(operation: string, method: string, path: string, body?: unknown): Promise<ApiResponse> {
    const url = `${this.baseUrl}${path}`
    let lastError: ForgeError | undefined
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      let response: Response
      try {
        response = await fetch(url, {
          method,
          headers: {
            Accept: 'application/json',
            Authorization: `token ${this.token}`,
            'User-Agent': 'nixos-fleet-update',
            ...(body === undefined ? {} : { 'Content-Type': 'application/json' })
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(this.timeoutMs)
        })
      } catch (e) {
        const reason =
          e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e)
        lastError = new ForgeError(operation, method, path, undefined, `network error: ${reason}`, undefined)
        if (attempt < this.attempts) await sleep(this.delay(attempt))
        continue
      }
      let raw = ''
      try {
        raw = await response.text()
      } catch (e) {
        lastError = new ForgeError(
          operation,
          method,
          path,
          response.status,
          `reading the answer failed: ${String(e)}`,
          undefined
        )
        if (attempt < this.attempts) await sleep(this.delay(attempt))
        continue
      }
      let parsed: unknown = undefined
      let parseFailed = false
      if (raw !== '') {
        try {
          parsed = JSON.parse(raw)
        } catch {
          parseFailed = true
        }
      }
      const retryable = response.status >= 500 || response.status === 429
      if (response.ok && parseFailed) {
        throw new ForgeError(
          operation,
          method,
          path,
          response.status,
          `the answer is not JSON: ${raw.slice(0, 200)}`,
          raw
        )
      }
      if (response.ok) return { status: response.status, headers: response.headers, body: parsed }
      lastError = new ForgeError(
        operation,
        method,
        path,
        response.status,
        messageOf(parsed, raw),
        parsed ?? raw
      )
      if (!retryable || attempt === this.attempts) throw lastError
      await sleep(this.delay(attempt, response.headers.get('retry-after')))
    }
    throw lastError ?? new ForgeError(operation, method, path, undefined, 'no attempt made', undefined)
  }

  private delay(attempt: number, retryAfter?: string | null): number {
    if (retryAfter) {
      const seconds = Number(retryAfter)
      const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - Date.now()
      if (Number.isFinite(ms) && ms >= 0) return Math.min(ms, this.maxDelayMs)
    }
    return Math.min(this.baseDelayMs * 2 ** (attempt - 1), this.maxDelayMs)
  }
}
