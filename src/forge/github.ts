import { ApiClient, ApiResponse, ForgeError, HttpOptions } from './http'
import { AutoMergeRefusal, Forge, IssueComment, NewPull, PersonRefusal, PullRequest } from './forge'
import { eachRefusal, logins } from './people'
import { RestForge } from './rest-forge'
import { ApiCommitter } from './api-commit'
import { MergeMethod, MergeMethodSetting, chooseMergeMethod, repositoryMergeMethods } from './merge'
import { isRecord, need, needList, readComment, readPullFields, shapeError } from './shape'

/** A pull request from GitHub's JSON, with the GraphQL node id auto-merge needs. */
function readPull(r: ApiResponse, v: unknown, where?: string): PullRequest {
  const nodeId = isRecord(v) ? v.node_id : undefined
  return { ...readPullFields(r, v, where), nodeId: typeof nodeId === 'string' ? nodeId : undefined }
}

/** What each auto-merge refusal of GitHub's GraphQL API means, and what to change. */
const AUTO_MERGE_HINTS: [RegExp, (base: string) => string][] = [
  [
    /clean status/i,
    base =>
      `the pull request can already be merged, since '${base}' requires no status check to pass: GitHub enables auto-merge only while required checks are pending. Require a check in '${base}''s branch protection, or merge by hand`
  ],
  [
    /protected branch rules not configured/i,
    base => `'${base}' has no branch protection rule: auto-merge needs one that requires status checks`
  ],
  [
    /merge method .* not allowed|not allowed .* merge method/i,
    () =>
      "the repository does not allow this merge method: set 'merge-method' to one it allows, or to auto with a token that can read the repository's settings"
  ],
  [
    /auto merge is not allowed/i,
    () => 'enable "Allow auto-merge" in the repository settings (General, Pull Requests)'
  ],
  [
    /resource not accessible|must have (admin|write|push)/i,
    () =>
      "the token may not merge: use a PAT or app token with contents and pull-requests write (the workflow's automatic token cannot enable auto-merge on its own pull requests)"
  ]
]

const GRAPHQL_METHOD: Record<string, string> = { merge: 'MERGE', squash: 'SQUASH', rebase: 'REBASE' }

/** GitHub's REST API (and its GraphQL API for auto-merge and signed commits, which have no REST endpoint). */
export class GitHubForge extends RestForge implements Forge, ApiCommitter {
  readonly kind = 'github' as const
  private readonly graphql: ApiClient

  constructor(
    apiUrl: string,
    token: string,
    owner: string,
    repo: string,
    serverUrl: string,
    graphqlUrl: string,
    options: HttpOptions = {}
  ) {
    super(new ApiClient(apiUrl, token, options), owner, repo, serverUrl)
    this.graphql = new ApiClient(graphqlUrl, token, options)
  }

  async findOpenPull(head: string, base: string): Promise<PullRequest | undefined> {
    const query = new URLSearchParams({ head: `${this.owner}:${head}`, base, state: 'open', per_page: '100' })
    const r = await this.api.request(
      'Finding the open pull request',
      'GET',
      `${this.path}/pulls?${query.toString()}`
    )
    const list = needList(r).map((p, i) => readPull(r, p, `entry ${i + 1}`))
    return list.find(p => p.head === head && p.base === base && p.state === 'open')
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
      return { pull: readPull(r, r.body), created: true }
    } catch (e) {
      // It exists: either another run opened it between our search and our create, or an earlier attempt of
      // this very request timed out after GitHub acted on it (then it is ours).
      if (e instanceof ForgeError && e.status === 422 && /already exists/i.test(e.forgeMessage)) {
        const existing = await this.findOpenPull(pull.head, pull.base)
        if (existing) return { pull: existing, created: e.uncertainAttempts > 0 }
      }
      throw e
    }
  }

  async updatePull(number: number, title: string, body: string): Promise<PullRequest> {
    const r = await this.api.request('Updating the pull request', 'PATCH', `${this.path}/pulls/${number}`, {
      title,
      body
    })
    return readPull(r, r.body)
  }

  async addLabels(number: number, names: string[]): Promise<string[]> {
    if (names.length === 0) return []
    await this.api.request('Adding labels', 'POST', `${this.path}/issues/${number}/labels`, { labels: names })
    return []
  }

  /**
   * GitHub refuses the whole request with 422 when one name may not review (not a collaborator, the pull
   * request's author) without naming it (docs.github.com/rest/pulls/review-requests): each is then asked alone.
   */
  async requestReviewers(number: number, names: string[]): Promise<PersonRefusal[]> {
    if (names.length === 0) return []
    const path = `${this.path}/pulls/${number}/requested_reviewers`
    return eachRefusal(
      names,
      async reviewers => {
        await this.api.request('Requesting reviews', 'POST', path, { reviewers })
      },
      e => e.status === 422
    )
  }

  /**
   * GitHub ignores, without an error, names that cannot be assigned (docs.github.com/rest/issues/assignees): the
   * issue it answers with tells which were taken.
   */
  async addAssignees(number: number, names: string[]): Promise<PersonRefusal[]> {
    if (names.length === 0) return []
    const r = await this.api.request(
      'Assigning the pull request',
      'POST',
      `${this.path}/issues/${number}/assignees`,
      { assignees: names }
    )
    if (!isRecord(r.body) || !Array.isArray(r.body.assignees))
      throw shapeError(r, 'the issue has no assignees list')
    const taken = new Set(logins(r.body.assignees).map(l => l.toLowerCase()))
    return names
      .filter(n => !taken.has(n.toLowerCase()))
      .map(name => ({
        name,
        reason: `GitHub did not assign it: the account does not exist or has no access to ${this.owner}/${this.repo}`
      }))
  }

  async createBranch(name: string, sha: string): Promise<void> {
    await this.api.request('Creating a branch', 'POST', `${this.path}/git/refs`, {
      ref: `refs/heads/${name}`,
      sha
    })
  }

  async deleteBranch(name: string): Promise<void> {
    const ref = name.split('/').map(encodeURIComponent).join('/')
    await this.api.request('Deleting a branch', 'DELETE', `${this.path}/git/refs/heads/${ref}`)
  }

  /**
   * GraphQL createCommitOnBranch (docs.github.com/graphql/reference/mutations#createcommitonbranch): file
   * contents in base64, `expectedHeadOid` the branch's current tip (the commit is refused otherwise). GitHub signs
   * the commit and shows it as verified.
   */
  async commitFile(change: {
    branch: string
    expectedHeadOid: string
    files: { path: string; content: string }[]
    headline: string
    body: string
  }): Promise<string> {
    const query =
      'mutation($input: CreateCommitOnBranchInput!) { createCommitOnBranch(input: $input) { commit { oid } } }'
    const input = {
      branch: { repositoryNameWithOwner: `${this.owner}/${this.repo}`, branchName: change.branch },
      message: { headline: change.headline, body: change.body },
      fileChanges: {
        additions: change.files.map(f => ({
          path: f.path,
          contents: Buffer.from(f.content).toString('base64')
        }))
      },
      expectedHeadOid: change.expectedHeadOid
    }
    const r = await this.graphql.request('Creating the commit through the API', 'POST', '', {
      query,
      variables: { input }
    })
    if (!isRecord(r.body)) throw shapeError(r, 'a GraphQL answer object was expected')
    const errors = Array.isArray(r.body.errors) ? r.body.errors : []
    if (errors.length > 0) {
      const text = errors
        .map(e => (isRecord(e) && typeof e.message === 'string' ? e.message : JSON.stringify(e)))
        .join('; ')
      throw new Error(
        `Creating the commit through the API failed: ${text}. It needs a token that may write the repository's contents (contents: write)`
      )
    }
    return need(r, r.body, 'data.createCommitOnBranch.commit.oid', 'string')
  }

  async enableAutoMerge(pull: PullRequest, requested: MergeMethodSetting): Promise<MergeMethod | undefined> {
    if (!pull.nodeId) throw new Error(`Pull request #${pull.number} has no node id: cannot enable auto-merge`)
    if (requested !== 'auto' && !(requested in GRAPHQL_METHOD)) {
      throw new Error(
        `Input 'merge-method' ${requested} exists on Forgejo only; GitHub has merge, squash and rebase`
      )
    }
    // GitHub has no default method; the flags are only present for tokens that may see the settings.
    const allowed = await repositoryMergeMethods(this.api, this.path, [
      ['merge', 'allow_merge_commit'],
      ['squash', 'allow_squash_merge'],
      ['rebase', 'allow_rebase_merge']
    ])
    const method = chooseMergeMethod(requested, allowed, `${this.owner}/${this.repo}`)
    // Without a method GitHub uses MERGE; it is only left out when the repository's settings could not be read.
    const query = method
      ? 'mutation($id: ID!, $method: PullRequestMergeMethod!) { enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: $method}) { pullRequest { number } } }'
      : 'mutation($id: ID!) { enablePullRequestAutoMerge(input: {pullRequestId: $id}) { pullRequest { number } } }'
    const r = await this.graphql.request('Enabling auto-merge', 'POST', '', {
      query,
      variables: method ? { id: pull.nodeId, method: GRAPHQL_METHOD[method] } : { id: pull.nodeId }
    })
    if (!isRecord(r.body)) throw shapeError(r, 'a GraphQL answer object was expected')
    const errors = Array.isArray(r.body.errors) ? r.body.errors : []
    if (errors.length > 0) {
      const text = errors
        .map(e => (isRecord(e) && typeof e.message === 'string' ? e.message : JSON.stringify(e)))
        .join('; ')
      const hint = AUTO_MERGE_HINTS.find(([re]) => re.test(text))?.[1](pull.base)
      throw new AutoMergeRefusal(
        `Enabling auto-merge failed: ${text}${hint ? `: ${hint}` : '. Auto-merge needs "Allow auto-merge" in the repository settings and a token that may merge (a PAT or app token; the automatic token of a workflow may not).'}`
      )
    }
    need(r, r.body, 'data.enablePullRequestAutoMerge.pullRequest', 'object')
    return method
  }

  /**
   * Pages through the comments (docs.github.com/rest/issues/comments#list-issue-comments: `per_page` up to 100,
   * oldest first), following the `rel="next"` Link GitHub sends while there are more.
   */
  async listComments(number: number): Promise<IssueComment[]> {
    const out: IssueComment[] = []
    for (let page = 1; page <= 100; page++) {
      const query = new URLSearchParams({ per_page: '100', page: String(page) })
      const r = await this.api.request(
        'Listing the pull request comments',
        'GET',
        `${this.path}/issues/${number}/comments?${query.toString()}`
      )
      const list = needList(r)
      out.push(...list.map((c, i) => readComment(r, c, `comment ${out.length + i + 1}`)))
      if (!/rel="next"/.test(r.headers.get('link') ?? '') || list.length === 0) break
    }
    return out
  }
}
