import { ApiClient, ForgeError, HttpOptions } from './http'
import { Forge, NewPull, PullRequest, compareLink, repoPath } from './forge'

interface GitHubPull {
  number: number
  html_url: string
  title: string
  body: string | null
  state: string
  node_id?: string
  head: { ref: string }
  base: { ref: string }
}

function toPull(p: GitHubPull): PullRequest {
  return {
    number: p.number,
    url: p.html_url,
    title: p.title,
    body: p.body ?? '',
    state: p.state === 'open' ? 'open' : 'closed',
    head: p.head.ref,
    base: p.base.ref,
    nodeId: p.node_id
  }
}

/** GitHub's REST API (and its GraphQL API for auto-merge, which has no REST endpoint). */
export class GitHubForge implements Forge {
  readonly kind = 'github' as const
  private readonly api: ApiClient
  private readonly graphql: ApiClient

  constructor(
    apiUrl: string,
    token: string,
    private readonly owner: string,
    private readonly repo: string,
    private readonly serverUrl: string,
    graphqlUrl: string,
    options: HttpOptions = {}
  ) {
    this.api = new ApiClient(apiUrl, token, options)
    this.graphql = new ApiClient(graphqlUrl, token, options)
  }

  private get path(): string {
    return repoPath(this.owner, this.repo)
  }

  async findOpenPull(head: string, base: string): Promise<PullRequest | undefined> {
    const query = new URLSearchParams({ head: `${this.owner}:${head}`, base, state: 'open', per_page: '100' })
    const r = await this.api.request(
      'Finding the open pull request',
      'GET',
      `${this.path}/pulls?${query.toString()}`
    )
    const list = Array.isArray(r.body) ? (r.body as GitHubPull[]) : []
    const match = list.find(p => p.head.ref === head && p.base.ref === base && p.state === 'open')
    return match ? toPull(match) : undefined
  }

  async createPull(pull: NewPull): Promise<{ pull: PullRequest; created: boolean }> {
    try {
      const r = await this.api.request('Creating the pull request', 'POST', `${this.path}/pulls`, {
        head: pull.head,
        base: pull.base,
        title: pull.title,
        body: pull.body,
        maintainer_can_modify: true
      })
      return { pull: toPull(r.body as GitHubPull), created: true }
    } catch (e) {
      // Another run opened it between our search and our create: use that one.
      if (e instanceof ForgeError && e.status === 422 && /already exists/i.test(e.forgeMessage)) {
        const existing = await this.findOpenPull(pull.head, pull.base)
        if (existing) return { pull: existing, created: false }
      }
      throw e
    }
  }

  async updatePull(number: number, title: string, body: string): Promise<PullRequest> {
    const r = await this.api.request('Updating the pull request', 'PATCH', `${this.path}/pulls/${number}`, {
      title,
      body
    })
    return toPull(r.body as GitHubPull)
  }

  async addLabels(number: number, names: string[]): Promise<string[]> {
    if (names.length === 0) return []
    await this.api.request('Adding labels', 'POST', `${this.path}/issues/${number}/labels`, { labels: names })
    return []
  }

  async enableAutoMerge(pull: PullRequest): Promise<void> {
    if (!pull.nodeId) throw new Error(`Pull request #${pull.number} has no node id: cannot enable auto-merge`)
    const query =
      'mutation($id: ID!) { enablePullRequestAutoMerge(input: {pullRequestId: $id}) { pullRequest { number } } }'
    const r = await this.graphql.request('Enabling auto-merge', 'POST', '', {
      query,
      variables: { id: pull.nodeId }
    })
    const errors = (r.body as { errors?: { message?: string }[] } | undefined)?.errors
    if (errors && errors.length > 0) {
      throw new Error(
        `Enabling auto-merge failed: ${errors.map(e => e.message ?? '').join('; ')}. Auto-merge needs "Allow auto-merge" in the repository settings and a token that may merge (a PAT or app token; the automatic token of a workflow may not).`
      )
    }
  }

  compareUrl(base: string, head: string): string {
    return compareLink(this.serverUrl, this.owner, this.repo, base, head)
  }
}
