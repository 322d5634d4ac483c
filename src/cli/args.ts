import { INPUTS, InputName } from '../generated/action'

/** What the command line asked for. */
export interface CliArgs {
  /** Values of the action's inputs that were given; the others take action.yml's defaults. */
  inputs: Partial<Record<InputName, string>>
  /** Commit, push and open the pull request; without it the run is a dry run. */
  publish: boolean
  /** Also write the Markdown report here. */
  report?: string
  /** Write the structured results (the action's report.json) here. */
  json?: string
  /** The whole log (Nix's build output included) on standard error. */
  verbose: boolean
  help: boolean
}

/** A command line that cannot be run: exit status 2. */
export class UsageError extends Error {}

const INPUT_NAMES = Object.keys(INPUTS) as InputName[]

function isInput(name: string): name is InputName {
  return (INPUT_NAMES as string[]).includes(name)
}

const CLI_VALUE_FLAGS = ['report', 'json'] as const
const CLI_SWITCHES = ['publish', 'verbose', 'help'] as const

/** The flag the user probably meant: an input with `_` for `-`, or upper case. */
function suggestion(name: string): string {
  const normalised = name.toLowerCase().replace(/_/g, '-')
  const known = [...INPUT_NAMES, ...CLI_VALUE_FLAGS, ...CLI_SWITCHES] as string[]
  if (known.includes(normalised)) return ` (did you mean --${normalised}?)`
  const prefix = known.filter(k => k.startsWith(normalised))
  return prefix.length === 1 ? ` (did you mean --${prefix[0]}?)` : ''
}

/**
 * Parses the command line: `--INPUT VALUE` or `--INPUT=VALUE` for each input of action.yml, `--INPUT` alone,
 * `--INPUT=false` or `--no-INPUT` for the boolean ones, and the command line's own flags.
 */
export function parseArgs(argv: string[]): CliArgs {
  const args: CliArgs = { inputs: {}, publish: false, verbose: false, help: false }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '-h') {
      args.help = true
      continue
    }
    if (arg === '-v') {
      args.verbose = true
      continue
    }
    const m = /^--([^=]+)(?:=([\s\S]*))?$/.exec(arg)
    if (!m) throw new UsageError(`unexpected argument ${JSON.stringify(arg)}: options start with --`)
    const [, name, inline] = m
    const takeValue = (): string => {
      if (inline !== undefined) return inline
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`)
      return argv[++i]
    }
    if ((CLI_SWITCHES as readonly string[]).includes(name)) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`)
      args[name as (typeof CLI_SWITCHES)[number]] = true
    } else if (name === 'report' || name === 'json') {
      const file = takeValue()
      if (file === '') throw new UsageError(`--${name} needs a file name`)
      args[name] = file
    } else if (isInput(name) && INPUTS[name].type === 'boolean') {
      // `--build false` as well as `--build=false`; another next word is not this flag's value.
      const next = argv[i + 1]
      if (inline !== undefined) args.inputs[name] = inline
      else if (next !== undefined && /^(true|false)$/i.test(next)) args.inputs[name] = argv[++i]
      else args.inputs[name] = 'true'
    } else if (
      name.startsWith('no-') &&
      isInput(name.slice(3)) &&
      INPUTS[name.slice(3) as InputName].type === 'boolean'
    ) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`)
      args.inputs[name.slice(3) as InputName] = 'false'
    } else if (isInput(name)) {
      args.inputs[name] = takeValue()
    } else {
      throw new UsageError(`unknown option --${name}${suggestion(name)}`)
    }
  }
  const dryRun = args.inputs['dry-run']
  if (args.publish && dryRun !== undefined && /^true$/i.test(dryRun)) {
    throw new UsageError('--publish and --dry-run contradict each other')
  }
  if (!args.publish && dryRun !== undefined && /^false$/i.test(dryRun)) {
    throw new UsageError(
      'without --publish the run is a dry run: use --publish to commit, push and open the pull request'
    )
  }
  if (dryRun === undefined || /^(true|false)$/i.test(dryRun))
    args.inputs['dry-run'] = args.publish ? 'false' : 'true'
  return args
}

/** Wraps text at `width` columns, indenting every line after the first by `indent`. */
function wrap(text: string, width: number, indent: number): string {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/)) {
    if (line !== '' && indent + line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else line = line === '' ? word : `${line} ${word}`
  }
  lines.push(line)
  return lines.join(`\n${' '.repeat(indent)}`)
}

function plainText(description: string): string {
  return description.replace(/`([^`]*)`/g, '$1')
}

const COLUMN = 30
const WIDTH = 110

function option(flag: string, description: string): string {
  const head = `  ${flag}`
  const pad = head.length < COLUMN ? ' '.repeat(COLUMN - head.length) : `\n${' '.repeat(COLUMN)}`
  return `${head}${pad}${wrap(description, WIDTH, COLUMN)}`
}

/** `--help`: every input of action.yml with its description and default, then the command line's own flags. */
export function helpText(): string {
  const inputs = INPUT_NAMES.map(name => {
    const spec = INPUTS[name]
    const flag = spec.type === 'boolean' ? `--${name}[=false]` : `--${name} VALUE`
    let def: string
    if (name === 'dry-run') def = 'true unless --publish'
    else if (name === 'token') def = '$GITHUB_TOKEN'
    else def = spec.default === '' ? 'empty' : spec.default
    return option(flag, `${plainText(spec.description)} (default: ${def})`)
  })
  return `Usage: nixos-fleet-update [OPTION]...
  e.g. node dist/cli.js --flake /path/to/fleet

Updates the flake.lock of a NixOS fleet, builds every host before and after the update, and prints the report
(Markdown) on standard output and progress on standard error. Without --publish this is a dry run: flake.lock is
put back, and nothing is committed, pushed or opened.

The action's inputs, with action.yml's defaults (booleans also take --no-NAME):
${inputs.join('\n')}

Command line only:
${option('--publish', 'Commit flake.lock on the update branch, push it and open or update the pull request (needs --token or GITHUB_TOKEN, and the repository from GITHUB_REPOSITORY or the remote origin). Checked before anything is built.')}
${option('--report FILE', 'Also write the Markdown report to FILE.')}
${option('--json FILE', 'Write the structured results (hosts, package changes, errors, inputs) to FILE.')}
${option('-v, --verbose', "The whole log, Nix's build output included, on standard error.")}
${option('-h, --help', 'This text.')}

Exit status: 0 done; 1 a host that built before fails after the update (unless --fail-on-regression=false), or
the run failed; 2 bad input (an option, the checkout or what publishing needs), found before anything is built.
`
}
