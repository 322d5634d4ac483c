/**
 * The ephemeral-runner scenario: a runner that starts with an empty Nix store every night (a GitHub-hosted runner,
 * a fresh container). The action runs twice on such a store, once without a binary cache and once with `push-to`
 * pointing at the cache that the previous night's run filled (its new systems are tonight's "before" systems).
 * An empty store is an empty tmpfs on /nix in a mount namespace of the action's own: same store path, same
 * hashes, nothing of the host's store visible. Needs root (unshare, mount).
 */
import { execFileSync, spawnSync } from 'child_process'
import * as fs from 'fs'
import * as path from 'path'
import { Fleet, createFleet } from './fleet'
import { phaseTimings } from './measure'
import { parseOutputFile } from '../testkit/outputs'

export interface EphemeralRun {
  wallSeconds: number
  /** The "Build before the update" phase, plus "Open the binary cache" when the run had one. */
  beforeSeconds: number
  /** Derivations built and paths fetched in the "before" phase, from its log. */
  beforeBuilt: number
  beforeFetched: number
  phases: Record<string, number>
  log: string
}

export interface EphemeralResult {
  hosts: number
  /** Generating the fleet, building its current systems and filling the cache (not measured). */
  setupSeconds: number
  /** Paths in the cache of the previous night. */
  cachePaths: number
  runs: { cold?: EphemeralRun; cached?: EphemeralRun }
  errors: { cold?: string; cached?: string; setup?: string }
  /** beforeSeconds with the cache over beforeSeconds without it. */
  ratio?: number
}

/** Why an empty store of the action's own cannot be made here. */
export function ephemeralUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'an empty /nix in a mount namespace needs root'
  const r = spawnSync('unshare', [
    '--mount',
    '--propagation',
    'private',
    '--',
    'mount',
    '-t',
    'tmpfs',
    'x',
    '/nix'
  ])
  return r.status === 0
    ? undefined
    : `unshare --mount with a tmpfs on /nix failed: ${String(r.stderr ?? r.error)}`
}

function groupOf(log: string, name: string): string {
  const start = log.indexOf(`::group::${name}`)
  if (start < 0) return ''
  const end = log.indexOf('::endgroup::', start)
  return log.slice(start, end < 0 ? undefined : end)
}

/** Runs the action (dry run) on an empty store; throws when it did not build and diff every host. */
function runOnEmptyStore(
  fleet: Fleet,
  action: string,
  inputs: Record<string, string>,
  logFile: string
): EphemeralRun {
  const dir = fs.mkdtempSync(path.join(fleet.root, 'ephemeral-'))
  const file = (name: string): string => path.join(dir, name)
  for (const f of ['output', 'summary', 'state']) fs.writeFileSync(file(f), '')
  fs.mkdirSync(file('xdg-cache'))
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!/^(INPUT_|GITHUB_)/.test(k)) env[k] = v
  Object.assign(env, {
    'INPUT_DRY-RUN': 'true',
    INPUT_FLAKE: '.',
    'INPUT_EXCLUDE-HOSTS': '.*-minimal',
    'INPUT_FAIL-ON-REGRESSION': 'false',
    GITHUB_WORKSPACE: fleet.fleetDir,
    GITHUB_OUTPUT: file('output'),
    GITHUB_STEP_SUMMARY: file('summary'),
    GITHUB_STATE: file('state'),
    RUNNER_TEMP: dir,
    // A fresh runner has no evaluation or narinfo cache either.
    XDG_CACHE_HOME: file('xdg-cache'),
    ...Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v]))
  })
  // Node mounts the empty store itself: a shell in between would drop the INPUT_ variables with a dash.
  const prelude =
    "require('child_process').execFileSync('mount', ['-t', 'tmpfs', '-o', 'mode=0755', 'nfu-empty-store', '/nix']); require(process.argv[1])"
  const fd = fs.openSync(logFile, 'w')
  const start = process.hrtime.bigint()
  const r = spawnSync(
    'unshare',
    ['--mount', '--propagation', 'private', '--', process.execPath, '-e', prelude, action],
    { cwd: fleet.fleetDir, env, stdio: ['ignore', fd, fd] }
  )
  const wallSeconds = Number(process.hrtime.bigint() - start) / 1e9
  fs.closeSync(fd)
  const log = fs.readFileSync(logFile, 'utf8')
  if (r.status !== 0) throw new Error(`the action exited with ${r.status ?? r.signal}; log ${logFile}`)
  const outputs = parseOutputFile(fs.readFileSync(file('output'), 'utf8'))
  const failed = JSON.parse(outputs['failed-hosts'] ?? '[]') as string[]
  if ((JSON.parse(outputs.hosts ?? '[]') as string[]).length !== fleet.hosts.length || failed.length > 0)
    throw new Error(`the action did not build all ${fleet.hosts.length} hosts; log ${logFile}`)
  const phases = phaseTimings(log)
  const before = groupOf(log, 'Build before the update')
  return {
    wallSeconds,
    beforeSeconds: (phases['Build before the update'] ?? 0) + (phases['Open the binary cache'] ?? 0),
    beforeBuilt: (before.match(/^building '/gm) ?? []).length,
    beforeFetched: (before.match(/^copying path '[^']+' from /gm) ?? []).length,
    phases,
    log: logFile
  }
}

/**
 * One fleet of `size` hosts: its current systems are built here and pushed, signed, to a file:// cache as the
 * previous night's run would have; then the action runs on an empty store without and with that cache.
 */
export function runEphemeral(
  size: number,
  repo: string,
  tmp: string,
  action: string,
  nix: string,
  logs: string
): EphemeralResult {
  const out: EphemeralResult = { hosts: size, setupSeconds: 0, cachePaths: 0, runs: {}, errors: {} }
  const setupStart = Date.now()
  const fleet = createFleet(repo, tmp, size, 'ephemeral', nix)
  const cache = path.join(fleet.root, 'cache')
  let secret: string
  try {
    execFileSync('nix-store', ['--generate-binary-cache-key', 'bench-1', `${cache}.sec`, `${cache}.pub`])
    secret = fs.readFileSync(`${cache}.sec`, 'utf8').trim()
    const installables = fleet.hosts.map(h => `.#nixosConfigurations."${h}".config.system.build.toplevel`)
    const built = execFileSync(nix, ['build', '--no-link', '--json', '--max-jobs', 'auto', ...installables], {
      cwd: fleet.fleetDir,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe']
    })
    const systems = (JSON.parse(built) as { outputs: { out: string } }[]).map(b => b.outputs.out)
    execFileSync(nix, ['copy', '--to', `file://${cache}?secret-key=${cache}.sec`, ...systems], {
      stdio: 'pipe'
    })
    out.cachePaths = fs.readdirSync(cache).filter(f => f.endsWith('.narinfo')).length
  } catch (e) {
    out.errors.setup = e instanceof Error ? e.message : String(e)
    fs.rmSync(fleet.root, { recursive: true, force: true })
    return out
  }
  out.setupSeconds = (Date.now() - setupStart) / 1000
  const variants: [keyof EphemeralResult['runs'], Record<string, string>][] = [
    ['cold', {}],
    ['cached', { 'push-to': `file://${cache}`, 'push-signing-key': secret }]
  ]
  for (const [name, inputs] of variants) {
    process.stderr.write(
      `${size} hosts, ephemeral runner ${name === 'cold' ? 'without' : 'with'} the cache: `
    )
    try {
      const r = runOnEmptyStore(fleet, action, inputs, path.join(logs, `${size}-ephemeral-${name}.log`))
      out.runs[name] = r
      process.stderr.write(`${r.wallSeconds.toFixed(1)} s\n`)
    } catch (e) {
      out.errors[name] = e instanceof Error ? e.message : String(e)
      process.stderr.write(`FAILED\n${out.errors[name]}\n`)
    }
  }
  fs.rmSync(fleet.root, { recursive: true, force: true })
  const { cold, cached } = out.runs
  if (cold && cached && cold.beforeSeconds > 0) out.ratio = cached.beforeSeconds / cold.beforeSeconds
  return out
}

export function ephemeralTable(results: EphemeralResult[]): string {
  const lines = [
    'hosts  cache    wall s  "before" s  before: built  fetched  after s',
    '-----  -------  ------  ----------  -------------  -------  -------'
  ]
  for (const r of results) {
    for (const name of ['cold', 'cached'] as const) {
      const run = r.runs[name]
      const error = r.errors[name] ?? r.errors.setup
      const cells = run
        ? [
            run.wallSeconds.toFixed(1).padStart(6),
            run.beforeSeconds.toFixed(1).padStart(10),
            String(run.beforeBuilt).padStart(13),
            String(run.beforeFetched).padStart(7),
            (run.phases['Build after the update'] ?? 0).toFixed(1).padStart(7)
          ]
        : [`FAILED: ${error ?? '?'}`]
      lines.push(
        `${String(r.hosts).padStart(5)}  ${(name === 'cold' ? 'none' : 'file://').padEnd(7)}  ${cells.join('  ')}`
      )
    }
  }
  return lines.join('\n')
}

/** The target: with the cache, the "before" phase costs at most 0.2 × building it, and builds nothing. */
export function ephemeralTargets(
  results: EphemeralResult[]
): { name: string; pass?: boolean; value: string }[] {
  const r = results.find(x => x.hosts === 50) ?? results[0]
  const cached = r?.runs.cached
  return [
    {
      name: `"before" with cache / without at ${r?.hosts ?? 50} h <= 0.2`,
      pass: r?.ratio === undefined ? undefined : r.ratio <= 0.2 && cached?.beforeBuilt === 0,
      value:
        r?.ratio === undefined
          ? 'not run'
          : `${r.ratio.toFixed(3)} (${cached?.beforeSeconds.toFixed(1)} s / ${r.runs.cold?.beforeSeconds.toFixed(1)} s, ${cached?.beforeBuilt} built)`
    }
  ]
}
