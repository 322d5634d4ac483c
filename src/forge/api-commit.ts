/** Commits made by the forge itself, which signs them: GitHub's GraphQL createCommitOnBranch. */
export interface ApiCommitter {
  /** Creates branch `name` at `sha` (REST `POST /repos/{o}/{r}/git/refs`); fails when it exists. */
  createBranch(name: string, sha: string): Promise<void>
  /** Deletes branch `name` (REST `DELETE /repos/{o}/{r}/git/refs/heads/{name}`). */
  deleteBranch(name: string): Promise<void>
  /**
   * Commits files on `branch`, which must point to `expectedHeadOid`; returns the new commit's id. The forge is
   * the committer and signs the commit.
   */
  commitFile(change: {
    branch: string
    expectedHeadOid: string
    files: { path: string; content: string }[]
    headline: string
    body: string
  }): Promise<string>
}

export function isApiCommitter(forge: unknown): forge is ApiCommitter {
  const f = forge as Partial<ApiCommitter> | null
  return (
    typeof f?.createBranch === 'function' &&
    typeof f.deleteBranch === 'function' &&
    typeof f.commitFile === 'function'
  )
}
