import { backoff, sleep } from '../retry'

/** A forge API error: the operation, the URL path, the status and the forge's own message (never the token). */
export class ForgeError extends Error {
  /** Earlier attempts whose outcome is unknown (see ApiResponse.uncertainAttempts). */
  uncertainAttempts = 0

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
  /** Attempts for 5xx, 429, rate-limit 403s and network errors (other 4xx are never retried). */
  attempts?: number
  /** First backoff delay; doubled each retry. */
  baseDelayMs?: number
  /** Longest wait a Retry-After header may ask for. */
  maxDelayMs?: number
  /** Time-out of one request. */
  timeoutMs?: number
  /**
   * The wait after a GitHub secondary rate limit that names no time (no Retry-After, requests remaining):
   * GitHub asks for at least one minute. Default 60 s.
   */
  secondaryRateLimitWaitMs?: number
  /** How the client waits between attempts (tests pass one that records instead of sleeping). */
  wait?: (ms: number) => Promise<void>
}

export interface ApiResponse {
  status: number
  headers: Headers
  body: unknown
  /** What was asked, for messages about the answer. */
  operation: string
  method: string
  path: string
  /**
   * Earlier attempts of this request whose outcome is unknown (time-out or connection lost after sending):
   * the forge may have acted on them.
   */
  uncertainAttempts: number
}

/** Same-origin redirects followed at most this many times per attempt. */
const MAX_REDIRECTS = 5

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
  private readonly secondaryWaitMs: number
  private readonly wait: (ms: number) => Promise<void>

  constructor(
    readonly baseUrl: string,
    private readonly token: string,
    options: HttpOptions = {}
  ) {
    this.attempts = options.attempts ?? 4
    this.baseDelayMs = options.baseDelayMs ?? 1000
    this.maxDelayMs = options.maxDelayMs ?? 30000
    this.timeoutMs = options.timeoutMs ?? 30000
    this.secondaryWaitMs = options.secondaryRateLimitWaitMs ?? 60000
    this.wait = options.wait ?? sleep
  }

  /**
   * Sends one API request (`path` is relative to the API base and names the request in messages), retrying
   * what may pass: network errors, 5xx, 429, and 403s that are rate limits.
   */
  async request(operation: string, method: string, path: string, body?: unknown): Promise<ApiResponse> {
    let lastError: ForgeError | undefined
    let uncertain = 0
    let waitedForSecondaryLimit = false
    const fail = (status: number | undefined, message: string, answer: unknown): ForgeError => {
      const e = new ForgeError(operation, method, path, status, message, answer)
      e.uncertainAttempts = uncertain
      return e
    }
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      let response: Response
      try {
        response = await this.send(operation, method, path, body)
      } catch (e) {
        if (e instanceof ForgeError) throw e
        const reason =
          e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e)
        // A request that timed out or lost its connection may have been carried out all the same.
        if (method !== 'GET') uncertain++
        lastError = fail(undefined, `network error: ${reason}`, undefined)
        if (attempt < this.attempts) await this.wait(this.delay(attempt))
        continue
      }
      let raw = ''
      try {
        raw = await response.text()
      } catch (e) {
        if (method !== 'GET') uncertain++
        lastError = fail(response.status, `reading the answer failed: ${String(e)}`, undefined)
        if (attempt < this.attempts) await this.wait(this.delay(attempt))
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
      if (response.ok && parseFailed) {
        throw fail(response.status, `the answer is not JSON: ${raw.slice(0, 200)}`, raw)
      }
      if (response.ok) {
        return {
          status: response.status,
          headers: response.headers,
          body: parsed,
          operation,
          method,
          path,
          uncertainAttempts: uncertain
        }
      }
      lastError = fail(response.status, messageOf(parsed, raw), parsed ?? raw)
      if (isUntimedSecondaryLimit(response, lastError.forgeMessage)) {
        // GitHub: "If the retry-after response header is not present and x-ratelimit-remaining is not 0, wait
        // for at least one minute before retrying" (docs.github.com, Rate limits for the REST API). Once: a
        // second one fails the request. It is not one of the counted attempts.
        if (waitedForSecondaryLimit) {
          throw fail(
            response.status,
            `${lastError.forgeMessage} (again after waiting ${Math.round(this.secondaryWaitMs / 1000)} s; run the workflow later, and keep runs from overlapping with a concurrency group)`,
            parsed ?? raw
          )
        }
        waitedForSecondaryLimit = true
        await this.wait(this.secondaryWaitMs)
        attempt--
        continue
      }
      if (!retryable(response) || attempt === this.attempts) throw lastError
      // A proxy's 502 or 504 does not say whether the forge behind it carried the request out.
      if (method !== 'GET' && response.status >= 500) uncertain++
      await this.wait(this.delay(attempt, response.headers))
    }
    throw lastError ?? fail(undefined, 'no attempt made', undefined)
  }

  /**
   * One attempt, following redirects by hand: a redirect to another origin would carry the token and the
   * request body to a host nobody configured, so it is refused, naming where it pointed.
   */
  private async send(operation: string, method: string, path: string, body?: unknown): Promise<Response> {
    let url = new URL(`${this.baseUrl}${path}`)
    const origin = url.origin
    for (let hop = 0; ; hop++) {
      const response = await fetch(url, {
        method,
        headers: {
          Accept: 'application/json',
          Authorization: `token ${this.token}`,
          'User-Agent': 'nixos-fleet-update',
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' })
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs)
      })
      const location = response.headers.get('location')
      if (response.status < 300 || response.status >= 400 || location === null) return response
      await response.body?.cancel().catch(() => undefined)
      let target: URL
      try {
        target = new URL(location, url)
      } catch {
        throw new ForgeError(
          operation,
          method,
          path,
          response.status,
          `redirected to an invalid location ${JSON.stringify(location.slice(0, 200))}: not followed`,
          undefined
        )
      }
      const shown = `${target.origin}${target.pathname}`
      if (target.origin !== origin) {
        throw new ForgeError(
          operation,
          method,
          path,
          response.status,
          `redirected to another origin, ${shown}: not followed (the token and the request are only sent to ${origin}; set 'api-url' to the forge's real address if it moved)`,
          undefined
        )
      }
      // 301/302/303 turn a POST into a GET in browsers; an API write must not silently become a read.
      if (method !== 'GET' && response.status !== 307 && response.status !== 308) {
        throw new ForgeError(
          operation,
          method,
          path,
          response.status,
          `redirected to ${shown}: a ${method} is only followed through a 307 or 308`,
          undefined
        )
      }
      if (hop >= MAX_REDIRECTS) {
        throw new ForgeError(
          operation,
          method,
          path,
          response.status,
          `more than ${MAX_REDIRECTS} redirects`,
          undefined
        )
      }
      url = target
    }
  }

  private delay(attempt: number, headers?: Headers): number {
    const retryAfter = headers?.get('retry-after')
    if (retryAfter) {
      const seconds = Number(retryAfter)
      const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - Date.now()
      if (Number.isFinite(ms) && ms >= 0) return Math.min(ms, this.maxDelayMs)
    }
    // GitHub's rate limits name the moment the window resets, in epoch seconds.
    const reset = headers?.get('x-ratelimit-reset')
    if (reset && headers?.get('x-ratelimit-remaining') === '0') {
      const ms = Number(reset) * 1000 - Date.now()
      if (Number.isFinite(ms)) return Math.min(Math.max(ms, 0), this.maxDelayMs)
    }
    return backoff(attempt, this.baseDelayMs, this.maxDelayMs)
  }
}

/** A secondary rate limit (403 or 429) that says neither when to retry nor that the quota is used up. */
function isUntimedSecondaryLimit(response: Response, message: string): boolean {
  if (response.status !== 403 && response.status !== 429) return false
  if (response.headers.has('retry-after') || response.headers.get('x-ratelimit-remaining') === '0')
    return false
  return /secondary rate limit/i.test(message)
}

/**
 * Whether another attempt may succeed: 5xx, 429, and GitHub's rate-limit 403s (they carry Retry-After or
 * `x-ratelimit-remaining: 0`); any other 403 is a permission and final.
 */
function retryable(response: Response): boolean {
  if (response.status >= 500 || response.status === 429) return true
  if (response.status !== 403) return false
  return response.headers.has('retry-after') || response.headers.get('x-ratelimit-remaining') === '0'
}
