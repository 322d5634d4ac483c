/** U+2060 WORD JOINER: invisible, and no forge's reference or link pattern matches across it. */
const WJ = '\u2060'

/**
 * Text from upstream (a flake, a build log, a host name) made inert for both forges' text processing: a word joiner
 * after `#`, `!` before a digit and `GH-` before a digit (issue and pull request references, `owner/repo#3`,
 * Forgejo's `!3`), after `@` (mentions, teams, `owner/repo@sha`, e-mail autolinks), inside `://` and `www.` (URL
 * autolinks, and with them full issue URLs). A closing keyword (`fixes`, `closes`, `resolves`, …) acts only on a
 * reference that follows it, so with no live reference left it closes nothing.
 * Fenced code blocks need none of this: neither forge links or parses references there. Commit messages do:
 * a closing keyword there closes the issue once the commit reaches the default branch.
 */
export function defuse(text: string): string {
  return text
    .replace(/#/g, `#${WJ}`)
    .replace(/!(?=\d)/g, `!${WJ}`)
    .replace(/\b(GH-)(?=\d)/gi, `$1${WJ}`)
    .replace(/@/g, `@${WJ}`)
    .replace(/:\/\//g, `:${WJ}//`)
    .replace(/\b(www)\./gi, `$1${WJ}.`)
}
