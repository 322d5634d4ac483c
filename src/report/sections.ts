import { LockChange } from '../nix/lock'
import { BUILT_ATTRIBUTE, ConfigurationSet } from '../nix/configurations'
import { PendingChange } from '../nix/received'
import { UnitChanges } from '../nix/units'
import { clean, inline } from './escape'
import { HostReport } from './model'

/** The unit lists in the order the report shows them, with their labels. */
export const UNIT_ACTIONS: { key: keyof UnitChanges; label: string }[] = [
  { key: 'restart', label: 'restart' },
  { key: 'reload', label: 'reload' },
  { key: 'start', label: 'start' },
  { key: 'stop', label: 'stop' },
  { key: 'notRestarted', label: 'changed, not restarted' }
]

/** `restart: nginx.service, sshd.service · reload: …`, or undefined when `switch` touches no unit. */
export function unitLine(u: UnitChanges | undefined): string | undefined {
  if (!u) return undefined
  const parts = UNIT_ACTIONS.filter(a => u[a.key].length > 0).map(
    a => `${a.label}: ${u[a.key].map(n => inline(n)).join(', ')}`
  )
  return parts.length > 0 ? parts.join(' · ') : undefined
}

/** Unit actions that several hosts share (`restart sshd.service`), each with its hosts, most hosts first. */
export function sharedUnitChanges(hosts: HostReport[]): { text: string; hosts: string[] }[] {
  const by = new Map<string, string[]>()
  for (const h of hosts) {
    for (const a of UNIT_ACTIONS) {
      for (const unit of h.units?.[a.key] ?? []) {
        const key = `${a.label}: ${unit}`
        by.set(key, [...(by.get(key) ?? []), h.host])
      }
    }
  }
  return [...by]
    .filter(([, list]) => list.length >= 2)
    .sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1))
    .map(([text, list]) => ({ text, hosts: list }))
}

/** `24.05` from a `nixos-version` such as `24.05.20240612.cc54fb4`; `6.6` from a kernel's `6.6.31`. */
export function majorMinor(version?: string): string | undefined {
  return /^(\d+\.\d+)/.exec(version ?? '')?.[1]
}

/**
 * Changes an admin must see before anything else: the NixOS release and the kernel's major or minor version,
 * grouped by change (`24.05 → 24.11`) with the hosts that get it.
 */
export function systemFlags(
  hosts: HostReport[]
): { what: 'release' | 'kernel'; change: string; hosts: string[] }[] {
  const out: { what: 'release' | 'kernel'; change: string; hosts: string[] }[] = []
  const group = (what: 'release' | 'kernel', pick: (h: HostReport) => [string?, string?]): void => {
    const by = new Map<string, string[]>()
    for (const h of hosts) {
      const [from, to] = pick(h)
      if (!from || !to || from === to) continue
      const key = `${from} → ${to}`
      by.set(key, [...(by.get(key) ?? []), h.host])
    }
    for (const [change, list] of by) out.push({ what, change, hosts: list })
  }
  group('release', h => [majorMinor(h.release?.before), majorMinor(h.release?.after)])
  group('kernel', h => [majorMinor(h.kernel?.before), majorMinor(h.kernel?.after)])
  return out
}

/** An inline code span that no backtick in `text` can close early. */
export function codeSpan(text: string): string {
  const body = clean(text).replace(/\s+/g, ' ')
  let longest = 0
  for (const m of body.matchAll(/`+/g)) longest = Math.max(longest, m[0].length)
  const fence = '`'.repeat(longest + 1)
  const pad = body.startsWith('`') || body.endsWith('`') ? ' ' : ''
  return `${fence}${pad}${body}${pad}${fence}`
}

/**
 * A command to copy: a code span when it holds nothing a forge could read as a reference or mention (the flake
 * attribute's `#` is followed by the output's name, never a number); otherwise escaped and defused text.
 */
export function commandSpan(c: string, set: ConfigurationSet = 'nixosConfigurations'): string {
  return /^[A-Za-z0-9 ._/"'+=:?&%-]*$/.test(c.replace(`#${set}.`, '')) ? codeSpan(c) : inline(c, 500)
}

/** A flake attribute path segment: bare when Nix reads it bare, else quoted. */
function attr(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_'-]*$/.test(name) ? name : JSON.stringify(name)
}

/** Commands that show a failure on one's own machine: build the system, read the failed derivations' logs. */
export function reproduceCommands(
  h: HostReport,
  flakeRef = '.',
  set: ConfigurationSet = 'nixosConfigurations'
): string[] {
  const failed = h.after && h.after.status !== 'built' ? h.after : h.before
  const cmds = [`nix build ${flakeRef}#${set}.${attr(h.host)}.${BUILT_ATTRIBUTE[set].join('.')}`]
  for (const drv of failed?.failedDrvs ?? []) cmds.push(`nix log ${drv}`)
  return cmds
}

/** What a regressed host would have received: the inputs that changed, by revision. */
export function inputChangesLine(changes: LockChange[]): string | undefined {
  if (changes.length === 0) return undefined
  const id = (l?: { rev?: string; narHash?: string }): string =>
    l?.rev ? l.rev.slice(0, 7) : l?.narHash ? l.narHash.replace(/^sha256-/, '').slice(0, 7) : '–'
  return changes.map(c => `${inline(c.input)} ${codeSpan(id(c.old))} → ${codeSpan(id(c.new))}`).join(', ')
}

/** Package versions shown for a regressed host before the rest are counted. */
const MAX_PENDING_SHOWN = 30

/** `openssl 3.0.13 → 3.0.14, curl 8.7.1 → 8.8.0`, or undefined when there is nothing to show. */
export function pendingLine(changes?: PendingChange[]): string | undefined {
  if (!changes || changes.length === 0) return undefined
  const shown = changes
    .slice(0, MAX_PENDING_SHOWN)
    .map(c => inline(`${c.name} ${c.before.join(', ')} → ${c.after.join(', ')}`))
  if (changes.length > MAX_PENDING_SHOWN) shown.push(`${changes.length - MAX_PENDING_SHOWN} more`)
  return shown.join(', ')
}

/** `Nix 2.8.0`, `Lix 2.91.1`, `Determinate Nix 3.6.2 (Nix 2.29.0)` from `nix --version`'s line. */
export function nixLabel(text: string): string {
  const m = /^nix \((.+?)\) (\S+)$/.exec(text.trim())
  if (!m) return text
  const [, impl, version] = m
  if (impl === 'Nix') return `Nix ${version}`
  if (/^Lix\b/.test(impl)) return `Lix ${version}`
  return `${impl} (Nix ${version})`
}

/** nvd's markers, explained once above the per-host detail. */
export const NVD_LEGEND =
  'Markers: `U` upgraded, `D` downgraded, `C` changed otherwise (another copy, versions side by side, or only ' +
  'the selection), `A` added, `R` removed; then `*` selected (in the system packages) before and after, ' +
  '`.` a dependency, `+` newly selected, `-` no longer selected.'
