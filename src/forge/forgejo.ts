import * as core from '@actions/core'
import { ApiClient, ForgeError, HttpOptions } from './http'
import { Forge, NewPull, PullRequest, compareLink, repoPath } from './forge'

interface ForgejoPull {
  number: number
  html_url: string
  title: string
  body: string | null
  state: string
  head: { ref: string; repo?: { full_name?: string } | null }
  base: { ref: string; repo?: { full_name?: string } | null }
}

function toPull(p: ForgejoPull): PullRequest {
  return {
    number: p.number,
    url: p.html_url,
    title: p.title,
    body: p.body ?? '',
    state: p.state === 'open' ? 'open' : 'closed',
    head: p.head.ref,
    base: p.base.ref
  }
}

const PAGE = 50
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** Forgejo's and Gitea's /api/v1. No GraphQL, no git-data API: pushing is git's job. */
export class ForgejoForge implements Forge {
  readonly kind = 'forgejo' as const
  private readonly api: ApiClient

  constructor(
    apiUrl: string,
    token: string,
    private readonly owner: string,
    private readonly repo: string,
    private readonly serverUrl: string,
    private readonly options: HttpOptions & { mergeRetries?: number } = {}
  ) {
    this.api = new ApiClient(apiUrl, token, options)
  }

  private get path(): string {
    return repoPath(this.owner, this.repo)
  }

  private get fullName(): string {
    return `${this.owner}/${this.repo}`.toLowerCase()
  }

  /**
   * Pages through the open pull requests: Forgejo ignores `?head=`, and `GET /pulls/{base}/{head}` answers with
   * the first pull request ever made for the pair, closed ones included.
   */
  async findOpenPull(head: string, base: string): Promise<PullRequest | undefined> {
    for (let page = 1; page <= 100; page++) {
      const query = new URLSearchParams({ state: 'open', limit: String(PAGE), page: String(page) })
      const r = await this.api.request(
        'Finding the open pull request',
        'GET',
        `${this.path}/pulls?${query.toString()}`
      )
      const list = Array.isArray(r.body) ? (r.body as ForgejoPull[]) : []
      const match = list.find(
        p =>
          p.state === 'open' &&
          p.head.ref === head &&
          p.base.ref === base &&
          (p.head.repo?.full_name === undefined || p.head.repo.full_name.toLowerCase() === this.fullName)
      )
      if (match) return toPull(match)
      if (list.length < PAGE) return undefined
    }
    return undefined
  }

  async createPull(pull: NewPull): Promise<{ pull: PullRequest; created: boolean }> {
    try {
      const r = await this.api.request('Creating the pull request', 'POST', `${this.path}/pulls`, {
        head: pull.head,
        base: pull.base,
        title: pull.title,
        body: pull.body
      })
      return { pull: toPull(r.body as ForgejoPull), created: true }
    } catch (e) {
      if (e instanceof ForgeError && e.status === 409) {
        // "pull request already exists for these targets [id: …, issue_id: N, …]": N is the pull request's number.
        const m = /issue_id:\s*(\d+)/.exec(e.forgeMessage)
        if (m) {
          const r = await this.api.request(
            'Reading the existing pull request',
            'GET',
            `${this.path}/pulls/${m[1]}`
          )
          return { pull: toPull(r.body as ForgejoPull), created: false }
        }
        const existing = await this.findOpenPull(pull.head, pull.base)
        if (existing) return { pull: existing, created: false }
      }
      if (e instanceof ForgeError && e.status === 404) {
        throw new Error(
          `${e.message}. The token cannot open pull requests here (Forgejo's automatic workflow token is refused for this): use a bot account's token. The branch ${pull.head} is pushed; open the pull request by hand: ${this.compareUrl(pull.base, pull.head)}`
        )
      }
      throw e
    }
  }

  async updatePull(number: number, title: string, body: string): Promise<PullRequest> {
    // Forgejo answers 201 here, GitHub 200: any 2xx is success.
    const r = await this.api.request('Updating the pull request', 'PATCH', `${this.path}/pulls/${number}`, {
      title,
      body
    })
    return toPull(r.body as ForgejoPull)
  }

  private async labelIds(): Promise<Map<string, number>> {
    const ids = new Map<string, number>()
    for (let page = 1; page <= 100; page++) {
      const query = new URLSearchParams({ limit: String(PAGE), page: String(page) })
      const r = await this.api.request('Listing labels', 'GET', `${this.path}/labels?${query.toString()}`)
      const list = Array.isArray(r.body) ? (r.body as { id: number; name: string }[]) : []
      for (const l of list) ids.set(l.name, l.id)
      if (list.length < PAGE) break
    }
    return ids
  }

  async addLabels(number: number, names: string[]): Promise<string[]> {
    if (names.length === 0) return []
    const ids = await this.labelIds()
    const missing = names.filter(n => !ids.has(n))
    if (missing.length > 0) {
      core.warning(`Labels not found in ${this.owner}/${this.repo}, not added: ${missing.join(', ')}`)
    }
    const found = names.filter(n => ids.has(n)).map(n => ids.get(n) as number)
    if (found.length > 0) {
      await this.api.request('Adding labels', 'POST', `${this.path}/issues/${number}/labels`, {
        labels: found
      })
    }
    return missing
  }

  async enableAutoMerge(pull: PullRequest): Promise<void> {
    const retries = this.options.mergeRetries ?? 6
    for (let attempt = 1; ; attempt++) {
      try {
        await this.api.request('Scheduling auto-merge', 'POST', `${this.path}/pulls/${pull.number}/merge`, {
          Do: 'merge',
          merge_when_checks_succeed: true
        })
        return
      } catch (e) {
        if (e instanceof ForgeError && e.status === 409) return // already scheduled
        // 405 while Forgejo is still computing whether the pull request can be merged.
        if (e instanceof ForgeError && e.status === 405 && attempt < retries) {
          await sleep(Math.min((this.options.baseDelayMs ?? 1000) * 2 ** (attempt - 1), 30000))
          continue
        }
        throw e
      }
    }
  }

  compareUrl(base: string, head: string): string {
    return compareLink(this.serverUrl, this.owner, this.repo, base, head)
  }
}
