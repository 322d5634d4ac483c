import { storePathName } from '../nix/names'
import { LockedInput } from '../nix/lock'
import { BisectReport, BrokenHost, HeldBackInput } from '../types'
import { inline } from './escape'
import { codeSpan, commandSpan } from './sections'

function rev(l?: LockedInput): string {
  const id = l?.rev ? l.rev.slice(0, 12) : l?.narHash ? l.narHash.replace(/^sha256-/, '').slice(0, 12) : '–'
  return codeSpan(id)
}

/** A flake attribute path segment: bare when Nix reads it bare, else quoted. */
function attr(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_'-]*$/.test(name) ? name : JSON.stringify(name)
}

function how(h: BrokenHost): string {
  const others = h.others.map(o => inline(o)).join(', ')
  switch (h.kind) {
    case 'together':
      return ` (needs several inputs together: with ${others})`
    case 'each':
      return ` (${others} ${h.others.length === 1 ? 'breaks' : 'break'} it too, each on its own)`
    case 'unexplained':
      return ' (not narrowed down: needs several inputs together, every changed input is held back for it)'
    default:
      return ''
  }
}

function failure(h: BrokenHost): string {
  if (h.failedDrvs.length > 0)
    return `fails to build ${h.failedDrvs.map(d => codeSpan(storePathName(d).replace(/\.drv$/, ''))).join(', ')}`
  return h.error ? inline(h.error, 200) : 'fails'
}

/** The command that builds the host with this input at its new revision, from the pull request's branch. */
function reproduce(i: HeldBackInput, host: string, flakeRef: string): string | undefined {
  const toplevel = `nix build ${flakeRef}#nixosConfigurations.${attr(host)}.config.system.build.toplevel`
  if (!i.heldBack) return `${toplevel}`
  if (!i.newRef) return undefined
  return `${toplevel} --override-input ${i.input} '${i.newRef}'`
}

function bisectLine(i: HeldBackInput, b: BisectReport): string {
  const hosts = b.hosts.map(h => inline(h)).join(', ')
  const builds = `${b.steps.length} build${b.steps.length === 1 ? '' : 's'}`
  if (b.error) return `Bisect: not run (${inline(b.error, 200)}).`
  if (b.firstBad) {
    return `First bad commit of ${inline(i.input)} for ${hosts}: ${codeSpan(b.firstBad.rev.slice(0, 12))} ${inline(b.firstBad.subject, 160)} (${b.commits} commits, ${builds}).`
  }
  return `Bisect of ${inline(i.input)} for ${hosts} narrowed ${b.commits} commits to ${b.remaining ?? '?'} after ${builds} (the bound): the first bad commit is after ${codeSpan((b.good ?? '').slice(0, 12))} and at or before ${codeSpan((b.bad ?? '').slice(0, 12))}.`
}

/**
 * The "Held back" section (or, with `hold-back: none`, "Inputs that break hosts"): each input that breaks hosts,
 * its old and new revision, the hosts and the derivation that fails, a command that reproduces it, and what a
 * bisection found.
 */
export function heldBackLines(
  inputs: HeldBackInput[] | undefined,
  flakeRef = '.',
  nothingLeft = false
): string[] {
  if (!inputs || inputs.length === 0) return []
  const held = inputs.filter(i => i.heldBack)
  const out = ['', held.length > 0 ? `### Held back (${held.length})` : '### Inputs that break hosts', '']
  if (held.length > 0) {
    out.push(
      nothingLeft
        ? 'Every changed input breaks a host: nothing is left to update, so no pull request is opened.'
        : 'The pull request updates every other input; these stay at their old revision because the update breaks hosts with them.',
      ''
    )
  }
  for (const i of inputs) {
    out.push(`- **${inline(i.input)}** ${rev(i.old)} → ${rev(i.new)}`)
    for (const h of i.hosts) {
      const cmd = reproduce(i, h.host, flakeRef)
      out.push(
        `  - ${inline(h.host)}: ${failure(h)}${how(h)}${cmd ? `. Reproduce: ${commandSpan(cmd)}` : ''}`
      )
    }
    if (i.bisect) out.push(`  - ${bisectLine(i, i.bisect)}`)
  }
  return out
}
