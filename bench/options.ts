/**
 * The benchmark's command line: sizes, variants, the action and its extra inputs (see bench/bench.ts for the list).
 */
import * as path from 'path'

export const REPO = path.resolve(process.env.NFU_BENCH_REPO ?? process.cwd())
export const RESULTS = path.join(REPO, 'bench/results')

export type Variant = 'action' | 'baseline' | 'floor'
export const VARIANTS: Variant[] = ['action', 'baseline', 'floor']

export interface Options {
  sizes: number[]
  variants: Variant[]
  action: string
  keep: boolean
  /**
   * `cached`: each fleet's "before" systems are built (untimed) before the measurement, as on a nightly runner
   * whose store holds yesterday's "after"; `cold`: nothing is in the store.
   */
  before: 'cached' | 'cold'
  /** Extra action inputs, as INPUT_* variables. */
  inputs: Record<string, string>
  /** Sizes of the eval-heavy fleets. */
  evalSizes: number[]
  /** Sizes of the ephemeral-runner scenario (an empty store, with and without yesterday's binary cache). */
  ephemeralSizes: number[]
}

export function usage(message: string): never {
  process.stderr.write(
    `${message}\nusage: bench/run.sh [--sizes 1,10,50,200] [--variants action,baseline,floor] [--action dist/index.js] [--input NAME=VALUE] [--keep] [--cold] [--eval-sizes 1,10,40,50,100] [--ephemeral-sizes 50]\n`
  )
  process.exit(2)
}

export function parseOptions(argv: string[]): Options {
  let sizes = process.env.NFU_BENCH_SIZES || '1,10,50,200'
  let evalSizes = process.env.NFU_BENCH_EVAL_SIZES || '1,10,40,50,100'
  let ephemeralSizes = process.env.NFU_BENCH_EPHEMERAL_SIZES || '50'
  let variants = 'action,baseline,floor'
  let action = process.env.NFU_BENCH_ACTION || path.join(REPO, 'dist/index.js')
  let keep = false
  let before: 'cached' | 'cold' = 'cached'
  const inputs: Record<string, string> = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const value = (): string => argv[++i] ?? usage(`${arg} needs a value`)
    if (arg === '--sizes') sizes = value()
    else if (arg.startsWith('--sizes=')) sizes = arg.slice('--sizes='.length)
    else if (arg === '--variants') variants = value()
    else if (arg === '--eval-sizes') evalSizes = value()
    else if (arg === '--ephemeral-sizes') ephemeralSizes = value()
    else if (arg === '--action') action = value()
    else if (arg === '--keep') keep = true
    else if (arg === '--cold') before = 'cold'
    else if (arg === '--input') {
      const [name, ...rest] = value().split('=')
      if (!name || rest.length === 0) usage('--input takes NAME=VALUE')
      inputs[`INPUT_${name.toUpperCase()}`] = rest.join('=')
    } else
      usage(arg === '--help' || arg === '-h' ? 'Benchmark of nixos-fleet-update.' : `unknown argument ${arg}`)
  }
  const list = (text: string): number[] => {
    const l = text.trim() === 'none' ? [] : text.split(',').map(s => Number(s.trim()))
    if (l.some(n => !Number.isInteger(n) || n < 1)) usage(`bad sizes: ${text}`)
    return l
  }
  const sizeList = list(sizes)
  const evalSizeList = list(evalSizes)
  const ephemeralSizeList = list(ephemeralSizes)
  if (sizeList.length + evalSizeList.length + ephemeralSizeList.length === 0) usage('nothing to run')
  const variantList = variants.split(',').map(v => v.trim())
  if (!variantList.every((v): v is Variant => (VARIANTS as string[]).includes(v)))
    usage(`bad variants: ${variants}`)
  return {
    sizes: sizeList,
    variants: variantList,
    action: path.resolve(action),
    keep,
    before,
    inputs,
    evalSizes: evalSizeList,
    ephemeralSizes: ephemeralSizeList
  }
}
