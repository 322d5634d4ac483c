import { Forge } from './forge'
import { ForgejoForge } from './forgejo'
import { GitHubForge } from './github'
import { HttpOptions } from './http'
import { ForgeKind } from './kind'
import { Log } from '../log/log'

/** What connecting to the forge takes from the settings. */
export interface ForgeSettings {
  apiUrl?: string
  forge: ForgeKind
  token: string
}

/** Where the forge's API is and which repository to act on, from the inputs and the runner's environment. */
export function forgeEndpoints(
  settings: Pick<ForgeSettings, 'apiUrl' | 'forge'>,
  env: NodeJS.ProcessEnv
): { apiUrl: string; serverUrl: string; graphqlUrl: string; owner: string; repo: string } {
  const repository = env.GITHUB_REPOSITORY ?? ''
  const m = /^([^/\s]+)\/([^/\s]+)$/.exec(repository)
  if (!m) {
    throw new Error(
      `GITHUB_REPOSITORY is ${repository ? `"${repository}"` : 'not set'}: publishing needs the repository as OWNER/NAME`
    )
  }
  const serverUrl = (
    env.GITHUB_SERVER_URL || (settings.forge === 'github' ? 'https://github.com' : '')
  ).replace(/\/+$/, '')
  let apiUrl = settings.apiUrl || env.GITHUB_API_URL?.replace(/\/+$/, '')
  if (!apiUrl && settings.forge === 'forgejo' && serverUrl) apiUrl = `${serverUrl}/api/v1`
  if (!apiUrl && settings.forge === 'github') apiUrl = 'https://api.github.com'
  if (!apiUrl) throw new Error("No API URL: set the input 'api-url' (e.g. https://codeberg.org/api/v1)")
  const graphqlUrl =
    env.GITHUB_GRAPHQL_URL ||
    (/\/api\/v3$/.test(apiUrl) ? apiUrl.replace(/\/api\/v3$/, '/api/graphql') : `${apiUrl}/graphql`)
  return {
    apiUrl,
    serverUrl: serverUrl || apiUrl.replace(/\/api\/v1$/, ''),
    graphqlUrl,
    owner: m[1],
    repo: m[2]
  }
}

/** The forge client chosen by `forge` (or detected): GitHub's REST and GraphQL, or Forgejo's /api/v1 only. */
export function makeForge(
  settings: ForgeSettings,
  env: NodeJS.ProcessEnv,
  log: Log,
  options: HttpOptions = {}
): Forge {
  if (!settings.token) throw new Error("Input 'token' is empty: opening the pull request needs a token")
  const e = forgeEndpoints(settings, env)
  return settings.forge === 'forgejo'
    ? new ForgejoForge(e.apiUrl, settings.token, e.owner, e.repo, e.serverUrl, log, options)
    : new GitHubForge(e.apiUrl, settings.token, e.owner, e.repo, e.serverUrl, e.graphqlUrl, options)
}
