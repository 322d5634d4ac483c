import { randomBytes } from 'crypto'
import { InputError, errorMessage } from '../errors'
import { ApiCommitter } from '../forge/api-commit'
import { ForgeKind } from '../forge/kind'
import { Git } from '../git/git'

/** Checks `commit-via-api` against the forge and the other signing input. */
export function checkCommitViaApi(
  commitViaApi: boolean,
  forge: ForgeKind,
  signingKey: string | undefined
): void {
  if (!commitViaApi) return
  if (forge !== 'github') {
    throw new InputError(
      "Input 'commit-via-api' works on GitHub only: Forgejo has no API that commits on a branch the way createCommitOnBranch does (use 'signing-key' there)"
    )
  }
  if (signingKey) {
    throw new InputError(
      "Inputs 'commit-via-api' and 'signing-key' both sign the commit: GitHub signs what it commits through its API, so leave 'signing-key' empty"
    )
  }
}

export interface ApiCommitInput {
  /** The commit the update is based on (the checked-out one, on the base branch). */
  parent: string
  /** Paths from the repository's root, and what each holds in the commit. */
  files: { path: string; content: string }[]
  message: string
  /** The remote the branch is fetched from. */
  remote: string
}

/**
 * Has the forge make the commit (GitHub signs it): on a branch of its own created at `parent`, so that the update
 * branch moves only by the caller's lease-protected push, never through a state where it points into the base
 * branch. The commit is fetched and checked (its parent, and that only `files` changed); the temporary branch is
 * removed again, and a failure to remove it is a warning. Returns the commit's id, now in the local repository.
 */
export async function commitThroughApi(
  git: Git,
  forge: ApiCommitter,
  input: ApiCommitInput
): Promise<{ commit: string; warnings: string[] }> {
  const warnings: string[] = []
  const scratch = `nixos-fleet-update/api-commit-${randomBytes(6).toString('hex')}`
  const [headline, ...rest] = input.message.split('\n')
  await forge.createBranch(scratch, input.parent)
  try {
    const oid = await forge.commitFile({
      branch: scratch,
      expectedHeadOid: input.parent,
      files: input.files,
      headline,
      body: rest.join('\n').trim()
    })
    await git.fetchBranches(input.remote, [scratch], false)
    const fetched = await git.output(['rev-parse', `refs/nixos-fleet-update/${scratch}`])
    const parents = (await git.output(['rev-list', '--parents', '-n', '1', fetched])).split(' ').slice(1)
    const changed = (await git.output(['diff', '--name-only', input.parent, fetched]))
      .split('\n')
      .filter(Boolean)
    if (
      fetched !== oid ||
      parents.join(' ') !== input.parent ||
      changed.join() !==
        input.files
          .map(f => f.path)
          .sort()
          .join()
    ) {
      throw new Error(
        `The commit made through the API is not the one asked for: ${oid} (fetched ${fetched}, parents ${parents.join(' ') || 'none'}, changed ${changed.join(', ') || 'nothing'})`
      )
    }
    return { commit: oid, warnings }
  } finally {
    try {
      await forge.deleteBranch(scratch)
    } catch (e) {
      warnings.push(
        `The temporary branch '${scratch}' was not deleted; delete it by hand: ${errorMessage(e)}`
      )
    }
    await git.exec(['update-ref', '-d', `refs/nixos-fleet-update/${scratch}`])
  }
}
