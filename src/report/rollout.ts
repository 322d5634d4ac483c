import { GateStatus, RolloutPlan, formatSoak } from '../rollout/gates'
import { inline } from './escape'

/** `2026-12-01 05:12 UTC` */
function when(iso: string | undefined): string {
  const t = iso === undefined ? NaN : Date.parse(iso)
  return Number.isFinite(t) ? `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')} UTC` : '—'
}

function hostList(hosts: string[]): string {
  return hosts.length === 0 ? '—' : hosts.map(h => inline(h)).join(', ')
}

/**
 * The "Rollout" section: per wave, the commit it deploys (the branch's newest for wave 0, the gated one above),
 * since when, and which of its hosts are done, waiting, failed or never reported; then the halt, if any, and the
 * statuses this run posted. Hosts' descriptions are upstream text: escaped and defused.
 */
export function rolloutLines(
  plan: RolloutPlan,
  /** `posted`: the statuses the forge took; undefined on a dry run. */
  options: { base: string; soakMs: number; requireAll: boolean; posted?: GateStatus[] }
): string[] {
  const out = ['', '### Rollout', '']
  out.push(
    `Waves of \`${inline(options.base)}\`; a wave above 0 gets a commit once every host of the waves below ran it (or a later one) for ${formatSoak(options.soakMs)}${options.requireAll ? '; hosts that never reported block' : '; hosts that never reported do not block'}.`,
    ''
  )
  if (plan.halted) {
    const h = plan.halted
    out.push(
      `**Halted** at \`${h.commit.slice(0, 7)}\` by wave ${h.wave}: ${inline(h.reason, 400)}. No higher wave gets this commit or a later one until those hosts report a successful upgrade.`,
      ''
    )
  }
  out.push(
    '| wave | deploys | since | done | waiting | failed | never reported |',
    '|---|---|---|---|---|---|---|'
  )
  for (const w of plan.waves) {
    const target = w.target ? `\`${w.target.slice(0, 7)}\`` : 'nothing gated yet'
    out.push(
      `| ${w.wave} | ${target} | ${when(w.since)} | ${hostList(w.done)} | ${hostList(w.waiting)} | ${hostList(w.failed)} | ${hostList(w.neverReported)} |`
    )
  }
  const notes = plan.waves.filter(w => w.note)
  if (notes.length > 0) {
    out.push('')
    for (const w of notes) out.push(`- Wave ${w.wave}: ${inline(w.note ?? '', 300)}`)
  }
  if (plan.waveErrors.length > 0) {
    out.push('', 'Hosts whose wave could not be evaluated count as wave 0:')
    for (const e of plan.waveErrors) out.push(`- ${inline(e.host)}: ${inline(e.error ?? '', 300)}`)
  }
  const line = (p: GateStatus): string =>
    `- \`${inline(p.context)}\` ${p.state} on \`${p.commit.slice(0, 7)}\`: ${inline(p.description)}`
  if (plan.post.length === 0) {
    out.push('', 'Every gate was already in place: nothing posted.')
  } else if (options.posted === undefined) {
    out.push('', 'To post (dry run, nothing posted):', ...plan.post.map(line))
  } else {
    const made = new Set(options.posted)
    const refused = plan.post.filter(p => !made.has(p))
    if (options.posted.length > 0) out.push('', 'Posted:', ...options.posted.map(line))
    if (refused.length > 0)
      out.push('', 'Not posted (the forge refused them, see the log):', ...refused.map(line))
  }
  return out
}
