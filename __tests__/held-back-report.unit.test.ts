import { heldBackLines } from '../src/report/held-back'
import { HeldBackInput } from '../src/types'

const input = (over: Partial<HeldBackInput> = {}): HeldBackInput => ({
  input: 'tools',
  old: { type: 'git', rev: 'a'.repeat(40) },
  new: { type: 'git', rev: 'b'.repeat(40) },
  newRef: `git+https://forge.example/tools.git?ref=main&rev=${'b'.repeat(40)}`,
  heldBack: true,
  hosts: [
    {
      host: 'db',
      kind: 'single',
      others: [],
      failedDrvs: ['/nix/store/0123456789abcdfghijklmnpqrsvwxyz-schema-check-2.drv']
    }
  ],
  ...over
})

describe('the Held back section', () => {
  test('an input held back: revisions, host, failing derivation, a command with the new revision', () => {
    const text = heldBackLines([input()], './hosts').join('\n')
    expect(text).toContain('### Held back (1)')
    expect(text).toContain('The pull request updates every other input')
    expect(text).toContain(`- **tools** \`${'a'.repeat(12)}\` → \`${'b'.repeat(12)}\``)
    expect(text).toContain(
      `  - db: fails to build \`schema-check-2\`. Reproduce: \`nix build ./hosts#nixosConfigurations.db.config.system.build.toplevel --override-input tools 'git+https://forge.example/tools.git?ref=main&rev=${'b'.repeat(40)}'\``
    )
  })

  test('how each host is broken', () => {
    const kinds = (kind: 'together' | 'each' | 'unexplained', others: string[]): string =>
      heldBackLines([
        input({ hosts: [{ host: 'db', kind, others, failedDrvs: [], error: 'failed to build: x' }] })
      ]).join('\n')
    expect(kinds('together', ['pkgs'])).toContain(
      'db: failed to build: x (needs several inputs together: with pkgs)'
    )
    expect(kinds('each', ['pkgs'])).toContain('(pkgs breaks it too, each on its own)')
    expect(kinds('unexplained', ['pkgs'])).toContain('(not narrowed down: needs several inputs together')
  })

  test('nothing left to update; hold-back none; nothing found', () => {
    expect(heldBackLines([input()], '.', true).join('\n')).toContain(
      'nothing is left to update, so no pull request'
    )
    const none = heldBackLines([input({ heldBack: false })]).join('\n')
    expect(none).toContain('### Inputs that break hosts')
    expect(none).not.toContain('--override-input')
    expect(heldBackLines([])).toEqual([])
    expect(heldBackLines(undefined)).toEqual([])
  })

  test('a bisection: the first bad commit, or the narrowed range', () => {
    const found = input({
      bisect: {
        input: 'tools',
        hosts: ['db'],
        commits: 20,
        firstBad: { rev: 'c'.repeat(40), subject: 'schema: drop a column' },
        steps: [{ rev: 'c'.repeat(40), built: false, seconds: 1 }]
      }
    })
    expect(heldBackLines([found]).join('\n')).toContain(
      `First bad commit of tools for db: \`${'c'.repeat(12)}\` schema: drop a column (20 commits, 1 build).`
    )
    const narrowed = input({
      bisect: {
        input: 'tools',
        hosts: ['db'],
        commits: 20,
        good: 'd'.repeat(40),
        bad: 'e'.repeat(40),
        remaining: 5,
        steps: []
      }
    })
    expect(heldBackLines([narrowed]).join('\n')).toContain(
      'narrowed 20 commits to 5 after 0 builds (the bound)'
    )
    const failed = input({
      bisect: { input: 'tools', hosts: ['db'], commits: 0, steps: [], error: 'fetching x failed' }
    })
    expect(heldBackLines([failed]).join('\n')).toContain('Bisect: not run (fetching x failed).')
  })
})
