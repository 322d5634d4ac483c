import { Forge, IssueComment } from './forge'

/** What happened to the comment: made, edited to the new text, or already saying it. */
export type CommentOperation = 'created' | 'updated' | 'unchanged'

/**
 * Keeps one comment on pull request `number` current: the comment holding `marker` (a hidden HTML comment, never
 * shown) is edited in place, or created when there is none. The author is not compared: a token of another account
 * (a bot's instead of the workflow's) still finds and edits it, where the forge lets it.
 */
export async function upsertComment(
  forge: Forge,
  number: number,
  marker: string,
  text: string
): Promise<{ comment: IssueComment; operation: CommentOperation }> {
  const body = `${marker}\n${text}`
  const existing = (await forge.listComments(number)).find(c => c.body.includes(marker))
  if (!existing) return { comment: await forge.createComment(number, body), operation: 'created' }
  if (existing.body === body) return { comment: existing, operation: 'unchanged' }
  return { comment: await forge.editComment(existing.id, body), operation: 'updated' }
}
