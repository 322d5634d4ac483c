import { BranchCommit, CONTEXT_PREFIX, CommitStatus } from '../forge/fleet-state'

/**
 * The context of a wave's gate: a host in wave N > 0 deploys the newest base-branch commit whose latest status
 * with this context is `success` (services.fleet-auto-upgrade.rollout.wave).
 */
export const GATE_PREFIX = 'nixos-rollout/wave-'

export function gateContext(wave: number): string {
  return `${GATE_PREFIX}${wave}`
}

/** A host of the fleet and its wave; `error` when the wave could not be evaluated (the host then counts as 0). */
export interface HostWave {
  host: string
  wave: number
  error?: string
}

/** A status to post on a commit: a gate (`success`) or the withdrawal of one (`failure`). */
export interface GateStatus {
  wave: number
  commit: string
  state: 'success' | 'failure'
  context: string
  /** At most 140 characters (GitHub keeps no more). */
  description: string
}

/** Why the rollout stops: an upgrade or a rollback of a lower wave that failed, and no later success undid. */
export interface RolloutHalt {
  /** The wave of the hosts that failed. */
  wave: number
  /** The commit they failed on: no higher wave is gated on it or on a commit after it. */
  commit: string
  hosts: string[]
  /** The hosts' own words, `host: description`, joined by `; `. */
  reason: string
}

/** One wave as the "Rollout" section shows it. */
export interface WaveState {
  wave: number
  hosts: string[]
  /** What the wave deploys: the branch's newest commit for wave 0, the gated commit above. */
  target?: string
  /** When the target became the target: the gate's status time (now when this run posts it), the commit date for wave 0. */
  since?: string
  /** Hosts that reported a successful upgrade on the target or a later commit. */
  done: string[]
  /** Hosts whose last failure (failed upgrade, rollback) no later success undid. */
  failed: string[]
  /** Hosts that reported, neither done nor failed. */
  waiting: string[]
  /** Hosts without any report on the commits read. */
  neverReported: string[]
  /** Why no newer commit is gated for this wave, when one exists. */
  note?: string
}

export interface RolloutPlan {
  waves: WaveState[]
  /** Statuses this run posts: new gates, and gates withdrawn from commits a failure halted. */
  post: GateStatus[]
  /**
   * Per wave above 0: the commit its hosts deploy once `post` is posted, whether this run posts it, and the commit
   * they deploy should that post not be made (the newest gate already there and not withdrawn).
   */
  gates: { wave: number; commit: string; posted: boolean; previous?: string }[]
  halted?: RolloutHalt
  /** Hosts whose wave could not be evaluated, counted in wave 0. */
  waveErrors: HostWave[]
}

export interface RolloutInput {
  /** The base branch's commits, newest first (parents, when listed, give the ancestry; else the list is linear). */
  commits: BranchCommit[]
  /** Every status of those commits: hosts' reports (`nixos-upgrade/<host>`) and gates (`nixos-rollout/wave-N`). */
  statuses: CommitStatus[]
  hosts: HostWave[]
  soakMs: number
  /** A host of a lower wave that never reported blocks the gates above it. */
  requireAll: boolean
  now: Date
}

interface Report {
  host: string
  sha: string
  at: number
  ok: boolean
  description: string
}

const time = (iso: string): number => {
  const t = Date.parse(iso)
  return Number.isFinite(t) ? t : 0
}

const short = (sha: string): string => sha.slice(0, 7)

function iso(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`
}

/** `a, b, c` or `a, b and 3 more`. */
function names(hosts: string[], max = 3): string {
  return hosts.length <= max
    ? hosts.join(', ')
    : `${hosts.slice(0, max).join(', ')} and ${hosts.length - max} more`
}

/** For each commit, itself and its ancestors among the commits read. */
function ancestry(commits: BranchCommit[]): Map<string, Set<string>> {
  const known = new Set(commits.map(c => c.sha))
  const result = new Map<string, Set<string>>()
  // Oldest first, so that parents are done before their children.
  for (let i = commits.length - 1; i >= 0; i--) {
    const c = commits[i]
    const parents = c.parents ?? (i + 1 < commits.length ? [commits[i + 1].sha] : [])
    const set = new Set<string>([c.sha])
    for (const p of parents) if (known.has(p)) for (const a of result.get(p) ?? []) set.add(a)
    result.set(c.sha, set)
  }
  return result
}

/** The latest status per commit and context: a later status of a context replaces an earlier one on both forges. */
function latestByCommit(statuses: CommitStatus[]): Map<string, CommitStatus> {
  const latest = new Map<string, CommitStatus>()
  // Newest first as both forges list them; at equal times the first one listed wins.
  for (const s of statuses) {
    const key = `${s.sha} ${s.context}`
    const seen = latest.get(key)
    if (!seen || time(s.at) > time(seen.at)) latest.set(key, s)
  }
  return latest
}

/**
 * What the rollout controller does now, from the base branch's statuses: for each wave N above 0, the newest
 * commit C such that every host of the waves below N that has reported (all of them with `requireAll`) reported
 * a successful upgrade on C or on a later commit (a descendant), the latest of those hosts' first such reports at
 * least `soakMs` old, and no host of those waves has a failure on C or an ancestor that a later success of that
 * host (on the failed commit or a descendant) undid. Gates already there are not posted again; a gate on a commit
 * that such a failure halts is withdrawn (a `failure` status with the same context), so that no host of the wave
 * deploys it.
 */
export function planRollout(input: RolloutInput): RolloutPlan {
  const { commits, now } = input
  const anc = ancestry(commits)
  const known = new Set(commits.map(c => c.sha))
  const isAncestorOrSelf = (a: string, c: string): boolean => anc.get(c)?.has(a) ?? false
  const index = new Map(commits.map((c, i) => [c.sha, i]))

  const waveOf = new Map(input.hosts.map(h => [h.host, h.wave]))
  const reports = new Map<string, Report[]>()
  for (const s of input.statuses) {
    if (!s.context.startsWith(CONTEXT_PREFIX) || !known.has(s.sha)) continue
    const host = s.context.slice(CONTEXT_PREFIX.length)
    if (!waveOf.has(host)) continue
    const ok = s.state === 'success'
    if (!ok && s.state !== 'failure' && s.state !== 'error') continue
    const list = reports.get(host) ?? []
    list.push({ host, sha: s.sha, at: time(s.at), ok, description: s.description })
    reports.set(host, list)
  }
  const successes = (host: string): Report[] => (reports.get(host) ?? []).filter(r => r.ok)
  // A failure stands until the host reports a success on the failed commit or a later one, after it.
  const openFailures = (host: string): Report[] =>
    (reports.get(host) ?? []).filter(
      f => !f.ok && !successes(host).some(s => s.at > f.at && isAncestorOrSelf(f.sha, s.sha))
    )
  const hasReported = (host: string): boolean => reports.has(host)
  const firstSuccessFrom = (host: string, c: string): number | undefined => {
    const times = successes(host)
      .filter(s => isAncestorOrSelf(c, s.sha))
      .map(s => s.at)
    return times.length > 0 ? Math.min(...times) : undefined
  }

  const latest = latestByCommit(input.statuses)
  const gateState = (wave: number, sha: string): CommitStatus | undefined =>
    latest.get(`${sha} ${gateContext(wave)}`)

  const maxWave = Math.max(0, ...input.hosts.map(h => h.wave))
  const post: GateStatus[] = []
  const gates: RolloutPlan['gates'] = []
  const waves: WaveState[] = []

  // The halt: the lowest wave below the top one with a standing failure, at its oldest failed commit.
  let halted: RolloutHalt | undefined
  for (let w = 0; w < maxWave && !halted; w++) {
    const failures = input.hosts.filter(h => h.wave === w).flatMap(h => openFailures(h.host))
    if (failures.length === 0) continue
    const oldest = failures.reduce((a, b) => ((index.get(b.sha) ?? 0) > (index.get(a.sha) ?? 0) ? b : a))
    const at = failures.filter(f => f.sha === oldest.sha)
    const hosts = [...new Set(at.map(f => f.host))].sort()
    halted = {
      wave: w,
      commit: oldest.sha,
      hosts,
      reason: hosts
        .map(h => `${h}: ${at.find(f => f.host === h)?.description || 'upgrade failed'}`)
        .join('; ')
    }
  }

  for (let wave = 0; wave <= maxWave; wave++) {
    const members = input.hosts
      .filter(h => h.wave === wave)
      .map(h => h.host)
      .sort()
    let target: string | undefined
    let since: string | undefined
    let note: string | undefined
    if (wave === 0) {
      target = commits[0]?.sha
      since = commits[0]?.date
    } else {
      const lower = input.hosts.filter(h => h.wave < wave).map(h => h.host)
      const never = lower.filter(h => !hasReported(h))
      const counted = lower.filter(hasReported)
      const blockers = (c: string): Report[] =>
        counted.flatMap(h => openFailures(h)).filter(f => isAncestorOrSelf(f.sha, c))
      let gate: { sha: string; since: number; hosts: number } | undefined
      let tipReason: string | undefined
      const why = (reason: string, c: string): void => {
        if (tipReason === undefined && c === commits[0]?.sha) tipReason = reason
      }
      if (lower.length === 0) {
        if (commits[0]) gate = { sha: commits[0].sha, since: now.getTime(), hosts: 0 }
      } else if (input.requireAll && never.length > 0) {
        note = `waiting for ${names(never.sort())}, which never reported (rollout-require-all)`
      } else if (counted.length === 0) {
        note = `no host of waves below ${wave} has reported yet`
      } else {
        for (const c of commits) {
          const failed = blockers(c.sha)
          if (failed.length > 0) {
            why(`halted: ${names([...new Set(failed.map(f => f.host))].sort())} failed`, c.sha)
            continue
          }
          const firsts = counted.map(h => ({ h, t: firstSuccessFrom(h, c.sha) }))
          const missing = firsts.filter(x => x.t === undefined).map(x => x.h)
          if (missing.length > 0) {
            why(`waiting for ${names(missing.sort())} to upgrade to it`, c.sha)
            continue
          }
          const last = Math.max(...firsts.map(x => x.t as number))
          if (now.getTime() - last < input.soakMs) {
            why(`soaking until ${iso(last + input.soakMs)}`, c.sha)
            continue
          }
          gate = { sha: c.sha, since: last, hosts: counted.length }
          break
        }
        if (gate?.sha !== commits[0]?.sha && commits[0] && tipReason) {
          note = `${short(commits[0].sha)} (newest): ${tipReason}`
        }
      }

      // Gates that a standing failure of a lower wave now halts are withdrawn.
      const withdrawn = new Set<string>()
      for (const c of commits) {
        const s = gateState(wave, c.sha)
        if (s?.state !== 'success') continue
        const failed = blockers(c.sha)
        if (failed.length === 0) continue
        const f = failed[0]
        withdrawn.add(c.sha)
        post.push({
          wave,
          commit: c.sha,
          state: 'failure',
          context: gateContext(wave),
          description: clip(`halted: ${f.host} failed on ${short(f.sha)}: ${f.description}`)
        })
      }
      const effective = (sha: string): boolean =>
        !withdrawn.has(sha) && gateState(wave, sha)?.state === 'success'
      // A gate already on the commit, or on a later one, stands: nothing to post.
      const covered = gate && commits.some(c => isAncestorOrSelf(gate.sha, c.sha) && effective(c.sha))
      let posted = false
      if (gate && !covered) {
        posted = true
        post.push({
          wave,
          commit: gate.sha,
          state: 'success',
          context: gateContext(wave),
          description: clip(
            gate.hosts === 0
              ? `no host in waves below ${wave}`
              : `${wave === 1 ? 'wave 0' : `waves 0-${wave - 1}`}: ${gate.hosts} host${gate.hosts === 1 ? '' : 's'} on it or later since ${iso(gate.since)} (soak ${formatSoak(input.soakMs)})`
          )
        })
      }
      // The newest commit the wave's hosts deploy after this run.
      const deployed = commits.find(c => (posted && c.sha === gate?.sha) || effective(c.sha))
      if (deployed) {
        target = deployed.sha
        const existing = gateState(wave, deployed.sha)
        since = posted && deployed.sha === gate?.sha ? now.toISOString() : existing?.at
        const previous = commits.find(c => effective(c.sha))?.sha
        gates.push({
          wave,
          commit: deployed.sha,
          posted: posted && deployed.sha === gate?.sha,
          ...(previous ? { previous } : {})
        })
      }
    }
    const done: string[] = []
    const failed: string[] = []
    const waiting: string[] = []
    const neverReported: string[] = []
    for (const h of members) {
      if (!hasReported(h)) neverReported.push(h)
      else if (openFailures(h).length > 0) failed.push(h)
      else if (target && firstSuccessFrom(h, target) !== undefined) done.push(h)
      else waiting.push(h)
    }
    waves.push({ wave, hosts: members, target, since, done, failed, waiting, neverReported, note })
  }
  return {
    waves,
    post,
    gates,
    halted,
    waveErrors: input.hosts.filter(h => h.error !== undefined)
  }
}

function clip(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim()
  return t.length > 140 ? `${t.slice(0, 139)}…` : t
}

/** `6h`, `1d12h`, `90m`, `0m`: the soak as the input spells durations. */
export function formatSoak(ms: number): string {
  if (ms <= 0) return '0m'
  const d = Math.floor(ms / 86400000)
  const h = Math.floor((ms % 86400000) / 3600000)
  const m = Math.floor((ms % 3600000) / 60000)
  return `${d ? `${d}d` : ''}${h ? `${h}h` : ''}${m ? `${m}m` : ''}` || '0m'
}
