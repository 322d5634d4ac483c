import { ForgeKind } from '../forge/kind'

/**
 * The web page of this workflow run, where the job summary holds the full report. GitHub addresses a run by
 * GITHUB_RUN_ID; Forgejo's run pages take the repository's own run index (`/{owner}/{repo}/actions/runs/{index}`),
 * which its runner passes as GITHUB_RUN_NUMBER, while its GITHUB_RUN_ID is an instance-wide id that names another
 * run or none. Without the number it needs, there is no link rather than a wrong one.
 */
export function runUrl(env: NodeJS.ProcessEnv, forge: ForgeKind): string | undefined {
  const server = env.GITHUB_SERVER_URL
  const repo = env.GITHUB_REPOSITORY
  const id = forge === 'forgejo' ? env.GITHUB_RUN_NUMBER : env.GITHUB_RUN_ID
  if (!server || !repo || !id || !/^\d+$/.test(id)) return undefined
  return `${server.replace(/\/+$/, '')}/${repo}/actions/runs/${id}`
}
