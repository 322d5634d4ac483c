/** A pull request as the action needs it, the same from both forges. */
export interface PullRequest {
  number: number
  url: string
  title: string
  body: string
  state: 'open' | 'closed'
  head: string
  base: string
  /** GitHub's GraphQL id, for auto-merge. */
  nodeId?: string
}

export interface NewPull {
  head: string
  base: string
  title: string
  body: string
}

/** A comment of an issue or pull request (both forges keep a pull request's conversation as issue comments). */
export interface IssueComment {
  id: number
  /** The comment's web address (`…#issuecomment-ID`). */
  url: string
  body: string
}
