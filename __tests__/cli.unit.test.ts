import { UsageError, helpText, parseArgs } from '../src/cli/args'
import { exitStatus } from '../src/cli/run'
import { INPUTS } from '../src/generated/action'

describe('command-line flags', () => {
  test('nothing given: a dry run, every input left to its default', () => {
    expect(parseArgs([])).toEqual({
      inputs: { 'dry-run': 'true' },
      publish: false,
      verbose: false,
      help: false
    })
  })

  test.each([
    [['--flake', '/srv/fleet'], { flake: '/srv/fleet' }],
    [['--flake=/srv/fleet'], { flake: '/srv/fleet' }],
    [['--exclude-hosts', '^$'], { 'exclude-hosts': '^$' }],
    // A value may start with a dash: a string input always takes the next word.
    [['--nix-args', '--max-jobs 4'], { 'nix-args': '--max-jobs 4' }],
    [['--hosts='], { hosts: '' }],
    [['--build'], { build: 'true' }],
    [['--build', 'false'], { build: 'false' }],
    [['--build=False'], { build: 'False' }],
    [['--no-build'], { build: 'false' }],
    [['--no-fail-on-regression'], { 'fail-on-regression': 'false' }],
    // The next word is not a boolean's value unless it is true or false.
    [['--auto-merge', '--hosts', 'web'], { 'auto-merge': 'true', hosts: 'web' }],
    [['--branch', 'a', '--branch', 'b'], { branch: 'b' }]
  ])('%j → %j', (argv, inputs) => {
    expect(parseArgs(argv).inputs).toEqual({ 'dry-run': 'true', ...inputs })
  })

  test('--publish turns the dry run off; --dry-run alone keeps it on', () => {
    expect(parseArgs(['--publish']).inputs['dry-run']).toBe('false')
    expect(parseArgs(['--dry-run']).inputs['dry-run']).toBe('true')
    expect(parseArgs(['--publish']).publish).toBe(true)
  })

  test('--report, --json, --verbose and --help', () => {
    expect(parseArgs(['--report', 'r.md', '--json=r.json', '-v', '-h'])).toMatchObject({
      report: 'r.md',
      json: 'r.json',
      verbose: true,
      help: true
    })
  })

  test('an invalid boolean is passed on, for the settings to refuse naming the input', () => {
    expect(parseArgs(['--dry-run=yes']).inputs['dry-run']).toBe('yes')
  })

  test.each([
    [['web'], 'unexpected argument "web"'],
    [['--exclude_hosts', 'x'], 'unknown option --exclude_hosts (did you mean --exclude-hosts?)'],
    [['--DRY-RUN'], 'did you mean --dry-run?'],
    [['--fail-on'], 'did you mean --fail-on-regression?'],
    [['--nosuch'], 'unknown option --nosuch'],
    [['--flake'], '--flake needs a value'],
    [['--report'], '--report needs a value'],
    [['--report='], '--report needs a file name'],
    [['--publish=true'], '--publish takes no value'],
    [['--no-dry-run=1'], '--no-dry-run takes no value'],
    [['--no-hosts'], 'unknown option --no-hosts'],
    [['--publish', '--dry-run'], '--publish and --dry-run contradict each other'],
    [['--no-dry-run'], 'without --publish the run is a dry run'],
    [['--dry-run=false'], 'without --publish the run is a dry run']
  ])('%j is refused: %s', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError)
    expect(() => parseArgs(argv)).toThrow(message)
  })
})

describe('--help', () => {
  const help = helpText()
  test.each(Object.entries(INPUTS))('names --%s with its description and default', (name, spec) => {
    const start = help.indexOf(`  --${name}${spec.type === 'boolean' ? '[=false]' : ' VALUE'}`)
    expect(start).toBeGreaterThanOrEqual(0)
    const entry = help.slice(start, help.indexOf('\n  --', start + 1)).replace(/\s+/g, ' ')
    const words = spec.description.replace(/`/g, '').split(/\s+/).slice(0, 6).join(' ')
    expect(entry).toContain(words)
    if (name === 'dry-run') expect(entry).toContain('(default: true unless --publish)')
    else if (name === 'token') expect(entry).toContain('(default: $GITHUB_TOKEN)')
    else expect(entry).toContain(`(default: ${spec.default === '' ? 'empty' : spec.default})`)
  })

  test('the command line flags and the exit status', () => {
    for (const flag of ['--publish', '--report FILE', '--json FILE', '--verbose', '--help'])
      expect(help).toContain(flag)
    expect(help).toMatch(/Exit status: 0 done; 1 .* 2 bad input/s)
  })
})

describe('exit status', () => {
  test.each([
    ['ok', 0],
    ['regressed', 1],
    ['failed', 1],
    ['bad-input', 2]
  ] as const)('%s → %d', (result, status) => {
    expect(exitStatus({ result })).toBe(status)
  })
})
