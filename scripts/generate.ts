// Generates, from action.yml (the one place where an input's default and description are written):
//   src/generated/action.ts    the inputs and outputs for the settings and the command line
//   README.md                  the Inputs and Outputs tables, between their markers
// npm run generate             writes them
// npm run generate -- --check  exits 1, naming the stale files, when a generated file differs (CI)
import * as fs from 'fs'
import * as yaml from 'js-yaml'
import * as path from 'path'

export interface InputSpec {
  description: string
  default: string
  /** Inputs whose default is `true` or `false` take only those. */
  type: 'boolean' | 'string'
}

export interface ActionSpec {
  inputs: Record<string, InputSpec>
  outputs: Record<string, { description: string }>
}

export const MODULE_PATH = 'src/generated/action.ts'

function fail(message: string): never {
  throw new Error(`action.yml: ${message}`)
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Reads action.yml's inputs and outputs, checking the shape the code relies on. */
export function readAction(text: string): ActionSpec {
  const doc = yaml.load(text)
  if (!isRecord(doc) || !isRecord(doc.inputs) || !isRecord(doc.outputs)) fail('needs inputs and outputs')
  const inputs: Record<string, InputSpec> = {}
  for (const [name, raw] of Object.entries(doc.inputs)) {
    if (!/^[a-z][a-z0-9-]*$/.test(name))
      fail(`input name ${JSON.stringify(name)} is not lower-case-with-dashes`)
    if (!isRecord(raw) || typeof raw.description !== 'string') fail(`input '${name}' needs a description`)
    const def = raw.default ?? ''
    if (typeof def !== 'string')
      fail(`input '${name}': quote the default (${JSON.stringify(def)}) as a string`)
    inputs[name] = {
      description: raw.description.trim(),
      default: def,
      type: def === 'true' || def === 'false' ? 'boolean' : 'string'
    }
  }
  const outputs: Record<string, { description: string }> = {}
  for (const [name, raw] of Object.entries(doc.outputs)) {
    if (!isRecord(raw) || typeof raw.description !== 'string') fail(`output '${name}' needs a description`)
    outputs[name] = { description: raw.description.trim() }
  }
  return { inputs, outputs }
}

export function renderModule(spec: ActionSpec): string {
  return `// Generated from action.yml by scripts/generate.ts (npm run generate): edit action.yml, not this file.

export interface InputSpec {
  readonly description: string
  /** action.yml's default; a runner expression such as \`\${{ github.token }}\` is kept as written. */
  readonly default: string
  readonly type: 'boolean' | 'string'
}

export const INPUTS = ${JSON.stringify(spec.inputs, null, 2)} as const satisfies Record<string, InputSpec>

export type InputName = keyof typeof INPUTS

export const OUTPUTS = ${JSON.stringify(spec.outputs, null, 2)} as const satisfies Record<string, { readonly description: string }>

export type OutputName = keyof typeof OUTPUTS
`
}

function cell(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|')
}

function code(text: string): string {
  const fence = text.includes('`') ? '``' : '`'
  return `${fence}${text}${fence}`
}

/** A Markdown table with its columns padded, as Prettier writes it (so the README passes its check). */
export function markdownTable(header: string[], rows: string[][]): string {
  const width = (text: string): number => [...text].length
  const widths = header.map((h, i) => Math.max(3, width(h), ...rows.map(r => width(r[i]))))
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => c + ' '.repeat(widths[i] - width(c))).join(' | ')} |`
  return [line(header), `| ${widths.map(w => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n')
}

export function renderInputsTable(spec: ActionSpec): string {
  return markdownTable(
    ['input', 'default', 'meaning'],
    Object.entries(spec.inputs).map(([name, i]) => [
      `\`${name}\``,
      i.default === '' ? 'empty' : code(i.default),
      cell(i.description)
    ])
  )
}

export function renderOutputsTable(spec: ActionSpec): string {
  return markdownTable(
    ['output', 'value'],
    Object.entries(spec.outputs).map(([name, o]) => [`\`${name}\``, cell(o.description)])
  )
}

/** Replaces the text between `<!-- generated: NAME -->` and `<!-- end generated: NAME -->`. */
export function replaceSection(text: string, name: string, content: string, file = 'README.md'): string {
  const begin = `<!-- generated: ${name} (from action.yml by npm run generate) -->`
  const end = `<!-- end generated: ${name} -->`
  const a = text.indexOf(begin)
  const b = text.indexOf(end)
  if (a < 0 || b < a) throw new Error(`${file} has no section between "${begin}" and "${end}"`)
  return `${text.slice(0, a + begin.length)}\n\n${content}\n\n${text.slice(b)}`
}

/** Every generated file's path (relative to the repository) and its expected content. */
export function generatedFiles(root: string): Map<string, string> {
  const spec = readAction(fs.readFileSync(path.join(root, 'action.yml'), 'utf8'))
  const readmePath = path.join(root, 'README.md')
  let readme = fs.readFileSync(readmePath, 'utf8')
  readme = replaceSection(readme, 'inputs', renderInputsTable(spec))
  readme = replaceSection(readme, 'outputs', renderOutputsTable(spec))
  return new Map([
    [MODULE_PATH, renderModule(spec)],
    ['README.md', readme]
  ])
}

/** The generated files whose content on disk differs from what action.yml gives. */
export function staleFiles(root: string): string[] {
  const stale: string[] = []
  for (const [file, content] of generatedFiles(root)) {
    const full = path.join(root, file)
    if (!fs.existsSync(full) || fs.readFileSync(full, 'utf8') !== content) stale.push(file)
  }
  return stale
}

/** Run from the repository (npm run generate does). */
function main(args: string[]): number {
  const root = process.cwd()
  if (args.includes('--check')) {
    const stale = staleFiles(root)
    if (stale.length === 0) {
      console.log('Generated files are up to date with action.yml')
      return 0
    }
    console.error(`Stale (action.yml changed; run 'npm run generate' and commit): ${stale.join(', ')}`)
    return 1
  }
  for (const [file, content] of generatedFiles(root)) {
    const full = path.join(root, file)
    fs.mkdirSync(path.dirname(full), { recursive: true })
    if (!fs.existsSync(full) || fs.readFileSync(full, 'utf8') !== content) {
      fs.writeFileSync(full, content)
      console.log(`Wrote ${file}`)
    }
  }
  return 0
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2))
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e))
    process.exitCode = 2
  }
}
