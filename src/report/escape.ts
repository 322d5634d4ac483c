import { defuse } from '../inert'

export { defuse }

/** Control characters (but tab and newline) and the replacement character left by invalid UTF-8. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g

/** Text from Nix, a flake or a log, made plain: no control characters, no terminal escapes. */
export function clean(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '').replace(CONTROL, '')
}

/**
 * Inline Markdown text (a table cell, a list item, a summary line): Markdown and HTML characters are escaped, and
 * references, mentions and autolinks are defused (see defuse), including inside code spans, which Forgejo still
 * scans for references.
 */
export function inline(text: string, max = 200): string {
  let t = clean(text).replace(/\s+/g, ' ').trim()
  if (t.length > max) t = `${t.slice(0, max - 1)}…`
  // Defused before the HTML escaping, whose `&#124;` must stay an entity.
  return defuse(t)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '&#124;')
    .replace(/([\\`*_[\]~])/g, '\\$1')
}

/** A fenced code block whose fence is longer than any backtick run inside, so the text cannot close it. */
export function codeBlock(text: string, info = 'text'): string {
  const body = clean(text).replace(/\s+$/, '')
  let longest = 2
  for (const m of body.matchAll(/`+/g)) longest = Math.max(longest, m[0].length)
  const fence = '`'.repeat(longest + 1)
  return `${fence}${info}\n${body}\n${fence}`
}

/** Long lines of logs cut to a width, so one line cannot take the whole body. */
export function clipLines(text: string, width = 300): string {
  return text
    .split('\n')
    .map(l => (l.length > width ? `${l.slice(0, width - 1)}…` : l))
    .join('\n')
}
