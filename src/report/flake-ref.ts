import * as path from 'path'

/** The flake as named from the repository's root, for commands a reader runs in their checkout. */
export function flakeRef(flakeDir: string, env: NodeJS.ProcessEnv): string {
  const rel = path.relative(path.resolve(env.GITHUB_WORKSPACE || process.cwd()), flakeDir)
  return rel === '' ? '.' : `./${rel.split(path.sep).join('/')}`
}
