import { FleetState, HostDeployment } from '../forge/fleet-state'
import { inline } from './escape'

/** `2026-12-01 05:12 UTC` */
function when(iso: string): string {
  const t = Date.parse(iso)
  return Number.isFinite(t) ? `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'unknown'
}

function deployed(h: HostDeployment, commitsRead: number): string {
  const sha = `\`${h.sha.slice(0, 7)}\``
  if (h.behind === 0) return `${sha} (tip)`
  if (h.behind === undefined) return `${sha} (more than ${commitsRead} behind)`
  return `${sha} (${h.behind} behind)`
}

function outcome(h: HostDeployment): string {
  const icon = h.failed ? '❌' : h.state === 'success' ? '✅' : '⏳'
  const parts = [`${icon} ${inline(h.description || h.state, 140)}`]
  if (h.stale) parts.push(`⚠️ stale: ${inline(h.staleReason ?? '')}`)
  return parts.join(' · ')
}

/**
 * The "Fleet state" section: what each host last reported (commit statuses posted by the NixOS module's
 * reportStatus) against the base branch's recent commits. Hosts' own words are upstream text: escaped and defused.
 */
export function fleetStateLines(s: FleetState, maxRows = Infinity): string[] {
  const out = ['', '### Fleet state', '']
  if (s.hosts.length === 0) {
    out.push(
      `No host has reported a deployment on the last ${s.commits.length} commits of \`${inline(s.base)}\` (hosts report with \`services.fleet-auto-upgrade.reportStatus\`).`
    )
    return out
  }
  const stale = s.hosts.filter(h => h.stale).length
  const failed = s.hosts.filter(h => h.failed).length
  const counts = [`${s.hosts.length} reporting`]
  if (failed > 0) counts.push(`${failed} failed`)
  if (stale > 0) counts.push(`${stale} stale`)
  if (s.neverReported.length > 0) counts.push(`${s.neverReported.length} never reported`)
  out.push(`What each host last reported on \`${inline(s.base)}\`: ${counts.join(', ')}.`, '')
  out.push('| host | deployed | reported | outcome |', '|---|---|---|---|')
  // Failed and stale hosts first: those are the ones to look at.
  const order = (h: HostDeployment): number => (h.failed ? 0 : h.stale ? 1 : 2)
  const rows = [...s.hosts].sort((a, b) => order(a) - order(b) || a.host.localeCompare(b.host))
  const shown = Number.isFinite(maxRows) ? rows.slice(0, maxRows) : rows
  for (const h of shown) {
    out.push(`| ${inline(h.host)} | ${deployed(h, s.commits.length)} | ${when(h.at)} | ${outcome(h)} |`)
  }
  if (shown.length < rows.length)
    out.push('', `_${rows.length - shown.length} more hosts in the report-json file._`)
  if (s.neverReported.length > 0) {
    out.push('', `Never reported: ${s.neverReported.map(h => inline(h)).join(', ')}.`)
  }
  return out
}

/** Hosts flagged stale, and hosts whose last report is a failed upgrade (the outputs). */
export const staleHosts = (s?: FleetState): string[] => s?.hosts.filter(h => h.stale).map(h => h.host) ?? []
export const failedUpgrades = (s?: FleetState): string[] =>
  s?.hosts.filter(h => h.failed).map(h => h.host) ?? []
