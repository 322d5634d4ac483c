import { errorMessage } from '../errors'
import { ApiClient, ForgeError, HttpOptions } from './http'
import { AutoMergeRefusal, Forge, IssueComment, NewPull, PersonRefusal, PullRequest } from './forge'
import { eachRefusal, logins } from './people'
import { RestForge } from './rest-forge'
import { MergeMethod, MergeMethodSetting, chooseMergeMethod, repositoryMergeMethods } from './merge'
import { isRecord, need, needList, readComment, readPullFields as readPull } from './shape'
import { backoff, sleep } from '../retry'
import { Log } from '../log/log'

/** The head repository's full name, when the answer has one (a deleted fork has none). */
function headRepoName(v: unknown): string | undefined {
  const name = isRecord(v) && isRecord(v.head) && isRecord(v.head.repo) ? v.head.repo.full_name : undefined
  return typeof name === 'string' ? name : undefined
}

const PAGE = 50

/** `token does not have at least one of required scope(s): [read:issue]` → `read:issue`. */
function missingScope(e: unknown): string | undefined {
  if (!(e instanceof ForgeError) || e.status !== 403) return undefined
  const m = /required scope\(s\)[^[]*\[([^\]]+)\]/.exec(e.forgeMessage)
  return m ? m[1] : undefined
}

/** Forgejo's answer while it still computes whether the pull request can be merged (ErrNotMergeableState). */
const NOT_YET_MERGEABLE = /try again later/i

/** What each final 405 of the merge endpoint means for the user. */
const MERGE_REFUSAL_HINTS: [RegExp, string][] = [
  [
    /not allowed to merge/i,
    "the token's account may not merge into the base branch (repository permissions or the branch protection's merge allow-list)"
  ],
  [/work in progress/i, 'the title marks the pull request as work in progress'],
  [/signed/i, 'branch protection requires signed merge commits, which this Forgejo instance cannot sign']
]

export interface ForgejoOptions extends HttpOptions {
  /** Attempts at scheduling auto-merge while Forgejo answers "Please try again later". */
  mergeRetries?: number
  /** Longest wait between those attempts. */
  mergeRetryMaxDelayMs?: number
}

/** Forgejo's and Gitea's /api/v1. No GraphQL, no git-data API: pushing is git's job. */
export class ForgejoForge extends RestForge implements Forge {
  readonly kind = 'forgejo' as const
  constructor(
    apiUrl: string,
    token: string,
    owner: string,
    repo: string,
    serverUrl: string,
    private readonly log: Log,
    private readonly options: ForgejoOptions = {}
  ) {
    super(new ApiClient(apiUrl, token, options), owner, repo, serverUrl)
  }

  private get fullName(): string {
    return `${this.owner}/${this.repo}`.toLowerCase()
  }

  /**
   * Pages through the open pull requests: Forgejo ignores `?head=`, and `GET /pulls/{base}/{head}` answers with
   * the first pull request ever made for the pair, closed ones included. The list may hold `null` where one
   * pull request failed to load (documented in Forgejo's swagger): those are skipped.
   */
  async findOpenPull(head: string, base: string): Promise<PullRequest | undefined> {
    for (let page = 1; page <= 100; page++) {
      const query = new URLSearchParams({ state: 'open', limit: String(PAGE), page: String(page) })
      const r = await this.api.request(
        'Finding the open pull request',
        'GET',
        `${this.path}/pulls?${query.toString()}`
      )
      const list = needList(r)
      for (const [i, entry] of list.entries()) {
        if (entry === null) continue
        const p = readPull(r, entry, `entry ${i + 1 + (page - 1) * PAGE}`)
        const headRepo = headRepoName(entry)
        const sameRepo = headRepo === undefined || headRepo.toLowerCase() === this.fullName
        if (p.state === 'open' && p.head === head && p.base === base && sameRepo) return p
      }
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
      return { pull: readPull(r, r.body), created: true }
    } catch (e) {
      if (e instanceof ForgeError && e.status === 409) {
        // An earlier attempt of this same request timed out after Forgejo acted on it: the pull request is ours.
        const created = e.uncertainAttempts > 0
        // "pull request already exists for these targets [id: …, issue_id: N, …]": N is the pull request's number.
        const m = /issue_id:\s*(\d+)/.exec(e.forgeMessage)
        if (m) {
          const r = await this.api.request(
            'Reading the existing pull request',
            'GET',
            `${this.path}/pulls/${m[1]}`
          )
          return { pull: readPull(r, r.body), created }
        }
        const existing = await this.findOpenPull(pull.head, pull.base)
        if (existing) return { pull: existing, created }
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
    return readPull(r, r.body)
  }

  private async listLabels(operation: string, path: string, ids: Map<string, number>): Promise<void> {
    for (let page = 1; page <= 100; page++) {
      const query = new URLSearchParams({ limit: String(PAGE), page: String(page) })
      const r = await this.api.request(operation, 'GET', `${path}?${query.toString()}`)
      const list = needList(r)
      for (const [i, l] of list.entries()) {
        const where = `label ${i + 1 + (page - 1) * PAGE}`
        const name = need(r, l, 'name', 'string', where)
        // A repository label wins over an organisation label of the same name.
        if (!ids.has(name)) ids.set(name, need(r, l, 'id', 'number', where))
      }
      if (list.length < PAGE) return
    }
  }

  /**
   * Label IDs by name: the repository's labels, then, for names it lacks, the organisation's when the owner is
   * one (Forgejo lists them apart; the add endpoint takes both kinds of ID).
   */
  private async labelIds(names: string[]): Promise<Map<string, number>> {
    const ids = new Map<string, number>()
    await this.listLabels('Listing labels', `${this.path}/labels`, ids)
    // Only names the repository lacks are looked for among the organisation's labels.
    if (names.every(n => ids.has(n))) return ids
    try {
      await this.listLabels(
        'Listing organisation labels',
        `/orgs/${encodeURIComponent(this.owner)}/labels`,
        ids
      )
    } catch (e) {
      // 404: the owner is a user, not an organisation.
      if (!(e instanceof ForgeError && e.status === 404)) {
        const scope = missingScope(e)
        this.log.warning(
          scope
            ? `Organisation labels of ${this.owner} not read: the token lacks the scope ${scope} (read:organization); repository labels only`
            : `Organisation labels of ${this.owner} not read: ${errorMessage(e)}`
        )
      }
    }
    return ids
  }

  async addLabels(number: number, names: string[]): Promise<string[]> {
    if (names.length === 0) return []
    try {
      const ids = await this.labelIds(names)
      const missing = names.filter(n => !ids.has(n))
      if (missing.length > 0) {
        this.log.warning(`Labels not found in ${this.owner}/${this.repo}, not added: ${missing.join(', ')}`)
      }
      const found = names.filter(n => ids.has(n)).map(n => ids.get(n) as number)
      if (found.length > 0) {
        await this.api.request('Adding labels', 'POST', `${this.path}/issues/${number}/labels`, {
          labels: found
        })
      }
      return missing
    } catch (e) {
      const scope = missingScope(e)
      if (scope && e instanceof Error) {
        // Labels are in Forgejo's issue scope group; pull requests in the repository one.
        throw new Error(
          `${e.message}. Forgejo keeps labels under the token scope write:issue (the token lacks ${scope}): add that scope to the token, or leave 'pr-labels' empty`
        )
      }
      throw e
    }
  }

  /**
   * Forgejo checks every name before it requests any (routers/api/v1/repo/pull_review.go): 404 "User 'x' not
   * exist", 422 for one who may not review (no read access, the pull request's poster); each is then asked alone.
   */
  async requestReviewers(number: number, names: string[]): Promise<PersonRefusal[]> {
    if (names.length === 0) return []
    const path = `${this.path}/pulls/${number}/requested_reviewers`
    return eachRefusal(
      names,
      async reviewers => {
        await this.api.request('Requesting reviews', 'POST', path, { reviewers })
      },
      e => e.status === 404 || e.status === 422
    )
  }

  /**
   * Assignees are set through the issue edit, which replaces the whole list (routers/api/v1/repo/issue.go,
   * EditIssue): the current ones are kept. A name that cannot be assigned fails that edit with a 500 whose
   * message a production instance hides, so names are first checked against the repository's assignable users
   * (`GET /repos/{o}/{r}/assignees`, collaborators.go).
   */
  async addAssignees(number: number, names: string[]): Promise<PersonRefusal[]> {
    if (names.length === 0) return []
    try {
      const listed = await this.api.request('Listing assignable users', 'GET', `${this.path}/assignees`)
      const assignable = new Set(logins(needList(listed)).map(l => l.toLowerCase()))
      const refused = names
        .filter(n => !assignable.has(n.toLowerCase()))
        .map(name => ({
          name,
          reason: `not among the users who can be assigned in ${this.owner}/${this.repo} (it needs write access)`
        }))
      const wanted = names.filter(n => assignable.has(n.toLowerCase()))
      if (wanted.length === 0) return refused
      const issuePath = `${this.path}/issues/${number}`
      const issue = await this.api.request('Reading the assignees', 'GET', issuePath)
      const current = isRecord(issue.body) ? logins(issue.body.assignees) : []
      const all = [...current, ...wanted.filter(n => !current.some(c => c.toLowerCase() === n.toLowerCase()))]
      if (all.length > current.length) {
        await this.api.request('Assigning the pull request', 'PATCH', issuePath, { assignees: all })
      }
      return refused
    } catch (e) {
      const scope = missingScope(e)
      if (scope && e instanceof Error) {
        throw new Error(
          `${e.message}. Forgejo keeps assignees under the token scope write:issue (the token lacks ${scope})`
        )
      }
      throw e
    }
  }

  /**
   * Schedules the merge for when checks pass. Forgejo schedules any `Do` with 201 and the later merge fails
   * only in its log, so the method is checked against the repository first. 405 "Please try again later"
   * (mergeability still being computed) is retried for a bounded time; every other 405 is final.
   */
  async enableAutoMerge(pull: PullRequest, requested: MergeMethodSetting): Promise<MergeMethod | undefined> {
    const allowed = await repositoryMergeMethods(
      this.api,
      this.path,
      [
        ['merge', 'allow_merge_commits'],
        ['rebase', 'allow_rebase'],
        ['rebase-merge', 'allow_rebase_explicit'],
        ['squash', 'allow_squash_merge'],
        ['fast-forward-only', 'allow_fast_forward_only_merge']
      ],
      'default_merge_style'
    )
    const method = chooseMergeMethod(requested, allowed, `${this.owner}/${this.repo}`)
    const retries = this.options.mergeRetries ?? 10
    const maxDelay = this.options.mergeRetryMaxDelayMs ?? 15000
    for (let attempt = 1; ; attempt++) {
      try {
        await this.api.request('Scheduling auto-merge', 'POST', `${this.path}/pulls/${pull.number}/merge`, {
          Do: method ?? 'merge',
          merge_when_checks_succeed: true
        })
        return method ?? 'merge'
      } catch (e) {
        // Forgejo >= 8 answers 409 when it is already scheduled.
        if (e instanceof ForgeError && e.status === 409) return method ?? 'merge'
        if (!(e instanceof ForgeError) || e.status !== 405) throw e
        if (NOT_YET_MERGEABLE.test(e.forgeMessage)) {
          if (attempt < retries) {
            await sleep(backoff(attempt, this.options.baseDelayMs ?? 1000, maxDelay))
            continue
          }
          throw new AutoMergeRefusal(
            `${e.message} (still after ${attempt} attempts): Forgejo had not finished checking whether pull request #${pull.number} can be merged; schedule the merge by hand or run again`
          )
        }
        const hint = MERGE_REFUSAL_HINTS.find(([re]) => re.test(e.forgeMessage))?.[1]
        throw new AutoMergeRefusal(`${e.message}${hint ? `: ${hint}` : ''}`)
      }
    }
  }

  /**
   * Every comment in one answer: Forgejo's ListIssueComments (routers/api/v1/repo/issue_comment.go) takes only
   * `since` and `before`, no page or limit, and answers with all the issue's comments, oldest first.
   */
  async listComments(number: number): Promise<IssueComment[]> {
    const r = await this.api.request(
      'Listing the pull request comments',
      'GET',
      `${this.path}/issues/${number}/comments`
    )
    return needList(r).map((c, i) => readComment(r, c, `comment ${i + 1}`))
  }
}
