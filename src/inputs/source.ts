import { INPUTS, InputName } from '../generated/action'

/** Where the inputs come from: a value for each input that was given, `undefined` for one that was not. */
export type InputSource = (name: InputName) => string | undefined

/** The runner's variable for an input (what `core.getInput` reads): `INPUT_` and the name upper-cased. */
export function inputVariable(name: string): string {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`
}

/** Inputs as the runner passes them: `INPUT_*` variables. */
export function environmentInputs(env: NodeJS.ProcessEnv): InputSource {
  return name => env[inputVariable(name)]
}

/** A runner expression (`${{ github.token }}`) only a runner can evaluate: without one the default is empty. */
function isRunnerExpression(value: string): boolean {
  return value.includes('${{')
}

/** action.yml's default for an input, as it applies outside a runner. */
export function inputDefault(name: InputName): string {
  const value: string = INPUTS[name].default
  return isRunnerExpression(value) ? '' : value
}

/**
 * `INPUT_*` variables that name no input but would with `-` and `_` swapped (`INPUT_DRY_RUN` for `dry-run`): the
 * shell's spelling, silently ignored otherwise.
 */
export function misspelledInputVariables(env: NodeJS.ProcessEnv): string[] {
  const known = new Map((Object.keys(INPUTS) as InputName[]).map(n => [inputVariable(n), n]))
  const warnings: string[] = []
  for (const variable of Object.keys(env)) {
    if (!variable.startsWith('INPUT_') || known.has(variable)) continue
    const name = known.get(`INPUT_${variable.slice('INPUT_'.length).toUpperCase().replace(/_/g, '-')}`)
    if (name) {
      warnings.push(
        `${variable} is ignored: the input '${name}' is read from ${inputVariable(name)} (env '${inputVariable(name)}=…' node dist/index.js), or use node dist/cli.js --${name}`
      )
    }
  }
  return warnings
}
