import * as path from 'path'
import { Log } from '../log/log'
import { EvalPoolOptions } from '../nix/evalpool'
import { LockChange } from '../nix/lock'
import { holdBackArgs, holdBackProblem } from '../nix/lock-compose'
import { Nix } from '../nix/nix'
import { BuildResult, buildHosts } from './build'

/**
 * How a regressed host's breakage is explained: `single` one input (holding it back makes the host build);
 * `together` several inputs together (holding back any one of them is enough); `each` several inputs that each
 * break it on their own (all must be held back); `unexplained` none of these (every changed input is held back);
 * `unknown` the build bound was reached first.
 */
export type CulpritKind = 'single' | 'together' | 'each' | 'unexplained' | 'unknown'

export interface HostAttribution {
  host: string
  kind: CulpritKind
  /** The inputs held back for this host. */
  culprits: string[]
}

/** One build of the regressed hosts with some inputs held back. */
export interface AttributionBuild {
  heldBack: string[]
  hosts: string[]
  /** Hosts that built. */
  built: string[]
  seconds: number
}

export interface Attribution {
  /** Top-level inputs whose lock entry changed, in the lock's order. */
  candidates: string[]
  /** Changed inputs that cannot be held back (new in this update, or not nameable as a flake reference). */
  notHeldBack: { input: string; why: string }[]
  hosts: HostAttribution[]
  builds: AttributionBuild[]
  /** The bound stopped the search before every host was explained. */
  boundReached: boolean
}

/** Builds `hosts` with `heldBack` inputs at their old revision; returns the hosts that built. */
export type TryBuild = (heldBack: string[], hosts: string[]) => Promise<Set<string>>

/** The top-level inputs a lock change belongs to (`home-manager/nixpkgs` → `home-manager`), each once. */
export function changedTopInputs(changes: LockChange[]): string[] {
  return [...new Set(changes.map(c => c.input.split('/')[0]))]
}

/**
 * Names the inputs that break each regressed host. One changed input explains every regression without a build.
 * Otherwise the regressed hosts are built with each changed input held back in turn (one build per input, all
 * hosts in it); a host none of those fixes is built with all inputs but one held back, to find inputs that break
 * it on their own. At most `maxBuilds` builds; the same set of held-back inputs is never built twice.
 */
export async function attributeRegressions(input: {
  regressed: string[]
  candidates: string[]
  maxBuilds: number
  tryBuild: TryBuild
  log: Log
}): Promise<Omit<Attribution, 'notHeldBack'>> {
  const { regressed, candidates, maxBuilds, tryBuild, log } = input
  const builds: AttributionBuild[] = []
  if (regressed.length === 0 || candidates.length === 0) {
    return { candidates, hosts: [], builds, boundReached: false }
  }
  if (candidates.length === 1) {
    return {
      candidates,
      hosts: regressed.map(host => ({ host, kind: 'single', culprits: [...candidates] })),
      builds,
      boundReached: false
    }
  }
  const memo = new Map<string, Map<string, boolean>>()
  let boundReached = false
  /** The hosts of `hosts` that build with `heldBack` held back; undefined once the bound is reached. */
  const attempt = async (heldBack: string[], hosts: string[]): Promise<Set<string> | undefined> => {
    const key = [...heldBack].sort().join('\n')
    const known = memo.get(key) ?? new Map<string, boolean>()
    const todo = hosts.filter(h => !known.has(h))
    if (todo.length > 0) {
      if (builds.length >= maxBuilds) {
        boundReached = true
        return undefined
      }
      const start = Date.now()
      const built = await tryBuild(heldBack, todo)
      const seconds = (Date.now() - start) / 1000
      builds.push({ heldBack, hosts: todo, built: todo.filter(h => built.has(h)), seconds })
      log.info(
        `Held back ${heldBack.join(', ')}: ${todo.filter(h => built.has(h)).length} of ${todo.length} regressed hosts build (${seconds.toFixed(1)} s)`
      )
      for (const h of todo) known.set(h, built.has(h))
      memo.set(key, known)
    }
    return new Set(hosts.filter(h => known.get(h)))
  }

  const fixes = new Map<string, Set<string>>()
  for (const c of candidates) {
    const built = await attempt([c], regressed)
    if (!built) break
    fixes.set(c, built)
  }
  const result = new Map<string, HostAttribution>()
  const unexplained: string[] = []
  for (const host of regressed) {
    const necessary = candidates.filter(c => fixes.get(c)?.has(host))
    if (necessary.length === 1) result.set(host, { host, kind: 'single', culprits: necessary })
    else if (necessary.length > 1) result.set(host, { host, kind: 'together', culprits: necessary })
    else if (fixes.size < candidates.length)
      result.set(host, { host, kind: 'unknown', culprits: [...candidates] })
    else unexplained.push(host)
  }
  if (unexplained.length > 0) {
    log.info(
      `No single input held back makes ${unexplained.join(', ')} build: holding back all inputs but one in turn`
    )
    const breaks = new Map<string, Set<string>>()
    for (const c of candidates) {
      const built = await attempt(
        candidates.filter(x => x !== c),
        unexplained
      )
      if (!built) break
      breaks.set(c, new Set(unexplained.filter(h => !built.has(h))))
    }
    for (const host of unexplained) {
      const alone = candidates.filter(c => breaks.get(c)?.has(host))
      if (breaks.size < candidates.length && alone.length === 0)
        result.set(host, { host, kind: 'unknown', culprits: [...candidates] })
      else if (alone.length > 0)
        result.set(host, { host, kind: alone.length === 1 ? 'single' : 'each', culprits: alone })
      else result.set(host, { host, kind: 'unexplained', culprits: [...candidates] })
    }
  }
  if (boundReached) log.info(`Attribution stopped at its bound of ${maxBuilds} builds`)
  return { candidates, hosts: regressed.map(h => result.get(h) as HostAttribution), builds, boundReached }
}

/** Inputs that some regressed host's attribution holds back, in the candidates' order. */
export function culpritInputs(a: Pick<Attribution, 'candidates' | 'hosts'>): string[] {
  const all = new Set(a.hosts.flatMap(h => h.culprits))
  return a.candidates.filter(c => all.has(c))
}

/** `--override-input` arguments holding back `inputs` at their node in `oldLock`. */
export function holdBackFlakeArgs(oldLock: string, inputs: string[]): string[] {
  return inputs.flatMap(i => {
    const args = holdBackArgs(oldLock, i)
    if (!args) throw new Error(`Cannot name ${i}'s old lock entry as a flake reference`)
    return args
  })
}

/** Changed inputs that can be held back, and why the others cannot. */
export function holdBackCandidates(
  oldLock: string,
  newLock: string,
  changes: LockChange[]
): { candidates: string[]; notHeldBack: { input: string; why: string }[] } {
  const candidates: string[] = []
  const notHeldBack: { input: string; why: string }[] = []
  for (const input of changedTopInputs(changes)) {
    const why =
      holdBackProblem(oldLock, newLock, input) ??
      (holdBackArgs(oldLock, input) ? undefined : 'its old lock entry cannot be named as a flake reference')
    if (why) notHeldBack.push({ input, why })
    else candidates.push(input)
  }
  return { candidates, notHeldBack }
}

/** Builds with held-back inputs through `--override-input`, each build with its own GC roots under `rootsDir`. */
export function overrideBuilder(
  nix: Nix,
  flake: string,
  oldLock: string,
  rootsDir: string,
  pool: EvalPoolOptions,
  keep?: (heldBack: string[], build: BuildResult) => void
): TryBuild {
  let n = 0
  return async (heldBack, hosts) => {
    const flakeArgs = holdBackFlakeArgs(oldLock, heldBack)
    const r = await buildHosts(nix, flake, hosts, path.join(rootsDir, `held-${++n}`), pool, { flakeArgs })
    keep?.(heldBack, r)
    return new Set(hosts.filter(h => r.hosts.get(h)?.status === 'built'))
  }
}
