/**
 * Evaluation warnings from Nix's stderr. NixOS's `config.warnings` and nixpkgs' `lib.warn` reach stderr in
 * several shapes: `trace: warning: …` (Nix 2.8 and older nixpkgs), `trace: evaluation warning: …` (newer nixpkgs
 * on a Nix without `builtins.warn`), `evaluation warning: …` (`builtins.warn`, Nix 2.23+ and Lix). A message may
 * span several lines; Nix 2.23+ indents the continuation lines under the message.
 */

/** Printed (with `builtins.trace`) before and after each host is evaluated, to attribute what it prints. */
export const HOST_MARKER = 'nixos-fleet-update:host'
export const END_MARKER = 'nixos-fleet-update:end'

/** Control sequences: Nix strips them when stderr is not a terminal, but a wrapper may not. */
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)/g

/** A line that starts a new message of Nix's own: anything after a warning that is not one of these continues it. */
const NIX_LINE = /^(trace|warning|evaluation warning|error|info|notice|debug): /

const WARNING = /^(?:trace: (?:evaluation warning|warning): |evaluation warning: )(.*)$/
const MARKER = new RegExp(`^trace: (${HOST_MARKER}|${END_MARKER}) ("(?:[^"\\\\]|\\\\.)*")$`)

export interface EvalWarning {
  text: string
  /** The host being evaluated when Nix printed it; undefined outside any host's markers. */
  host?: string
}

/** Every evaluation warning in `stderr`, in order, with the host whose markers surround it. */
export function parseEvalWarnings(stderr: string): EvalWarning[] {
  const out: EvalWarning[] = []
  let host: string | undefined
  let current: { lines: string[]; indent: number; host?: string } | undefined
  const flush = (): void => {
    if (!current) return
    const text = current.lines.join('\n').trim()
    if (text) out.push({ text, host: current.host })
    current = undefined
  }
  for (const raw of stderr.replace(ANSI, '').split('\n')) {
    const line = raw.replace(/\r$/, '')
    const marker = MARKER.exec(line)
    if (marker) {
      flush()
      let name: unknown
      try {
        name = JSON.parse(marker[2])
      } catch {
        name = undefined
      }
      host = marker[1] === HOST_MARKER && typeof name === 'string' ? name : undefined
      continue
    }
    const w = WARNING.exec(line)
    if (w) {
      flush()
      // Only `evaluation warning:` (Nix 2.23+) indents its continuation lines; a trace prints them verbatim.
      const indent = line.startsWith('trace: ') ? 0 : line.length - w[1].length
      current = { lines: [w[1].trimEnd()], indent, host }
      continue
    }
    if (current && line.trim() !== '' && !NIX_LINE.test(line)) {
      // Nix 2.23+ indents continuation lines to the width of the `evaluation warning: ` prefix.
      const indent = /^ */.exec(line)?.[0].length ?? 0
      current.lines.push(indent >= current.indent ? line.slice(current.indent) : line.slice(indent))
      continue
    }
    flush()
  }
  flush()
  return out
}

/**
 * Warnings per host from one evaluation's stderr. Warnings printed outside every host's markers (while the flake
 * itself is evaluated) go to each host in `all`: they are printed once per process, whichever host comes first.
 */
export function warningsByHost(stderr: string, all: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>(all.map(h => [h, []]))
  for (const w of parseEvalWarnings(stderr)) {
    const targets = w.host !== undefined && out.has(w.host) ? [w.host] : all
    for (const h of targets) {
      const list = out.get(h) as string[]
      if (!list.includes(w.text)) list.push(w.text)
    }
  }
  return out
}

/** One warning and the hosts that print it. */
export interface WarningGroup {
  text: string
  hosts: string[]
}

/** Warnings that hosts print after the update and did not before, and those that went away, each listed once. */
export function compareWarnings(hosts: { host: string; before?: string[]; after?: string[] }[]): {
  new: WarningGroup[]
  gone: WarningGroup[]
} {
  const add = (groups: Map<string, string[]>, text: string, host: string): void => {
    groups.set(text, [...(groups.get(text) ?? []), host])
  }
  const added = new Map<string, string[]>()
  const gone = new Map<string, string[]>()
  for (const h of hosts) {
    // A phase that was not evaluated says nothing about what went away or came.
    if (!h.before || !h.after) continue
    for (const t of h.after) if (!h.before.includes(t)) add(added, t, h.host)
    for (const t of h.before) if (!h.after.includes(t)) add(gone, t, h.host)
  }
  const list = (m: Map<string, string[]>): WarningGroup[] =>
    [...m].map(([text, hs]) => ({ text, hosts: hs })).sort((a, b) => b.hosts.length - a.hosts.length)
  return { new: list(added), gone: list(gone) }
}
