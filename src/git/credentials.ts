import { Git } from './git'

/** The remote that the checkout is pushed to and the base branch fetched from. */
export const REMOTE = 'origin'

/**
 * Credentials for pushing: the checkout's own (an extraheader, a credential helper, a URL with a user, SSH) are
 * used as they are; otherwise the token, as an HTTP header passed through GIT_CONFIG_* variables (never on the
 * command line) and scoped to the remote's origin.
 */
export async function pushCredentials(
  git: Git,
  remoteUrl: string,
  token: string,
  mask: (secret: string) => void
): Promise<Record<string, string>> {
  let url: URL
  try {
    url = new URL(remoteUrl)
  } catch {
    return {} // scp-style SSH or a local path
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return {}
  if (url.username || url.password) return {}
  // Only settings that apply to this remote count: a helper configured for another host does not.
  for (const key of ['http.extraheader', 'credential.helper']) {
    const configured = await git.exec(['config', '--get-urlmatch', key, remoteUrl])
    if (configured.exitCode === 0 && configured.stdout.trim() !== '') return {}
  }
  if (!token) return {}
  const basic = Buffer.from(`x-access-token:${token}`).toString('base64')
  mask(basic)
  return {
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: `http.${url.origin}/.extraheader`,
    GIT_CONFIG_VALUE_0: `AUTHORIZATION: basic ${basic}`
  }
}
