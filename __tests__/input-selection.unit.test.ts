import { InputError } from '../src/errors'
import { parseUpdateInputs, resolveInputSelection, unknownInFlakes } from '../src/pipeline/input-selection'

const LOCK = JSON.stringify({
  nodes: {
    root: { inputs: { nixpkgs: 'nixpkgs', hm: 'hm', unstable: ['hm', 'nixpkgs'] } },
    nixpkgs: { locked: { type: 'github', rev: '1' } },
    hm: { inputs: { nixpkgs: 'hm-nixpkgs' }, locked: { type: 'github', rev: '2' } },
    'hm-nixpkgs': { locked: { type: 'github', rev: '3' } }
  },
  root: 'root',
  version: 7
})

describe('parseUpdateInputs', () => {
  test.each([
    ['', []],
    ['nixpkgs hm', ['nixpkgs', 'hm']],
    ['hm/nixpkgs', ['hm/nixpkgs']],
    ['!nixpkgs, !hm\n', ['!nixpkgs', '!hm']]
  ])('%j', (raw, entries) => expect(parseUpdateInputs(raw)).toEqual(entries))

  test.each([
    ['nixpkgs !hm', /mixes input names and '!' entries/],
    ['!hm/nixpkgs', /a '!' entry names a top-level input/],
    ['!', /not a flake input name/],
    ['!!hm', /not a flake input name/],
    ['nix!pkgs', /not a flake input name/],
    ['nixpkgs;reboot', /not a flake input name/]
  ])('%j is refused', (raw, message) => {
    expect(() => parseUpdateInputs(raw)).toThrow(InputError)
    expect(() => parseUpdateInputs(raw)).toThrow(message)
  })
})

describe('resolveInputSelection', () => {
  test('empty means all', () => expect(resolveInputSelection([], LOCK, 'flake.lock')).toEqual([]))
  test('names pass through, nested ones too', () =>
    expect(resolveInputSelection(['hm/nixpkgs', 'nixpkgs'], LOCK, 'flake.lock')).toEqual([
      'hm/nixpkgs',
      'nixpkgs'
    ]))
  test('! entries: the other top-level inputs, without those that follow another', () =>
    expect(resolveInputSelection(['!hm'], LOCK, 'flake.lock')).toEqual(['nixpkgs']))
  test('an input that follows another may be left out (it is not updated on its own anyway)', () =>
    expect(resolveInputSelection(['!unstable'], LOCK, 'flake.lock')).toEqual(['nixpkgs', 'hm']))
  test('unknown names are named', () =>
    expect(() => resolveInputSelection(['!hmm', '!nixpkgs'], LOCK, '/x/flake.lock')).toThrow(
      `Input 'update-inputs' names "hmm", not an input of /x/flake.lock (it has: nixpkgs, hm, unstable)`
    ))
  test('! entries without a committed lock file', () =>
    expect(() => resolveInputSelection(['!hm'], undefined, 'flake.lock')).toThrow(/no committed flake.lock/))
  test('names without a committed lock file are passed on', () =>
    expect(resolveInputSelection(['hm'], undefined, 'flake.lock')).toEqual(['hm']))
})

describe('one flake of several', () => {
  const OTHER = JSON.stringify({
    nodes: {
      root: { inputs: { nixpkgs: 'nixpkgs', tools: 'tools' } },
      nixpkgs: { locked: { rev: '4' } },
      tools: { locked: { rev: '5' } }
    },
    root: 'root',
    version: 7
  })
  test('names this lock lacks are skipped; none left is undefined (nothing to update here)', () => {
    expect(resolveInputSelection(['tools', 'nixpkgs'], LOCK, 'flake.lock', true)).toEqual(['nixpkgs'])
    expect(resolveInputSelection(['tools'], LOCK, 'flake.lock', true)).toBeUndefined()
    expect(resolveInputSelection(['tools'], OTHER, 'lab/flake.lock', true)).toEqual(['tools'])
  })
  test('! entries this lock lacks are fine; every input left out is undefined', () => {
    expect(resolveInputSelection(['!tools'], LOCK, 'flake.lock', true)).toEqual(['nixpkgs', 'hm'])
    expect(resolveInputSelection(['!tools', '!nixpkgs'], OTHER, 'lab/flake.lock', true)).toBeUndefined()
  })
  test('a name no flake has is reported; one that any flake has is not', () => {
    const locks = [
      { lockText: LOCK, lockPath: 'flake.lock' },
      { lockText: OTHER, lockPath: 'lab/flake.lock' }
    ]
    expect(unknownInFlakes(['tools', 'hm', 'nixpgks'], locks)).toEqual(['nixpgks'])
    expect(unknownInFlakes(['!tools', '!nope'], locks)).toEqual(['nope'])
    expect(
      unknownInFlakes(['nope'], [...locks, { lockText: undefined, lockPath: 'new/flake.lock' }])
    ).toEqual([])
  })
})
