import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { INPUTS } from '../src/generated/action'
import { InputError, Settings, getSettings } from '../src/settings'
import { compileHostPattern, expandDate, parseList, validateBranch } from '../src/inputs/parse'
import { misspelledInputVariables } from '../src/inputs/source'
import { runnerLog } from '../src/log/runner'
import { splitArgs } from '../src/nix/args'

describe('parseList', () => {
  test.each([
    ['', []],
    ['   ', []],
    ['web', ['web']],
    ['web mail db', ['web', 'mail', 'db']],
    ['web,mail,db', ['web', 'mail', 'db']],
    ['web, mail,\n db\n', ['web', 'mail', 'db']],
    ['\tweb\t\tmail ,, ,db,', ['web', 'mail', 'db']],
    ['nixpkgs home-manager/nixpkgs', ['nixpkgs', 'home-manager/nixpkgs']]
  ])('%j → %j', (value, list) => {
    expect(parseList(value)).toEqual(list)
  })
})

describe('splitArgs', () => {
  test.each([
    ['', []],
    ['   \n\t ', []],
    ['--max-jobs 4', ['--max-jobs', '4']],
    ['  --max-jobs   4  \n --cores\t2 ', ['--max-jobs', '4', '--cores', '2']],
    ["--builders 'ssh://b x86_64-linux'", ['--builders', 'ssh://b x86_64-linux']],
    [
      "--max-jobs 4 --builders 'ssh://builder x86_64-linux - 8'",
      ['--max-jobs', '4', '--builders', 'ssh://builder x86_64-linux - 8']
    ],
    [
      '--option substituters "https://cache.nixos.org https://nix-community.cachix.org"',
      ['--option', 'substituters', 'https://cache.nixos.org https://nix-community.cachix.org']
    ],
    ['"a \\"quoted\\" word"', ['a "quoted" word']],
    ['"back\\\\slash"', ['back\\slash']],
    // Inside double quotes a backslash only escapes `"` and `\`, as in a POSIX shell.
    ['"a\\nb"', ['a\\nb']],
    ["'single \\ quotes keep \" everything'", ['single \\ quotes keep " everything']],
    ['a\\ b c', ['a b', 'c']],
    ['\\"x', ['"x']],
    ['--option=x"y z"w', ['--option=xy zw']],
    ["''", ['']],
    ['"" x', ['', 'x']],
    ['it\'s" "fine\'', ['its" "fine']]
  ])('%j → %j', (value, args) => {
    expect(splitArgs(value)).toEqual(args)
  })

  test.each([
    ["--builders 'ssh://b x86_64-linux", "'"],
    ['--option substituters "https://cache.nixos.org', '"'],
    ['"', '"']
  ])('%j: unterminated %s quote', (value, quote) => {
    expect(() => splitArgs(value)).toThrow(InputError)
    expect(() => splitArgs(value)).toThrow(`Input 'nix-args' has an unterminated ${quote} quote`)
  })

  test('names the input it was given', () => {
    expect(() => splitArgs("'", 'extra-args')).toThrow("Input 'extra-args' has an unterminated ' quote")
  })
})

describe('compileHostPattern', () => {
  test.each<[string, string, boolean]>([
    ['.*-minimal', 'iso-minimal', true],
    ['.*-minimal', 'installer-minimal', true],
    ['.*-minimal', 'minimal-iso', false],
    ['.*-minimal', 'iso-minimal-2', false],
    ['.*-minimal', '-minimal', true],
    ['web', 'web', true],
    ['web', 'web1', false],
    ['web', 'www-web', false],
    ['web|db', 'web', true],
    ['web|db', 'db', true],
    ['web|db', 'webdb', false],
    ['web|db', 'web|db', false],
    ['host[0-9]+', 'host12', true],
    ['host[0-9]+', 'host12a', false],
    ['^$', '', true],
    ['^$', 'web', false],
    ['(?!)', 'web', false],
    ['(?!)', '', false]
  ])('%j on %j: %s', (source, host, matches) => {
    expect(compileHostPattern(source).test(host)).toBe(matches)
  })

  test.each(['(', '[a-', '*', 'a{1', '(?<x'])('%j is not a regular expression', source => {
    expect(() => compileHostPattern(source)).toThrow(InputError)
    expect(() => compileHostPattern(source)).toThrow(
      /^Input 'exclude-hosts' is not a valid regular expression: /
    )
  })
})

describe('validateBranch', () => {
  test.each([
    'auto/flake-update',
    'auto/flake-update-2024-05-31',
    'update_flake',
    'renovate/nixpkgs-24.05',
    'a/b/c',
    'flake.update',
    'x@',
    'HEADS-UP',
    'auto/HEAD-update',
    'deadbeef'
  ])('%j is a usable branch', name => {
    expect(() => validateBranch(name, 'main')).not.toThrow()
  })

  test.each([
    ['', 'empty'],
    ['-update', 'starts with -'],
    ['/update', 'starts or ends with /'],
    ['update/', 'starts or ends with /'],
    ['auto..update', 'contains ..'],
    ['..', 'contains ..'],
    ['auto@{1}', 'contains @{'],
    ['@', 'contains @{'],
    ['flake update', 'contains a space'],
    ['flake\tupdate', 'contains a space'],
    ['flake\u0001update', 'control character'],
    ['flake\u007fupdate', 'control character'],
    ['flake\nupdate', 'control character'],
    ['update~1', 'one of ~^:?*[\\'],
    ['update^', 'one of ~^:?*[\\'],
    ['origin:update', 'one of ~^:?*[\\'],
    ['update?', 'one of ~^:?*[\\'],
    ['update*', 'one of ~^:?*[\\'],
    ['update[1]', 'one of ~^:?*[\\'],
    ['auto\\update', 'one of ~^:?*[\\'],
    ['update.', 'ends with . or .lock'],
    ['update.lock', 'ends with . or .lock'],
    // git refuses `.lock` at the end of any component, not only of the whole name.
    ['update.lock/nixpkgs', '.lock'],
    ['auto//update', 'empty component'],
    ['auto/.update', 'one starting with .'],
    ['.update', 'one starting with .'],
    ['refs/heads/update', 'without refs/'],
    ['HEAD', 'git reads HEAD and *_HEAD as a commit'],
    ['FETCH_HEAD', 'git reads HEAD and *_HEAD as a commit'],
    ['ORIG_HEAD', 'git reads HEAD and *_HEAD as a commit'],
    ['CHERRY_PICK_HEAD', 'git reads HEAD and *_HEAD as a commit'],
    ['0123456789abcdef0123456789abcdef01234567', 'full commit id'],
    ['0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', 'full commit id']
  ])('%j is refused (%s)', (name, problem) => {
    let error: unknown
    try {
      validateBranch(name, 'main')
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(InputError)
    expect((error as Error).message).toContain("Input 'branch' is not a usable branch name (")
    expect((error as Error).message).toContain(problem)
    expect((error as Error).message).toContain(JSON.stringify(name))
  })

  test.each([
    ['main', 'main'],
    ['develop', 'develop'],
    ['release/24.05', 'release/24.05']
  ])('the base branch %j itself is refused', (name, base) => {
    expect(() => validateBranch(name, base)).toThrow(InputError)
    expect(() => validateBranch(name, base)).toThrow(
      `Input 'branch' names the base branch '${base}': the update needs a branch of its own`
    )
  })

  test('names the input it was given', () => {
    expect(() => validateBranch('a b', 'main', 'head-branch')).toThrow(/^Input 'head-branch' /)
  })
})

describe('expandDate', () => {
  test.each([
    ['auto/flake-update-{date}', 'auto/flake-update-2024-05-31'],
    ['chore: update flake inputs {date}', 'chore: update flake inputs 2024-05-31'],
    ['{date}/{date}', '2024-05-31/2024-05-31'],
    ['no placeholder', 'no placeholder'],
    ['{DATE} {date ', '{DATE} {date '],
    ['', '']
  ])('%j → %j', (text, expanded) => {
    expect(expandDate(text, '2024-05-31')).toBe(expanded)
  })
})

describe('getSettings', () => {
  type Environment = Parameters<typeof getSettings>[0]
  const NOW = new Date('2024-05-31T12:00:00Z')
  const savedEnv = process.env
  let workspace: string
  let stdout: string[]

  beforeAll(() => {
    workspace = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'fleet-settings-')))
    fs.writeFileSync(path.join(workspace, 'flake.nix'), '{ outputs = _: { }; }\n')
    fs.mkdirSync(path.join(workspace, 'fleet'))
    fs.writeFileSync(path.join(workspace, 'fleet', 'flake.nix'), '{ outputs = _: { }; }\n')
    fs.mkdirSync(path.join(workspace, 'docs'))
    fs.mkdirSync(path.join(workspace, '..nixos'))
    fs.writeFileSync(path.join(workspace, '..nixos', 'flake.nix'), '{ outputs = _: { }; }\n')
  })

  afterAll(() => {
    fs.rmSync(workspace, { recursive: true, force: true })
  })

  beforeEach(() => {
    // The runner's own variables must not leak into the test: inputs, the event's ref, the forge flags.
    const env: NodeJS.ProcessEnv = {}
    for (const [k, v] of Object.entries(savedEnv)) {
      if (!/^(INPUT_|GITHUB_|FORGEJO_|GITEA_|RUNNER_)/.test(k)) env[k] = v
    }
    env.GITHUB_WORKSPACE = workspace
    process.env = env
    stdout = []
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout.push(chunk.toString())
      return true
    })
  })

  afterEach(() => {
    jest.restoreAllMocks()
    process.env = savedEnv
  })

  function settings(inputs: Record<string, string> = {}, extra: Partial<Environment> = {}): Settings {
    for (const [name, value] of Object.entries(inputs)) {
      process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value
    }
    return getSettings({ env: process.env, log: runnerLog(), now: NOW, ...extra })
  }

  function errorOf(inputs: Record<string, string>, extra: Partial<Environment> = {}): Error {
    try {
      settings(inputs, extra)
    } catch (e) {
      expect(e).toBeInstanceOf(InputError)
      return e as Error
    }
    throw new Error(`no error for ${JSON.stringify(inputs)}`)
  }

  test("defaults: inputs that are absent take action.yml's defaults, as a runner would give them", () => {
    const s = settings()
    const { excludeHosts, ...rest } = s
    expect(rest).toEqual({
      flakeDir: workspace,
      flakeDirs: [workspace],
      hosts: [],
      excludeHostsSource: '.*-minimal',
      updateInputs: [],
      baseBranch: 'main',
      branch: 'auto/flake-update',
      apiUrl: undefined,
      // `${{ github.token }}` needs a runner: outside one the token is empty.
      token: '',
      forge: 'github',
      signingKey: undefined,
      signingKeyPassphrase: '',
      gitUserName: 'nixos-fleet-update',
      gitUserEmail: 'nixos-fleet-update@users.noreply.localhost',
      commitMessage: 'chore: update flake inputs 2024-05-31',
      configurations: 'nixosConfigurations',
      prTitle: 'chore: update flake inputs 2024-05-31',
      prLabels: [],
      prReviewers: [],
      prAssignees: [],
      commitViaApi: false,
      autoMerge: false,
      mergeMethod: 'auto',
      build: true,
      nixArgs: [],
      failOnRegression: true,
      dryRun: false,
      staleAfterMs: 2 * 86400000,
      date: '2024-05-31',
      // mode chosen from the event; no review commits.
      modes: {},
      rollout: { soakMs: 6 * 3600000, requireAll: false },
      attribution: { maxBuilds: 10, holdBack: 'regressing', bisect: false, bisectMaxBuilds: 8 }
    })
    // Empty evaluation inputs leave the pool to size itself from the machine.
    expect([s.evalMemory, s.evalWorkers, s.evalChunkSize]).toEqual([undefined, undefined, undefined])
    expect(excludeHosts.test('iso-minimal')).toBe(true)
    expect(excludeHosts.test('web')).toBe(false)
  })

  test("the same settings from the runner's INPUT_ variables holding every default and from none", () => {
    const fromNothing = settings()
    const all: Record<string, string> = {}
    for (const [name, spec] of Object.entries(INPUTS)) all[name] = spec.default
    all.token = ''
    const { excludeHosts: a, ...fromRunner } = settings(all)
    const { excludeHosts: b, ...rest } = fromNothing
    expect(fromRunner).toEqual(rest)
    expect(a.source).toBe(b.source)
  })

  test('an input given empty is empty: an empty exclude-hosts keeps every host', () => {
    const s = settings({ 'exclude-hosts': '' })
    expect(s.excludeHostsSource).toBe('')
    for (const host of ['web', 'iso-minimal', '', '(?!)']) expect(s.excludeHosts.test(host)).toBe(false)
  })

  test('inputs read from a source other than the environment ignore INPUT_ variables', () => {
    process.env['INPUT_DRY-RUN'] = 'true'
    const given: Record<string, string> = { 'exclude-hosts': '^$', branch: 'b' }
    const s = getSettings({ env: process.env, log: runnerLog(), now: NOW, inputs: name => given[name] })
    expect(s.dryRun).toBe(false)
    expect(s.excludeHostsSource).toBe('^$')
    expect(s.branch).toBe('b')
  })

  test.each([
    ['INPUT_DRY_RUN', 'dry-run', 'INPUT_DRY-RUN'],
    ['INPUT_EXCLUDE_HOSTS', 'exclude-hosts', 'INPUT_EXCLUDE-HOSTS'],
    ['INPUT_fail_on_regression', 'fail-on-regression', 'INPUT_FAIL-ON-REGRESSION']
  ])('%s is not read, and a warning names %s and %s', (variable, input, right) => {
    process.env[variable] = 'true'
    const s = settings()
    expect(s.dryRun).toBe(false)
    const warnings = stdout.filter(l => l.startsWith('::warning::'))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain(`${variable} is ignored`)
    expect(warnings[0]).toContain(`'${input}'`)
    expect(warnings[0]).toContain(right)
  })

  test('no warning for the right spelling, nor for an INPUT_ variable that matches nothing either way', () => {
    process.env['INPUT_DRY-RUN'] = 'true'
    process.env.INPUT_SOMETHING_ELSE = 'x'
    expect(settings().dryRun).toBe(true)
    expect(misspelledInputVariables(process.env)).toEqual([])
    expect(stdout.filter(l => l.startsWith('::warning::'))).toEqual([])
  })

  test('the input names as action.yml spells them, dashes kept', () => {
    const s = settings({
      flake: 'fleet',
      hosts: 'web, mail\ndb',
      'exclude-hosts': '.*-minimal',
      'update-inputs': 'nixpkgs home-manager/nixpkgs',
      'base-branch': 'trunk',
      branch: 'auto/flake-update-{date}',
      'api-url': 'https://codeberg.org/api/v1/',
      token: 'ghp_0123456789abcdefghijklmnopqrstuvwxyz',
      forge: 'Gitea',
      'git-user-name': 'Fleet Bot',
      'git-user-email': 'fleet-bot@example.org',
      'commit-message': 'flake: bump {date}',
      'pr-title': 'Fleet update {date}',
      'pr-labels': 'dependencies, good first issue\nnix',
      'pr-reviewers': '@alice, bob\nAlice',
      'pr-assignees': 'fleet-bot',
      'auto-merge': 'true',
      'merge-method': 'Rebase-Merge',
      build: 'false',
      'nix-args': "--max-jobs 4 --builders 'ssh://builder x86_64-linux'",
      'fail-on-regression': 'False',
      'dry-run': 'TRUE',
      'eval-memory': '2048',
      'eval-workers': ' 3 ',
      'eval-chunk-size': '5'
    })
    expect(s).toMatchObject({
      flakeDir: path.join(workspace, 'fleet'),
      hosts: ['web', 'mail', 'db'],
      excludeHostsSource: '.*-minimal',
      updateInputs: ['nixpkgs', 'home-manager/nixpkgs'],
      baseBranch: 'trunk',
      branch: 'auto/flake-update-2024-05-31',
      apiUrl: 'https://codeberg.org/api/v1',
      token: 'ghp_0123456789abcdefghijklmnopqrstuvwxyz',
      forge: 'forgejo',
      gitUserName: 'Fleet Bot',
      gitUserEmail: 'fleet-bot@example.org',
      commitMessage: 'flake: bump 2024-05-31',
      prTitle: 'Fleet update 2024-05-31',
      prLabels: ['dependencies', 'good first issue', 'nix'],
      prReviewers: ['alice', 'bob'],
      prAssignees: ['fleet-bot'],
      autoMerge: true,
      mergeMethod: 'rebase-merge',
      build: false,
      nixArgs: ['--max-jobs', '4', '--builders', 'ssh://builder x86_64-linux'],
      failOnRegression: false,
      dryRun: true,
      evalMemory: 2048,
      evalWorkers: 3,
      evalChunkSize: 5
    })
    expect(s.excludeHosts.test('iso-minimal')).toBe(true)
    expect(s.excludeHosts.test('minimal-iso')).toBe(false)
  })

  test('stale-after: days, hours, minutes; anything else named in the error', () => {
    expect(settings({ 'stale-after': '36h' }).staleAfterMs).toBe(36 * 3600000)
    expect(settings({ 'stale-after': '1d12h' }).staleAfterMs).toBe(36 * 3600000)
    expect(errorOf({ 'stale-after': '2 days' }).message).toBe(
      `Input 'stale-after' must be a duration such as 2d, 36h or 90m, got "2 days"`
    )
  })

  test('merge-method: the methods each forge has, anything else named in the error', () => {
    for (const m of ['auto', 'merge', 'squash', 'rebase', 'rebase-merge', 'fast-forward-only']) {
      expect(settings({ forge: 'forgejo', 'merge-method': m }).mergeMethod).toBe(m)
    }
    expect(settings({ forge: 'github', 'merge-method': ' SQUASH ' }).mergeMethod).toBe('squash')
    expect(errorOf({ forge: 'github', 'merge-method': 'fast-forward-only' }).message).toBe(
      `Input 'merge-method' must be auto, merge, squash, rebase on GitHub, got "fast-forward-only" (a Forgejo merge style)`
    )
    expect(errorOf({ forge: 'forgejo', 'merge-method': 'octopus' }).message).toBe(
      `Input 'merge-method' must be auto, merge, rebase, rebase-merge, squash, fast-forward-only on Forgejo, got "octopus"`
    )
  })

  test('the token is masked in the log', () => {
    settings({ token: 'ghp_0123456789abcdefghijklmnopqrstuvwxyz' })
    expect(stdout.join('')).toContain('::add-mask::ghp_0123456789abcdefghijklmnopqrstuvwxyz')
  })

  test('a signing key is kept and masked, whole and line by line', () => {
    const key = [
      '-----BEGIN OPENSSH PRIVATE KEY-----',
      'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW',
      'QyNTUxOQAAACCdO2wuSmX2ZJ6yU7Vw9F0bCw1n6Vx0Qv3zH0v6m2bJ4AAAAJgAAAAAAAAAA',
      '-----END OPENSSH PRIVATE KEY-----'
    ].join('\n')
    expect(settings({ 'signing-key': key }).signingKey).toBe(key)
    const log = stdout.join('')
    expect(log).toContain(
      '::add-mask::b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW'
    )
    expect(log).toContain(
      '::add-mask::QyNTUxOQAAACCdO2wuSmX2ZJ6yU7Vw9F0bCw1n6Vx0Qv3zH0v6m2bJ4AAAAJgAAAAAAAAAA'
    )
  })

  describe('flake', () => {
    test.each([
      ['.', ''],
      ['fleet', 'fleet'],
      ['./fleet/', 'fleet'],
      ['path:fleet', 'fleet'],
      ['path:./fleet', 'fleet'],
      ['fleet/../fleet', 'fleet']
    ])('%j is the directory %j of the workspace', (input, dir) => {
      expect(settings({ flake: input }).flakeDir).toBe(path.join(workspace, dir))
    })

    test('an absolute path inside the workspace', () => {
      expect(settings({ flake: path.join(workspace, 'fleet') }).flakeDir).toBe(path.join(workspace, 'fleet'))
    })

    test('several directories, one a line or comma-separated, in their order; the first is flakeDir', () => {
      const s = settings({ flake: 'fleet\n  .\n' })
      expect(s.flakeDirs).toEqual([path.join(workspace, 'fleet'), workspace])
      expect(s.flakeDir).toBe(path.join(workspace, 'fleet'))
      expect(settings({ flake: '., fleet' }).flakeDirs).toEqual([workspace, path.join(workspace, 'fleet')])
    })

    test('the same directory twice is refused, and every entry is checked', () => {
      expect(errorOf({ flake: 'fleet\n./fleet/' }).message).toMatch(/Input 'flake' names .*fleet twice/)
      expect(errorOf({ flake: 'fleet\n../elsewhere' }).message).toMatch(/must be inside the workspace/)
      expect(errorOf({ flake: 'fleet\ndocs' }).message).toMatch(/no flake\.nix in .*docs/)
    })

    // `..nixos` is a directory inside the workspace whose name merely starts with two dots.
    test('a directory whose name starts with ".." is still inside the workspace', () => {
      expect(settings({ flake: '..nixos' }).flakeDir).toBe(path.join(workspace, '..nixos'))
    })
  })

  describe('every bad input is named in its error', () => {
    test.each<[string, Record<string, string>, RegExp]>([
      ['flake', { flake: '..' }, /must be inside the workspace/],
      ['flake', { flake: '../other-checkout' }, /must be inside the workspace/],
      ['flake', { flake: '/etc/nixos' }, /must be inside the workspace/],
      ['flake', { flake: 'docs' }, /no flake\.nix in /],
      ['flake', { flake: 'not-there' }, /no flake\.nix in /],
      ['flake', { flake: 'flake.nix' }, /no flake\.nix in /],
      ['flake', { flake: 'github:NixOS/nixpkgs' }, /must name directories of the checkout/],
      ['flake', { flake: 'git+https://codeberg.org/ops/fleet' }, /must name directories of the checkout/],
      ['exclude-hosts', { 'exclude-hosts': '(' }, /not a valid regular expression/],
      ['exclude-hosts', { 'exclude-hosts': '[a-' }, /not a valid regular expression/],
      [
        'update-inputs',
        { 'update-inputs': 'nixpkgs;reboot' },
        /"nixpkgs;reboot", which is not a flake input name/
      ],
      ['update-inputs', { 'update-inputs': '../nixpkgs' }, /not a flake input name/],
      ['pr-reviewers', { 'pr-reviewers': 'infra/admins' }, /teams are not supported/],
      ['commit-via-api', { 'commit-via-api': 'true', forge: 'forgejo' }, /works on GitHub only/],
      [
        'signing-key-passphrase',
        { 'signing-key-passphrase': 'x' },
        /applies to an OpenPGP 'signing-key' only/
      ],
      ['commit-via-api', { 'commit-via-api': 'yes', forge: 'github' }, /must be true or false/],
      ['pr-reviewers', { 'pr-reviewers': 'alice;id' }, /not an account name/],
      ['pr-assignees', { 'pr-assignees': '-bob' }, /not an account name/],
      ['update-inputs', { 'update-inputs': 'home-manager/' }, /not a flake input name/],
      ['update-inputs', { 'update-inputs': 'nixpkgs $(id)' }, /not a flake input name/],
      ['base-branch', { 'base-branch': 'release..24' }, /contains \.\./],
      ['base-branch', { 'base-branch': '-main' }, /starts with -/],
      ['base-branch', { 'base-branch': 'refs/heads/main' }, /without refs\//],
      ['base-branch', { 'base-branch': 'HEAD' }, /git reads HEAD and \*_HEAD as a commit/],
      ['branch', { branch: 'HEAD' }, /not a usable branch name \(git reads HEAD/],
      ['branch', { branch: 'main' }, /names the base branch 'main'/],
      ['branch', { branch: 'trunk', 'base-branch': 'trunk' }, /names the base branch 'trunk'/],
      ['branch', { branch: 'flake update' }, /contains a space/],
      ['branch', { branch: 'auto/flake-update.lock' }, /ends with \. or \.lock/],
      ['api-url', { 'api-url': 'ftp://codeberg.org/api/v1' }, /must be an http\(s\) URL/],
      ['api-url', { 'api-url': 'codeberg.org/api/v1' }, /is not a URL/],
      ['api-url', { 'api-url': 'https://bot:hunter2@codeberg.org/api/v1' }, /must not carry credentials/],
      ['api-url', { 'api-url': 'https://ghp_token@github.example.com/api/v3' }, /must not carry credentials/],
      ['forge', { forge: 'bitbucket' }, /must be auto, github or forgejo, got "bitbucket"/],
      [
        'signing-key',
        { 'signing-key': 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ0l user@host' },
        /holds a public key: signing needs the private key/
      ],
      ['signing-key', { 'signing-key': 'hunter2' }, /is not an SSH private key/],
      [
        'signing-key',
        { 'signing-key': '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ' },
        /is cut short: it has -----BEGIN OPENSSH PRIVATE KEY----- but no -----END/
      ],
      ['git-user-email', { 'git-user-email': 'fleet-bot' }, /is not an e-mail address/],
      ['git-user-email', { 'git-user-email': 'fleet bot@example.org' }, /is not an e-mail address/],
      ['git-user-email', { 'git-user-email': '<bot@example.org>' }, /is not an e-mail address/],
      ['git-user-name', { 'git-user-name': 'Bot <bot@example.org>' }, /must not contain/],
      ['pr-title', { 'pr-title': 'Fleet update\nwith a second line' }, /must be one line/],
      ['dry-run', { 'dry-run': 'yes' }, /must be true or false, got "yes"/],
      ['build', { build: '1' }, /must be true or false, got "1"/],
      ['auto-merge', { 'auto-merge': 'on' }, /must be true or false/],
      ['fail-on-regression', { 'fail-on-regression': 'no' }, /must be true or false/],
      ['nix-args', { 'nix-args': "--builders 'ssh://builder x86_64-linux" }, /unterminated ' quote/],
      [
        'eval-memory',
        { 'eval-memory': '2G' },
        /whole number of MiB of at least 64, or empty for automatic, got "2G"/
      ],
      ['eval-memory', { 'eval-memory': '32' }, /of at least 64/],
      ['eval-memory', { 'eval-memory': '-1024' }, /whole number of MiB/],
      ['eval-memory', { 'eval-memory': '99999999999999999999' }, /whole number of MiB/],
      [
        'eval-workers',
        { 'eval-workers': '0' },
        /whole number of at least 1, or empty for automatic, got "0"/
      ],
      ['eval-workers', { 'eval-workers': 'auto' }, /whole number of at least 1/],
      ['eval-chunk-size', { 'eval-chunk-size': '1.5' }, /whole number of at least 1/],
      ['hold-back', { 'hold-back': 'yes' }, /must be none or regressing, got "yes"/],
      ['attribution-max-builds', { 'attribution-max-builds': 'many' }, /whole number of at least 0/],
      ['bisect', { bisect: 'maybe' }, /must be true or false/],
      ['bisect-max-builds', { 'bisect-max-builds': '0' }, /whole number of at least 1/]
    ])("'%s': %j", (name, inputs, detail) => {
      const error = errorOf(inputs)
      expect(error.message).toContain(`Input '${name}'`)
      expect(error.message).toMatch(detail)
    })
  })

  test('credentials in api-url do not appear in its error', () => {
    expect(errorOf({ 'api-url': 'https://bot:hunter2@codeberg.org/api/v1' }).message).not.toContain('hunter2')
  })

  test.each([
    ['true', true],
    ['True', true],
    ['TRUE', true],
    ['  true  ', true],
    ['false', false],
    ['False', false],
    ['FALSE', false],
    ['', true]
  ])('boolean %j', (value, expected) => {
    expect(settings({ build: value }).build).toBe(expected)
  })

  test.each<[string, Record<string, string>, string | undefined, string]>([
    ['nothing known', {}, undefined, 'main'],
    [
      "the event's default branch",
      { GITHUB_REF: 'refs/heads/feature', GITHUB_REF_NAME: 'feature' },
      'trunk',
      'trunk'
    ],
    [
      'the pushed branch',
      { GITHUB_REF: 'refs/heads/develop', GITHUB_REF_NAME: 'develop' },
      undefined,
      'develop'
    ],
    ['GITHUB_REF alone', { GITHUB_REF: 'refs/heads/release/24.05' }, undefined, 'release/24.05'],
    ['a tag', { GITHUB_REF: 'refs/tags/v1.0', GITHUB_REF_NAME: 'v1.0' }, undefined, 'main'],
    ['a pull request', { GITHUB_REF: 'refs/pull/12/merge', GITHUB_REF_NAME: '12/merge' }, undefined, 'main']
  ])('base branch from %s', (_label, env, defaultBranch, base) => {
    Object.assign(process.env, env)
    expect(settings({}, { defaultBranch }).baseBranch).toBe(base)
  })

  test('the base-branch input wins over the event', () => {
    process.env.GITHUB_REF = 'refs/heads/develop'
    process.env.GITHUB_REF_NAME = 'develop'
    expect(settings({ 'base-branch': 'stable' }, { defaultBranch: 'trunk' }).baseBranch).toBe('stable')
  })

  test('the default update branch equal to the base branch is refused', () => {
    expect(errorOf({}, { defaultBranch: 'auto/flake-update' }).message).toContain(
      "Input 'branch' names the base"
    )
  })

  test.each([
    ['2024-05-31T00:00:00Z', '2024-05-31'],
    ['2024-05-31T23:59:59Z', '2024-05-31'],
    ['2024-05-31T23:30:00-02:00', '2024-06-01'],
    ['2024-06-01T01:00:00+02:00', '2024-05-31']
  ])('{date} is the UTC date of %s', (now, date) => {
    const s = settings({ branch: 'auto/{date}', 'pr-title': 'update {date}' }, { now: new Date(now) })
    expect([s.date, s.branch, s.prTitle]).toEqual([date, `auto/${date}`, `update ${date}`])
  })

  test('{date} makes the branch differ from a base of the same template', () => {
    expect(settings({ branch: 'main-{date}', 'base-branch': 'main-{date}' }).branch).toBe('main-2024-05-31')
  })

  test.each<[string, Record<string, string>, string, 'github' | 'forgejo']>([
    ['GitHub Actions', { GITHUB_ACTIONS: 'true' }, '', 'github'],
    ['Forgejo Actions', { GITHUB_ACTIONS: 'true', FORGEJO_ACTIONS: 'true' }, '', 'forgejo'],
    ['Gitea Actions', { GITHUB_ACTIONS: 'true', GITEA_ACTIONS: 'true' }, '', 'forgejo'],
    ['an empty GITEA_ACTIONS', { GITEA_ACTIONS: '' }, '', 'github'],
    ['FORGEJO_ACTIONS not true', { FORGEJO_ACTIONS: 'false' }, '', 'github'],
    ['auto spelled out', { FORGEJO_ACTIONS: 'true' }, 'auto', 'forgejo'],
    ['github asked for on Forgejo', { FORGEJO_ACTIONS: 'true' }, 'github', 'github'],
    ['forgejo asked for on GitHub', {}, 'forgejo', 'forgejo'],
    ['gitea asked for', {}, 'gitea', 'forgejo'],
    ['GitHub in capitals', { FORGEJO_ACTIONS: 'true' }, 'GitHub', 'github']
  ])('forge on %s', (_label, env, forge, expected) => {
    Object.assign(process.env, env)
    expect(settings({ forge }).forge).toBe(expected)
  })

  test.each([
    ['https://codeberg.org/api/v1', 'https://codeberg.org/api/v1'],
    ['https://codeberg.org/api/v1///', 'https://codeberg.org/api/v1'],
    ['http://forgejo.lan:3000/api/v1', 'http://forgejo.lan:3000/api/v1'],
    ['  https://api.github.com  ', 'https://api.github.com']
  ])('api-url %j → %j', (input, url) => {
    expect(settings({ 'api-url': input }).apiUrl).toBe(url)
  })
})
