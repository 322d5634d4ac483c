import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import {
  generatedFiles,
  readAction,
  renderInputsTable,
  renderModule,
  replaceSection,
  staleFiles
} from '../scripts/generate'
import { INPUTS } from '../src/generated/action'
import { getSettings } from '../src/settings'
import { MemoryLog } from '../src/log/log'

const ROOT = path.resolve(__dirname, '..')

const ACTION = `name: x
inputs:
  flake:
    description: Directory of the flake.
    default: .
  merge-method:
    description: >-
      How to merge, \`merge\` or \`squash\`;
      one | pipe.
    default: squash
  dry-run:
    description: Change nothing.
    default: 'false'
  token:
    description: The token.
    default: \${{ github.token }}
  hosts:
    description: Hosts.
outputs:
  changed:
    description: "'true' when it changed."
runs:
  using: node24
  main: dist/index.js
`

describe('the inputs generated from action.yml', () => {
  test('the committed module and README tables are what action.yml gives (npm run generate)', () => {
    expect(staleFiles(ROOT)).toEqual([])
  })

  test('an input added to action.yml appears in the module and the README table, with its type', () => {
    const spec = readAction(ACTION)
    expect(spec.inputs).toEqual({
      flake: { description: 'Directory of the flake.', default: '.', type: 'string' },
      'merge-method': {
        description: 'How to merge, `merge` or `squash`; one | pipe.',
        default: 'squash',
        type: 'string'
      },
      'dry-run': { description: 'Change nothing.', default: 'false', type: 'boolean' },
      token: { description: 'The token.', default: '${{ github.token }}', type: 'string' },
      hosts: { description: 'Hosts.', default: '', type: 'string' }
    })
    expect(renderModule(spec)).toContain('"merge-method": {')
    const table = renderInputsTable(spec)
    const rows = table.split('\n').map(l => l.replace(/ +/g, ' '))
    expect(rows).toContain('| `merge-method` | `squash` | How to merge, `merge` or `squash`; one \\| pipe. |')
    expect(rows).toContain('| `hosts` | empty | Hosts. |')
    expect(rows).toContain('| `token` | `${{ github.token }}` | The token. |')
  })

  test.each([
    [
      'an unquoted boolean default',
      ACTION.replace("default: 'false'", 'default: false'),
      'quote the default'
    ],
    [
      'an input without a description',
      ACTION.replace('    description: Hosts.\n', '    default: x\n'),
      'hosts'
    ],
    ['a name with an underscore', ACTION.replace('  hosts:', '  host_names:'), 'host_names'],
    ['no outputs', ACTION.slice(0, ACTION.indexOf('outputs:')), 'needs inputs and outputs']
  ])('%s is refused, naming the problem', (_, text, message) => {
    expect(() => readAction(text)).toThrow(message)
  })

  test('a README without the markers is an error, not a silent no-op', () => {
    expect(() => replaceSection('# README\n', 'inputs', '| a |')).toThrow('README.md has no section')
  })

  test('a stale README table is reported, and generating fixes it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-generate-'))
    try {
      fs.mkdirSync(path.join(dir, 'src/generated'), { recursive: true })
      for (const f of ['action.yml', 'README.md', 'src/generated/action.ts', '.prettierrc.json'])
        fs.copyFileSync(path.join(ROOT, f), path.join(dir, f))
      const action = fs.readFileSync(path.join(dir, 'action.yml'), 'utf8')
      fs.writeFileSync(
        path.join(dir, 'action.yml'),
        action.replace(
          '\noutputs:',
          '\n  example-input:\n    description: An input added later.\n    default: example\n\noutputs:'
        )
      )
      expect(staleFiles(dir)).toEqual(['src/generated/action.ts', 'README.md'])
      for (const [file, content] of generatedFiles(dir)) fs.writeFileSync(path.join(dir, file), content)
      expect(staleFiles(dir)).toEqual([])
      expect(fs.readFileSync(path.join(dir, 'README.md'), 'utf8')).toMatch(
        /\| `example-input` +\| `example` +\|/
      )
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test('getSettings reads every input of action.yml, each once, and nothing else', () => {
    const asked: string[] = []
    const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'nfu-generate-'))
    try {
      fs.writeFileSync(path.join(workspace, 'flake.nix'), '{ outputs = _: { }; }\n')
      getSettings({
        env: { GITHUB_WORKSPACE: workspace },
        log: new MemoryLog(),
        now: new Date(),
        inputs: name => {
          asked.push(name)
          return undefined
        }
      })
    } finally {
      fs.rmSync(workspace, { recursive: true, force: true })
    }
    expect([...asked].sort()).toEqual(Object.keys(INPUTS).sort())
  })
})
