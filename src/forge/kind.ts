/** The two forge APIs the action speaks; Gitea speaks Forgejo's. */
export type ForgeKind = 'github' | 'forgejo'

/** The forge of the runner: forgejo-runner sets FORGEJO_ACTIONS (runner 7 and later) or GITEA_ACTIONS. */
export function detectForge(env: NodeJS.ProcessEnv): ForgeKind {
  return env.FORGEJO_ACTIONS === 'true' || (env.GITEA_ACTIONS ?? '') !== '' ? 'forgejo' : 'github'
}
