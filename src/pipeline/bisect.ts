import * as fs from 'fs'
import * as path from 'path'
import { Git } from '../git/git'
import { Log } from '../log/log'
import { BisectReport, BisectStep } from '../types'

export interface Commit {
  rev: string
  subject: string
}

/** Input kinds whose history can be listed with git, and the repository URL to fetch it from. */
export function gitRepositoryUrl(locked: Record<string, unknown>): string | undefined {
  const str = (k: string): string | undefined => (typeof locked[k] === 'string' ? locked[k] : undefined)
  const owner = str('owner')
  const repo = str('repo')
  switch (str('type')) {
    case 'git':
      return str('url')
    case 'github':
      return owner && repo ? `https://${str('host') ?? 'github.com'}/${owner}/${repo}.git` : undefined
    case 'gitlab':
      return owner && repo ? `https://${str('host') ?? 'gitlab.com'}/${owner}/${repo}.git` : undefined
    case 'sourcehut':
      return owner && repo ? `https://${str('host') ?? 'git.sr.ht'}/${owner}/${repo}` : undefined
    default:
      return undefined
  }
}

/** A day before the old revision: history fetched from there, a margin for commits dated out of order. */
const SINCE_MARGIN_SECONDS = 86400

/**
 * The first-parent commits after `oldRev` up to `newRev`, oldest first, from a blobless fetch (commits and trees,
 * no file contents) of `ref` into a scratch repository under `scratchDir`. With `since` (the old revision's
 * lastModified, seconds) only the history from a day before it is fetched, not the whole of it.
 */
export async function listCommits(
  url: string,
  ref: string | undefined,
  oldRev: string,
  newRev: string,
  scratchDir: string,
  since?: number
): Promise<Commit[]> {
  const dir = fs.mkdtempSync(path.join(scratchDir, 'bisect-'))
  try {
    const git = await Git.create(dir)
    await git.output(['init', '-q', '--bare'])
    const fetched = await git.exec(
      [
        'fetch',
        '-q',
        '--no-tags',
        '--filter=blob:none',
        ...(since === undefined
          ? []
          : [`--shallow-since=${new Date((since - SINCE_MARGIN_SECONDS) * 1000).toISOString()}`]),
        url,
        // Nix 2.8 locks `ref = "main"`, newer Nix `ref = "refs/heads/main"`.
        ref ? (ref.startsWith('refs/') ? ref : `refs/heads/${ref}`) : 'HEAD'
      ],
      { timeoutSeconds: 1800 }
    )
    if (fetched.exitCode !== 0) {
      throw new Error(`fetching ${url} failed: ${fetched.stderr.trim().split('\n').slice(-3).join(' ')}`)
    }
    for (const rev of [oldRev, newRev]) {
      if ((await git.exec(['cat-file', '-e', `${rev}^{commit}`])).exitCode !== 0)
        throw new Error(`${rev} is not in the history of ${ref ?? 'the default branch'} of ${url}`)
    }
    if ((await git.exec(['merge-base', '--is-ancestor', oldRev, newRev])).exitCode !== 0)
      throw new Error(`${oldRev.slice(0, 12)} is not an ancestor of ${newRev.slice(0, 12)}`)
    const out = await git.output([
      'log',
      '--first-parent',
      '--reverse',
      '--format=%H %s',
      `${oldRev}..${newRev}`
    ])
    return out
      .split('\n')
      .filter(Boolean)
      .map(l => ({ rev: l.slice(0, l.indexOf(' ') < 0 ? l.length : l.indexOf(' ')), subject: l.slice(41) }))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Binary search for the first bad commit: the old revision builds, `commits` (oldest first) end at the new one,
 * which does not. `tryRev` builds the hosts at a revision; at most `maxBuilds` builds, then the narrowed range.
 */
export async function bisectCommits(input: {
  input: string
  hosts: string[]
  oldRev: string
  commits: Commit[]
  maxBuilds: number
  tryRev: (rev: string) => Promise<boolean>
  log: Log
}): Promise<BisectReport> {
  const { commits, maxBuilds, tryRev, log } = input
  const steps: BisectStep[] = []
  // Indices: -1 is the old revision (good); the last commit is the new revision (bad).
  let good = -1
  let bad = commits.length - 1
  while (bad - good > 1 && steps.length < maxBuilds) {
    const mid = Math.floor((good + bad) / 2)
    const rev = commits[mid].rev
    const start = Date.now()
    const built = await tryRev(rev)
    steps.push({ rev, built, seconds: (Date.now() - start) / 1000 })
    log.info(
      `Bisecting ${input.input}: ${rev.slice(0, 12)} ${built ? 'builds' : 'fails'} (${bad - good - 1} commits left before it)`
    )
    if (built) good = mid
    else bad = mid
  }
  const report: BisectReport = { input: input.input, hosts: input.hosts, commits: commits.length, steps }
  if (commits.length === 0) return { ...report, error: 'no commits between the old and the new revision' }
  if (bad - good === 1) return { ...report, firstBad: commits[bad] }
  return {
    ...report,
    good: good < 0 ? input.oldRev : commits[good].rev,
    bad: commits[bad].rev,
    remaining: bad - good
  }
}
