import * as io from '@actions/io'
import * as fs from 'fs'
import { ExecResult, runProcess, runQuick, tail } from '../exec'
import { storeCredentials } from './cache'
import { PathInfoMap, parsePathInfo } from './closure'
import { BUILT_ATTRIBUTE, ConfigurationSet, Platforms, parsePlatforms } from './configurations'
import { singleToplevelExpr, singleWaveExpr, toplevelsExpr, wavesExpr } from './expr'
import { Log, MemoryLog } from '../log/log'
import { stripWarnings, unreachableCaches } from './stderr'

export interface NixVersion {
  /** `Nix` or `Lix` (or another implementation's name as it prints it). */
  implementation: string
  major: number
  minor: number
  patch: number
  text: string
}

/** Parses `nix --version`: `nix (Nix) 2.8.0`, `nix (Lix, like Nix) 2.91.1`, `nix (Determinate Nix 3.6.2) 2.29.0`. */
export function parseNixVersion(text: string): NixVersion {
  const line = text.trim().split('\n')[0] ?? ''
  const m = /(\d+)\.(\d+)(?:\.(\d+))?[^\s]*\s*$/.exec(line)
  if (!m) throw new Error(`Cannot read the Nix version from: ${JSON.stringify(line.slice(0, 200))}`)
  const implementation = /\bLix\b/.test(line) ? 'Lix' : 'Nix'
  return { implementation, major: +m[1], minor: +m[2], patch: +(m[3] ?? 0), text: line }
}

/** Arguments that update flake.lock in the current directory, for the Nix in use. */
export function flakeUpdateArgs(version: NixVersion, inputs: string[]): string[] {
  if (inputs.length === 0) return ['flake', 'update']
  // Nix 2.19 made `nix flake update` take input names; Lix has them too and dropped `--update-input`.
  if (version.implementation === 'Lix' || version.major > 2 || version.minor >= 19)
    return ['flake', 'update', ...inputs]
  return ['flake', 'lock', ...inputs.flatMap(i => ['--update-input', i])]
}

/** A binary cache the builds may fetch from, with the public key that its paths must be signed by. */
export interface Substituter {
  url: string
  publicKey: string
}

/** `nix path-info` of the closures of `paths` as JSON in the shape `parsePathInfo` reads, for the Nix in use. */
export function pathInfoArgs(version: NixVersion, paths: string[]): string[] {
  // Nix 2.33 deprecated `--json` without `--json-format` (a warning now, an error later); Lix has no such flag.
  const format = version.implementation === 'Nix' && (version.major > 2 || version.minor >= 33)
  return ['path-info', '--recursive', '--json', ...(format ? ['--json-format', '1'] : []), ...paths]
}

/** `nix eval` of a function applied to the flake's whole `nixosConfigurations` (or `set`), as JSON: every host query. */
export function applyToConfigurations(
  flake: string,
  apply: string,
  set: ConfigurationSet = 'nixosConfigurations'
): string[] {
  return ['eval', ...EVAL_FLAGS, '--json', `${flake}#${set}`, '--apply', apply]
}

/** `nix show-config` became `nix config show` in Nix 2.20; Lix keeps the old name. */
export function showConfigArgs(version: NixVersion): string[] {
  const renamed = version.implementation === 'Nix' && (version.major > 2 || version.minor >= 20)
  return [...(renamed ? ['config', 'show'] : ['show-config']), '--json']
}

/**
 * A host's evaluated system (with the platform its derivation is for, when it has one), or Nix's error; either way
 * with the evaluation warnings printed for it.
 */
export type ToplevelResult = ({ drvPath: string; outPath: string; system?: string } | { error: string }) & {
  warnings: string[]
}

/**
 * Every evaluation reads flake.lock and never writes it: otherwise Nix would lock an input that flake.nix names
 * and flake.lock lacks, before the old lock was compared with the new one.
 */
export const EVAL_FLAGS = ['--no-write-lock-file']

/** Oldest Nix whose flake and JSON interfaces this action relies on. */
export const MIN_NIX = { major: 2, minor: 8 }

/** Every call to Nix goes through here: the binaries, the version's quirks, and the user's extra arguments. */
export class Nix {
  private constructor(
    private readonly nixBin: string,
    private readonly nixStoreBin: string,
    readonly version: NixVersion,
    private readonly extraArgs: string[],
    private readonly log: Log
  ) {}

  /** Where builds also look for prebuilt paths (besides the configured substituters), set by the caller. */
  substituter?: Substituter

  static async create(extraArgs: string[] = [], log: Log = new MemoryLog()): Promise<Nix> {
    const nixBin = await io.which('nix', false)
    if (!nixBin) {
      throw new Error('nix was not found on PATH: install Nix (2.8 or later, or Lix) before this step')
    }
    const nixStoreBin = (await io.which('nix-store', false)) || 'nix-store'
    const r = await runQuick(nixBin, ['--version'])
    if (r.exitCode !== 0) throw new Error(`nix --version failed (exit ${r.exitCode}): ${tail(r.stderr, 5)}`)
    const version = parseNixVersion(r.stdout)
    if (version.major < MIN_NIX.major || (version.major === MIN_NIX.major && version.minor < MIN_NIX.minor)) {
      throw new Error(`${version.text} is too old: nixos-fleet-update needs Nix 2.8 or later (or Lix)`)
    }
    return new Nix(nixBin, nixStoreBin, version, extraArgs, log)
  }

  private async nix(
    args: string[],
    options: { cwd?: string; stream?: boolean; env?: Record<string, string>; memoryLimit?: number } = {}
  ): Promise<ExecResult> {
    // Global flags go before the subcommand, where every Nix version accepts them.
    const r = await runProcess(
      this.nixBin,
      ['--extra-experimental-features', 'nix-command flakes', ...args, ...this.extraArgs],
      {
        cwd: options.cwd,
        streamStderr: options.stream ? chunk => this.log.write(chunk) : undefined,
        env: options.env,
        memoryLimit: options.memoryLimit
      }
    )
    // A store named with --store or --to is a target, not a substituter: its errors are reported where it is used.
    if (!args.includes('--store') && !args.includes('--to')) this.noteUnreachableCaches(r.stderr)
    return r
  }

  private readonly unreachableCaches = new Set<string>()

  /**
   * Nix retries an unreachable binary cache for seconds in every call before it goes on without it; the step
   * still works, so this only says so, once per cache, with what to change.
   */
  private noteUnreachableCaches(stderr: string): void {
    for (const url of unreachableCaches(stderr)) {
      if (this.unreachableCaches.has(url)) continue
      this.unreachableCaches.add(url)
      this.log.warning(
        `The binary cache ${url} is unreachable (unable to download ${url}/nix-cache-info): every Nix call waits for it before going on without it. ` +
          `Without network access set no substituters (NIX_CONFIG='substituters =', or nix-args: --option substituters ''); ` +
          `otherwise point substituters at a cache this machine can reach.`,
        { title: 'Binary cache unreachable' }
      )
    }
  }

  /** Names of `nixosConfigurations` (or `set`), from one evaluation. */
  async hostNames(flake: string, set: ConfigurationSet = 'nixosConfigurations'): Promise<string[]> {
    const r = await this.nix(applyToConfigurations(flake, 'builtins.attrNames', set))
    if (r.exitCode !== 0) {
      throw new Error(`Cannot list ${set} of flake ${flake}:\n${tail(r.stderr, 30)}`)
    }
    const names: unknown = JSON.parse(r.stdout)
    if (!Array.isArray(names) || !names.every(n => typeof n === 'string')) {
      throw new Error(`${set} of flake ${flake} did not evaluate to an attribute set`)
    }
    return names
  }

  private platformsRead?: Promise<Platforms | undefined>

  /** The platforms this Nix builds for, here and on its remote builders (read once); undefined when it cannot say. */
  platforms(): Promise<Platforms | undefined> {
    this.platformsRead ??= this.nix(showConfigArgs(this.version)).then(r =>
      r.exitCode === 0 ? parsePlatforms(r.stdout, readOptional) : undefined
    )
    return this.platformsRead
  }

  /**
   * One `nix eval` of the toplevels of `hosts` (several: each through tryEval; one: without, so that Nix prints
   * the real error), killed once its resident memory goes over `memoryLimit` bytes. evalpool.ts reads the result.
   * `flakeArgs` (`--override-input NAME REF`) evaluate the flake with inputs other than its lock's.
   */
  evalToplevels(
    flake: string,
    hosts: string[],
    memoryLimit: number,
    flakeArgs: string[] = [],
    set: ConfigurationSet = 'nixosConfigurations'
  ): Promise<ExecResult> {
    const path = BUILT_ATTRIBUTE[set]
    const apply = hosts.length === 1 ? singleToplevelExpr(hosts[0], path) : toplevelsExpr(hosts, path)
    return this.nix([...applyToConfigurations(flake, apply, set), ...flakeArgs], { memoryLimit })
  }

  /**
   * One `nix eval` of the rollout waves of `hosts` (several: each through tryEval; one: without, so that Nix
   * prints the real error), killed once its resident memory goes over `memoryLimit` bytes. No system is built.
   */
  evalWaves(flake: string, hosts: string[], memoryLimit?: number): Promise<ExecResult> {
    const apply = hosts.length === 1 ? singleWaveExpr(hosts[0]) : wavesExpr(hosts)
    return this.nix(applyToConfigurations(flake, apply), { memoryLimit })
  }

  /**
   * Builds derivations in one process, going on past failures; the build log streams to the job log. Nix builds
   * one derivation at a time unless told otherwise: use every core when no one chose a number of jobs. The
   * outputs get GC roots under `rootsDir` (`build`, `build-2`, …) when every build succeeds: without `--add-root`
   * nix-store warns that the result might be garbage-collected.
   */
  async realise(drvPaths: string[], rootsDir: string): Promise<ExecResult> {
    const jobs = maxJobsConfigured(this.extraArgs, process.env) ? [] : ['--max-jobs', 'auto']
    const root = ['--add-root', `${rootsDir}/build`, '--indirect']
    const s = this.substituter
    // `extra-` settings add to what nix.conf has; a daemon accepts them only from trusted users, or for URLs
    // in its trusted-substituters.
    const substitute = s
      ? ['--option', 'extra-substituters', s.url, '--option', 'extra-trusted-public-keys', s.publicKey]
      : []
    const r = await runProcess(
      this.nixStoreBin,
      ['--realise', '--keep-going', ...root, ...jobs, ...substitute, ...this.extraArgs, ...drvPaths],
      { streamStderr: chunk => this.log.write(chunk) }
    )
    if (s) warnUnusedSubstituter(r.stderr, this.log)
    this.noteUnreachableCaches(r.stderr)
    return r
  }

  /** Opens a store, as a copy to it or a substitution from it would: undefined when that works, else why not. */
  async storeProblem(url: string): Promise<string | undefined> {
    const r = await this.nix(['store', 'ping', '--store', url], { env: storeCredentials(url, process.env) })
    return r.exitCode === 0 ? undefined : tail(stripWarnings(r.stderr), 10) || `exit code ${r.exitCode}`
  }

  /** Signs `paths` and their closures in the local store with the secret key in `keyFile`. */
  async signClosures(keyFile: string, paths: string[]): Promise<ExecResult> {
    return this.nix(['store', 'sign', '--key-file', keyFile, '--recursive', ...paths])
  }

  /** Copies `paths` and their closures to the store at `url` in one process; Nix skips what is there. */
  async copyTo(url: string, paths: string[]): Promise<ExecResult> {
    // Not streamed: one line per path, and the line names the store.
    return this.nix(['copy', '--to', url, ...paths], { env: storeCredentials(url, process.env) })
  }

  /**
   * The paths that are not valid in the store. A path on disk is not necessarily valid: a build killed after it
   * created its output leaves the directory behind, unregistered, and only the store's database knows.
   */
  async invalidPaths(paths: string[]): Promise<Set<string>> {
    if (paths.length === 0) return new Set()
    const r = await runProcess(this.nixStoreBin, ['--check-validity', '--print-invalid', ...paths])
    if (r.exitCode !== 0) throw new Error(`nix-store --check-validity failed:\n${tail(r.stderr, 20)}`)
    return new Set(r.stdout.split('\n').filter(Boolean))
  }

  /** Indirect GC roots under `dir` for built paths, so a garbage collection cannot remove them mid-run. */
  async addRoots(dir: string, paths: string[]): Promise<void> {
    if (paths.length === 0) return
    const r = await runProcess(this.nixStoreBin, [
      '--realise',
      '--add-root',
      `${dir}/result`,
      '--indirect',
      ...paths
    ])
    if (r.exitCode !== 0) throw new Error(`Cannot register GC roots in ${dir}:\n${tail(r.stderr, 20)}`)
  }

  /** Store path metadata of the closures of `paths`, in one query. */
  async pathInfo(paths: string[]): Promise<PathInfoMap> {
    if (paths.length === 0) return new Map()
    const r = await this.nix(pathInfoArgs(this.version, paths))
    if (r.exitCode !== 0) throw new Error(`nix path-info failed:\n${tail(r.stderr, 20)}`)
    return parsePathInfo(r.stdout)
  }

  /** A failed derivation's build log (its last lines), or undefined when Nix kept none. */
  async buildLog(drvPath: string, lines: number): Promise<string | undefined> {
    const r = await this.nix(['log', drvPath])
    if (r.exitCode !== 0 || r.stdout.trim() === '') return undefined
    return tail(r.stdout, lines)
  }

  /** Those of `drvPaths` with an output that is not a valid store path. */
  async unbuilt(drvPaths: string[]): Promise<string[]> {
    const outputs = new Map<string, string[]>()
    for (const drv of drvPaths) {
      const q = await runProcess(this.nixStoreBin, ['--query', '--outputs', drv])
      const paths = q.stdout.split('\n').filter(Boolean)
      if (q.exitCode === 0 && paths.length > 0) outputs.set(drv, paths)
    }
    let invalid: Set<string> | undefined
    try {
      invalid = await this.invalidPaths([...outputs.values()].flat())
    } catch {
      // A validity query that fails proves nothing was built: every candidate counts as unbuilt.
    }
    return [...outputs].filter(([, paths]) => !invalid || paths.some(p => invalid.has(p))).map(([drv]) => drv)
  }

  /** The closure of a store path or derivation (`nix-store --query --requisites`), or undefined on failure. */
  async requisites(storePath: string): Promise<string[] | undefined> {
    const r = await runProcess(this.nixStoreBin, ['--query', '--requisites', storePath])
    return r.exitCode === 0 ? r.stdout.split('\n').filter(Boolean) : undefined
  }

  /** Derivations that depend on `drvPath`, itself included. */
  async dependents(drvPath: string): Promise<Set<string>> {
    const r = await runProcess(this.nixStoreBin, ['--query', '--referrers-closure', drvPath])
    if (r.exitCode !== 0) return new Set([drvPath])
    return new Set(r.stdout.split('\n').filter(Boolean))
  }

  /** Updates flake.lock in `dir` (all inputs, or the named ones). */
  async updateLock(dir: string, inputs: string[]): Promise<ExecResult> {
    const args = flakeUpdateArgs(this.version, inputs)
    return this.nix(args, { cwd: dir, stream: true })
  }
}

/** Says why the builds did not fetch from the binary cache, when Nix said so (it goes on and builds). */
function warnUnusedSubstituter(stderr: string, log: Log): void {
  if (/ignoring untrusted substituter/.test(stderr)) {
    log.warning(
      'Nix ignored the binary cache: the user running this step is not a trusted user of the Nix daemon, and the cache is not in its trusted-substituters (see the README)'
    )
  }
  const unsigned = /^warning: the substitute for '[^']+' from '[^']+' is not signed by any of the keys/m
  if (unsigned.test(stderr)) {
    log.warning(
      "The binary cache holds paths that are not signed by a trusted key, so they were built instead: was the signing key changed? List the old key in 'push-public-key' too, or start a new cache"
    )
  }
}

/** Whether the user set max-jobs: in nix-args, NIX_CONFIG, or a nix.conf that Nix reads. */
export function maxJobsConfigured(
  args: string[],
  env: NodeJS.ProcessEnv,
  read: (file: string) => string | undefined = readOptional
): boolean {
  if (
    args.some(
      (a, i) =>
        a === '--max-jobs' ||
        a === '-j' ||
        /^-j\d+$/.test(a) ||
        (a === '--option' && args[i + 1] === 'max-jobs')
    )
  ) {
    return true
  }
  const configDirs = [
    env.NIX_CONF_DIR ?? '/etc/nix',
    ...(env.XDG_CONFIG_DIRS ?? '/etc/xdg').split(':').map(d => `${d}/nix`),
    `${env.XDG_CONFIG_HOME ?? `${env.HOME ?? ''}/.config`}/nix`
  ]
  const texts = [env.NIX_CONFIG ?? '', ...configDirs.map(d => read(`${d}/nix.conf`) ?? '')]
  return texts.some(t => /^\s*max-jobs\s*=/m.test(t))
}

function readOptional(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}
