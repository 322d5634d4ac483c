/**
 * The one redactor of URLs and of texts that may quote them (store URLs, remotes, API URLs): whatever could be a
 * credential becomes `***`.
 */

/** Query parameters whose value is a credential or names one. */
const SECRET_PARAM = /secret|token|passw|auth|credential/i

/** The parts of a URL that must never reach a log: user information, and secret-looking parameters. */
export function urlSecrets(url: string): string[] {
  const secrets: string[] = []
  // scheme://user:secret@host/…, or git's scp-style user:secret@host:path
  const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^/?#@]*)@/i.exec(url) ?? /^([^/@:]+:[^/@]*)@[^/:]+:/.exec(url)
  if (userinfo && userinfo[1] !== '') {
    // An ssh user name alone (ssh-ng://deploy@host) is no secret; a password is, and over HTTP or S3 a user
    // name is often a token.
    const [user, password] = userinfo[1].split(/:(.*)/s)
    if (password !== undefined && password !== '') secrets.push(password, userinfo[1])
    else if (!/^ssh/i.test(url) || !/^[a-z_][a-z0-9_.-]{0,31}$/i.test(user)) secrets.push(user)
  }
  const query = url.indexOf('?')
  if (query >= 0) {
    for (const pair of url.slice(query + 1).split('&')) {
      const [name, value] = pair.split(/=(.*)/s)
      if (value && SECRET_PARAM.test(name)) secrets.push(value)
    }
  }
  return secrets.filter(s => s.length > 0)
}

/** A URL fit for messages: credentials replaced by `***`. */
export function redactUrl(url: string): string {
  return scrub(url, url)
}

/** `text` with every credential of `url` replaced by `***`. */
export function scrub(text: string, url: string): string {
  let out = text
  // Longest first, so that `user:password` goes before `password`.
  for (const s of urlSecrets(url).sort((a, b) => b.length - a.length)) out = out.split(s).join('***')
  return out
}
