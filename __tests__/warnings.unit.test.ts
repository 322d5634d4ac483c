import { toplevelsExpr } from '../src/nix/expr'
import { compareWarnings, parseEvalWarnings, warningsByHost } from '../src/nix/warnings'

const ESC = '\u001b'
const begin = (h: string): string => `trace: nixos-fleet-update:host ${JSON.stringify(h)}`
const end = (h: string): string => `trace: nixos-fleet-update:end ${JSON.stringify(h)}`

describe('parseEvalWarnings', () => {
  test.each([
    ['Nix 2.8, nixpkgs lib.warn before 24.11', 'trace: warning: The option `a` has been renamed.'],
    [
      'newer nixpkgs on a Nix without builtins.warn',
      'trace: evaluation warning: The option `a` has been renamed.'
    ],
    ['builtins.warn, Nix 2.23+ and Lix', 'evaluation warning: The option `a` has been renamed.'],
    [
      'colours left in by a wrapper',
      `trace: ${ESC}[1;31mwarning: The option \`a\` has been renamed.${ESC}[0m`
    ],
    [
      'colours around the prefix only',
      `${ESC}[1;35mevaluation warning:${ESC}[0m The option \`a\` has been renamed.`
    ]
  ])('%s', (_, line) => {
    expect(parseEvalWarnings(`${line}\n`)).toEqual([{ text: 'The option `a` has been renamed.' }])
  })

  test('continuation lines: unindented (Nix 2.8 trace) and indented under the prefix (Nix 2.23+)', () => {
    const old = ['trace: warning: first line', 'second line', '  indented third', 'trace: plain trace'].join(
      '\n'
    )
    expect(parseEvalWarnings(old).map(w => w.text)).toEqual(['first line\nsecond line\n  indented third'])
    const pad = ' '.repeat('evaluation warning: '.length)
    const modern = ['evaluation warning: first line', `${pad}second line`, `${pad}  indented third`].join(
      '\n'
    )
    expect(parseEvalWarnings(modern).map(w => w.text)).toEqual(['first line\nsecond line\n  indented third'])
  })

  test("Nix's own warnings, plain traces and errors are not evaluation warnings and end one", () => {
    const text = [
      "warning: Git tree '/src/fleet' is dirty",
      'trace: debugging output',
      'trace: warning: real one',
      'error: attribute missing',
      'warning: unknown setting foo'
    ].join('\n')
    expect(parseEvalWarnings(text).map(w => w.text)).toEqual(['real one'])
  })

  test('markers attribute warnings to the host being evaluated; names with odd bytes survive', () => {
    const odd = 'we"b\\x'
    const text = [
      'evaluation warning: flake-level',
      begin('mail'),
      'evaluation warning: from mail',
      end('mail'),
      begin(odd),
      'trace: warning: from odd',
      end(odd)
    ].join('\n')
    expect(parseEvalWarnings(text)).toEqual([
      { text: 'flake-level', host: undefined },
      { text: 'from mail', host: 'mail' },
      { text: 'from odd', host: odd }
    ])
  })
})

describe('warningsByHost', () => {
  test('per host, deduplicated; outside every marker goes to all hosts', () => {
    const text = [
      'trace: warning: global',
      begin('a'),
      'trace: warning: x',
      'trace: warning: x',
      end('a'),
      begin('b'),
      end('b')
    ].join('\n')
    expect(Object.fromEntries(warningsByHost(text, ['a', 'b']))).toEqual({
      a: ['global', 'x'],
      b: ['global']
    })
  })

  test('the evaluation expression traces the markers the parser reads', () => {
    const expr = toplevelsExpr(['web'])
    expect(expr).toContain('"nixos-fleet-update:host " + builtins.toJSON n')
    expect(expr).toContain('"nixos-fleet-update:end " + builtins.toJSON n')
  })
})

describe('compareWarnings', () => {
  test('new and gone per host, grouped by text, most hosts first; an unevaluated phase counts for neither', () => {
    const r = compareWarnings([
      { host: 'web', before: ['old'], after: ['renamed', 'both'] },
      { host: 'mail', before: ['both'], after: ['renamed', 'both'] },
      { host: 'db', before: [], after: ['db only'] },
      { host: 'broken', before: undefined, after: ['renamed'] }
    ])
    expect(r.new).toEqual([
      { text: 'renamed', hosts: ['web', 'mail'] },
      { text: 'both', hosts: ['web'] },
      { text: 'db only', hosts: ['db'] }
    ])
    expect(r.gone).toEqual([{ text: 'old', hosts: ['web'] }])
  })
})
