import { ForgeKind } from './kind'
import { MergeMethod, MergeMethodSetting } from './merge'
import { IssueComment, NewPull, PullRequest } from './pull'

export type { IssueComment, NewPull, PullRequest } from './pull'

/** An account the forge would not take as a reviewer or assignee, and why. */
export interface PersonRefusal {
  name: string
  reason: string
}

/** A commit status to create. */
export interface NewStatus {
  /** The states both forges accept (Forgejo also has `warning`). */
  state: 'pending' | 'success' | 'error' | 'failure'
  context: string
  /** GitHub keeps 140 characters. */
  description: string
  /** A page about the status (the workflow run). */
  targetUrl?: string
}

/** The forge operations of publishing: one interface, a GitHub and a Forgejo implementation. */
export interface Forge {
  readonly kind: ForgeKind
  /** The open pull request from `head` into `base`, if there is one. */
  findOpenPull(head: string, base: string): Promise<PullRequest | undefined>
  /** Creates the pull request; when one already exists (a race with another run), returns that one instead. */
  createPull(pull: NewPull): Promise<{ pull: PullRequest; created: boolean }>
  updatePull(number: number, title: string, body: string): Promise<PullRequest>
  /** Adds labels by name; names the forge does not know give a warning, not an error. */
  addLabels(number: number, names: string[]): Promise<string[]>
  /**
   * Asks the forge to merge once checks pass, with the method asked for (`auto`: the repository's default or
   * first allowed one); returns the method sent, undefined when the forge's default applies. A refusal throws
   * AutoMergeRefusal; a method the repository forbids throws MergeMethodError.
   */
  enableAutoMerge(pull: PullRequest, method: MergeMethodSetting): Promise<MergeMethod | undefined>
  /**
   * Requests reviews from these accounts; returns the names the forge refused, with its reason (the others are
   * requested). Throws only when the request as a whole failed (a token without the right, the forge down).
   */
  requestReviewers(number: number, names: string[]): Promise<PersonRefusal[]>
  /** Adds these accounts to the pull request's assignees, keeping the ones it has; returns the refused names. */
  addAssignees(number: number, names: string[]): Promise<PersonRefusal[]>
  /** Every comment of issue or pull request `number`, oldest first. */
  listComments(number: number): Promise<IssueComment[]>
  createComment(number: number, body: string): Promise<IssueComment>
  editComment(id: number, body: string): Promise<IssueComment>
  /** Creates a commit status on `sha` (a later status of the same context replaces it in the forge's view). */
  postStatus(sha: string, status: NewStatus): Promise<void>
  /** A web page comparing the branches, for when no pull request could be opened. */
  compareUrl(base: string, head: string): string
}

/** `/repos/OWNER/REPO`: the same path prefix on GitHub and Forgejo (after the API base). */
export function repoPath(owner: string, repo: string): string {
  return `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}`
}

/** The web page comparing two branches; both forges use `/OWNER/REPO/compare/BASE...HEAD`. */
export function compareLink(
  serverUrl: string,
  owner: string,
  repo: string,
  base: string,
  head: string
): string {
  const ref = (name: string): string => name.split('/').map(encodeURIComponent).join('/')
  return `${serverUrl}/${owner}/${repo}/compare/${ref(base)}...${ref(head)}`
}

/** The forge refused auto-merge for a reason another attempt will not change; the message says what to fix. */
export class AutoMergeRefusal extends Error {}
