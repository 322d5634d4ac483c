/**
 * What GitHub and Forgejo take and answer alike under `/repos/OWNER/REPO`: a pull request's comments, commit
 * statuses and the compare page. Both forges' clients extend this.
 */
import { NewStatus, compareLink, repoPath } from './forge'
import { ApiClient } from './http'
import { IssueComment } from './pull'
import { readComment } from './shape'

export abstract class RestForge {
  protected constructor(
    protected readonly api: ApiClient,
    protected readonly owner: string,
    protected readonly repo: string,
    protected readonly serverUrl: string
  ) {}

  protected get path(): string {
    return repoPath(this.owner, this.repo)
  }

  /** `POST …/issues/{number}/comments` with {body}: 201 and the comment (both forges' REST references). */
  async createComment(number: number, body: string): Promise<IssueComment> {
    const r = await this.api.request(
      'Commenting on the pull request',
      'POST',
      `${this.path}/issues/${number}/comments`,
      {
        body
      }
    )
    return readComment(r, r.body)
  }

  /** `PATCH …/issues/comments/{id}` with {body}: 200 and the edited comment. */
  async editComment(id: number, body: string): Promise<IssueComment> {
    const r = await this.api.request('Editing the comment', 'PATCH', `${this.path}/issues/comments/${id}`, {
      body
    })
    return readComment(r, r.body)
  }

  /**
   * `POST …/statuses/{sha}` with {state, target_url, description, context}: 201. GitHub's "Create a commit status"
   * (states error, failure, pending, success) and Forgejo's CreateStatusOption take the same body, although the
   * status Forgejo answers with names the state `status` (structs.CommitStatus).
   */
  async postStatus(sha: string, status: NewStatus): Promise<void> {
    await this.api.request('Posting a commit status', 'POST', `${this.path}/statuses/${sha}`, {
      state: status.state,
      context: status.context,
      description: status.description,
      ...(status.targetUrl ? { target_url: status.targetUrl } : {})
    })
  }

  /** The web page comparing the branches; both forges use `/OWNER/REPO/compare/BASE...HEAD`. */
  compareUrl(base: string, head: string): string {
    return compareLink(this.serverUrl, this.owner, this.repo, base, head)
  }
}
