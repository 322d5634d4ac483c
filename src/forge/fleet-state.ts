import { ForgeKind } from './kind'
import { repoPath } from './forge'
import { ApiClient } from './http'
import { isRecord } from './shape'

/** The status context prefix that hosts report under (services.fleet-auto-upgrade.reportStatus.context). */
export const CONTEXT_PREFIX = 'nixos-upgrade/'

/** One commit of the base branch, newest first. */
export interface BranchCommit {
  sha: string
  /** Committer date, ISO 8601. */
  date: string
  /** Parent commits, when the forge lists them (both do: `parents: [{sha}]`). */
  parents?: string[]
}

/** A commit status as both forges return it (GitHub names the state `state`, Forgejo `status`). */
export interface CommitStatus {
  sha: string
  context: string
  state: string
  description: string
  /** ISO 8601. */
  at: string
}

/** What a host last reported, and how far behind the base branch that leaves it. */
export interface HostDeployment {
  host: string
  sha: string
  /** When the host reported, ISO 8601. */
  at: string
  /** The forge's status state: success, failure, error, pending or warning. */
  state: string
  /** The host's own words ("running …", "switched to …; reboot pending (kernel)", "upgrade failed: …"). */
  description: string
  /** Base-branch commits newer than the deployed one; undefined when the commit is older than those read. */
  behind?: number
  /** What the host runs only after a reboot: boot parts, or "next boot" for `operation = "boot"`. */
  rebootPending: string[]
  failed: boolean
  /** Reported too long ago, or missing base-branch commits older than the threshold. */
  stale: boolean
  /** Why it is stale, for the report. */
  staleReason?: string
}

export interface FleetState {
  base: string
  /** Base-branch commits read, newest first. */
  commits: BranchCommit[]
  hosts: HostDeployment[]
  /** Hosts of the flake that no status names. */
  neverReported: string[]
  staleAfterMs: number
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

/** The base branch's recent commits from `GET /repos/{o}/{r}/commits?sha=BASE`. */
export function parseCommits(body: unknown): BranchCommit[] {
  if (!Array.isArray(body)) throw new Error('the commit list is not a JSON array')
  return body.flatMap(c => {
    if (!isRecord(c) || typeof c.sha !== 'string') return []
    const commit = isRecord(c.commit) ? c.commit : {}
    const committer = isRecord(commit.committer) ? commit.committer : {}
    const date = str(committer.date) ?? str(c.created) ?? ''
    const parents = Array.isArray(c.parents)
      ? c.parents.flatMap(p => (isRecord(p) && typeof p.sha === 'string' ? [p.sha] : []))
      : undefined
    return [parents ? { sha: c.sha, date, parents } : { sha: c.sha, date }]
  })
}

/** Statuses from `GET /repos/{o}/{r}/commits/{sha}/statuses`, either forge's shape; null entries skipped. */
export function parseStatuses(sha: string, body: unknown): CommitStatus[] {
  if (!Array.isArray(body)) throw new Error('the status list is not a JSON array')
  return body.flatMap(s => {
    if (!isRecord(s)) return []
    const context = str(s.context)
    const state = str(s.state) ?? str(s.status)
    if (context === undefined || state === undefined) return []
    return [
      {
        sha,
        context,
        state,
        description: str(s.description) ?? '',
        at: str(s.updated_at) ?? str(s.created_at) ?? ''
      }
    ]
  })
}

/** The boot parts a description says a reboot is pending for; "next boot" after `operation = "boot"`. */
export function pendingReboot(description: string): string[] {
  const m = /reboot pending \(([^)]*)\)/.exec(description)
  if (m) return m[1].split(/,\s*/).filter(Boolean)
  if (/^boots into \S+ at next reboot/.test(description)) return ['next boot']
  return []
}

/**
 * Each flake host's last report, from the statuses of the base branch's recent commits: the newest status per
 * `nixos-upgrade/<host>` context wins, wherever it is. A host is stale when its report is older than
 * `staleAfterMs`, or when the first base commit it has not deployed has been on the branch longer than that.
 */
export function fleetState(input: {
  base: string
  hosts: string[]
  commits: BranchCommit[]
  statuses: CommitStatus[]
  staleAfterMs: number
  now: Date
}): FleetState {
  const { commits, staleAfterMs, now } = input
  const index = new Map(commits.map((c, i) => [c.sha, i]))
  const latest = new Map<string, CommitStatus>()
  for (const s of input.statuses) {
    if (!s.context.startsWith(CONTEXT_PREFIX)) continue
    const host = s.context.slice(CONTEXT_PREFIX.length)
    const seen = latest.get(host)
    if (!seen || Date.parse(s.at) > Date.parse(seen.at)) latest.set(host, s)
  }
  const age = (iso: string): number => now.getTime() - Date.parse(iso)
  const days = (ms: number): string => `${Math.round((ms / 86400000) * 10) / 10} d`
  const hosts: HostDeployment[] = []
  for (const host of input.hosts) {
    const s = latest.get(host)
    if (!s) continue
    const behind = index.get(s.sha)
    // The oldest base commit the host has not deployed; past the commits read, the oldest one read.
    const firstMissed =
      behind === undefined ? commits[commits.length - 1] : behind > 0 ? commits[behind - 1] : undefined
    let staleReason: string | undefined
    if (Number.isFinite(age(s.at)) && age(s.at) > staleAfterMs) {
      staleReason = `last report ${days(age(s.at))} ago`
    } else if (
      firstMissed &&
      Number.isFinite(age(firstMissed.date)) &&
      age(firstMissed.date) > staleAfterMs
    ) {
      staleReason = `${behind === undefined ? `more than ${commits.length}` : behind} commit${behind === 1 ? '' : 's'} behind for ${days(age(firstMissed.date))}`
    }
    hosts.push({
      host,
      sha: s.sha,
      at: s.at,
      state: s.state,
      description: s.description,
      behind,
      rebootPending: pendingReboot(s.description),
      failed: s.state === 'failure' || s.state === 'error',
      stale: staleReason !== undefined,
      staleReason
    })
  }
  return {
    base: input.base,
    commits,
    hosts,
    neverReported: input.hosts.filter(h => !latest.has(h)),
    staleAfterMs
  }
}

/** How many base-branch commits are read, and how many status pages per commit at most. */
const COMMITS = 20
const STATUS_PAGES = 5

/** The base branch's recent commits (newest first) and every status posted on them, any context. */
export interface BranchStatuses {
  commits: BranchCommit[]
  statuses: CommitStatus[]
}

/**
 * Reads the base branch's last commits and their statuses (read-only). Forgejo pages with `limit` (capped by the
 * server, 50 by default), GitHub with `per_page` (up to 100).
 */
export async function readBranchStatuses(
  api: ApiClient,
  forge: ForgeKind,
  target: { owner: string; repo: string; base: string }
): Promise<BranchStatuses> {
  const base = repoPath(target.owner, target.repo)
  const size = forge === 'github' ? 100 : 50
  const paging = (n: number, page: number): string =>
    forge === 'github' ? `per_page=${n}&page=${page}` : `limit=${n}&page=${page}`
  const extra = forge === 'forgejo' ? '&stat=false&verification=false&files=false' : ''
  const list = await api.request(
    'Reading the base branch commits',
    'GET',
    `${base}/commits?sha=${encodeURIComponent(target.base)}&${paging(COMMITS, 1)}${extra}`
  )
  const commits = parseCommits(list.body).slice(0, COMMITS)
  const statuses: CommitStatus[] = []
  for (const c of commits) {
    let fetched = 0
    for (let page = 1; page <= STATUS_PAGES; page++) {
      const r = await api.request(
        'Reading commit statuses',
        'GET',
        `${base}/commits/${c.sha}/statuses?${paging(size, page)}`
      )
      statuses.push(...parseStatuses(c.sha, r.body))
      const n = Array.isArray(r.body) ? r.body.length : 0
      fetched += n
      // Forgejo may cap a page below `limit` (MAX_RESPONSE_ITEMS) and says how many there are in X-Total-Count.
      const total = Number(r.headers.get('x-total-count') ?? NaN)
      if (n === 0 || (Number.isFinite(total) ? fetched >= total : n < size)) break
    }
  }
  return { commits, statuses }
}

/** The fleet state from the base branch's statuses (the caller treats any error as a warning). */
export async function readFleetState(
  api: ApiClient,
  forge: ForgeKind,
  target: { owner: string; repo: string; base: string },
  hosts: string[],
  staleAfterMs: number,
  now: Date
): Promise<FleetState> {
  const { commits, statuses } = await readBranchStatuses(api, forge, target)
  return fleetState({ base: target.base, hosts, commits, statuses, staleAfterMs, now })
}
