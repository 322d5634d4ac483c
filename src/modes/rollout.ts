import { errorMessage } from '../errors'
import { NewStatus } from '../forge/forge'
import { ForgejoForge } from '../forge/forgejo'
import { BranchStatuses, fleetState, readBranchStatuses } from '../forge/fleet-state'
import { GitHubForge } from '../forge/github'
import { ApiClient, ForgeError, HttpOptions } from '../forge/http'
import { ForgeKind } from '../forge/kind'
import { Log } from '../log/log'
import { localMachine, poolOptions } from '../nix/evalpool'
import { Nix } from '../nix/nix'
import { discover } from '../pipeline/discover'
import { fleetStateLines } from '../report/fleet-state'
import { rolloutLines } from '../report/rollout'
import { runUrl } from '../report/run-link'
import { GateStatus, HostWave, RolloutHalt, RolloutPlan, planRollout } from '../rollout/gates'
import { evaluateWaves } from '../rollout/waves'
import { InputError, Settings } from '../settings'
import { forgeEndpoints } from '../forge/connect'

/** Where the forge's API is and which repository: what forgeEndpoints (forge/connect.ts) derives. */
export interface ForgeEndpoints {
  apiUrl: string
  serverUrl: string
  graphqlUrl: string
  owner: string
  repo: string
}

/** Everything `mode: rollout` needs, given explicitly. */
export interface RolloutContext {
  settings: Pick<
    Settings,
    | 'flakeDir'
    | 'hosts'
    | 'excludeHosts'
    | 'excludeHostsSource'
    | 'baseBranch'
    | 'token'
    | 'forge'
    | 'dryRun'
    | 'staleAfterMs'
    | 'rollout'
    | 'evalMemory'
    | 'evalWorkers'
    | 'evalChunkSize'
  >
  nix: Nix
  log: Log
  env: NodeJS.ProcessEnv
  /** The forge's API and the repository; undefined when they could not be found (then the run fails). */
  endpoints: ForgeEndpoints | undefined
  now: Date
  http?: HttpOptions
}

export interface RolloutResult {
  /** Every host considered, with its wave. */
  hosts: HostWave[]
  plan: RolloutPlan
  /** The statuses this run posted (none on a dry run). */
  posted: GateStatus[]
  halted?: RolloutHalt
  /** The job summary's Markdown: the "Rollout" and "Fleet state" sections. */
  markdown: string
}

/** What a forge's refusal to take a status means for the token. */
function refusalHint(e: unknown, forge: ForgeKind): string {
  if (!(e instanceof ForgeError) || (e.status !== 403 && e.status !== 404)) return ''
  return forge === 'github'
    ? ' (the token may not write commit statuses: give the workflow `permissions: statuses: write`, or use a token with "Commit statuses: read and write")'
    : ' (the token may not write commit statuses: use a token with write:repository of an account with write access to the repository)'
}

/**
 * `mode: rollout`: reads each host's wave (one evaluation of that option, no system built), the base branch's
 * statuses (the hosts' reports and the gates), and posts the gates that are due, each once. Outputs
 * `rollout-gates` and `rollout-halted`, the job summary gets the "Rollout" section. Nothing is updated, built,
 * pushed or opened. A status that cannot be posted fails the run after the outputs and the summary are written.
 */
export async function runRollout(ctx: RolloutContext): Promise<RolloutResult> {
  const { settings, nix, log, now } = ctx
  if (!settings.token)
    throw new InputError("Input 'token' is empty: mode rollout reads and posts commit statuses")
  const endpoints = ctx.endpoints
  if (!endpoints) {
    throw new InputError(
      "mode rollout needs the repository (GITHUB_REPOSITORY as OWNER/NAME) and the forge's API ('api-url' or GITHUB_API_URL)"
    )
  }
  const found = await log.group('Discover hosts', () =>
    discover(nix, settings.flakeDir, settings.hosts, settings.excludeHosts, settings.excludeHostsSource)
  )
  const budget = poolOptions(settings, 1, localMachine()).budget
  const hosts = await log.group('Read the rollout waves', async () => {
    const waves = await evaluateWaves(nix, settings.flakeDir, found.hosts, budget)
    for (const w of waves.filter(x => x.error !== undefined)) {
      log.warning(`The rollout wave of ${w.host} could not be evaluated, so it counts as wave 0: ${w.error}`)
    }
    log.info(waves.map(w => `${w.host}: wave ${w.wave}`).join(', '))
    return waves
  })
  const api = new ApiClient(endpoints.apiUrl, settings.token, ctx.http ?? { attempts: 3, timeoutMs: 15000 })
  const branch: BranchStatuses = await log.group('Read the fleet state', () =>
    readBranchStatuses(api, settings.forge, {
      owner: endpoints.owner,
      repo: endpoints.repo,
      base: settings.baseBranch
    })
  )
  const plan = planRollout({
    commits: branch.commits,
    statuses: branch.statuses,
    hosts,
    soakMs: settings.rollout.soakMs,
    requireAll: settings.rollout.requireAll,
    now
  })

  const posted: GateStatus[] = []
  const failures: string[] = []
  if (settings.dryRun) {
    for (const p of plan.post) log.info(`Dry run: would post ${p.context} ${p.state} on ${p.commit}`)
  } else if (plan.post.length > 0) {
    const forge =
      settings.forge === 'forgejo'
        ? new ForgejoForge(
            endpoints.apiUrl,
            settings.token,
            endpoints.owner,
            endpoints.repo,
            endpoints.serverUrl,
            log,
            ctx.http
          )
        : new GitHubForge(
            endpoints.apiUrl,
            settings.token,
            endpoints.owner,
            endpoints.repo,
            endpoints.serverUrl,
            endpoints.graphqlUrl,
            ctx.http
          )
    const targetUrl = runUrl(ctx.env, settings.forge)
    await log.group('Post the gates', async () => {
      for (const p of plan.post) {
        const status: NewStatus = {
          state: p.state,
          context: p.context,
          description: p.description,
          targetUrl
        }
        try {
          await forge.postStatus(p.commit, status)
          posted.push(p)
          log.info(`Posted ${p.context} ${p.state} on ${p.commit}: ${p.description}`)
        } catch (e) {
          failures.push(`${p.context} on ${p.commit}: ${errorMessage(e)}${refusalHint(e, settings.forge)}`)
        }
      }
    })
  }
  if (plan.halted) {
    log.warning(
      `The rollout is halted at ${plan.halted.commit.slice(0, 7)} by wave ${plan.halted.wave}: ${plan.halted.reason}`,
      { title: 'Rollout halted' }
    )
  }

  const state = fleetState({
    base: settings.baseBranch,
    hosts: found.hosts,
    commits: branch.commits,
    statuses: branch.statuses,
    staleAfterMs: settings.staleAfterMs,
    now
  })
  const markdown = [
    `## Rollout of ${settings.baseBranch}`,
    ...rolloutLines(plan, {
      base: settings.baseBranch,
      soakMs: settings.rollout.soakMs,
      requireAll: settings.rollout.requireAll,
      posted: settings.dryRun ? undefined : posted
    }),
    ...fleetStateLines(state)
  ].join('\n')
  log.output('hosts', JSON.stringify(found.hosts))
  log.output('rollout-halted', plan.halted ? JSON.stringify(plan.halted) : '')
  // As it happened: a gate that was not posted (a dry run, a refusal) leaves the wave on the gate it had.
  const gates = plan.gates.flatMap(g => {
    const made = posted.some(p => p.wave === g.wave && p.commit === g.commit && p.state === 'success')
    if (!g.posted || made) return [{ wave: g.wave, commit: g.commit, posted: g.posted }]
    return g.previous ? [{ wave: g.wave, commit: g.previous, posted: false }] : []
  })
  log.output('rollout-gates', JSON.stringify(gates))
  log.summary(`${markdown}\n`)
  if (failures.length > 0) throw new Error(`Could not post ${failures.join('; ')}`)
  return { hosts, plan: { ...plan, gates }, posted, halted: plan.halted, markdown }
}

/**
 * `mode: rollout` from the settings: the forge's endpoints from the runner's environment (none when they cannot
 * be found: runRollout then fails naming what is missing) and Nix with the settings' arguments.
 */
export async function runRolloutMode(
  settings: Settings,
  env: NodeJS.ProcessEnv,
  log: Log,
  now: Date
): Promise<RolloutResult> {
  let endpoints: ForgeEndpoints | undefined
  try {
    endpoints = forgeEndpoints(settings, env)
  } catch {
    endpoints = undefined
  }
  const nix = await Nix.create(settings.nixArgs, log)
  return runRollout({ settings, nix, log, env, endpoints, now })
}
