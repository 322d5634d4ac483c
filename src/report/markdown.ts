import { countKinds, PackageChange, PackageRename } from '../nix/closure-diff'
import { plural } from './words'
import { lockDate, LockChange, LockedInput } from '../nix/lock'
import { clean, clipLines, codeBlock, inline } from './escape'
import { HostBuild } from '../types'
import {
  FleetReport,
  HostReport,
  HostStatus,
  OneSidedHost,
  ReviewSides,
  evaluated,
  failedHosts,
  rebootHosts
} from './model'
import { formatBytes, formatVersions, nvdText } from './nvd'
import {
  NVD_LEGEND,
  codeSpan,
  commandSpan,
  inputChangesLine,
  pendingLine,
  nixLabel,
  reproduceCommands,
  sharedUnitChanges,
  systemFlags,
  unitLine
} from './sections'
import { fleetStateLines } from './fleet-state'
import { heldBackLines } from './held-back'
import { ConfigurationSet } from '../nix/configurations'

/** What the report's heading calls the entries, by the flake output built. */
const SUBJECT: Record<ConfigurationSet, string> = {
  nixosConfigurations: 'NixOS fleet',
  homeConfigurations: 'Home Manager configurations',
  darwinConfigurations: 'nix-darwin fleet'
}
const subject = (r: FleetReport): string => SUBJECT[r.configurations ?? 'nixosConfigurations']

/** Both forges' body limit is above this; GitHub's is 65,536 characters. */
export const REPORT_LIMIT = 60000

const STATUS: Record<HostStatus, string> = {
  updated: '✅ updated',
  unchanged: '➖ unchanged',
  regressed: '❌ regressed',
  failing: '⚠️ failing',
  fixed: '🔧 fixed',
  'not-built': '⏭️ not built',
  'not-buildable': '🚫 not buildable here'
}

/**
 * How much per-host detail the report carries, shortened step by step until it fits the limit: lines of each
 * host's diff (0: none), then no failure logs either (-1), then fewer rows of the fleet table.
 */
const DETAIL_LINES = [Infinity, 60, 20, 0, -1]
const MIN_ROWS = [Infinity, 500, 200, 50, 10]

function shortRev(l?: LockedInput): string {
  if (!l) return '–'
  const id = l.rev ? l.rev.slice(0, 12) : l.narHash ? l.narHash.replace(/^sha256-/, '').slice(0, 12) : '?'
  return `\`${id.replace(/[^A-Za-z0-9+/=._-]/g, '')}\``
}

/** `2024-05-31`, with the time (UTC) when both sides fall on the same day. */
function lockTimes(c: LockChange): string {
  const dates = [lockDate(c.old?.lastModified), lockDate(c.new?.lastModified)]
  if (!dates[0] && !dates[1]) return ''
  const sameDay = dates[0] !== undefined && dates[0] === dates[1]
  const at = (t?: number, d?: string): string =>
    d === undefined
      ? '–'
      : sameDay && t !== undefined
        ? `${d} ${new Date(t * 1000).toISOString().slice(11, 16)}`
        : d
  return `${at(c.old?.lastModified, dates[0])} → ${at(c.new?.lastModified, dates[1])}${sameDay ? ' UTC' : ''}`
}

/** Without a compare link: what changed, the revision (git) or else the content hash (path:, tarballs). */
function identityChange(c: LockChange): string {
  const o = c.old
  const n = c.new
  if (!o || !n) return ''
  const hash = (h?: string): string => codeSpan((h ?? '–').replace(/^sha256-/, '').slice(0, 12))
  if (o.rev && n.rev && o.rev !== n.rev)
    return `rev ${codeSpan(o.rev.slice(0, 7))} → ${codeSpan(n.rev.slice(0, 7))}`
  return `narHash ${hash(o.narHash)} → ${hash(n.narHash)}`
}

function lockRow(c: LockChange): string {
  const link =
    c.compareUrl && /^https:\/\/[A-Za-z0-9._~:/?#@!$&'*+,;=%-]+$/.test(c.compareUrl)
      ? `[compare](${c.compareUrl})`
      : ''
  const what = !c.old ? '(new)' : !c.new ? '(removed)' : ''
  return `| ${inline(c.input)} | ${shortRev(c.old)} | ${shortRev(c.new)} | ${lockTimes(c)} | ${what || link || identityChange(c)} |`
}

function sizeDelta(h: HostReport): string {
  if (!h.diff) return '–'
  return formatBytes(h.diff.bytesAfter - h.diff.bytesBefore, true)
}

function hostRow(h: HostReport): string {
  const k = h.diff ? countKinds(h.diff) : undefined
  const n = (x?: number): string => (x === undefined ? '–' : String(x))
  const reboot = h.reboot.length > 0 ? `yes (${h.reboot.join(', ')})` : h.diff ? 'no' : '–'
  const platform = h.status === 'not-buildable' && h.after?.system ? ` (${inline(h.after.system)})` : ''
  return `| ${inline(h.host)} | ${STATUS[h.status]}${platform} | ${n(k?.upgrade)} | ${n(k?.downgrade)} | ${n(k?.added)} | ${n(k?.removed)} | ${sizeDelta(h)} | ${reboot} |`
}

function changeText(c: PackageChange | PackageRename): string {
  if (c.kind === 'added') return `${c.name} ${formatVersions(c.after)} added`
  if (c.kind === 'removed') return `${c.name} ${formatVersions(c.before)} removed`
  return `${c.name} ${formatVersions(c.before)} → ${formatVersions(c.after)}`
}

/** Changes that several hosts share, each listed once with the count of hosts. */
export function sharedChanges(hosts: HostReport[]): { text: string; hosts: string[]; downgrade: boolean }[] {
  const diffed = hosts.filter(h => h.diff)
  const byChange = new Map<string, string[]>()
  const downgrades = new Set<string>()
  for (const h of diffed) {
    const d = h.diff
    if (!d) continue
    for (const c of [...d.changed, ...d.renamed, ...d.added, ...d.removed]) {
      if (c.kind === 'changed' && formatVersions(c.before) === formatVersions(c.after)) continue
      const key = changeText(c)
      if (c.kind === 'downgrade') downgrades.add(key)
      byChange.set(key, [...(byChange.get(key) ?? []), h.host])
    }
  }
  return [...byChange]
    .filter(([, list]) => list.length >= 2)
    .sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1))
    .map(([text, list]) => ({ text, hosts: list, downgrade: downgrades.has(text) }))
}

function summaryLine(r: FleetReport): string {
  const count = (s: HostStatus): number => r.hosts.filter(h => h.status === s).length
  const inputs = plural(r.lockChanges.length, 'input')
  const parts = [r.lockCreated ? `lock file created (${inputs} locked)` : `${inputs} updated`]
  for (const s of ['updated', 'unchanged', 'regressed', 'failing', 'fixed'] as HostStatus[]) {
    if (count(s) > 0) parts.push(`${count(s)} ${s}`)
  }
  if (count('not-buildable') > 0) parts.push(`${count('not-buildable')} not buildable here`)
  const reboot = rebootHosts(r)
  if (reboot.length > 0) parts.push(`${reboot.length} need${reboot.length === 1 ? 's' : ''} a reboot`)
  return parts.join(' · ')
}

function truncateLines(text: string, max: number): string {
  if (!Number.isFinite(max)) return text
  const lines = text.split('\n')
  if (lines.length <= max) return text
  return [...lines.slice(0, max), `… ${lines.length - max} more lines in the full report`].join('\n')
}

function hostDetails(h: HostReport, maxLines: number): string {
  if (!h.diff) return ''
  const k = countKinds(h.diff)
  const parts = [
    k.upgrade && `${k.upgrade} upgraded`,
    k.downgrade && `${k.downgrade} downgraded`,
    k.changed && `${k.changed} changed`,
    k.added && `${k.added} added`,
    k.removed && `${k.removed} removed`
  ].filter(Boolean)
  const text = truncateLines(nvdText(h.diff, h.before?.outPath, h.after?.outPath), maxLines)
  return `<details><summary>${inline(h.host)}: ${parts.join(', ') || 'no package changes'}${h.reboot.length ? ' · reboot needed' : ''}</summary>\n\n${codeBlock(text)}\n\n</details>`
}

const RANK: Record<HostStatus, number> = {
  regressed: 0,
  failing: 1,
  fixed: 2,
  updated: 3,
  unchanged: 4,
  'not-built': 5,
  'not-buildable': 6
}
const rank = (h: HostReport): number => RANK[h.status]

/** The two sides of the comparison in words: before and after the update, or a pull request's base and head. */
function sides(r: FleetReport): { before: string; after: string } {
  return r.review
    ? { before: 'at the base', after: 'at the head' }
    : { before: 'before the update', after: 'after the update' }
}

function failureOf(h: HostReport, r: FleetReport): { build: HostBuild; phase: string } | undefined {
  if (h.after && !evaluated(h.after)) return { build: h.after, phase: sides(r).after }
  if (h.before && !evaluated(h.before)) return { build: h.before, phase: sides(r).before }
  return undefined
}

/** `evaluation failed after the update`, or for a host that failed both times, `… still failing (also before the update)`. */
function failurePhrase(h: HostReport, build: HostBuild, phase: string, r: FleetReport): string {
  const what = build.status === 'eval-failed' ? 'evaluation failed' : 'build failed'
  return h.status === 'failing' ? `${what}, still failing (also ${sides(r).before})` : `${what} ${phase}`
}

/** One line per failed host, for reports too large for logs. */
function failureLine(h: HostReport, r: FleetReport): string {
  const f = failureOf(h, r)
  if (!f) return `${inline(h.host)} (${h.status})`
  return `${inline(h.host)} (${h.status}): ${failurePhrase(h, f.build, f.phase, r)}${f.build.error ? ` · ${inline(f.build.error, 160)}` : ''}`
}

function failureDetails(h: HostReport, maxLines: number, r: FleetReport): string {
  const f = failureOf(h, r)
  if (!f) return ''
  const failure = f.build
  const log = clipLines(truncateLines(failure.logTail ?? failure.error ?? '', Math.min(maxLines, 40)))
  const head = `${inline(h.host)} (${h.status}): ${failurePhrase(h, failure, f.phase, r)}${failure.status === 'build-failed' && failure.error ? ` · ${inline(failure.error, 300)}` : ''}`
  const body: string[] = []
  const inputs = h.status === 'regressed' ? inputChangesLine(r.lockChanges) : undefined
  if (inputs) body.push(`Would have received: ${inputs}.`, '')
  const pending = pendingLine(h.pending)
  if (pending) body.push(`Package versions in its new derivations (not built): ${pending}.`, '')
  const set = r.configurations ?? 'nixosConfigurations'
  // A command with characters Markdown or HTML would act on is shown escaped rather than as code.
  // So is one with a `#` other than the flake's: a forge could read `"web #1"` as a reference.
  body.push(
    `Reproduce: ${reproduceCommands(h, r.flakeRef, set)
      .map(c => commandSpan(c, set))
      .join(' · ')}`,
    ''
  )
  return `<details><summary>${head}</summary>\n\n${body.join('\n')}\n${codeBlock(log || 'no log')}\n\n</details>`
}

/** Evaluation warnings new after the update, each once with its hosts, and how many went away. */
function warningLines(r: FleetReport, maxLines: number, fullReport: string): string[] {
  const w = r.warnings
  if (!w || (w.new.length === 0 && w.gone.length === 0)) return []
  const out = ['', `### New evaluation warnings (${w.new.length})`, '']
  if (w.new.length === 0) out.push('None.')
  const shown = maxLines <= 0 ? w.new.slice(0, 20) : w.new
  for (const g of shown) out.push(`- ${inline(g.text, 500)} — ${hostList(g.hosts, r.hosts.length)}`)
  if (shown.length < w.new.length) out.push(`- … ${w.new.length - shown.length} more in ${fullReport}`)
  if (w.gone.length > 0) {
    out.push(
      '',
      `_${plural(w.gone.length, 'warning')} printed before the update ${w.gone.length === 1 ? 'is' : 'are'} gone after it._`
    )
  }
  return out
}

/** Per host, what `switch` would do with its systemd units. */
function unitLines(r: FleetReport, maxLines: number, fullReport: string): string[] {
  const lines = r.hosts.flatMap(h => {
    const line = unitLine(h.units)
    return line ? [`- ${inline(h.host)}: ${line}`] : []
  })
  if (lines.length === 0) return []
  const shown = maxLines <= 0 ? lines.slice(0, 20) : lines
  const out = ['', '### Services `switch` will restart, reload, start or stop', '', ...shown]
  if (shown.length < lines.length) out.push(`- … ${lines.length - shown.length} more hosts in ${fullReport}`)
  return out
}

/** `on all 5 hosts` or `on 3 of 5 hosts (web, mail, laptop)`. */
export function hostList(hosts: string[], total: number): string {
  if (hosts.length === total && total > 1) return `on all ${total} hosts`
  const shown = hosts.slice(0, MAX_NAMES).map(h => inline(h))
  if (hosts.length > MAX_NAMES) shown.push(`${hosts.length - MAX_NAMES} more`)
  return `on ${hosts.length} of ${plural(total, 'host')} (${shown.join(', ')})`
}

/** Host names listed in one line before the rest are counted. */
const MAX_NAMES = 12

/**
 * Where the new systems went. The pull request body leaves out the counts, which differ on a run again over the
 * same update (the second sends nothing), so that the body changes only when the update does.
 */
function pushLines(r: FleetReport, counts: boolean): string[] {
  const p = r.push
  if (!p) return []
  const sent = counts
    ? ` (${plural(p.paths, 'new path')}, ${formatBytes(p.bytes)}, of ${p.closurePaths} in their closures)`
    : ''
  const n = plural(p.hosts.length, 'host')
  // A code span: a URL there is neither a link nor Markdown.
  const to = `\`${clean(p.to).replace(/[`\s]/g, '')}\``
  if (p.status === 'pushed') return ['', `The new systems of ${n} are in the binary cache ${to}${sent}.`]
  if (p.status === 'skipped')
    return ['', `Nothing was pushed to the binary cache ${to}: ${inline(p.error ?? '')}.`]
  return [
    '',
    `⚠️ **Pushing the new systems to the binary cache ${to} failed**: hosts build them or fetch them elsewhere.`,
    '',
    codeBlock(clipLines(p.error ?? 'no error message'))
  ]
}

/** A host of one side only, and how it went there: `db (built)`, `old (evaluation failed)`. */
function oneSided(h: OneSidedHost): string {
  const how =
    h.build.status === 'built'
      ? 'built'
      : h.build.status === 'eval-failed'
        ? 'evaluation failed'
        : 'build failed'
  return `${inline(h.host)} (${how})`
}

/** A review's title and summary: the commits compared, the hosts per status, those not built, added and removed. */
function reviewHead(r: FleetReport, review: ReviewSides): string[] {
  const n = r.hosts.length
  const count = (s: HostStatus): number => r.hosts.filter(h => h.status === s).length
  const parts = [`${codeSpan(review.base.slice(0, 12))} → ${codeSpan(review.head.slice(0, 12))}`]
  for (const s of ['updated', 'regressed', 'failing', 'fixed'] as HostStatus[]) {
    if (count(s) > 0) parts.push(`${count(s)} ${s === 'updated' ? 'changed' : s}`)
  }
  const reboot = rebootHosts(r)
  if (reboot.length > 0) parts.push(`${reboot.length} need${reboot.length === 1 ? 's' : ''} a reboot`)
  parts.push(`${review.unchanged} unchanged (same system derivation, not built)`)
  const out = [
    `## ${subject(r)} review: ${plural(n, 'host')} changed${r.dryRun ? ' (dry run)' : ''}`,
    '',
    parts.join(' · ')
  ]
  if (review.added.length > 0) out.push('', `**Added hosts:** ${review.added.map(oneSided).join(', ')}`)
  if (review.removed.length > 0) out.push('', `**Removed hosts:** ${review.removed.map(oneSided).join(', ')}`)
  for (const f of systemFlags(r.hosts)) {
    const what = f.what === 'release' ? 'NixOS release' : 'Kernel'
    out.push('', `> **${what} ${inline(f.change)}** ${hostList(f.hosts, r.hosts.length)}`)
  }
  if (n === 0) out.push('', 'No host builds a different system at the head.')
  return out
}

/** Cache mode's summary: the commit, the hosts built there and those that failed, and what went to the cache. */
export function renderCacheReport(r: FleetReport, commit: string): string {
  const built = r.hosts.filter(h => h.after?.status === 'built')
  const failed = r.hosts.filter(h => h.after && !evaluated(h.after))
  const elsewhere = r.hosts.filter(h => h.after?.status === 'not-buildable')
  const out = [
    `## ${subject(r)} cache: ${built.length} of ${plural(r.hosts.length, 'host')} built at ${codeSpan(commit.slice(0, 12))}`
  ]
  if (failed.length > 0) {
    out.push('', `### Failed hosts (${failed.length})`, '')
    for (const h of failed) out.push(`- ${inline(h.host)}: ${inline(h.after?.error ?? 'failed', 300)}`)
  }
  if (elsewhere.length > 0) {
    out.push('', `### Not buildable here (${elsewhere.length})`, '')
    for (const h of elsewhere)
      out.push(`- ${inline(h.host)}: ${inline(h.after?.system ?? 'another platform')}`)
  }
  out.push(...pushLines(r, true))
  const foot = [inline(nixLabel(r.nixVersion))]
  if (r.excluded.length > 0) foot.push(`excluded: ${r.excluded.map(h => inline(h)).join(', ')}`)
  if (r.timings.length > 0) foot.push(r.timings.map(t => `${t.phase} ${t.seconds.toFixed(1)} s`).join(', '))
  out.push('', `<sub>${foot.join(' · ')}</sub>`, '')
  return out.join('\n')
}

/** GitHub's job summary takes up to 1 MiB. */
export const SUMMARY_LIMIT = 1000000

/**
 * The Markdown report for the job summary and the pull request body. Beyond `limit` characters the per-host
 * detail is shortened step by step; `fullReport` names where the complete one is (the run's job summary).
 */
/** How a report is rendered: its size limit, where the full one is, whether phase timings are shown. */
export interface RenderOptions {
  /** Characters the text may have (default REPORT_LIMIT, the pull request body's). */
  limit?: number
  /** Where the complete report is, named when this one is shortened. */
  fullReport?: string
  /** Show how long each phase took (default true; the pull request body leaves them out). */
  timings?: boolean
  /** One flake's part of a report on several: headed by the flake's directory, every heading a level lower. */
  nested?: boolean
}

export function renderReport(r: FleetReport, options: RenderOptions = {}): string {
  const { limit = REPORT_LIMIT, fullReport, timings = true, nested = false } = options
  for (const maxLines of DETAIL_LINES) {
    const text = renderWith(r, maxLines, Infinity, timings, fullReport, nested)
    if (text.length <= limit) return text
  }
  for (const maxRows of MIN_ROWS.slice(1)) {
    const text = renderWith(r, -1, maxRows, timings, fullReport, nested)
    if (text.length <= limit) return text
  }
  // Only pathological input (thousands of inputs or enormous names) gets here: a plain cut at a line end,
  // outside any code block since the shortest form has none.
  const note = `\n\n_Report cut at the size limit; the complete results are in ${fullReport ?? 'the report-json file'}._\n`
  const text = renderWith(r, -1, 10, timings, fullReport, nested).slice(0, limit - note.length)
  return text.slice(0, Math.max(0, text.lastIndexOf('\n'))) + note
}

/** How much room a rendering has: lines per host, rows per table, and where the rest of the report is. */
interface Room {
  maxLines: number
  maxRows: number
  timings: boolean
  fullReport: string
}

function heading(r: FleetReport): string[] {
  if (r.review) return reviewHead(r, r.review)
  const out = [
    `## ${subject(r)} update: ${plural(r.hosts.length, 'host')}${r.dryRun ? ' (dry run)' : ''}`,
    ''
  ]
  if (!r.changed) {
    out.push('flake.lock is up to date: no input has a newer revision, nothing was rebuilt.')
  } else {
    out.push(summaryLine(r))
    for (const f of systemFlags(r.hosts)) {
      const what = f.what === 'release' ? 'NixOS release' : 'Kernel'
      out.push('', `> **${what} ${inline(f.change)}** ${hostList(f.hosts, r.hosts.length)}`)
    }
  }
  return out
}

function inputsSection(r: FleetReport): string[] {
  if (r.lockChanges.length === 0) return []
  return [
    '',
    '### Inputs',
    '',
    '| input | from | to | last modified | changes |',
    '|---|---|---|---|---|',
    ...r.lockChanges.map(lockRow)
  ]
}

function hostsTable(r: FleetReport, room: Room): string[] {
  const out = ['', '### Hosts', '']
  out.push('| host | status | upgrades | downgrades | added | removed | disk usage | reboot |')
  out.push('|---|---|---|---|---|---|---|---|')
  // Rows of problem hosts first when the table has to be cut: those are what a reviewer must see.
  const rows = Number.isFinite(room.maxRows)
    ? [...r.hosts].sort((a, b) => rank(a) - rank(b)).slice(0, room.maxRows)
    : r.hosts
  for (const h of rows) out.push(hostRow(h))
  if (rows.length < r.hosts.length)
    out.push('', `_${r.hosts.length - rows.length} more hosts in ${room.fullReport}._`)
  return out
}

function sharedSection(r: FleetReport, room: Room): string[] {
  const shared = [
    ...sharedChanges(r.hosts).map(s => ({
      line: `${s.downgrade ? '⬇️ downgrade: ' : ''}${inline(s.text)}`,
      hosts: s.hosts
    })),
    ...sharedUnitChanges(r.hosts).map(s => ({ line: `${inline(s.text)}`, hosts: s.hosts }))
  ]
  if (shared.length === 0) return []
  const out = ['', '### Changes on several hosts', '']
  const shown = room.maxLines <= 0 ? shared.slice(0, 20) : shared
  for (const s of shown) out.push(`- ${s.line} ${hostList(s.hosts, r.hosts.length)}`)
  if (shown.length < shared.length) out.push(`- … ${shared.length - shown.length} more`)
  return out
}

function failedSection(r: FleetReport, room: Room): string[] {
  const failures = r.hosts.filter(
    h => h.status === 'regressed' || h.status === 'failing' || h.status === 'fixed'
  )
  if (failures.length === 0) return []
  const out = ['', `### Failed hosts (${failedHosts(r).length})`, '']
  if (room.maxLines < 0) {
    const shown = Number.isFinite(room.maxRows) ? failures.slice(0, room.maxRows) : failures
    for (const h of shown) out.push(`- ${failureLine(h, r)}`)
    if (shown.length < failures.length) out.push(`- … ${failures.length - shown.length} more`)
    out.push('', `_Build logs left out to stay under the size limit; ${room.fullReport} has them._`)
  } else {
    for (const h of failures) out.push(failureDetails(h, room.maxLines === 0 ? 10 : room.maxLines, r), '')
  }
  return out
}

function detailsSection(r: FleetReport, room: Room): string[] {
  const detailed = r.hosts.filter(h => h.diff)
  if (detailed.length === 0) return []
  const { maxLines, fullReport } = room
  const out = ['', '### Package changes per host', '']
  if (maxLines > 0) out.push(`_${NVD_LEGEND}_`, '')
  if (maxLines <= 0) {
    out.push(`_Per-host detail left out to stay under the size limit; ${fullReport} has it all._`)
  } else {
    if (Number.isFinite(maxLines)) {
      out.push(
        `_Per-host detail shortened to ${maxLines} lines to stay under the size limit; ${fullReport} has it all._`,
        ''
      )
    }
    for (const h of detailed) out.push(hostDetails(h, maxLines), '')
  }
  return out
}

function footer(r: FleetReport, room: Room): string[] {
  const foot = [inline(nixLabel(r.nixVersion))]
  if (r.excluded.length > 0) foot.push(`excluded: ${r.excluded.map(h => inline(h)).join(', ')}`)
  if (room.timings && r.timings.length > 0)
    foot.push(r.timings.map(t => `${t.phase} ${t.seconds.toFixed(1)} s`).join(', '))
  return ['', `<sub>${foot.join(' · ')}</sub>`, '']
}

/** The report as a list of sections, each rendered within `room`. */
function renderWith(
  r: FleetReport,
  maxLines: number,
  maxRows: number,
  timings: boolean,
  fullReport = 'the report-json file',
  nested = false
): string {
  const room: Room = { maxLines, maxRows, timings, fullReport }
  const built = r.changed && r.built
  const lines = [
    ...heading(r),
    ...inputsSection(r),
    ...heldBackLines(r.heldBack, r.flakeRef, r.nothingLeft),
    ...(built
      ? [
          ...hostsTable(r, room),
          ...sharedSection(r, room),
          ...warningLines(r, maxLines, fullReport),
          ...unitLines(r, maxLines, fullReport),
          ...failedSection(r, room),
          ...detailsSection(r, room)
        ]
      : []),
    ...pushLines(r, timings),
    ...(r.fleetState ? fleetStateLines(r.fleetState, maxRows) : []),
    ...footer(r, room)
  ]
  if (!nested) return lines.join('\n')
  // The sections' headings are lines of their own (multi-line entries are code blocks and tables).
  const headingLine = /^#{2,5} [^\n]*$/
  lines[0] = `## ${codeSpan(r.flakeRef ?? r.flake)}: ${plural(r.hosts.length, 'host')}`
  return lines.map(l => (headingLine.test(l) ? `#${l}` : l)).join('\n')
}

/** What each flake's part of a report on several says in the heading's list. */
function flakeLine(r: FleetReport): string {
  const label = codeSpan(r.flakeRef ?? r.flake)
  if (!r.changed) return `- ${label}: up to date`
  const held = (r.heldBack ?? []).filter(i => i.heldBack).length
  const parts = [plural(r.lockChanges.length, 'input') + ' updated']
  if (held > 0) parts.push(`${held} held back`)
  if (r.nothingLeft) parts.push('nothing proposed')
  return `- ${label}: ${parts.join(', ')}`
}

/**
 * The report on several flakes of one repository: a heading with a line per flake, then each flake's own report
 * (its headings a level lower), each within an equal share of `limit`.
 */
export function renderSeveral(reports: FleetReport[], options: RenderOptions = {}): string {
  const { limit = REPORT_LIMIT } = options
  const first = reports[0]
  const hosts = reports.reduce((n, r) => n + r.hosts.length, 0)
  const head = [
    `## ${subject(first)} update: ${plural(reports.length, 'flake')}, ${plural(hosts, 'host')}${first.dryRun ? ' (dry run)' : ''}`,
    '',
    ...reports.map(flakeLine),
    ''
  ].join('\n')
  const share = Math.floor((limit - head.length) / reports.length) - 2
  return [head, ...reports.map(r => renderReport(r, { ...options, nested: true, limit: share }))].join('\n')
}
