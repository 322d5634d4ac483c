import { spawnSync } from 'child_process'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { describeUnless } from './fixtures/skip'

const repoRoot = path.resolve(__dirname, '..')
const modulePath = path.join(repoRoot, 'nixos', 'auto-upgrade.nix')

// The same settings work as root, without a daemon and inside CI containers, and keep the tests
// from ever querying a binary cache.
const nixEnv: NodeJS.ProcessEnv = {
  ...process.env,
  NIX_CONFIG:
    'experimental-features = nix-command flakes\nbuild-users-group =\nsandbox = false\nsubstituters ='
}

interface RunResult {
  status: number | null
  stdout: string
  stderr: string
}

function run(command: string, args: string[], cwd?: string): RunResult {
  const result = spawnSync(command, args, { cwd, env: nixEnv, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  if (result.error) throw new Error(`cannot run ${command}: ${result.error.message}`)
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

function runOk(command: string, args: string[], cwd?: string): string {
  const result = run(command, args, cwd)
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${String(result.status)}:\n${result.stderr}`)
  }
  return result.stdout
}

const skippedDirs = new Set(['node_modules', 'dist', '.git'])

function findNixFiles(dir: string): string[] {
  const files: string[] = []
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) {
      if (!skippedDirs.has(entry.name)) files.push(...findNixFiles(full))
    } else if (entry.isFile() && entry.name.endsWith('.nix')) {
      files.push(path.relative(repoRoot, full))
    }
  }
  return files.sort()
}

// Flake evaluation only sees files tracked by git, and the working copy may hold the module before it
// is committed; a throwaway repository with exactly the shipped files avoids depending on either.
function copyFlake(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleet-module-flake-'))
  fs.copyFileSync(path.join(repoRoot, 'flake.nix'), path.join(dir, 'flake.nix'))
  fs.cpSync(path.join(repoRoot, 'nixos'), path.join(dir, 'nixos'), { recursive: true })
  runOk('git', ['init', '--quiet'], dir)
  runOk('git', ['add', '--all'], dir)
  return dir
}

describe('Nix sources', () => {
  const files = findNixFiles(repoRoot)

  test('include the flake and the NixOS module', () => {
    expect(files).toEqual(expect.arrayContaining(['flake.nix', path.join('nixos', 'auto-upgrade.nix')]))
  })

  test.each(files)('%s parses', file => {
    const r = run('nix-instantiate', ['--parse', path.join(repoRoot, file)])
    // Exit 0 and the parsed expression on stdout; a syntax error exits 1 naming the file.
    expect({ status: r.status, error: r.stderr.match(/^error:.*$/m)?.[0] }).toEqual({
      status: 0,
      error: undefined
    })
    expect(r.stdout.trim()).not.toBe('')
  })
})

describe('flake outputs', () => {
  let flakeDir = ''

  beforeAll(() => {
    flakeDir = copyFlake()
  })

  afterAll(() => {
    if (flakeDir) fs.rmSync(flakeDir, { recursive: true, force: true })
  })

  test('export nixosModules.auto-upgrade and nixosModules.default', () => {
    const out = runOk('nix', [
      'eval',
      '--json',
      '--no-write-lock-file',
      `git+file://${flakeDir}#nixosModules`,
      '--apply',
      'builtins.attrNames'
    ])
    expect(JSON.parse(out)).toEqual(['auto-upgrade', 'default'])
  })

  test('pass nix flake check', () => {
    const r = run('nix', ['flake', 'check', '--no-write-lock-file', `git+file://${flakeDir}`])
    expect({ status: r.status, error: r.stderr.match(/^error:.*$/m)?.[0] }).toEqual({
      status: 0,
      error: undefined
    })
  })
})

// Either a nixpkgs checkout or nixpkgs.lib (lib/ at its top) or the lib directory itself.
function resolveNixpkgsLib(root: string): string {
  const candidates = [path.join(root, 'lib'), root]
  const found = candidates.find(
    dir => fs.existsSync(path.join(dir, 'default.nix')) && fs.existsSync(path.join(dir, 'modules.nix'))
  )
  if (found === undefined) {
    throw new Error(
      `NIXPKGS_LIB=${root} holds neither lib/default.nix nor a lib directory (default.nix, modules.nix)`
    )
  }
  return path.resolve(found)
}

// Stands in for nixpkgs' nixos/modules/tasks/auto-upgrade.nix and the few NixOS options the module
// touches: same option names, types and defaults, none of the systemd plumbing. Everything variable
// arrives through the JSON file, so no value is ever spliced into Nix source.
const evalExpression = `
{ inputFile }:
let
  input = builtins.fromJSON (builtins.readFile inputFile);
  lib = import (/. + input.lib);
  inherit (lib) mkOption types;

  nixosStub = {
    options = {
      networking.hostName = mkOption { type = types.str; default = "nixos"; };
      # The parts of systemd.services, systemd.timers, systemd and system.build that the module uses.
      systemd.services = mkOption {
        type = types.attrsOf (types.submodule {
          options = {
            description = mkOption { type = types.str; default = ""; };
            path = mkOption { type = types.listOf types.unspecified; default = [ ]; };
            script = mkOption { type = types.lines; default = ""; };
            startAt = mkOption { type = types.either types.str (types.listOf types.str); default = [ ]; };
            wantedBy = mkOption { type = types.listOf types.str; default = [ ]; };
            wants = mkOption { type = types.listOf types.str; default = [ ]; };
            after = mkOption { type = types.listOf types.str; default = [ ]; };
            before = mkOption { type = types.listOf types.str; default = [ ]; };
            restartIfChanged = mkOption { type = types.bool; default = true; };
            serviceConfig = mkOption { type = types.attrsOf types.unspecified; default = { }; };
          };
        });
        default = { };
      };
      systemd.timers = mkOption {
        type = types.attrsOf (types.submodule {
          options.timerConfig = mkOption { type = types.attrsOf types.unspecified; default = { }; };
        });
        default = { };
      };
      systemd.package = mkOption { type = types.unspecified; default = "/stub/systemd"; };
      nix.package = mkOption { type = types.unspecified; default = "/stub/nix"; };
      system.build = mkOption { type = types.attrsOf types.unspecified; default = { }; };
      assertions = mkOption { type = types.listOf types.unspecified; default = [ ]; };
      warnings = mkOption { type = types.listOf types.str; default = [ ]; };
      nix.settings = mkOption { type = types.attrsOf types.unspecified; default = { }; };

      system.autoUpgrade = {
        enable = mkOption { type = types.bool; default = false; };
        operation = mkOption { type = types.enum [ "switch" "boot" ]; default = "switch"; };
        flake = mkOption { type = types.nullOr types.str; default = null; };
        channel = mkOption { type = types.nullOr types.str; default = null; };
        flags = mkOption { type = types.listOf types.str; default = [ ]; };
        dates = mkOption { type = types.str; default = "04:40"; };
        allowReboot = mkOption { type = types.bool; default = false; };
        randomizedDelaySec = mkOption { type = types.str; default = "0"; };
        persistent = mkOption { type = types.bool; default = true; };
        rebootWindow = mkOption {
          type = types.nullOr (types.submodule {
            options = {
              lower = mkOption { type = types.strMatching "[[:digit:]]{2}:[[:digit:]]{2}"; };
              upper = mkOption { type = types.strMatching "[[:digit:]]{2}:[[:digit:]]{2}"; };
            };
          });
          default = null;
        };
      };
    };
  };

  # What nixpkgs' auto-upgrade.nix defines from those options: the service, with its own script, and its timer.
  nixpkgsService = { config, ... }: let cfg = config.system.autoUpgrade; in {
    config = lib.mkIf cfg.enable {
      systemd.services.nixos-upgrade = {
        description = "NixOS Upgrade";
        restartIfChanged = false;
        serviceConfig.Type = "oneshot";
        path = [ "/stub/coreutils" "/stub/nix" ];
        script = "nixos-rebuild " + cfg.operation + " " + toString cfg.flags;
        startAt = cfg.dates;
      };
      systemd.timers.nixos-upgrade.timerConfig = {
        RandomizedDelaySec = cfg.randomizedDelaySec;
        Persistent = cfg.persistent;
      };
    };
  };

  moduleUnderTest =
    if input.flakeUrl != null then
      let flake = builtins.getFlake input.flakeUrl; in
      # Both names at once: a configuration that imports them twice must still evaluate.
      [ flake.nixosModules.default flake.nixosModules.auto-upgrade ]
    else
      [ (/. + input.module) ];

  # Packages stand in as store-like paths: the module only puts them on PATH and in command lines.
  stubPkgs = lib.genAttrs [ "bash" "coreutils" "curl" "gnugrep" "gnused" "jq" ] (name: "/stub/" + name) // {
    # A real file, so that the test can read what the script is given.
    writeText = builtins.toFile;
  };

  config = (lib.evalModules {
    modules = [
      nixosStub
      nixpkgsService
      { _file = "test case"; config = input.config; }
      {
        _module.args.pkgs = stubPkgs;
        system.build.nixos-version = "/stub/nixos-version";
        system.build.nixos-rebuild = "/stub/nixos-rebuild";
      }
    ] ++ moduleUnderTest;
  }).config;
in
{
  autoUpgrade = config.system.autoUpgrade;
  nixSettings = config.nix.settings;
  failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
  inherit (config) warnings;
  upgradeService = config.systemd.services.nixos-upgrade or null;
  bootCheckService = config.systemd.services.fleet-auto-upgrade-boot-check or null;
  upgradeTimer = config.systemd.timers.nixos-upgrade or null;
}
`

interface RebootWindow {
  lower: string
  upper: string
}

interface AutoUpgrade {
  enable: boolean
  operation: 'switch' | 'boot'
  flake: string | null
  channel: string | null
  flags: string[]
  dates: string
  allowReboot: boolean
  randomizedDelaySec: string
  persistent: boolean
  rebootWindow: RebootWindow | null
}

interface Service {
  description: string
  path: string[]
  script: string
  startAt: string | string[]
  wantedBy: string[]
  wants: string[]
  after: string[]
  before: string[]
  restartIfChanged: boolean
  serviceConfig: {
    ExecStopPost?: string
    TimeoutStartSec?: string
    StateDirectory?: string
    Type?: string
  }
}

interface EvalResult {
  autoUpgrade: AutoUpgrade
  nixSettings: Record<string, unknown>
  failedAssertions: string[]
  warnings: string[]
  upgradeService: Service | null
  bootCheckService: Service | null
  upgradeTimer: { timerConfig: Record<string, unknown> } | null
}

const nixpkgsLibEnv = process.env.NIXPKGS_LIB
const describeWithLib = describeUnless(
  nixpkgsLibEnv
    ? undefined
    : 'NIXPKGS_LIB is not set (point it at a nixpkgs or nixpkgs.lib checkout to run it)'
)

describeWithLib('nixos/auto-upgrade.nix evaluated with lib.evalModules', () => {
  let workDir = ''
  let libDir = ''
  let evalFile = ''
  let flakeUrl: string | null = null
  let caseCount = 0

  beforeAll(() => {
    libDir = resolveNixpkgsLib(nixpkgsLibEnv ?? '')
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleet-module-eval-'))
    evalFile = path.join(workDir, 'eval.nix')
    fs.writeFileSync(evalFile, evalExpression)
  })

  afterAll(() => {
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true })
  })

  function evaluate(config: Record<string, unknown>): RunResult {
    caseCount += 1
    const inputFile = path.join(workDir, `case-${caseCount}.json`)
    fs.writeFileSync(inputFile, JSON.stringify({ lib: libDir, module: modulePath, flakeUrl, config }))
    return run('nix-instantiate', [
      '--eval',
      // pkgs.writeText stands in as builtins.toFile, which writes only in read-write mode.
      '--read-write-mode',
      '--strict',
      '--json',
      evalFile,
      '--argstr',
      'inputFile',
      inputFile
    ])
  }

  function evaluateOk(config: Record<string, unknown>): EvalResult {
    const result = evaluate(config)
    if (result.status !== 0) throw new Error(`evaluation failed:\n${result.stderr}`)
    return JSON.parse(result.stdout) as EvalResult
  }

  const repository = 'git+https://forge.example/org/fleet.git'

  function host(hostName: string, settings: Record<string, unknown>): Record<string, unknown> {
    return { networking: { hostName }, services: { 'fleet-auto-upgrade': settings } }
  }

  test('defaults: the host builds its own attribute from the reviewed lock file at 05:00', () => {
    const result = evaluateOk(host('web-01', { enable: true, flake: repository }))
    expect(result.autoUpgrade).toEqual({
      enable: true,
      operation: 'switch',
      flake: `${repository}#web-01`,
      channel: null,
      flags: ['--no-update-lock-file'],
      dates: '05:00',
      allowReboot: false,
      randomizedDelaySec: '30min',
      persistent: true,
      rebootWindow: null
    })
    expect(result.failedAssertions).toEqual([])
    expect(result.warnings).toEqual([])
  })

  test('a flake URL that already names an attribute is kept as is', () => {
    const flake = 'git+https://forge.example/org/fleet.git?ref=main#shared-kiosk'
    const result = evaluateOk(host('kiosk-07', { enable: true, flake, host: 'ignored' }))
    expect(result.autoUpgrade.flake).toBe(flake)
  })

  test('host overrides networking.hostName as the attribute', () => {
    const result = evaluateOk(host('ip-10-0-0-12', { enable: true, flake: repository, host: 'db-primary' }))
    expect(result.autoUpgrade.flake).toBe(`${repository}#db-primary`)
  })

  test('every option reaches system.autoUpgrade', () => {
    const extraFlags = ['--option', 'extra-substituters', 'https://cache.example.org']
    const result = evaluateOk(
      host('desk-3', {
        enable: true,
        flake: repository,
        dates: 'Sat 03:00',
        randomizedDelaySec: '0',
        persistent: false,
        operation: 'boot',
        allowReboot: true,
        rebootWindow: { lower: '01:00', upper: '05:00' },
        extraFlags
      })
    )
    expect(result.autoUpgrade).toEqual({
      enable: true,
      operation: 'boot',
      flake: `${repository}#desk-3`,
      channel: null,
      flags: ['--no-update-lock-file', ...extraFlags],
      dates: 'Sat 03:00',
      allowReboot: true,
      randomizedDelaySec: '0',
      persistent: false,
      rebootWindow: { lower: '01:00', upper: '05:00' }
    })
    expect(result.failedAssertions).toEqual([])
    expect(result.warnings).toEqual([])
  })

  test('substituter adds the CI cache and its key to nix.settings, next to those the host has', () => {
    const substituter = {
      url: 'https://cache.example.org',
      publicKey: 'fleet-cache-1:jWpBJHHNVcOA+WMOiDbcQH6R7L1MOucPRUUtsK7QR1Q='
    }
    const result = evaluateOk(host('web-01', { enable: true, flake: repository, substituter }))
    expect(result.nixSettings).toEqual({
      'extra-substituters': [substituter.url],
      'extra-trusted-public-keys': [substituter.publicKey]
    })
    expect(evaluateOk(host('web-01', { enable: true, flake: repository })).nixSettings).toEqual({})
    const wrongKey = evaluate(
      host('web-01', { enable: true, flake: repository, substituter: { ...substituter, publicKey: 'x y' } })
    )
    expect(wrongKey.status).not.toBe(0)
    expect(wrongKey.stderr).toContain('services.fleet-auto-upgrade.substituter.publicKey')
  })

  test('disabled, it leaves system.autoUpgrade alone and needs no flake', () => {
    const untouched = evaluateOk(host('web-01', {})).autoUpgrade
    expect(untouched.enable).toBe(false)
    expect(untouched.flake).toBeNull()
    expect(untouched.flags).toEqual([])
    expect(untouched.dates).toBe('04:40')

    expect(evaluateOk(host('web-01', { enable: false, flake: repository })).autoUpgrade).toEqual(untouched)
  })

  test.each([
    [['--update-input', 'nixpkgs'], '--update-input'],
    [['--update-input nixpkgs'], '--update-input'],
    [['--update-input=nixpkgs'], '--update-input'],
    [['--recreate-lock-file'], '--recreate-lock-file'],
    [['-L', '--commit-lock-file'], '--commit-lock-file']
  ])('extraFlags %j fail an assertion naming the option', (extraFlags, flag) => {
    const result = evaluateOk(host('web-01', { enable: true, flake: repository, extraFlags }))
    expect(result.failedAssertions).toHaveLength(1)
    expect(result.failedAssertions[0]).toContain('services.fleet-auto-upgrade.extraFlags')
    expect(result.failedAssertions[0]).toContain(flag)
  })

  test('an empty host name with no attribute in the URL fails an assertion', () => {
    const result = evaluateOk(host('', { enable: true, flake: repository }))
    expect(result.failedAssertions).toHaveLength(1)
    expect(result.failedAssertions[0]).toContain('services.fleet-auto-upgrade.host')
  })

  test('a reboot window without allowReboot warns that it has no effect', () => {
    const rebootWindow = { lower: '02:00', upper: '04:00' }
    const result = evaluateOk(host('web-01', { enable: true, flake: repository, rebootWindow }))
    expect(result.warnings).toHaveLength(1)
    expect(result.warnings[0]).toContain('services.fleet-auto-upgrade.rebootWindow')
  })

  test.each([
    [
      'operation outside switch/boot',
      { enable: true, flake: repository, operation: 'test' },
      'services.fleet-auto-upgrade.operation'
    ],
    [
      'a reboot window not in HH:MM',
      { enable: true, flake: repository, rebootWindow: { lower: '5:00', upper: '07:00' } },
      'services.fleet-auto-upgrade.rebootWindow.lower'
    ],
    ['an empty flake URL', { enable: true, flake: '' }, 'services.fleet-auto-upgrade.flake'],
    ['enabling without a flake URL', { enable: true }, 'services.fleet-auto-upgrade.flake']
  ])('%s is rejected', (_label, settings, expected) => {
    const result = evaluate(host('web-01', settings))
    expect(result.status).not.toBe(0)
    expect(result.stderr).toContain(expected)
  })

  describe('reportStatus', () => {
    /** The words of a systemd command line (single quotes as systemd reads them; no other quoting is used). */
    const systemdWords = (line: string): string[] =>
      [...line.matchAll(/'([^']*)'|(\S+)/g)].map(m => m[1] ?? m[2])

    const reportStatus = {
      enable: true,
      apiUrl: 'https://forge.example/api/v1',
      repository: 'org/fleet',
      tokenFile: '/run/secrets/fleet-status'
    }

    test('runs the reporter after every upgrade, success or failure, never failing it', () => {
      const result = evaluateOk(host('web-01', { enable: true, flake: repository, reportStatus }))
      expect(result.failedAssertions).toEqual([])
      const exec = result.upgradeService?.serviceConfig.ExecStopPost ?? ''
      // "-": a failed report does not turn the upgrade into a failure.
      expect(exec.startsWith('-')).toBe(true)
      const words = systemdWords(exec.slice(1))
      expect(words[0]).toBe('/stub/bash/bin/bash')
      expect(words[1]).toMatch(/^\/nix\/store\/[a-z0-9]{32}-report-status\.sh$/)
      expect(words.slice(2)).toEqual([
        '--api-url',
        'https://forge.example/api/v1',
        '--repository',
        'org/fleet',
        '--token-file',
        '/run/secrets/fleet-status',
        '--context',
        'nixos-upgrade/web-01',
        '--flake',
        `${repository}#web-01`,
        '--operation',
        'switch',
        '--outcome-file',
        '/var/lib/fleet-auto-upgrade/outcome',
        // systemd's limit: 2h to fetch and build, 5min of checks, 15min for the rest.
        '--upgrade-timeout',
        '140min'
      ])
      expect(result.upgradeService?.path).toEqual(
        expect.arrayContaining(['/stub/curl', '/stub/jq', '/stub/systemd', '/stub/nixos-version'])
      )
    })

    test('the context follows host; % is escaped for systemd', () => {
      const result = evaluateOk(
        host('web-01', {
          enable: true,
          flake: repository,
          host: 'db',
          operation: 'boot',
          reportStatus: { ...reportStatus, tokenFile: '/run/secrets/100%token' }
        })
      )
      const words = systemdWords(result.upgradeService?.serviceConfig.ExecStopPost ?? '')
      const arg = (flag: string): string | undefined => words[words.indexOf(flag) + 1]
      expect(arg('--context')).toBe('nixos-upgrade/db')
      expect(arg('--token-file')).toBe('/run/secrets/100%%token')
      expect(arg('--operation')).toBe('boot')
    })

    test('disabled, nothing reports after the upgrade', () => {
      const result = evaluateOk(host('web-01', { enable: true, flake: repository }))
      expect(result.upgradeService?.serviceConfig.ExecStopPost).toBeUndefined()
    })

    test('a relative token file is refused (the store is world-readable)', () => {
      const result = evaluateOk(
        host('web-01', {
          enable: true,
          flake: repository,
          reportStatus: { ...reportStatus, tokenFile: 'token' }
        })
      )
      expect(result.failedAssertions.join('\n')).toContain('reportStatus.tokenFile must be an absolute path')
    })

    test.each([
      ['repository without an owner', { repository: 'fleet' }, 'reportStatus.repository'],
      ['an API URL that is not http(s)', { apiUrl: 'forge.example' }, 'reportStatus.apiUrl']
    ])('%s is rejected', (_label, change, expected) => {
      const result = evaluate(
        host('web-01', { enable: true, flake: repository, reportStatus: { ...reportStatus, ...change } })
      )
      expect(result.status).not.toBe(0)
      expect(result.stderr).toContain(expected)
    })
  })

  describe('the upgrade script', () => {
    /** The script's words and the JSON configuration it is given. */
    function upgradeScript(service: Service | null): { words: string[]; config: Record<string, unknown> } {
      const words = (service?.script ?? '').trim().split(/\s+/)
      const config = JSON.parse(fs.readFileSync(words[words.indexOf('--config') + 1], 'utf8')) as Record<
        string,
        unknown
      >
      return { words, config }
    }

    test('replaces the nixpkgs script; the timer, the time limit and the state directory are set', () => {
      const result = evaluateOk(host('web-01', { enable: true, flake: repository }))
      const service = result.upgradeService
      const { words, config } = upgradeScript(service)
      expect(words[0]).toBe('exec')
      expect(words[1]).toBe('/stub/bash/bin/bash')
      expect(words[2]).toMatch(/^\/nix\/store\/[a-z0-9]{32}-upgrade\.sh$/)
      expect(words.slice(3, 4)).toEqual(['--config'])
      expect(words).toHaveLength(5)
      expect(service?.script).not.toContain('nixos-rebuild')
      expect(service?.serviceConfig).toMatchObject({
        Type: 'oneshot',
        TimeoutStartSec: `${2 * 3600 + 300 + 900}s`,
        StateDirectory: 'fleet-auto-upgrade'
      })
      expect(service?.path).toEqual(
        expect.arrayContaining([
          '/stub/coreutils',
          '/stub/jq',
          '/stub/curl',
          '/stub/nixos-rebuild',
          '/stub/nix'
        ])
      )
      expect(service?.startAt).toBe('05:00')
      expect(result.upgradeTimer?.timerConfig).toEqual({ RandomizedDelaySec: '30min', Persistent: true })
      expect(config).toEqual({
        flake: `${repository}#web-01`,
        operation: 'switch',
        allowReboot: false,
        rebootWindow: null,
        extraFlags: [],
        wave: 0,
        branch: null,
        forge: null,
        healthChecks: { units: [], commands: [], urls: [], timeout: 300 },
        timeLimit: 7200,
        timeLimitText: '2h',
        stateDir: '/var/lib/fleet-auto-upgrade'
      })
      // Without checks there is nothing to check after a boot.
      expect(result.bootCheckService).toBeNull()
    })

    test('waves, health checks and the time limit reach the script; the token file only as a path', () => {
      const healthChecks = {
        units: ['nginx.service'],
        commands: [['/run/current-system/sw/bin/pg_isready', '--quiet']],
        urls: ['http://127.0.0.1:8080/healthz'],
        timeout: '90s'
      }
      const result = evaluateOk(
        host('web-01', {
          enable: true,
          flake: repository,
          timeout: '45min',
          allowReboot: true,
          rebootWindow: { lower: '01:00', upper: '05:00' },
          extraFlags: ['--option extra-substituters https://cache.example.org'],
          rollout: { wave: 2, branch: 'production' },
          healthChecks,
          reportStatus: {
            enable: true,
            apiUrl: 'https://forge.example/api/v1',
            repository: 'org/fleet',
            tokenFile: '/run/secrets/fleet-status'
          }
        })
      )
      expect(result.failedAssertions).toEqual([])
      const { config } = upgradeScript(result.upgradeService)
      expect(config).toMatchObject({
        allowReboot: true,
        rebootWindow: { lower: '01:00', upper: '05:00' },
        extraFlags: ['--option', 'extra-substituters', 'https://cache.example.org'],
        wave: 2,
        branch: 'production',
        forge: {
          apiUrl: 'https://forge.example/api/v1',
          repository: 'org/fleet',
          tokenFile: '/run/secrets/fleet-status'
        },
        healthChecks: { ...healthChecks, timeout: 90 },
        timeLimit: 2700,
        timeLimitText: '45min'
      })
      expect(result.upgradeService?.serviceConfig.TimeoutStartSec).toBe(`${2700 + 90 + 900}s`)
      expect(result.upgradeService?.serviceConfig.ExecStopPost).toMatch(/ --upgrade-timeout 3690s$/)

      // The checks of a `boot` upgrade run after the next boot, reported like the upgrade.
      const boot = result.bootCheckService
      expect(boot?.wantedBy).toEqual(['multi-user.target'])
      expect(boot?.after).toEqual(expect.arrayContaining(['multi-user.target', 'network-online.target']))
      expect(boot?.before).toEqual(['nixos-upgrade.service'])
      expect(boot?.restartIfChanged).toBe(false)
      expect(boot?.serviceConfig).toMatchObject({
        Type: 'oneshot',
        TimeoutStartSec: `${90 + 900}s`,
        StateDirectory: 'fleet-auto-upgrade'
      })
      const bootWords = upgradeScript(boot).words
      expect(bootWords[bootWords.length - 1]).toBe('--boot-check')
      expect(upgradeScript(boot).config).toEqual(config)
      expect(boot?.serviceConfig.ExecStopPost).toMatch(
        /^-\S+ \S+-report-status\.sh .* --outcome-file \/var\/lib\/fleet-auto-upgrade\/boot-check-outcome --upgrade-timeout 990s$/
      )
    })

    test('a wave above 0 without reportStatus fails an assertion naming both', () => {
      const result = evaluateOk(host('web-01', { enable: true, flake: repository, rollout: { wave: 1 } }))
      expect(result.failedAssertions).toHaveLength(1)
      expect(result.failedAssertions[0]).toContain('services.fleet-auto-upgrade.rollout.wave is 1')
      expect(result.failedAssertions[0]).toContain('services.fleet-auto-upgrade.reportStatus')
    })

    test.each([
      ['a time limit not in one unit', { timeout: '2 hours' }, 'services.fleet-auto-upgrade.timeout'],
      ['a negative wave', { rollout: { wave: -1 } }, 'services.fleet-auto-upgrade.rollout.wave'],
      ['a URL check without http(s)', { healthChecks: { urls: ['ftp://x'] } }, 'healthChecks.urls'],
      ['an empty command', { healthChecks: { commands: [[]] } }, 'healthChecks.commands'],
      ['a check timeout of 0', { healthChecks: { timeout: '0s' } }, 'healthChecks.timeout']
    ])('%s is rejected', (_label, change, expected) => {
      const result = evaluate(host('web-01', { enable: true, flake: repository, ...change }))
      expect(result.status).not.toBe(0)
      expect(result.stderr).toContain(expected)
    })
  })

  test('imported through the flake under both names, it evaluates once', () => {
    const flakeDir = copyFlake()
    try {
      flakeUrl = `git+file://${flakeDir}`
      const result = evaluateOk(host('web-01', { enable: true, flake: repository, extraFlags: ['-L'] }))
      expect(result.autoUpgrade.flags).toEqual(['--no-update-lock-file', '-L'])
      expect(result.autoUpgrade.flake).toBe(`${repository}#web-01`)
    } finally {
      flakeUrl = null
      fs.rmSync(flakeDir, { recursive: true, force: true })
    }
  })
})
