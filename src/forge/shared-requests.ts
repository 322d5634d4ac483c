/**
 * Requests GitHub and Forgejo take and answer alike: a pull request's comments and commit statuses. Both forges'
 * classes delegate to these with their own API client and `/repos/OWNER/REPO` path.
 */
import { NewStatus } from './forge'
import { ApiClient } from './http'
import { IssueComment } from './pull'
import { readComment } from './shape'

/** `POST {repo}/issues/{number}/comments` with {body}: 201 and the comment (both forges' REST references). */
export async function createComment(
  api: ApiClient,
  repo: string,
  number: number,
  body: string
): Promise<IssueComment> {
  const r = await api.request('Commenting on the pull request', 'POST', `${repo}/issues/${number}/comments`, {
    body
  })
  return readComment(r, r.body)
}

/** `PATCH {repo}/issues/comments/{id}` with {body}: 200 and the edited comment. */
export async function editComment(
  api: ApiClient,
  repo: string,
  id: number,
  body: string
): Promise<IssueComment> {
  const r = await api.request('Editing the comment', 'PATCH', `${repo}/issues/comments/${id}`, { body })
  return readComment(r, r.body)
}

/**
 * `POST {repo}/statuses/{sha}` with {state, target_url, description, context}: 201. GitHub's "Create a commit
 * status" (states error, failure, pending, success) and Forgejo's CreateStatusOption take the same body, although
 * the status Forgejo answers with names the state `status` (structs.CommitStatus).
 */
export async function postStatus(
  api: ApiClient,
  repo: string,
  sha: string,
  status: NewStatus
): Promise<void> {
  await api.request('Posting a commit status', 'POST', `${repo}/statuses/${sha}`, {
    state: status.state,
    context: status.context,
    description: status.description,
    ...(status.targetUrl ? { target_url: status.targetUrl } : {})
  })
}
